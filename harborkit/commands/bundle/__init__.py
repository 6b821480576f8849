"""``harborkit bundle ...``: one module per sub-group.

``core`` (build, verify, load, inspect), ``registry`` (push) and ``trust``
(keygen) register their commands on ``base.bundle_app``;
:mod:`harborkit.commands.app` imports them in that order (the help's order).
Importing this package registers nothing.
"""
