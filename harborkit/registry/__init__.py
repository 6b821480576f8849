"""A focused Docker Registry HTTP API v2 client: references, auth, manifests, blobs.

Written on ``requests`` rather than on python-dxf or oras-py (see ``client.py``
for the reasons). Nothing here imports ``requests`` at module import time except
:mod:`harborkit.registry.client`, which the CLI imports only when a command runs.
"""
