"""Deprecated name of :mod:`harborkit.engine.plugins` (plugin discovery).

"registry" now means the container registry client only (``harborkit.registry``).
This alias lets code written against the old name keep importing while it is
updated; nothing in harborkit imports it. Remove it once no caller is left.
"""

from harborkit.engine.plugins import GROUP, LoadedCheck, PluginFailure, discover

__all__ = ["GROUP", "LoadedCheck", "PluginFailure", "discover"]
