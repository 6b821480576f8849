"""Apply a plan with a journal, and roll it back byte for byte.

Every file is written atomically (a temporary file beside it, fsync, rename)
keeping its mode and owner. Before a file is touched its original bytes and
metadata are saved in the journal (``/var/lib/harborkit/fix/<id>/``, inside the
sysroot for ``--root``), and the journal is synced, so an apply killed at any
moment can be rolled back. Commands run only on the live host, after the files.

Under ``--root`` every path, written or read, is resolved inside the sysroot
exactly as the checks read it (:func:`harborkit.fsutil.walk_in_root`, as
``chroot`` would): a link, absolute or relative, at any depth, names a file of
the sysroot, never one of this machine. A journal inside the sysroot is data
from the audited disk: it is validated whole (every path absolute, normalized,
confined; every backup a plain file of the journal folder whose sha256 the
manifest written at apply time names) before anything is restored.

A complete rollback of a sysroot (default journal folder) leaves it as it
was: files and their folders get their bytes, modes, owners and mtimes back,
the journal is removed, and once only the journals that were there before
harborkit remain, so are the lock file and the folders of the journal path
harborkit created (the apply records them in ``.origin``). The live host and
``--journal-dir`` keep their journals as a record of what was done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import posixpath
import re
import secrets
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harborkit.errors import EnvironmentProblem, ExitCode, HarborkitError, InputError
from harborkit.fsutil import Walk, locate_in_root, open_dir, read_at, walk_in_root, write_at
from harborkit.model.change import FileChange, Plan

JOURNAL_DIR = "/var/lib/harborkit/fix"
#: test hook: stall this many seconds after writing the first N files ("N:SECONDS")
_STALL_ENV = "HARBORKIT_FIX_TEST_STALL"
#: seconds a second apply or rollback waits for the one in progress (default 10)
LOCK_WAIT_ENV = "HARBORKIT_FIX_LOCK_WAIT"
MAX_FILE = 4 << 20  # host files are read up to 4 MiB: so are their backups
MAX_JOURNAL = 4 << 20
JOURNAL_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BACKUP = re.compile(r"[0-9]{3,6}")
MANIFEST = "manifest.sha256"
COMPLETE = "complete"  # marker: the apply finished (whatever its state)
LOCK = ".lock"
#: in a sysroot's journal folder: what harborkit made there (see :func:`_note_origin`)
ORIGIN = ".origin"
_REMOVED = re.compile(r"\.[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\.removed")


class FixRefused(HarborkitError):
    """The apply would be unsafe as asked; nothing was changed (exit 12)."""

    exit_code = ExitCode.FIX_REFUSED


class JournalDamaged(FixRefused):
    """A journal that cannot be trusted to restore anything (exit 12)."""


@dataclass(frozen=True)
class Entry:
    """One file as it was before the apply."""

    path: str  # on the host
    existed: bool
    mode: int | None
    uid: int | None
    gid: int | None
    sha256: str | None  # of the original bytes
    new_sha256: str
    backup: str | None  # file name under the journal's files/
    created_dirs: tuple[str, ...] = ()  # folders the apply created (resolved paths on the host)
    mtime_ns: int | None = None  # of the file that existed
    dir_mtime_ns: int | None = None  # of the folder holding it (or its first created folder)


@dataclass(frozen=True)
class CommandRun:
    argv: tuple[str, ...]
    rc: int
    detail: str


@dataclass
class Journal:
    """What an apply did, enough to undo the files."""

    id: str
    created: str
    host: str
    root: str | None
    plan_id: str
    checks: list[str]
    state: str = "applying"  # applying, applied, commands-failed, restored, rolled-back
    entries: list[Entry] = field(default_factory=list)
    commands: list[CommandRun] = field(default_factory=list)
    irreversible: list[str] = field(default_factory=list)
    rolled_back: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Journal:
        """The journal in ``text``, validated whole; ``ValueError`` saying what is wrong."""
        return _validate(_loads(text))


STATES = ("applying", "applied", "commands-failed", "restored", "rolled-back")


def _loads(text: str) -> Any:
    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, parse_constant=constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON (line {e.lineno} column {e.colno}: {e.msg})") from None


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


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _int_or_none(v: object, top: int, what: str) -> int | None:
    if v is None:
        return None
    _check(type(v) is int and 0 <= v <= top, f"{what} is not an integer from 0 to {top}")
    return v  # type: ignore[return-value]


def _str(v: object, what: str, *, none: bool = False) -> Any:
    _check(isinstance(v, str) or (none and v is None), f"{what} is not a string")
    return v


def _validate(d: Any) -> Journal:
    keys = {
        "id",
        "created",
        "host",
        "root",
        "plan_id",
        "checks",
        "state",
        "entries",
        "commands",
        "irreversible",
        "rolled_back",
    }
    _check(isinstance(d, dict), "not a JSON object")
    _check(set(d) == keys, f"keys {sorted(set(d) ^ keys)} missing or unknown")
    _check(isinstance(d["id"], str) and bool(JOURNAL_ID.fullmatch(d["id"])), "id is malformed")
    for k in ("created", "host", "plan_id"):
        _str(d[k], k)
    _str(d["root"], "root", none=True)
    _str(d["rolled_back"], "rolled_back", none=True)
    _check(d["state"] in STATES, "state is unknown")
    for k in ("checks", "irreversible"):
        _check(
            isinstance(d[k], list) and all(isinstance(x, str) for x in d[k]), f"{k}: not strings"
        )
    _check(isinstance(d["entries"], list), "entries is not a list")
    _check(isinstance(d["commands"], list), "commands is not a list")
    entries: list[Entry] = []
    ekeys = {f for f in Entry.__dataclass_fields__}
    optional = {"mtime_ns", "dir_mtime_ns"}  # not in journals of earlier versions
    seen_paths: set[str] = set()
    seen_backups: set[str] = set()
    for n, e in enumerate(d["entries"]):
        w = f"entry {n + 1}"
        _check(
            isinstance(e, dict) and ekeys - optional <= set(e) <= ekeys,
            f"{w}: keys missing or unknown",
        )
        mtime = _int_or_none(e.get("mtime_ns"), 2**63 - 1, f"{w}: mtime_ns")
        dir_mtime = _int_or_none(e.get("dir_mtime_ns"), 2**63 - 1, f"{w}: dir_mtime_ns")
        path = valid_path(e["path"])
        _check(path not in seen_paths, f"{w}: {path} is journaled twice")
        seen_paths.add(path)
        existed = e["existed"]
        _check(isinstance(existed, bool), f"{w}: existed is not true or false")
        mode = _int_or_none(e["mode"], 0o7777, f"{w}: mode")
        uid = _int_or_none(e["uid"], 2**32 - 2, f"{w}: uid")
        gid = _int_or_none(e["gid"], 2**32 - 2, f"{w}: gid")
        sha = e["sha256"]
        new_sha = e["new_sha256"]
        backup = e["backup"]
        _check(
            isinstance(new_sha, str) and bool(_HEX64.fullmatch(new_sha)),
            f"{w}: new_sha256 is not a sha256",
        )
        if existed:
            _check(
                isinstance(sha, str) and bool(_HEX64.fullmatch(sha)), f"{w}: sha256 is not a sha256"
            )
            _check(
                isinstance(backup, str) and bool(_BACKUP.fullmatch(backup)),
                f"{w}: backup is not a file name of the journal",
            )
            _check(backup not in seen_backups, f"{w}: backup {backup} is used twice")
            seen_backups.add(backup)
            _check(mode is not None, f"{w}: the mode of a file that existed is missing")
        else:
            _check(sha is None and backup is None, f"{w}: a created file has a backup")
        dirs = e["created_dirs"]
        _check(isinstance(dirs, list), f"{w}: created_dirs is not a list")
        prev = None
        for c in dirs:
            valid_path(c)
            _check(
                prev is None or posixpath.dirname(c) == prev,
                f"{w}: created_dirs are not nested folders",
            )
            prev = c
        _check(not (existed and dirs), f"{w}: a file that existed has created folders")
        entries.append(
            Entry(
                path, existed, mode, uid, gid, sha, new_sha, backup, tuple(dirs), mtime, dir_mtime
            )
        )
    commands: list[CommandRun] = []
    for n, c in enumerate(d["commands"]):
        w = f"command {n + 1}"
        _check(isinstance(c, dict) and set(c) == {"argv", "rc", "detail"}, f"{w}: keys")
        argv = c["argv"]
        _check(
            isinstance(argv, list) and bool(argv) and all(isinstance(a, str) for a in argv),
            f"{w}: argv is not a list of strings",
        )
        _check(type(c["rc"]) is int and -256 <= c["rc"] <= 256, f"{w}: rc is not an exit status")
        commands.append(CommandRun(tuple(argv), c["rc"], _str(c["detail"], f"{w}: detail")))
    return Journal(
        d["id"],
        d["created"],
        d["host"],
        d["root"],
        d["plan_id"],
        list(d["checks"]),
        d["state"],
        entries,
        commands,
        list(d["irreversible"]),
        d["rolled_back"],
    )


def _below(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


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

    @classmethod
    def of(cls, root: str | None, journal_dir: str | Path | None = None) -> Target:
        if journal_dir:
            return cls(root, Path(os.path.abspath(journal_dir)))
        base = Path(root or "/")
        return cls(root, base / JOURNAL_DIR.lstrip("/"), journal_in_root=True)

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
    def cleans_up(self) -> bool:
        """A complete rollback removes its journal, and what harborkit made for
        it, from the tree: the default journal folder of a sysroot."""
        return self.root is not None and self.journal_in_root


@dataclass(frozen=True)
class Applied:
    journal: Journal | None  # None: nothing to change
    not_run: tuple[str, ...] = ()  # commands left out (a sysroot)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Unsafe(FixRefused):
    """A host path that cannot be written where the checks read it (exit 12
    should it ever reach the user unexplained)."""


@contextlib.contextmanager
def _unsafe(path: str, target_root: str) -> Iterator[None]:
    """Why host ``path`` cannot be written where the checks read it, as :class:`_Unsafe`."""
    try:
        yield
    except ValueError as e:
        raise _Unsafe(str(e)) from None
    except (FileNotFoundError, NotADirectoryError) as e:
        raise _Unsafe(
            f"{path}: a link or a file on its way leads to no folder of the "
            f"{'sysroot' if target_root != '/' else 'host'} ({e.strerror})"
        ) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _Unsafe(f"{path}: too many levels of symbolic links") from None
        raise


def _walk(target: Target, path: str) -> Walk:
    """Where host ``path`` is (resolved inside the root); nothing is created."""
    with _unsafe(path, target.files_root):
        w = walk_in_root(target.files_root, valid_path(path), missing_ok=True)
    if w.exists and not w.done:
        w.close()
        raise _Unsafe(f"{path} is the root folder")
    return w


def _locate(target: Target, path: str) -> Walk:
    """The folder and name of host ``path``, its missing folders created inside the root."""
    with _unsafe(path, target.files_root):
        w, _ = locate_in_root(target.files_root, valid_path(path), create_parents=True)
    return w


def _read_host(target: Target, path: str) -> tuple[bytes, os.stat_result] | None:
    """The bytes and metadata of host ``path`` as the checks read them (None: absent)."""
    with _walk(target, path) as w:
        if not w.exists:
            return None
        try:
            return read_at(w.parent_fd, w.name, MAX_FILE)
        except ValueError as e:
            raise _Unsafe(f"{path} {e}") from None


def write_atomic(
    p: Path, data: bytes, *, mode: int, uid: int | None = None, gid: int | None = None
) -> None:
    """Temporary file beside ``p``, fsync, mode and owner, rename, fsync the folder
    (``p`` a path of this machine; its folder is not a link)."""
    fd = open_dir(str(p.parent))
    try:
        write_at(fd, p.name, data, mode=mode, uid=uid, gid=gid)
    finally:
        os.close(fd)


def _writable_fd(fd: int) -> str | None:
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


# --- the journal folder ---------------------------------------------------------


@dataclass
class _Made:
    """The folders of the journal path one process created (resolved host
    paths, outermost first) and the mtime the folder above them had before."""

    folders: list[str] = field(default_factory=list)
    mtime_ns: int | None = None


def _journal_base(target: Target, *, create: bool, made: _Made | None = None) -> int | None:
    """A descriptor of the journal folder (created when asked, what was created
    told in ``made``), None when absent."""
    jroot, jpath = target.journal_at()
    try:
        w = walk_in_root(jroot, jpath, missing_ok=True)
    except OSError as e:
        raise FixRefused(
            f"cannot use the journal folder {target.journal_dir}: {e.strerror} (a folder of it "
            "is a link to nothing, or a file; nothing was changed)"
        ) from None
    with w:
        if w.exists:
            try:
                return open_dir(w.name, w.parent_fd)
            except OSError as e:
                raise EnvironmentProblem(
                    f"journal folder {target.journal_dir}: {e.strerror}"
                ) from None
        if not create:
            return None
        why = _writable_fd(w.fds[-1])
        if why:
            shown = (
                str(Path(jroot, *w.done)) if not target.journal_in_root else target.shown(w.done)
            )
            raise EnvironmentProblem(f"cannot write {shown}: {why} (nothing was changed)")
        if made is not None:
            made.mtime_ns = os.fstat(w.fds[-1]).st_mtime_ns
        try:
            for name in w.missing:
                try:
                    os.mkdir(name, 0o755 if name != w.missing[-1] else 0o700, dir_fd=w.fds[-1])
                    if made is not None:
                        made.folders.append("/" + "/".join([*w.done, name]))
                except FileExistsError:
                    pass
                w.fds.append(open_dir(name, w.fds[-1]))
                w.done.append(name)
        except OSError as e:
            raise EnvironmentProblem(
                f"cannot create the journal folder {target.journal_dir}: {e.strerror} "
                "(nothing was changed)"
            ) from None
        return os.dup(w.fds[-1])


_held: dict[str, int] = {}


def _lock_wait() -> float:
    try:
        wait = float(os.environ.get(LOCK_WAIT_ENV, "10"))
    except ValueError:
        wait = 10.0
    return max(0.0, min(wait, 3600.0))


@contextlib.contextmanager
def _guard(target: Target, deadline: float) -> Iterator[None]:
    """While a sysroot's journal folder is made, or unmade, no other harborkit
    process looks at it: a short lock on the sysroot's own folder (nothing is
    created for it; a live host or a ``--journal-dir`` never unmakes its
    journal folder and needs none)."""
    if not target.cleans_up:
        yield
        return
    import fcntl

    fd = open_dir(target.files_root)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FixRefused(
                        f"another harborkit fix is making or removing the journal folder "
                        f"{target.journal_dir}: try again when it has finished (nothing was "
                        "changed)"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # the only descriptor: the flock goes with it


def hold_lock(target: Target, *, create: bool = True) -> bool:
    """Hold the lock of the journal folder until this process ends: a second
    apply or rollback waits for it (``HARBORKIT_FIX_LOCK_WAIT`` seconds, 10 by
    default), then is refused naming the process that holds it.

    A complete rollback of a sysroot removes the lock file and the folders
    harborkit made while holding it: a process that was waiting then holds a
    lock on a file no longer in the tree, so the lock is only held once the
    file locked is still the one at its path; otherwise it starts again (and
    makes the journal folder anew, recording that it did). A rollback
    (``create`` false) makes no journal folder: False when there is none."""
    key = "\0".join(target.journal_at())
    if key in _held:
        return True
    import fcntl

    deadline = time.monotonic() + _lock_wait()
    while True:
        with _guard(target, deadline):
            made = _Made()
            base = _journal_base(target, create=create, made=made)
            if base is None:
                return False
            premtime = made.mtime_ns if made.folders else os.fstat(base).st_mtime_ns
            try:
                try:
                    fd = os.open(
                        LOCK,
                        os.O_RDWR
                        | os.O_CREAT
                        | os.O_EXCL
                        | os.O_NOFOLLOW
                        | os.O_NONBLOCK
                        | os.O_CLOEXEC,
                        0o600,
                        dir_fd=base,
                    )
                    lock_made = True
                except FileExistsError:
                    fd = os.open(
                        LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=base
                    )
                    lock_made = False
            except OSError as e:
                os.close(base)
                raise FixRefused(
                    f"cannot open the lock {target.journal_dir}/{LOCK}: {e.strerror} "
                    "(nothing was changed)"
                ) from None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                    # a hard link would have this process write the pid into another file
                    os.close(fd)
                    what = "a hard link" if stat.S_ISREG(st.st_mode) else "not a regular file"
                    raise FixRefused(
                        f"the lock {target.journal_dir}/{LOCK} is {what} (nothing was changed)"
                    )
                if target.cleans_up:
                    try:
                        _note_origin(target, base, made.folders, premtime, lock_made, fd)
                    except OSError as e:
                        os.close(fd)
                        raise EnvironmentProblem(
                            f"cannot write {target.journal_dir}/{ORIGIN}: {e.strerror} "
                            "(nothing was changed)"
                        ) from None
            finally:
                os.close(base)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    said = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    os.close(fd)
                    pid = said if said.isdecimal() and said.isascii() else "unknown"
                    raise FixRefused(
                        f"another harborkit fix is in progress (pid {pid}) with the journal "
                        f"{target.journal_dir}: try again when it has finished (nothing was "
                        "changed)"
                    ) from None
                time.sleep(0.05)
        with _guard(target, deadline):
            current = _is_the_lock(target, fd)
        if current:
            break
        os.close(fd)  # the one before removed it with its journal folder: again
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[key] = fd
    return True


def _is_the_lock(target: Target, fd: int) -> bool:
    """Whether ``fd`` is the file at the lock's path now."""
    base = _journal_base(target, create=False)
    if base is None:
        return False
    try:
        st = os.stat(LOCK, dir_fd=base, follow_symlinks=False)
    except OSError:
        return False
    finally:
        os.close(base)
    got = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (got.st_dev, got.st_ino) and got.st_nlink == 1


def release_lock(target: Target) -> None:
    fd = _held.pop("\0".join(target.journal_at()), None)
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock


# --- what harborkit made for the journal of a sysroot, and unmaking it -----------


@dataclass(frozen=True)
class Origin:
    """What was in a sysroot before harborkit put its journal folder there.

    ``folders``: the folders of the journal path harborkit created (resolved
    host paths, outermost first; the last is the journal folder); ``mtime_ns``:
    the modification time of the folder that held the first of them (or of
    the journal folder itself when it existed) before; ``lock``: harborkit
    created the lock file; ``journals``: the journals already there (left
    alone: only once these alone remain is the folder unmade); ``lock_was``
    and ``lock_mtime_ns``: the text and mtime of a lock file that was there
    (an earlier harborkit's), given back when the folder is unmade."""

    folders: tuple[str, ...]
    mtime_ns: int | None
    lock: bool
    journals: tuple[str, ...]
    lock_was: str | None = None
    lock_mtime_ns: int | None = None

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2) + "\n").encode()


def _read_origin(target: Target, base: int) -> Origin | None:
    """The origin record of the journal folder, None when absent or not to be
    trusted (it is data from the audited disk: then nothing is unmade)."""
    try:
        got = read_at(base, ORIGIN, 64 << 10)
        if got is None:
            return None
        d = _loads(got[0].decode("utf-8"))
        _check(
            isinstance(d, dict)
            and set(d) == {"folders", "mtime_ns", "lock", "journals", "lock_was", "lock_mtime_ns"},
            "keys",
        )
        folders = d["folders"]
        _check(isinstance(folders, list), "folders")
        prev = None
        for f in folders:
            valid_path(f)
            _check(prev is None or posixpath.dirname(f) == prev, "folders are not nested")
            prev = f
        if folders:
            with walk_in_root(target.files_root, JOURNAL_DIR) as w:
                _check(w.host_path() == folders[-1], "the last folder is not the journal folder")
        m, lm, was = d["mtime_ns"], d["lock_mtime_ns"], d["lock_was"]
        _check(m is None or (type(m) is int and 0 <= m < 2**63), "mtime_ns")
        _check(lm is None or (type(lm) is int and 0 <= lm < 2**63), "lock_mtime_ns")
        _check(was is None or (isinstance(was, str) and len(was) <= 64), "lock_was")
        _check(isinstance(d["lock"], bool), "lock")
        js = d["journals"]
        _check(
            isinstance(js, list)
            and all(isinstance(j, str) and JOURNAL_ID.fullmatch(j) for j in js),
            "journals",
        )
        return Origin(tuple(folders), m, d["lock"], tuple(js), was, lm)
    except (ValueError, OSError, UnicodeDecodeError):
        return None


def _note_origin(
    target: Target, base: int, made: list[str], mtime_ns: int | None, lock_made: bool, lock: int
) -> None:
    """Record what this process made for the journal folder (under the guard):
    the whole record when there is none yet, else the lock file it made anew.
    ``lock``: the lock file, open (its text and mtime kept when it was there)."""
    try:
        present = os.stat(ORIGIN, dir_fd=base, follow_symlinks=False)
    except FileNotFoundError:
        present = None
    if present is None:
        names = sorted(n for n in os.listdir(base) if JOURNAL_ID.fullmatch(n))
        was: str | None = None
        was_mtime: int | None = None
        if not lock_made:
            text = os.pread(lock, 65, 0)
            if len(text) <= 64 and text.isascii():
                was, was_mtime = text.decode("ascii"), os.fstat(lock).st_mtime_ns
        origin = Origin(tuple(made), mtime_ns, lock_made, tuple(names), was, was_mtime)
    else:
        had = _read_origin(target, base)
        if had is None or not lock_made or had.lock:
            return  # nothing new (or a record not to be trusted: left as it is)
        origin = Origin(had.folders, had.mtime_ns, True, had.journals)
    write_at(base, ORIGIN, origin.to_json(), mode=0o600)


def _forget(target: Target, jid: str | None) -> bool:
    """After a complete rollback of a sysroot: remove journal ``jid`` (None: an
    apply refused before it made one), then, once only the journals that were
    there before harborkit remain, the lock file, the origin record and the
    folders harborkit made, each only if it is empty, restoring the
    modification time of the folder that held them. Called holding the lock;
    whether the journal is gone."""
    with _guard(target, time.monotonic() + _lock_wait()):
        base = _journal_base(target, create=False)
        if base is None:
            return False
        try:
            if jid is not None:
                gone = f".{jid}.removed"
                _remove_journal(base, gone)  # left by a rollback killed while removing it
                try:
                    os.rename(jid, gone, src_dir_fd=base, dst_dir_fd=base)
                except OSError:
                    return False
            for n in os.listdir(base):
                if _REMOVED.fullmatch(n):
                    _remove_journal(base, n)
            origin = _read_origin(target, base)
            left = {n for n in os.listdir(base) if n not in (LOCK, ORIGIN)}
            if origin is None or not left <= set(origin.journals):
                return True  # other journals (or a record not to trust): the folder stays
            if origin.lock:
                with contextlib.suppress(OSError):
                    os.unlink(LOCK, dir_fd=base)
            held = _held.get("\0".join(target.journal_at()))
            if not origin.lock and origin.lock_was is not None and held is not None:
                with contextlib.suppress(OSError):  # an earlier harborkit's lock: as it was
                    os.ftruncate(held, 0)
                    os.pwrite(held, origin.lock_was.encode("ascii"), 0)
                    if origin.lock_mtime_ns is not None:
                        _set_mtime(held, origin.lock_mtime_ns)
            with contextlib.suppress(OSError):
                os.unlink(ORIGIN, dir_fd=base)
            if not origin.folders:
                if origin.mtime_ns is not None:
                    _set_mtime(base, origin.mtime_ns)
                return True
        finally:
            os.close(base)
        for folder in reversed(origin.folders):
            if not _rmdir(target, folder):
                return True
        if origin.mtime_ns is not None:
            _set_path_mtime(target, posixpath.dirname(origin.folders[0]), origin.mtime_ns)
        return True


def _set_mtime(fd: int, mtime_ns: int) -> None:
    """Give the folder (or file) ``fd`` back the modification time it had."""
    with contextlib.suppress(OSError):
        os.utime(fd, ns=(os.fstat(fd).st_atime_ns, mtime_ns))


def _set_path_mtime(target: Target, folder: str, mtime_ns: int) -> None:
    """:func:`_set_mtime` on the folder ``folder`` of the host (resolved inside the root)."""
    with contextlib.suppress(OSError), walk_in_root(target.files_root, folder) as w:
        fd = open_dir(w.name, w.parent_fd) if w.done else os.dup(w.fds[0])
        try:
            _set_mtime(fd, mtime_ns)
        finally:
            os.close(fd)


def _remove_journal(base: int, name: str) -> None:
    """Remove the journal folder ``name`` of ``base``: only the names a journal
    holds (anything else keeps the folder)."""
    with contextlib.suppress(OSError):
        d = open_dir(name, base)
        try:
            with contextlib.suppress(OSError):
                f = open_dir("files", d)
                try:
                    for n in os.listdir(f):
                        if _BACKUP.fullmatch(n):
                            os.unlink(n, dir_fd=f)
                finally:
                    os.close(f)
                os.rmdir("files", dir_fd=d)
            for n in ("journal.json", MANIFEST, COMPLETE):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(n, dir_fd=d)
        finally:
            os.close(d)
        os.rmdir(name, dir_fd=base)


@dataclass(frozen=True)
class Found:
    """A journal folder: the journal, or why it cannot be trusted."""

    id: str
    journal: Journal | None
    damage: str | None
    complete: bool  # the apply finished (its marker is there)

    @property
    def interrupted(self) -> bool:
        if self.journal is not None:
            return self.journal.state == "applying"
        return not self.complete


def _read_journal(base: int, jid: str) -> Found:
    try:
        d = open_dir(jid, base)
    except OSError as e:
        why = "is a symbolic link" if e.errno in (errno.ELOOP, errno.ENOTDIR) else e.strerror
        return Found(jid, None, f"the journal folder {why}", False)
    try:
        try:
            os.stat(COMPLETE, dir_fd=d, follow_symlinks=False)
            complete = True
        except OSError:
            complete = False
        try:
            got = read_at(d, "journal.json", MAX_JOURNAL)
        except ValueError as e:
            return Found(jid, None, f"journal.json {e}", complete)
        except OSError as e:
            return Found(jid, None, f"journal.json: {e.strerror}", complete)
        if got is None:
            return Found(jid, None, "journal.json is missing", complete)
        try:
            j = Journal.from_json(got[0].decode("utf-8"))
        except UnicodeDecodeError:
            return Found(jid, None, "journal.json is not UTF-8", complete)
        except ValueError as e:
            return Found(jid, None, f"journal.json: {e}", complete)
        if j.id != jid:
            return Found(jid, None, f"journal.json names another journal ({j.id})", complete)
        return Found(jid, j, None, complete)
    finally:
        os.close(d)


def scan(target: Target) -> list[Found]:
    """Every journal folder, oldest first, validated."""
    base = _journal_base(target, create=False)
    if base is None:
        return []
    try:
        names = sorted(n for n in os.listdir(base) if JOURNAL_ID.fullmatch(n))
        return [_read_journal(base, n) for n in names]
    finally:
        os.close(base)


def journals(target: Target) -> list[Journal]:
    """Every journal that can be trusted, oldest first."""
    return [f.journal for f in scan(target) if f.journal is not None]


class _Open:
    """The open folders of one journal."""

    def __init__(self, dir_fd: int, files_fd: int) -> None:
        self.dir = dir_fd
        self.files = files_fd

    def close(self) -> None:
        for fd in (self.dir, self.files):
            with contextlib.suppress(OSError):
                os.close(fd)


def _save(jo: _Open, journal: Journal) -> None:
    write_at(jo.dir, "journal.json", journal.to_json().encode(), mode=0o600)


def _save_manifest(jo: _Open, journal: Journal, extra: tuple[str, str] | None = None) -> None:
    lines = [(e.backup, e.sha256) for e in journal.entries if e.backup and e.sha256]
    if extra:
        lines.append(extra)
    text = "".join(f"{sha}  files/{name}\n" for name, sha in lines)
    write_at(jo.dir, MANIFEST, text.encode(), mode=0o600)


def _mark_complete(jo: _Open) -> None:
    write_at(jo.dir, COMPLETE, b"", mode=0o600)


def check_preconditions(
    plan: Plan, target: Target, *, running_containers: Sequence[str], restart_docker: bool
) -> None:
    """Every refusal, before anything is changed."""
    if target.live and os.geteuid() != 0:
        raise EnvironmentProblem(
            "harborkit fix --apply changes system files and services: run it as root "
            "(nothing was changed)"
        )
    for fd in scan(target):
        if fd.journal is not None and fd.interrupted:
            raise FixRefused(
                f"the apply of journal {fd.id} was interrupted: run 'harborkit fix "
                f"--rollback {fd.id}' first (nothing was changed)"
            )
        if fd.journal is None and fd.interrupted:
            raise JournalDamaged(
                f"journal {fd.id} of an interrupted apply is damaged ({fd.damage}): it cannot "
                f"be rolled back; put its files back by hand from {target.journal_dir}/{fd.id}, "
                "then remove that folder (nothing was changed)"
            )
    dirs: dict[str, str | None] = {}
    for f in plan.files:
        try:
            now = _read_host(target, f.path)
            w = _walk(target, f.path)
        except _Unsafe as e:
            raise FixRefused(f"cannot write {e}; nothing was changed") from None
        with w:
            shown = target.shown(w.done if not w.exists else w.done[:-1])
            if shown not in dirs:
                dirs[shown] = _writable_fd(w.parent_fd)
        data = None if now is None else now[0]
        if data != f.old:
            said = "absent" if data is None else f"sha256 {_sha(data)[:12]}"
            was = "absent" if f.old is None else f"sha256 {(f.old_sha256 or '')[:12]}"
            raise FixRefused(
                f"{f.path} changed since the plan ({said}, planned from {was}): review the "
                "new plan with 'harborkit fix' (nothing was changed)"
            )
    restarts = any(c.restarts_docker for c in plan.commands)
    if target.live and running_containers and restarts and not restart_docker:
        names = ", ".join(running_containers[:3])
        more = f" and {len(running_containers) - 3} more" if len(running_containers) > 3 else ""
        raise FixRefused(
            f"the plan restarts docker, which would stop {len(running_containers)} running "
            f"container(s) ({names}{more}): pass --restart-docker to allow it "
            "(nothing was changed)"
        )
    for d in sorted(dirs):
        why = dirs[d]
        if why:
            raise EnvironmentProblem(f"cannot write {d}: {why} (nothing was changed)")


def _stall(done: int) -> None:
    spec = os.environ.get(_STALL_ENV)
    if spec:
        n, _, secs = spec.partition(":")
        if done == int(n):
            time.sleep(float(secs or 60))


def _new_journal(target: Target, journal: Journal) -> _Open:
    """The journal folder, made whole under a temporary name then renamed, so
    that a journal folder always holds a journal."""
    base = _journal_base(target, create=True)
    assert base is not None
    tmp = f".{journal.id}.partial"
    try:
        os.mkdir(tmp, 0o700, dir_fd=base)
        d = open_dir(tmp, base)
        os.mkdir("files", 0o700, dir_fd=d)
        jo = _Open(d, open_dir("files", d))
        _save_manifest(jo, journal)
        _save(jo, journal)
        os.rename(tmp, journal.id, src_dir_fd=base, dst_dir_fd=base)
        with contextlib.suppress(OSError):
            os.fsync(base)
        return jo
    except OSError as e:
        raise EnvironmentProblem(
            f"cannot write the journal in {target.journal_dir}/{journal.id}: {e.strerror} "
            "(nothing was changed)"
        ) from e
    finally:
        os.close(base)


def apply_plan(
    plan: Plan,
    target: Target,
    *,
    host_name: str,
    plan_id: str,
    running_containers: Sequence[str] = (),
    restart_docker: bool = False,
) -> Applied:
    """Write the files (journal first), then run the commands on a live host."""
    if not plan.files and (not plan.commands or not target.live):
        return Applied(None, tuple(c.shell for c in plan.commands))
    if target.live and os.geteuid() != 0:
        raise EnvironmentProblem(
            "harborkit fix --apply changes system files and services: run it as root "
            "(nothing was changed)"
        )
    hold_lock(target)
    try:
        check_preconditions(
            plan, target, running_containers=running_containers, restart_docker=restart_docker
        )
    except HarborkitError:
        if target.cleans_up:  # refused: the journal folder made for it goes too
            _forget(target, None)
            release_lock(target)
        raise
    jid = _new_id(target)
    journal = Journal(
        jid,
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        host_name,
        target.root,
        plan_id,
        list(plan.check_ids),
    )
    jo = _new_journal(target, journal)
    try:
        for i, f in enumerate(plan.files):
            try:
                _apply_file(target, jo, journal, i, f)
            except (OSError, _Unsafe) as e:
                why = e.strerror if isinstance(e, OSError) else str(e)
                restored = _restore(target, jo, journal)
                journal.state = "restored"
                with contextlib.suppress(OSError):
                    _save(jo, journal)
                    _mark_complete(jo)
                kept = f"journal {jid}"
                if target.cleans_up and _forget(target, jid):
                    kept = "the sysroot is as it was"
                    release_lock(target)
                raise EnvironmentProblem(
                    f"cannot write {f.path}: {why}; the {len(restored)} file(s) already "
                    f"written are restored ({kept})"
                ) from e
            _stall(i + 1)
        not_run: list[str] = []
        failed: CommandRun | None = None
        if target.live:
            from harborkit.host.local import LocalHost

            host = LocalHost()
            for c in plan.commands:
                r = host.run(c.argv, timeout=300)
                detail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:]
                run = CommandRun(c.argv, r.rc, detail[0] if detail else "")
                journal.commands.append(run)
                if c.irreversible:
                    journal.irreversible.append(c.irreversible)
                if not r.ok:
                    failed = run
                    break
        else:
            not_run = [c.shell for c in plan.commands]
        journal.state = "commands-failed" if failed else "applied"
        _save(jo, journal)
        _mark_complete(jo)
    finally:
        jo.close()
    if failed:
        raise EnvironmentProblem(
            f"'{' '.join(failed.argv)}' failed (rc {failed.rc}: {failed.detail or 'no output'}); "
            f"the files are changed: 'harborkit fix --rollback {jid}' puts them back"
        )
    return Applied(journal, tuple(not_run))


def _apply_file(target: Target, jo: _Open, journal: Journal, i: int, f: FileChange) -> None:
    w = _walk(target, f.path)  # nothing created yet: the journal first
    with w:
        created = [
            "/" + "/".join([*w.done, *w.missing[: k + 1]]) for k in range(len(w.missing) - 1)
        ]
        got = None
        dir_mtime = os.fstat(w.fds[-1]).st_mtime_ns  # the folder holding it, or the last one
        if w.exists:
            try:
                got = read_at(w.parent_fd, w.name, MAX_FILE)
            except ValueError as e:
                raise _Unsafe(f"{f.path} {e}") from None
    old, st = got if got is not None else (None, None)
    if old != f.old:  # changed since the plan was checked: its change is not overwritten
        said = "absent" if old is None else f"sha256 {_sha(old)[:12]}"
        raise _Unsafe(f"it changed while the fix was being applied (now {said})")
    backup = None
    if old is not None:
        backup = f"{i:03d}"
        write_at(jo.files, backup, old, mode=0o600)
        _save_manifest(jo, journal, (backup, _sha(old)))
    journal.entries.append(
        Entry(
            f.path,
            old is not None,
            (st.st_mode & 0o7777) if st else None,
            st.st_uid if st else None,
            st.st_gid if st else None,
            _sha(old) if old is not None else None,
            f.new_sha256,
            backup,
            tuple(created),
            st.st_mtime_ns if st else None,
            dir_mtime,
        )
    )
    _save(jo, journal)  # the journal knows the file before it changes
    with _locate(target, f.path) as w:
        if st is not None:
            write_at(
                w.parent_fd,
                w.name,
                f.new,
                mode=st.st_mode & 0o7777,
                uid=st.st_uid,
                gid=st.st_gid,
            )
        else:
            write_at(w.parent_fd, w.name, f.new, mode=f.mode)


def _verify(target: Target, jo: _Open, journal: Journal) -> dict[str, bytes]:
    """Every backup of the journal, checked against its manifest and entries,
    before anything is restored; :class:`JournalDamaged` naming the journal."""

    def damaged(why: str) -> JournalDamaged:
        return JournalDamaged(
            f"journal {journal.id} is damaged: {why}; nothing was restored "
            f"({target.journal_dir}/{journal.id})"
        )

    try:
        got = read_at(jo.dir, MANIFEST, MAX_JOURNAL)
    except ValueError as err0:
        raise damaged(f"{MANIFEST} {err0}") from None
    if got is None:
        raise damaged(f"{MANIFEST} is missing")
    manifest: dict[str, str] = {}
    for n, line in enumerate(got[0].split(b"\n")[:-1], 1):
        m = re.fullmatch(rb"([0-9a-f]{64})  files/([0-9]{3,6})", line)
        if not m:
            raise damaged(f"{MANIFEST}:{n} is not 'SHA256  files/NAME'")
        manifest[m.group(2).decode()] = m.group(1).decode()
    out: dict[str, bytes] = {}
    for ent in journal.entries:
        if ent.backup is None:
            continue
        if manifest.get(ent.backup) != ent.sha256:
            raise damaged(f"{MANIFEST} does not list files/{ent.backup} of {ent.path} as journaled")
        try:
            b = read_at(jo.files, ent.backup, MAX_FILE)
        except ValueError as err:
            raise damaged(f"the saved copy of {ent.path} (files/{ent.backup}) {err}") from None
        if b is None:
            raise damaged(f"the saved copy of {ent.path} (files/{ent.backup}) is missing")
        if b[1].st_nlink != 1:
            raise damaged(f"the saved copy of {ent.path} (files/{ent.backup}) is a hard link")
        if _sha(b[0]) != ent.sha256:
            raise damaged(
                f"the saved copy of {ent.path} (files/{ent.backup}) does not match its sha256"
            )
        out[ent.backup] = b[0]
    for ent in journal.entries:
        try:
            with _walk(target, ent.path) as w:
                resolved = w.host_path()
        except _Unsafe as err:
            raise damaged(str(err)) from None
        for c in ent.created_dirs:
            if not _below(resolved, c):
                raise damaged(f"{c} is no folder of {ent.path}: it was not created by this fix")
    return out


def _restore(
    target: Target, jo: _Open, journal: Journal, saved: dict[str, bytes] | None = None
) -> list[str]:
    """Put every journaled file back; the paths restored."""
    if saved is None:
        saved = _verify(target, jo, journal)
    done = []
    for e in reversed(journal.entries):
        if e.existed and e.backup is not None:
            data = saved[e.backup]
            with _locate(target, e.path) as w:
                try:
                    now = read_at(w.parent_fd, w.name, MAX_FILE) if w.exists else None
                except ValueError:
                    now = None  # whatever is there now is replaced
                if now is None or now[0] != data or (now[1].st_mode & 0o7777) != e.mode:
                    write_at(w.parent_fd, w.name, data, mode=e.mode or 0o644, uid=e.uid, gid=e.gid)
                if e.mtime_ns is not None:
                    with contextlib.suppress(OSError):
                        st = os.stat(w.name, dir_fd=w.parent_fd, follow_symlinks=False)
                        os.utime(
                            w.name,
                            ns=(st.st_atime_ns, e.mtime_ns),
                            dir_fd=w.parent_fd,
                            follow_symlinks=False,
                        )
                if e.dir_mtime_ns is not None:
                    _set_mtime(w.parent_fd, e.dir_mtime_ns)
        else:
            try:
                w = _walk(target, e.path)
            except _Unsafe:
                done.append(e.path)
                continue
            with w:
                if w.exists:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(w.name, dir_fd=w.parent_fd)
                folder = posixpath.dirname(e.created_dirs[0] if e.created_dirs else w.host_path())
            gone = [_rmdir(target, d) for d in reversed(e.created_dirs)]
            if e.dir_mtime_ns is not None and all(gone):
                _set_path_mtime(target, folder, e.dir_mtime_ns)
        done.append(e.path)
    return done


def _rmdir(target: Target, path: str) -> bool:
    """Remove the empty folder ``path`` of the host (never a link's target);
    whether it is gone."""
    parent, name = posixpath.split(path)
    try:
        w = walk_in_root(target.files_root, parent)
    except OSError:
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


@dataclass(frozen=True)
class RolledBack:
    journal: Journal
    restored: tuple[str, ...]
    changed_since: tuple[str, ...]  # files edited after the apply (restored anyway)
    cannot_undo: tuple[str, ...]
    forgotten: bool = False  # the journal is removed (a sysroot left as it was)


@contextlib.contextmanager
def _opened(target: Target, jid: str) -> Iterator[_Open]:
    base = _journal_base(target, create=False)
    if base is None:
        raise InputError(f"--rollback {jid}: no such journal in {target.journal_dir}")
    try:
        d = open_dir(jid, base)
        try:
            f = open_dir("files", d)
        except OSError:
            os.close(d)
            raise
    except OSError as e:
        raise JournalDamaged(
            f"journal {jid} is damaged: its files/ is no plain folder ({e.strerror}); nothing "
            f"was restored ({target.journal_dir}/{jid})"
        ) from None
    finally:
        os.close(base)
    jo = _Open(d, f)
    try:
        yield jo
    finally:
        jo.close()


def _new_id(target: Target) -> str:
    """A journal id that sorts after every journal there (``--rollback`` without an
    id takes the last by name): two applies within one second get increasing
    suffixes, not two random ones. Called under the journal folder's lock."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = _journal_base(target, create=False)
    if base is None:
        return f"{stamp}-{secrets.token_hex(3)}"
    try:  # the names are enough: no journal needs reading to order them
        same = [n for n in os.listdir(base) if JOURNAL_ID.fullmatch(n) and n.startswith(stamp)]
    finally:
        os.close(base)
    if not same:
        return f"{stamp}-{secrets.token_hex(3)}"
    after = int(max(same).rsplit("-", 1)[1], 16) + 1 + secrets.randbelow(0x100)
    if after > 0xFFFFFF:  # a second this full: wait for the next one
        time.sleep(1.0)
        return _new_id(target)
    return f"{stamp}-{after:06x}"


def rollback(target: Target, jid: str | None) -> RolledBack:
    """Restore the files of journal ``jid`` (default: the latest not rolled back)."""
    if jid is not None and not JOURNAL_ID.fullmatch(jid):
        raise InputError(f"--rollback {jid}: no such journal in {target.journal_dir}")
    if target.live and os.geteuid() != 0:
        raise EnvironmentProblem("harborkit fix --rollback restores system files: run it as root")
    if not hold_lock(target, create=False):
        # no journal folder, or it went with the rollback this one waited for
        if jid is None:
            raise InputError(f"no fix to roll back in {target.journal_dir}")
        raise InputError(f"--rollback {jid}: no such journal in {target.journal_dir}")
    found = scan(target)
    if jid is None:
        candidates = [
            f
            for f in found
            if f.journal is None or f.journal.state not in ("rolled-back", "restored")
        ]
        if not candidates:
            raise InputError(f"no fix to roll back in {target.journal_dir}")
        pick = candidates[-1]
    else:
        named = [f for f in found if f.id == jid]
        if not named:
            raise InputError(f"--rollback {jid}: no such journal in {target.journal_dir}")
        pick = named[0]
    if pick.journal is None:
        raise JournalDamaged(
            f"journal {pick.id} is damaged ({pick.damage}); nothing was restored "
            f"({target.journal_dir}/{pick.id})"
        )
    journal = pick.journal
    if jid is not None and journal.state in ("rolled-back", "restored"):
        raise InputError(
            f"--rollback {jid}: already rolled back ({journal.rolled_back or journal.state})"
        )
    with _opened(target, journal.id) as jo:
        saved = _verify(target, jo, journal)
        changed = []
        for e in journal.entries:
            try:
                now = _read_host(target, e.path)
            except _Unsafe:
                now = None
            if now is not None and _sha(now[0]) != e.new_sha256:
                changed.append(e.path)
        try:
            restored = _restore(target, jo, journal, saved)
        except OSError as e:
            raise EnvironmentProblem(
                f"rollback of {journal.id}: {e.filename or 'a file'}: {e.strerror}"
            ) from e
        journal.state = "rolled-back"
        journal.rolled_back = (
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        _save(jo, journal)
        _mark_complete(jo)
    forgotten = False
    if target.cleans_up:
        # a sysroot is left as it was: its journal, and what was made for it, go
        forgotten = _forget(target, journal.id)
        release_lock(target)
    cannot = list(journal.irreversible)
    ran = [c for c in journal.commands if c.rc == 0]
    if any(c.argv[:2] == ("systemctl", "restart") or c.argv[:1] == ("sysctl",) for c in ran):
        cannot.append(
            "services restarted and kernel values applied keep their new state until "
            "restarted again (systemctl daemon-reload, systemctl restart docker) or reboot"
        )
    return RolledBack(journal, tuple(restored), tuple(changed), tuple(cannot), forgotten)
