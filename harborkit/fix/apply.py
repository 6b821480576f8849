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
from harborkit.fix.plan import FileChange, Plan
from harborkit.fsutil import Walk, locate_in_root, open_dir, read_at, walk_in_root, write_at

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
    seen_paths: set[str] = set()
    seen_backups: set[str] = set()
    for n, e in enumerate(d["entries"]):
        w = f"entry {n + 1}"
        _check(isinstance(e, dict) and set(e) == ekeys, f"{w}: keys missing or unknown")
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
        entries.append(Entry(path, existed, mode, uid, gid, sha, new_sha, backup, tuple(dirs)))
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


def _journal_base(target: Target, *, create: bool) -> int | None:
    """A descriptor of the journal folder (created when asked), None when absent."""
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
        try:
            for name in w.missing:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755 if name != w.missing[-1] else 0o700, dir_fd=w.fds[-1])
                w.fds.append(open_dir(name, w.fds[-1]))
                w.done.append(name)
        except OSError as e:
            raise EnvironmentProblem(
                f"cannot create the journal folder {target.journal_dir}: {e.strerror} "
                "(nothing was changed)"
            ) from None
        return os.dup(w.fds[-1])


_held: dict[str, int] = {}


def hold_lock(target: Target) -> None:
    """Hold the lock of the journal folder until this process ends: a second
    apply or rollback waits for it (``HARBORKIT_FIX_LOCK_WAIT`` seconds, 10 by
    default), then is refused naming the process that holds it."""
    key = "\0".join(target.journal_at())
    if key in _held:
        return
    base = _journal_base(target, create=True)
    assert base is not None
    try:
        fd = os.open(
            LOCK,
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
            0o600,
            dir_fd=base,
        )
    except OSError as e:
        raise FixRefused(
            f"cannot open the lock {target.journal_dir}/{LOCK}: {e.strerror} (nothing was changed)"
        ) from None
    finally:
        os.close(base)
    import fcntl

    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        # a hard link would have this process write the pid into another file
        os.close(fd)
        what = "a hard link" if stat.S_ISREG(st.st_mode) else "not a regular file"
        raise FixRefused(f"the lock {target.journal_dir}/{LOCK} is {what} (nothing was changed)")
    try:
        wait = float(os.environ.get(LOCK_WAIT_ENV, "10"))
    except ValueError:
        wait = 10.0
    deadline = time.monotonic() + max(0.0, min(wait, 3600.0))
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
                    f"{target.journal_dir}: try again when it has finished (nothing was changed)"
                ) from None
            time.sleep(0.05)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[key] = fd


def release_lock(target: Target) -> None:
    fd = _held.pop("\0".join(target.journal_at()), None)
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock


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
    check_preconditions(
        plan, target, running_containers=running_containers, restart_docker=restart_docker
    )
    jid = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
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
                raise EnvironmentProblem(
                    f"cannot write {f.path}: {why}; the {len(restored)} file(s) already "
                    f"written are restored (journal {jid})"
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
            for d in reversed(e.created_dirs):
                _rmdir(target, d)
        done.append(e.path)
    return done


def _rmdir(target: Target, path: str) -> None:
    """Remove the empty folder ``path`` of the host (never a link's target)."""
    parent, name = posixpath.split(path)
    try:
        w = walk_in_root(target.files_root, parent)
    except OSError:
        return
    with w, contextlib.suppress(OSError):
        fd = open_dir(w.name, w.parent_fd) if w.done else os.dup(w.fds[0])
        try:
            os.rmdir(name, dir_fd=fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class RolledBack:
    journal: Journal
    restored: tuple[str, ...]
    changed_since: tuple[str, ...]  # files edited after the apply (restored anyway)
    cannot_undo: tuple[str, ...]


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


def rollback(target: Target, jid: str | None) -> RolledBack:
    """Restore the files of journal ``jid`` (default: the latest not rolled back)."""
    if jid is not None and not JOURNAL_ID.fullmatch(jid):
        raise InputError(f"--rollback {jid}: no such journal in {target.journal_dir}")
    if target.live and os.geteuid() != 0:
        raise EnvironmentProblem("harborkit fix --rollback restores system files: run it as root")
    base = _journal_base(target, create=False)
    if base is None:
        if jid is None:
            raise InputError(f"no fix to roll back in {target.journal_dir}")
        raise InputError(f"--rollback {jid}: no such journal in {target.journal_dir}")
    os.close(base)
    hold_lock(target)
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
    cannot = list(journal.irreversible)
    ran = [c for c in journal.commands if c.rc == 0]
    if any(c.argv[:2] == ("systemctl", "restart") or c.argv[:1] == ("sysctl",) for c in ran):
        cannot.append(
            "services restarted and kernel values applied keep their new state until "
            "restarted again (systemctl daemon-reload, systemctl restart docker) or reboot"
        )
    return RolledBack(journal, tuple(restored), tuple(changed), tuple(cannot))
