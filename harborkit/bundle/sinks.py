"""Where a bundle's bytes go: the sinks of :class:`~harborkit.bundle.writer.BundleWriter`.

* :class:`FileSink` writes ``.<name>.partial-<pid>`` next to the output (removing
  those of dead processes first), fsyncs it and renames it into place;
* :class:`PartSink` writes a bundle in parts (:class:`~harborkit.bundle.parts.PartWriter`)
  under temporary names, and the parts list last.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from harborkit.bundle.parts import PartWriter, list_name, part_name
from harborkit.fsutil import AtomicFile, temp_name

CHUNK = 1 << 20
#: the output's dirty pages are handed to the disk every this many bytes written (the
#: page cache keeps them): the final fsync then waits for the last few MiB only, not
#: for the whole bundle, and the disk works while the daemon exports
WRITEBACK_STEP = 16 << 20


class Sink(Protocol):
    """Where a bundle's bytes go.

    :meth:`open` returns the file the tar is written to. It must be seekable:
    a streamed member's header is written as a placeholder and patched in place
    once its size and digest are known (a sink of split parts maps offsets to its
    parts). Everything else is appended at the end.
    """

    def open(self) -> BinaryIO:
        """Create the temporary output; the file the tar is written to."""
        ...

    def fileno(self) -> int | None:
        """A descriptor for kernel-side copies into the current position, or ``None``."""
        ...

    def commit(self) -> int:
        """Flush, fsync and move the output into place; its size in bytes."""
        ...

    def discard(self) -> list[Path]:
        """Close and remove whatever was written; the paths removed."""
        ...


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(directory: Path, name: str) -> list[Path]:
    """Remove ``.<name>*.partial-<pid>`` files in ``directory`` whose process is gone."""
    pattern = re.compile(re.escape(f".{name}") + r".*\.partial-(\d+)$")
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            m = pattern.match(entry.name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


class FileSink:
    """One output file, written as ``.<name>.partial-<pid>`` and renamed at the end
    (:class:`harborkit.fsutil.AtomicFile`)."""

    def __init__(self, output: Path, *, buffering: int = CHUNK) -> None:
        self.output = output
        self.temp = output.parent / temp_name(output.name)
        self._buffering = buffering
        self._f: BinaryIO | None = None
        self._af: AtomicFile | None = None
        self.stale_removed: list[Path] = []

    def open(self) -> BinaryIO:
        self.stale_removed = remove_stale_partials(self.output.parent, self.output.name)
        self._af = AtomicFile.at(self.output)  # discard() ends it whatever fails next
        f = os.fdopen(os.dup(self._af.open()), "w+b", buffering=self._buffering)
        self._f = _WriteBehind(f) if _start_writeout() is not None else f  # type: ignore[assignment]
        return self._f  # type: ignore[return-value]

    def fileno(self) -> int | None:
        assert self._f is not None
        self._f.flush()
        return self._f.fileno()

    def commit(self) -> int:
        assert self._f is not None and self._af is not None
        f, self._f = self._f, None
        af, self._af = self._af, None
        with f:
            f.flush()
            size = f.tell()
        af.commit()  # fsync, rename, fsync the folder
        return size

    def discard(self) -> list[Path]:
        if self._f is not None:
            with contextlib.suppress(OSError):
                self._f.close()
            self._f = None
        if self._af is not None:
            af, self._af = self._af, None
            return [self.temp] if af.discard() else []
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            return []
        return [self.temp]


class PartSink:
    """The writer's sink for a bundle in parts: :class:`PartWriter` under temporary names."""

    def __init__(self, output: Path, part_size: int) -> None:
        self.output = output
        self.part_size = part_size
        self._w: PartWriter | None = None
        self.parts: list[Path] = []

    def open(self) -> BinaryIO:
        """Start writing parts."""
        remove_stale_partials(self.output.parent, self.output.name)
        self._w = PartWriter(self.output, self.part_size)
        return self._w  # type: ignore[return-value]

    def fileno(self) -> int | None:
        """No single descriptor: kernel-side copies are not possible across parts."""
        return None

    def commit(self) -> int:
        """Hash the parts, write the parts list, rename everything into place."""
        assert self._w is not None
        w, self._w = self._w, None
        size = w.size
        self.parts = w.commit()
        return size

    def discard(self) -> list[Path]:
        """Remove every temporary part."""
        if self._w is None:
            return []
        w, self._w = self._w, None
        removed = list(w.temp_paths)
        with contextlib.suppress(OSError):
            w.abort()
        return removed


def split_outputs(output: Path) -> tuple[Path, Path]:
    """The first part and the parts list a split build writes for ``output``."""
    return part_name(output, 0), list_name(output)


_SYNC_FILE_RANGE_WRITE = 2


def _start_writeout() -> Any:
    """libc's ``sync_file_range`` (Linux), or ``None``: it starts writing a range of dirty
    pages to disk and returns without waiting (``os`` has no binding for it)."""
    if _WRITEOUT:
        return _WRITEOUT[0]
    fn = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            fn = ctypes.CDLL(None, use_errno=True).sync_file_range
            fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
            fn.restype = ctypes.c_int
    _WRITEOUT.append(fn)
    return fn


_WRITEOUT: list[Any] = []


class _WriteBehind:
    """The output file, whose written bytes are handed to the disk every
    :data:`WRITEBACK_STEP` bytes (``sync_file_range(WRITE)``: no wait, no page dropped)."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self._started = 0  # writeout was started for the bytes before this offset
        self._written = 0  # bytes written since then

    def write(self, data: Any) -> int:
        n: int = self._f.write(data)
        self._written += n
        if self._written >= WRITEBACK_STEP:
            self._writeout()
        return n

    def _writeout(self) -> None:
        # one step behind the end, on a MiB boundary: no page still being written (nor
        # the page a header is patched into next) is under writeback
        self._f.flush()
        end = (self._f.tell() - WRITEBACK_STEP) & ~((1 << 20) - 1)
        if end > self._started:
            start = _start_writeout()
            start(self._f.fileno(), self._started, end - self._started, _SYNC_FILE_RANGE_WRITE)
            self._started = end
        self._written = 0

    def __getattr__(self, name: str) -> Any:  # seek, tell, truncate, flush, fileno, close...
        return getattr(self._f, name)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()
