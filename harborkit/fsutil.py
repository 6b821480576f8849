"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

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
    try:
        atomic_write(target, text.encode("utf-8"), mode=mode)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write {target}: {e.strerror}") from e


# --- paths of a machine whose "/" is a folder (a sysroot), for reads and writes ---

#: the project's bound on a host file: read up to this size, a larger one is refused
MAX_FILE_BYTES = 4 << 20
MAX_LINKS = 40  # as the kernel's ELOOP limit
_DIR_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_dir(name: str, dir_fd: int | None = None) -> int:
    """A descriptor of the folder ``name`` (never through a link as its last component)."""
    try:
        return os.open(name, _DIR_FLAGS | os.O_RDONLY, dir_fd=dir_fd)
    except PermissionError:  # searchable but not readable: enough to walk through
        return os.open(name, _DIR_FLAGS | os.O_PATH, dir_fd=dir_fd)


class Walk:
    """Where a path of the rooted machine is: the open folders leading to it.

    ``done`` are the components below the root (no link among them), ``fds``
    the open folders: ``fds[0]`` the root, ``fds[i]`` the folder ``done[:i]``.
    When the path exists, ``done[-1]`` is its last component (not opened) and
    ``missing`` is empty; otherwise (``missing_ok``) every name of ``done`` is a
    folder and ``missing`` are the names still to create below it.
    """

    def __init__(self, fds: list[int], done: list[str], missing: list[str]) -> None:
        self.fds = fds
        self.done = done
        self.missing = missing

    @property
    def exists(self) -> bool:
        return not self.missing

    @property
    def parent_fd(self) -> int:
        """The folder holding ``name``."""
        return self.fds[-1]

    @property
    def name(self) -> str:
        """The last component, in :attr:`parent_fd`."""
        return self.missing[-1] if self.missing else self.done[-1]

    def host_path(self) -> str:
        """The resolved path on the rooted machine."""
        return "/" + "/".join([*self.done, *self.missing])

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []

    def __enter__(self) -> Walk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def walk_in_root(root: str, path: str, *, missing_ok: bool = False) -> Walk:
    """Look ``path`` up as ``chroot root`` would, one component at a time.

    Every component is looked up below ``root`` through descriptors of the
    folders already reached (each opened with ``O_NOFOLLOW``, so a folder
    swapped for a link in between is an error, never a way out): an absolute
    link target restarts at ``root``, ``..`` never climbs above it, so no link
    (at any depth, absolute or relative) leads out of the folder. Raises
    ``FileNotFoundError``/``NotADirectoryError`` for a missing component (with
    ``missing_ok``: only a missing name reached through a link that is not the
    last, as ``mkdir -p`` would fail there) and ``OSError(ELOOP)`` past 40
    links, as the kernel would.
    """
    # each name with whether it came from a link's target
    todo: list[tuple[str, bool]] = [(c, False) for c in reversed(path.split("/")) if c]
    done: list[str] = []
    fds = [open_dir(root)]
    links = 0
    try:
        while todo:
            name, from_link = todo.pop()
            if name == ".":
                continue
            if name == "..":
                if done:
                    done.pop()
                    if len(fds) > len(done) + 1:
                        os.close(fds.pop())
                continue
            try:
                st = os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
            except FileNotFoundError:
                rest = [c for c, _ in reversed(todo)]
                if not missing_ok or (from_link and rest) or any(c in (".", "..") for c in rest):
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path) from None
                return Walk(fds, done, [name, *rest])
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(name, dir_fd=fds[-1])
                if not target:  # the kernel resolves an empty link to nothing
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
                if target.startswith("/"):
                    done = []
                    for fd in fds[1:]:
                        os.close(fd)
                    del fds[1:]
                todo.extend((c, True) for c in reversed(target.split("/")) if c)
                continue
            if todo:
                if not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
                fds.append(open_dir(name, fds[-1]))
            done.append(name)
        if done and len(fds) > len(done):  # the last name is a folder followed by '.'
            os.close(fds.pop())
        return Walk(fds, done, [])
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def locate_in_root(root: str, path: str, *, create_parents: bool = False) -> tuple[Walk, list[str]]:
    """The folder that holds ``path`` (resolved as :func:`walk_in_root` does,
    its last component too when it is a link) and the name in it, which is no
    link. Missing folders are created (mode 0755) only with ``create_parents``,
    and only below the root; their resolved paths are returned, outermost
    first. ``FileNotFoundError`` for a missing folder otherwise,
    ``IsADirectoryError`` for the root itself. The caller closes the walk.
    """
    w = walk_in_root(root, path, missing_ok=True)
    created: list[str] = []
    try:
        if w.exists and not w.done:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        while len(w.missing) > 1:
            if not create_parents:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
            name = w.missing.pop(0)
            os.mkdir(name, 0o755, dir_fd=w.fds[-1])
            w.fds.append(open_dir(name, w.fds[-1]))
            w.done.append(name)
            created.append("/" + "/".join(w.done))
    except BaseException:
        w.close()
        raise
    return w, created


def not_regular(mode: int) -> str | None:
    """What a file that is not a regular one is, in words (``a FIFO (named
    pipe)``); None for a regular file. Decided from metadata, before any open."""
    for test, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_bounded(fd: int, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the open file ``fd``: one byte more than
    ``limit`` tells the caller the file is too large, without reading it all."""
    chunks = []
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_at(dir_fd: int, name: str, limit: int) -> tuple[bytes, os.stat_result] | None:
    """The bytes and metadata of the regular file ``name`` in ``dir_fd`` (never
    through a link), None when there is none; ``ValueError`` naming what it is
    when it is no regular file or larger than ``limit``."""
    try:
        # judged from its metadata first: a FIFO or a device is never opened
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(before.st_mode):
        raise ValueError("is a symbolic link")
    if not stat.S_ISREG(before.st_mode):
        raise ValueError("is not a regular file")
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError("is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)  # the file opened is the one judged (no swap in between)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (
            before.st_dev,
            before.st_ino,
        ):
            raise ValueError("is not a regular file")
        data = read_bounded(fd, limit)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"is larger than {limit} bytes")
    return data, st


def temp_name(name: str, pid: int | None = None) -> str:
    """The one temporary name of harborkit's atomic writes, beside ``name``:
    ``.<name>.partial-<pid>`` (what :func:`harborkit.bundle.writer.remove_stale_partials`
    removes once its process is gone); ``pid`` default: this process."""
    return f".{name[:200]}.partial-{os.getpid() if pid is None else pid}"


_writing: dict[tuple[int, int, str], threading.Lock] = {}
_writing_lock = threading.Lock()


def _name_lock(dir_fd: int, name: str) -> threading.Lock:
    """The lock of ``name`` in the folder ``dir_fd`` within this process: two
    threads never share one temporary name."""
    st = os.fstat(dir_fd)
    with _writing_lock:
        return _writing.setdefault((st.st_dev, st.st_ino, name), threading.Lock())


class AtomicFile:
    """``name`` in the folder ``dir_fd`` written whole or not at all.

    :meth:`open` creates :func:`temp_name` beside it (exclusively, never
    through a link; one left by a dead process with this pid is replaced),
    :meth:`commit` fsyncs it, gives it its owner and mode, renames it over
    ``name`` (which replaces the name itself, never a link's target) and fsyncs
    the folder; :meth:`discard` removes it. ``mode`` None: created 0644 less the
    umask; otherwise exactly ``mode`` (after the owner: a chown clears the
    setuid and setgid bits). ``folder``: the folder as shown in :attr:`temp`.
    """

    def __init__(
        self,
        dir_fd: int,
        name: str,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        folder: str | os.PathLike[str] = ".",
        own_dir_fd: bool = False,
    ) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.tmp = temp_name(name)
        self.temp = Path(folder, self.tmp)
        self.mode, self.uid, self.gid = mode, uid, gid
        self.fd = -1
        self._own_dir_fd = own_dir_fd
        self._lock: threading.Lock | None = None

    @classmethod
    def at(cls, path: str | os.PathLike[str], **kw: Any) -> AtomicFile:
        """The file ``path`` of this machine (its folder looked up as the OS does)."""
        p = Path(path)
        folder = p.parent if str(p.parent) else Path(".")
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return cls(fd, p.name, folder=folder, own_dir_fd=True, **kw)

    def open(self) -> int:
        lock = _name_lock(self.dir_fd, self.name)
        lock.acquire()
        self._lock = lock
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        create = 0o600 if self.mode is not None else 0o644
        try:
            try:
                self.fd = os.open(self.tmp, flags, create, dir_fd=self.dir_fd)
            except FileExistsError:  # left by a process gone that had this pid (pids repeat)
                os.unlink(self.tmp, dir_fd=self.dir_fd)
                self.fd = os.open(self.tmp, flags, create, dir_fd=self.dir_fd)
        except BaseException:
            self._done()
            raise
        return self.fd

    def commit(self) -> None:
        try:
            if self.uid is not None and self.gid is not None:
                try:
                    os.fchown(self.fd, self.uid, self.gid)
                except PermissionError:
                    if (self.uid, self.gid) != (os.geteuid(), os.getegid()):
                        raise
            if self.mode is not None:
                os.fchmod(self.fd, self.mode & 0o7777)
            os.fsync(self.fd)
            os.rename(self.tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except BaseException:
            self.discard()
            raise
        with contextlib.suppress(OSError):
            os.fsync(self.dir_fd)
        self._done()

    def discard(self) -> bool:
        """Remove the temporary file (only one this object made); whether there was one."""
        gone = False
        if self._lock is not None:  # opened, not yet committed or discarded
            try:
                os.unlink(self.tmp, dir_fd=self.dir_fd)
                gone = True
            except OSError:
                pass
        self._done()
        return gone

    def _done(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        if self._own_dir_fd:
            with contextlib.suppress(OSError):
                os.close(self.dir_fd)
            self._own_dir_fd = False
        if self._lock is not None:
            self._lock.release()
            self._lock = None


@contextlib.contextmanager
def atomic_file(af: AtomicFile) -> Iterator[BinaryIO]:
    """``af`` open as a binary file: committed when the block ends, discarded
    when it raises (``af`` is opened unless it is open)."""
    fd = af.fd if af.fd >= 0 else af.open()
    try:
        f = os.fdopen(os.dup(fd), "wb")
        with f:
            yield f
            f.flush()
    except BaseException:
        af.discard()
        raise
    af.commit()


def write_at(
    dir_fd: int,
    name: str,
    data: bytes,
    *,
    mode: int,
    uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Replace ``name`` in the folder ``dir_fd`` atomically with ``data`` (see
    :class:`AtomicFile`)."""
    with atomic_file(AtomicFile(dir_fd, name, mode=mode, uid=uid, gid=gid)) as f:
        f.write(data)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Replace the file ``path`` of this machine atomically with ``data`` (see
    :class:`AtomicFile`)."""
    with atomic_file(AtomicFile.at(path, mode=mode, uid=uid, gid=gid)) as f:
        f.write(data)
