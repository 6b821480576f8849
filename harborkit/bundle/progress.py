"""Progress bars on a terminal, silence elsewhere.

The core asks a :class:`Progress` for tasks and advances them; the CLI decides
whether that draws rich bars (stderr is a TTY and no ``--quiet``) or nothing.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Protocol


class Task(Protocol):
    """One bar."""

    def advance(self, n: int) -> None:
        """Add ``n`` units of work done."""

    def set_total(self, total: int | None) -> None:
        """Change the expected total."""

    def done(self) -> None:
        """Mark the task finished."""


class Progress(Protocol):
    """Factory of tasks."""

    def task(self, description: str, total: int | None = None) -> Task:
        """Start a bar."""
        ...


class _NullTask:
    def advance(self, n: int) -> None:
        pass

    def set_total(self, total: int | None) -> None:
        pass

    def done(self) -> None:
        pass


class NullProgress:
    """Draws nothing."""

    def task(self, description: str, total: int | None = None) -> Task:
        """A task that records nothing."""
        return _NullTask()

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _RichTask:
    def __init__(self, progress: Any, task_id: Any) -> None:
        self._p = progress
        self._id = task_id

    def advance(self, n: int) -> None:
        self._p.advance(self._id, n)

    def set_total(self, total: int | None) -> None:
        self._p.update(self._id, total=total)

    def done(self) -> None:
        task = self._p._tasks.get(self._id)
        if task is not None:
            self._p.update(self._id, total=task.completed)


class RichProgress:
    """Rich bars (bytes, speed, time left) on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as _P

        self._p = _P(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )

    def task(self, description: str, total: int | None = None) -> Task:
        """Add a bar."""
        return _RichTask(self._p, self._p.add_task(description, total=total))

    def __enter__(self) -> RichProgress:
        self._p.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._p.stop()


def make_progress(quiet: bool) -> NullProgress | RichProgress:
    """Bars when stderr and stdout are terminals and not ``quiet``; else silence."""
    if quiet or not (sys.stderr.isatty() and sys.stdout.isatty()):
        return NullProgress()
    return RichProgress()
