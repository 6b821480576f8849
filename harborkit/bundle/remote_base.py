"""What the remote bundle modules share: a host's commands (:class:`Remote`), their
deadlines, and quoting."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from typing import Protocol


def _positive(name: str, default: float) -> float:
    """A positive number from the environment; anything else is the default."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


#: a remote call that is not a stream (inspect, tag, df ...) ends within this many seconds
CALL_TIMEOUT = _positive("HARBORKIT_REMOTE_TIMEOUT", 60.0)
#: a stream's deadline: CALL_TIMEOUT plus its size at this rate (bytes/s): a trickle loses
MIN_RATE = _positive("HARBORKIT_REMOTE_MIN_RATE", float(1 << 20))


class Reply(Protocol):
    """A remote command's exit status, stdout and stderr."""

    @property
    def status(self) -> int: ...
    @property
    def out(self) -> bytes: ...
    @property
    def err(self) -> bytes: ...

    def last_line(self, default: str = "") -> str: ...


class Remote(Protocol):
    """One host's commands: ``command`` is a shell line with every argument quoted."""

    label: str

    def run(
        self, command: str, *, stdin: Iterable[bytes] | None = None, timeout: float
    ) -> Reply: ...


def q(text: str) -> str:
    """``text`` as one shell word."""
    return shlex.quote(text)
