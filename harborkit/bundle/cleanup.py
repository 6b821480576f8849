"""What a failed or interrupted command removed, for its one-line message.

The bundle writer, ``load``'s roll-back and the installer extraction record what
they undo here; the CLI prints it on SIGINT/SIGTERM (``harborkit: interrupted;
removed ...``). SIGTERM is turned into the same ``KeyboardInterrupt`` as SIGINT,
so both run the same clean-up code.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

_removed: list[str] = []
_notes: list[str] = []


def note(text: str) -> None:
    """Record something the summary must say before what was removed (a load left running)."""
    _notes.append(text)


def note_removed(what: str) -> None:
    """Record one thing undone (a path, ``image goharbor/x:v1``)."""
    _removed.append(what)


def removed() -> list[str]:
    """Everything recorded so far, in order."""
    return list(_removed)


def reset() -> None:
    """Forget the record (a new command starts)."""
    _removed.clear()
    _notes.clear()


def summary(limit: int = 4) -> str:
    """``removed a, b and 3 more`` or ``nothing was left to remove`` (after any notes)."""
    head = "".join(f"{n}; " for n in _notes)
    if not _removed:
        return f"{head}nothing was left to remove"
    shown = ", ".join(_removed[:limit])
    more = f" and {len(_removed) - limit} more" if len(_removed) > limit else ""
    return f"{head}removed {shown}{more}"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises ``KeyboardInterrupt`` in the main thread, like SIGINT."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
