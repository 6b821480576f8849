"""Where a fix writes: the host's files, resolved inside its root.

Under ``--root`` every path, written or read, is resolved inside the sysroot
exactly as the checks read it (:func:`harborkit.fsutil.walk_in_root`, as
``chroot`` would): a link, absolute or relative, at any depth, names a file of
the sysroot, never one of this machine.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harborkit.errors import ExitCode, HarborkitError
from harborkit.fsutil import Walk, walk_in_root
from harborkit.host.interface import FileState, WritableHost

JOURNAL_DIR = "/var/lib/harborkit/fix"


MAX_FILE = 4 << 20  # host files are read up to 4 MiB: so are their backups


class FixRefused(HarborkitError):
    """The apply would be unsafe as asked; nothing was changed (exit 12)."""

    exit_code = ExitCode.FIX_REFUSED


class JournalDamaged(FixRefused):
    """A journal that cannot be trusted to restore anything (exit 12)."""


def valid_path(p: object) -> str:
    """``p`` if it is an absolute, normalized host path naming a file below
    ``/`` (no NUL, no ``.`` or ``..``, no ``//``); ``ValueError`` otherwise."""
    if not isinstance(p, str):
        raise ValueError(f"a path is {type(p).__name__}, not a string")
    shown = json.dumps(p)[:200]
    if "\x00" in p:
        raise ValueError(f"path {shown} holds a NUL byte")
    if not p.startswith("/") or p == "/":
        raise ValueError(f"path {shown} is not an absolute path of a file")
    if len(p) > 4096:
        raise ValueError(f"path {shown} is longer than 4096 characters")
    parts = p.split("/")[1:]
    if any(c in ("", ".", "..") for c in parts):
        raise ValueError(f"path {shown} is not normalized (an empty, '.' or '..' component)")
    try:
        os.fsencode(p)
    except UnicodeEncodeError:
        raise ValueError(f"path {shown} cannot be a file name") from None
    return p


@dataclass(frozen=True)
class Target:
    """Where the files of the host are, and where the journal goes.

    ``journal_in_root``: ``journal_dir`` is a path of the host (the default
    ``/var/lib/harborkit/fix``), resolved inside the sysroot like every other
    path; otherwise it is a folder of this machine (``--journal-dir``).
    """

    root: str | None  # None: the live host
    journal_dir: Path  # as shown
    journal_in_root: bool = False
    #: the host the files are written through (default: the local or sysroot backend)
    via: WritableHost | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        root: str | None,
        journal_dir: str | Path | None = None,
        *,
        via: WritableHost | None = None,
    ) -> Target:
        if journal_dir:
            return cls(root, Path(os.path.abspath(journal_dir)), via=via)
        base = Path(root or "/")
        return cls(root, base / JOURNAL_DIR.lstrip("/"), journal_in_root=True, via=via)

    @property
    def files_root(self) -> str:
        return os.path.realpath(self.root) if self.root else "/"

    def journal_at(self) -> tuple[str, str]:
        """(root, path in it) of the journal folder."""
        if self.journal_in_root:
            return self.files_root, JOURNAL_DIR
        return "/", str(self.journal_dir)

    def shown(self, walked: Sequence[str]) -> str:
        """Components below the files root, as a path of this machine."""
        return str(Path(self.root or "/", *walked))

    @property
    def live(self) -> bool:
        return self.root is None

    @property
    def host(self) -> WritableHost:
        """The host whose files are changed: every write goes through it,
        resolved exactly as the checks read (a sysroot's links inside it)."""
        if self.via is not None:
            return self.via
        from harborkit.host.local import LocalHost, SysrootHost

        return LocalHost() if self.root is None else SysrootHost(self.files_root)

    @property
    def cleans_up(self) -> bool:
        """A complete rollback removes its journal, and what harborkit made for
        it, from the tree: the default journal folder of a sysroot."""
        return self.root is not None and self.journal_in_root


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Unsafe(FixRefused):
    """A host path that cannot be written where the checks read it (exit 12
    should it ever reach the user unexplained)."""


@contextlib.contextmanager
def _unsafe(path: str, target_root: str) -> Iterator[None]:
    """Why host ``path`` cannot be written where the checks read it, as :class:`Unsafe`."""
    try:
        yield
    except ValueError as e:
        raise Unsafe(str(e)) from None
    except (FileNotFoundError, NotADirectoryError) as e:
        raise Unsafe(
            f"{path}: a link or a file on its way leads to no folder of the "
            f"{'sysroot' if target_root != '/' else 'host'} ({e.strerror})"
        ) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Unsafe(f"{path}: too many levels of symbolic links") from None
        raise


def walk_host(target: Target, path: str) -> Walk:
    """Where host ``path`` is (resolved inside the root); nothing is created."""
    with _unsafe(path, target.files_root):
        w = walk_in_root(target.files_root, valid_path(path), missing_ok=True)
    if w.exists and not w.done:
        w.close()
        raise Unsafe(f"{path} is the root folder")
    return w


def read_host(target: Target, path: str) -> FileState | None:
    """Host ``path`` as the checks read it (None: absent)."""
    with _unsafe(path, target.files_root):
        p = valid_path(path)
        try:
            return target.host.read_file(p, MAX_FILE)
        except IsADirectoryError:
            raise Unsafe(f"{path} is the root folder") from None
        except ValueError as e:
            raise Unsafe(f"{path} {e}") from None


def write_host(
    target: Target,
    path: str,
    data: bytes,
    *,
    mode: int,
    uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Replace host ``path`` atomically through the host (its missing folders
    created inside the root)."""
    with _unsafe(path, target.files_root):
        target.host.write_file(valid_path(path), data, mode=mode, uid=uid, gid=gid)


def writable_fd(fd: int) -> str | None:
    """Why the folder cannot be written, None when it can."""
    try:
        if os.fstatvfs(fd).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError as e:
        return e.strerror
    try:
        if not os.access(".", os.W_OK, dir_fd=fd):
            return "permission denied"
    except OSError as e:
        return e.strerror
    return None


def set_mtime(fd: int, mtime_ns: int) -> None:
    """Give the folder (or file) ``fd`` back the modification time it had."""
    with contextlib.suppress(OSError):
        os.utime(fd, ns=(os.fstat(fd).st_atime_ns, mtime_ns))


def set_path_mtime(target: Target, path: str, mtime_ns: int) -> None:
    """Give the file or folder ``path`` of the host (resolved inside the root)
    back the modification time it had (best effort)."""
    with contextlib.suppress(OSError, ValueError):
        target.host.set_mtime(path, mtime_ns)


def set_folder_mtime(target: Target, path: str, mtime_ns: int) -> None:
    """:func:`set_path_mtime` on the folder that holds host ``path``."""
    with contextlib.suppress(OSError, ValueError):
        target.host.set_mtime(posixpath.dirname(target.host.real_path(path)), mtime_ns)


def rmdir_host(target: Target, path: str) -> bool:
    """Remove the empty folder ``path`` of the host (never a link's target);
    whether it is gone."""
    return target.host.remove_dir(path)
