"""A watch on a byte stream: a deadline, and a floor under its speed.

A socket timeout alone stops a stream that sends nothing; a peer that trickles a
byte every few seconds would still hold a build for ever. :class:`StreamWatch`
fails a stream whose last ``window`` seconds brought fewer than ``min_bytes``, or
that runs past its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class StreamWatch:
    """Call :meth:`tick` with each chunk's size; it raises ``fail(reason)`` when the stream is too slow."""

    def __init__(
        self,
        *,
        window: float,
        deadline: float,
        fail: Callable[[str], BaseException],
        min_bytes: int = 64 << 10,
    ) -> None:
        now = time.monotonic()
        self._window = window
        self._min = min_bytes
        self._fail = fail
        self._deadline_s = deadline
        self._deadline = now + deadline
        self._mark = now
        self._since_mark = 0

    def tick(self, n: int) -> None:
        """Account ``n`` more bytes (0 for a read that brought nothing yet)."""
        now = time.monotonic()
        if now > self._deadline:
            raise self._fail(f"took longer than {self._deadline_s:g} s")
        self._since_mark += n
        if self._since_mark >= self._min:
            self._mark, self._since_mark = now, 0
        elif now - self._mark > self._window:
            raise self._fail(f"stalled: less than {self._min >> 10} KiB in {self._window:g} s")
