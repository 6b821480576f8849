"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from harborkit.errors import EnvironmentProblem


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that no reader sees half of it, and replace
    nothing but a regular file.

    A regular file (or a new name) is written to a temporary file beside it,
    fsynced, then renamed over it; through a symbolic link, the file the link
    points to is the one replaced (the link stays). A character device, a FIFO
    or a pipe (``/dev/stdout``, ``/dev/null``, ``>(cat)``) is written through,
    never replaced. A folder or a socket is refused. On any failure the
    temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    try:
        st: os.stat_result | None = os.stat(target)  # through links
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise EnvironmentProblem(f"cannot write {target}: {e.strerror}") from e
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise EnvironmentProblem(f"cannot write {target}: is a directory")
    if st is not None and stat.S_ISSOCK(st.st_mode):
        raise EnvironmentProblem(f"cannot write {target}: is a socket")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_through(target, text, fifo=stat.S_ISFIFO(st.st_mode))
        return
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    _replace(target, text, stat.S_IMODE(st.st_mode) if st is not None else 0o644)


def _write_through(target: Path, text: str, fifo: bool) -> None:
    try:
        # a FIFO nobody reads would block forever: O_NONBLOCK makes that ENXIO
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC | (os.O_NONBLOCK if fifo else 0))
    except OSError as e:
        if e.errno == errno.ENXIO and fifo:
            raise EnvironmentProblem(f"cannot write {target}: no process reads this FIFO") from e
        raise EnvironmentProblem(f"cannot write {target}: {e.strerror}") from e
    try:
        os.set_blocking(fd, True)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(text)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write {target}: {e.strerror}") from e
    finally:
        if fd >= 0:
            os.close(fd)


def _replace(target: Path, text: str, mode: int) -> None:
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=directory)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write {target}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise EnvironmentProblem(f"cannot write {target}: {e.strerror}") from e
        raise
