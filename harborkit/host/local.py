"""The live machine (:class:`LocalHost`) and a sysroot folder (:class:`SysrootHost`).

This module is the only place in harborkit that runs commands for checks (each
through :mod:`harborkit.childproc`: a deadline and a bounded read).
"""

from __future__ import annotations

import errno
import fnmatch
import glob as _glob
import os
import posixpath
import shutil
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harborkit import childproc
from harborkit.fsutil import (
    MAX_FILE_BYTES,
    Walk,
    locate_in_root,
    not_regular,
    open_dir,
    read_at,
    read_bounded,
    walk_in_root,
    write_at,
)
from harborkit.host.etc_hosts import addresses_of
from harborkit.host.interface import (
    ClockSample,
    CommandResult,
    FileState,
    Listener,
    NotAvailable,
    ProcessInfo,
    UnreadableFile,
)

if TYPE_CHECKING:
    import docker

_BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def resolve_in_root(root: str, path: str) -> Path:
    """``path`` of a machine whose ``/`` is the folder ``root``, as ``chroot`` sees it.

    Every component is looked up below ``root``: an absolute link target
    restarts at ``root``, ``..`` never climbs above it, so no link (at any
    depth, absolute or relative) leads out of the folder. The result names no
    symbolic link. Raises ``FileNotFoundError``/``NotADirectoryError`` for a
    missing component and ``OSError(ELOOP)`` past 40 links, as the kernel would.
    """
    with walk_in_root(root, path) as w:  # the one resolution: fix --apply writes through it
        return Path(root, *w.done)


def read_limited(real: Path, shown: str, *, follow: bool = True) -> bytes:
    """The bytes of the regular file ``real`` (named ``shown`` in errors), at most
    :data:`MAX_FILE_BYTES`. Anything else is :class:`UnreadableFile`, decided from
    its metadata: a FIFO or a device is never opened for reading."""
    st = os.stat(real) if follow else os.lstat(real)
    what = not_regular(st.st_mode)
    if what:
        raise UnreadableFile(shown, f"is {what}, not a regular file: not read")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(real, flags)
    try:
        st = os.fstat(fd)  # the file opened is the one judged (no swap in between)
        what = not_regular(st.st_mode)
        if what:
            raise UnreadableFile(shown, f"is {what}, not a regular file: not read")
        data = read_bounded(fd, MAX_FILE_BYTES)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(
            shown,
            f"is larger than {MAX_FILE_BYTES >> 20} MiB, too large for a config file: not read",
        )
    return data


class _FileHost:
    """File access below a root folder ("/" for the live machine)."""

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root)
        self._real_root = os.path.realpath(root)
        self._confined = self._real_root != "/"

    def _p(self, path: str) -> Path:
        """Where ``path`` of the audited host is on this machine (links resolved inside the root)."""
        if not path.startswith("/"):
            raise ValueError(f"host paths are absolute: {path!r}")
        if not self._confined:
            return Path(path)
        return resolve_in_root(self._real_root, path)

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def read_bytes(self, path: str) -> bytes:
        """The exact bytes of a regular file (see :func:`read_limited`)."""
        return read_limited(self._p(path), path, follow=not self._confined)

    def exists(self, path: str) -> bool:
        try:
            return self._p(path).exists()
        except (OSError, ValueError):
            return False

    def is_dir(self, path: str) -> bool:
        try:
            return self._p(path).is_dir()
        except (OSError, ValueError):
            return False

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self._p(path)))

    def glob(self, pattern: str) -> list[str]:
        """Paths of the audited host matching ``pattern`` (``*``, ``?``, ``[...]``
        within one component), each component looked up inside the root; like
        :func:`glob.glob`, a link matches whether or not its target exists."""
        if not pattern.startswith("/"):
            raise ValueError(f"host paths are absolute: {pattern!r}")
        found = ["/"]
        for part in (c for c in pattern.split("/") if c):
            nxt: list[str] = []
            for base in found:
                if not _glob.has_magic(part):
                    nxt.append(posixpath.join(base, part))
                    continue
                try:
                    names = self.listdir(base)
                except (OSError, ValueError):
                    continue
                hidden_ok = part.startswith(".")
                nxt.extend(
                    posixpath.join(base, n)
                    for n in fnmatch.filter(names, part)
                    if hidden_ok or not n.startswith(".")
                )
            found = nxt
        return sorted(f for f in found if self._lexists(f))

    def _lexists(self, path: str) -> bool:
        """The directory entry exists (a link counts, wherever it points), as ``glob`` has it."""
        parent, name = posixpath.split(path)
        if not name:
            return True
        try:
            os.lstat(self._p(parent) / name)
        except (OSError, ValueError):
            return False
        return True

    def which(self, program: str) -> str | None:
        for d in _BIN_DIRS:
            candidate = f"{d}/{program}"
            try:
                p = self._p(candidate)
            except (OSError, ValueError):
                continue
            if p.is_file() and os.access(p, os.X_OK):
                return candidate
        return None

    # --- the write side (WritableHost): every path resolved exactly as reads are ---

    def _walk(self, path: str, *, missing_ok: bool = False) -> Walk:
        if not path.startswith("/"):
            raise ValueError(f"host paths are absolute: {path!r}")
        return walk_in_root(self._real_root, path, missing_ok=missing_ok)

    def real_path(self, path: str) -> str:
        with self._walk(path, missing_ok=True) as w:
            return w.host_path()

    def read_file(self, path: str, limit: int) -> FileState | None:
        with self._walk(path, missing_ok=True) as w:
            if not w.exists:
                return None
            if not w.done:
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            got = read_at(w.parent_fd, w.name, limit)
        if got is None:
            return None
        data, st = got
        return FileState(data, st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime_ns)

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int,
        uid: int | None = None,
        gid: int | None = None,
    ) -> list[str]:
        if not path.startswith("/"):
            raise ValueError(f"host paths are absolute: {path!r}")
        w, created = locate_in_root(self._real_root, path, create_parents=True)
        with w:
            write_at(w.parent_fd, w.name, data, mode=mode, uid=uid, gid=gid)
        return created

    def remove_file(self, path: str) -> bool:
        with self._walk(path, missing_ok=True) as w:
            if not w.exists or not w.done:
                return False
            try:
                os.unlink(w.name, dir_fd=w.parent_fd)
            except FileNotFoundError:
                return False
        return True

    def remove_dir(self, path: str) -> bool:
        parent, name = posixpath.split(path)
        try:
            w = self._walk(parent)
        except (OSError, ValueError):
            return False
        with w:
            try:
                fd = open_dir(w.name, w.parent_fd) if w.done else os.dup(w.fds[0])
                try:
                    os.rmdir(name, dir_fd=fd)
                finally:
                    os.close(fd)
            except OSError:
                return False
        return True

    def set_mtime(self, path: str, mtime_ns: int) -> None:
        with self._walk(path) as w:
            if not w.done:  # the root folder itself
                os.utime(w.fds[0], ns=(os.fstat(w.fds[0]).st_atime_ns, mtime_ns))
                return
            st = os.stat(w.name, dir_fd=w.parent_fd, follow_symlinks=False)
            os.utime(
                w.name, ns=(st.st_atime_ns, mtime_ns), dir_fd=w.parent_fd, follow_symlinks=False
            )

    def folder_mtime(self, path: str) -> int:
        with self._walk(path, missing_ok=True) as w:
            return os.fstat(w.fds[-1]).st_mtime_ns

    def _nearest_existing(self, path: str) -> str:
        p = path
        while p != "/" and not self.exists(p):
            p = os.path.dirname(p) or "/"
        return p


class LocalHost(_FileHost):
    """The machine harborkit runs on."""

    def __init__(self) -> None:
        super().__init__("/")

    @property
    def name(self) -> str:
        return socket.gethostname()

    @property
    def live(self) -> bool:
        return True

    def glob(self, pattern: str) -> list[str]:
        return sorted(_glob.glob(pattern))

    def which(self, program: str) -> str | None:
        return shutil.which(program) or super().which(program)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        args = tuple(argv)
        try:
            child = childproc.spawn(args)
        except FileNotFoundError:
            return CommandResult(args, 127, "", f"{args[0]}: command not found")
        return finish(child, timeout)

    def hostname(self) -> str:
        return socket.gethostname()

    def resolve(self, name: str) -> list[str]:
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror:
            return []
        seen: list[str] = []
        for info in infos:
            addr = str(info[4][0])
            if addr not in seen:
                seen.append(addr)
        return seen

    def cpu_count(self) -> int:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - non-Linux
            return os.cpu_count() or 1

    def memory_bytes(self) -> int:
        import psutil

        return int(psutil.virtual_memory().total)

    def disk_free(self, path: str) -> tuple[str, int]:
        existing = self._nearest_existing(path)
        return existing, shutil.disk_usage(existing).free

    def processes(self, name: str) -> list[ProcessInfo]:
        import psutil

        found = []
        for proc in psutil.process_iter(["pid", "name", "exe", "cmdline"]):
            info = proc.info
            if info["name"] == name:
                found.append(
                    ProcessInfo(
                        pid=info["pid"],
                        name=info["name"],
                        exe=info["exe"] or "",
                        cmdline=tuple(info["cmdline"] or ()),
                    )
                )
        return found

    def listeners(self) -> list[Listener]:
        import psutil

        out: list[Listener] = []
        try:
            conns = psutil.net_connections(kind="tcp")
        except psutil.AccessDenied as e:  # pragma: no cover - we run as root
            raise NotAvailable("listening sockets need root to read") from e
        names: dict[int, str] = {}
        for c in conns:
            if c.status != psutil.CONN_LISTEN or not c.laddr:
                continue
            pname = None
            if c.pid:
                if c.pid not in names:
                    try:
                        names[c.pid] = psutil.Process(c.pid).name()
                    except psutil.Error:
                        names[c.pid] = "?"
                pname = names[c.pid]
            proto = "tcp6" if c.family == socket.AF_INET6 else "tcp"
            out.append(Listener(proto, c.laddr.ip, c.laddr.port, c.pid, pname))
        return out

    def docker_client(self) -> docker.DockerClient:
        from harborkit.dockerapi import open_client

        return open_client(timeout=10)

    def clock(self) -> ClockSample:
        """This machine is the reference: its offset is 0 by definition."""
        now = time.time()
        return ClockSample(now, now, 0.0)


def finish(child: childproc.Child, timeout: float) -> CommandResult:
    """A started command's result (:meth:`LocalHost.run`'s): its output and exit
    status, or 124 past ``timeout`` seconds from its start, or stopped past
    :data:`~harborkit.childproc.MAX_OUTPUT` bytes of output."""
    args = child.argv
    out = childproc.collect(child, timeout)
    if out.timed_out:
        return CommandResult(args, 124, "", f"{args[0]}: timed out after {timeout:g}s")
    if out.too_large:
        limit = childproc.MAX_OUTPUT >> 20
        why = f"{args[0]}: printed more than {limit} MiB: stopped, its output not read"
        return CommandResult(args, out.rc, "", why)
    return CommandResult(args, out.rc, out.stdout, out.stderr)


class SysrootHost(_FileHost):
    """A folder holding a machine's files: ``etc/``, ``proc/sys/``, ``usr/bin`` ...

    Files are read below the folder; nothing runs, so the facts of a running
    system raise :class:`NotAvailable` and the checks that need them skip.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__(root)
        if not self.root.is_dir():
            from harborkit.errors import InputError

            raise InputError(f"--root {root}: not a directory")

    @property
    def name(self) -> str:
        try:
            return self.read_text("/etc/hostname").strip() or str(self.root)
        except (OSError, UnreadableFile):
            return str(self.root)

    @property
    def live(self) -> bool:
        return False

    def _why(self) -> str:
        return f"auditing the sysroot {self.root}, not a running system"

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        raise NotAvailable(f"cannot run {argv[0]}: {self._why()}")

    def hostname(self) -> str:
        return self.name

    def resolve(self, name: str) -> list[str]:
        """Resolution from the sysroot's /etc/hosts only (no DNS)."""
        try:
            text = self.read_text("/etc/hosts")
        except (OSError, UnreadableFile):
            return []
        return addresses_of(text, name)

    def cpu_count(self) -> int:
        raise NotAvailable(f"CPU count: {self._why()}")

    def memory_bytes(self) -> int:
        raise NotAvailable(f"memory size: {self._why()}")

    def disk_free(self, path: str) -> tuple[str, int]:
        raise NotAvailable(f"free disk space: {self._why()}")

    def processes(self, name: str) -> list[ProcessInfo]:
        raise NotAvailable(f"processes: {self._why()}")

    def listeners(self) -> list[Listener]:
        raise NotAvailable(f"listening sockets: {self._why()}")

    def docker_client(self) -> docker.DockerClient:
        raise NotAvailable(f"Docker daemon: {self._why()}")

    def clock(self) -> ClockSample:
        raise NotAvailable(f"the clock: {self._why()}")
