"""One way for tests to build the context a host check runs in.

``ctx(where, profile, **options)``: ``where`` is a sysroot folder (a ``Path`` or
``str``), a host backend (a recorded host, a snapshot host, ...), or ``None`` for
this machine; ``profile`` the profile's data (the built-in profile when ``None``
or empty); every other keyword is a :class:`CheckOptions` field. Run one check in
it with :func:`harborkit.engine.runner.run_check`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harborkit.engine.profile import load_profile
from harborkit.host.interface import Host
from harborkit.host.local import LocalHost, SysrootHost
from harborkit.model.check import CheckContext, CheckOptions

#: the built-in profile's data (read once; copy it before changing it)
PROFILE = load_profile().data


def ctx(
    where: Path | str | Host | None = None,
    profile: Mapping[str, Any] | None = None,
    **options: Any,
) -> CheckContext:
    """The context of one check on ``where`` with ``profile`` and ``options``."""
    if where is None:
        host: Host = LocalHost()
    elif isinstance(where, (str, Path)):
        host = SysrootHost(where)
    else:
        host = where
    return CheckContext(
        host=host,
        profile=profile or load_profile().data,
        options=CheckOptions(**options),
    )


def profile_with(section: str, **values: Any) -> dict[str, Any]:
    """A copy of the built-in profile's data with ``values`` set in ``section``."""
    data = copy.deepcopy(dict(load_profile().data))
    data[section] = {**data[section], **values}
    return data
