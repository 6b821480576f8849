"""The journal of an apply: its record, validated whole, and its folder.

Before a file is touched its original bytes and metadata are saved in the
journal (``/var/lib/harborkit/fix/<id>/``, inside the sysroot for ``--root``),
and the journal is synced, so an apply killed at any moment can be rolled
back. A journal inside the sysroot is data from the audited disk: it is
validated whole (every path absolute, normalized, confined; every backup a
plain file of the journal folder whose sha256 the manifest written at apply
time names) before anything is restored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import posixpath
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harborkit.errors import EnvironmentProblem, InputError
from harborkit.fix.target import (
    FixRefused,
    JournalDamaged,
    Target,
    valid_path,
    writable_fd,
)
from harborkit.fsutil import open_dir, read_at, walk_in_root, write_at

MAX_JOURNAL = 4 << 20
JOURNAL_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
BACKUP = re.compile(r"[0-9]{3,6}")
MANIFEST = "manifest.sha256"
COMPLETE = "complete"  # marker: the apply finished (whatever its state)


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
    #: the applying process: its temporary copies are ``fsutil.temp_name(name, pid)``
    #: (None: a journal of an earlier version)
    pid: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Journal:
        """The journal in ``text``, validated whole; ``ValueError`` saying what is wrong."""
        return _validate(loads(text))


STATES = ("applying", "applied", "commands-failed", "restored", "rolled-back")


def loads(text: str) -> Any:
    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, parse_constant=constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON (line {e.lineno} column {e.colno}: {e.msg})") from None


def require(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _int_or_none(v: object, top: int, what: str) -> int | None:
    if v is None:
        return None
    require(type(v) is int and 0 <= v <= top, f"{what} is not an integer from 0 to {top}")
    return v  # type: ignore[return-value]


def _str(v: object, what: str, *, none: bool = False) -> Any:
    require(isinstance(v, str) or (none and v is None), f"{what} is not a string")
    return v


_KEYS = frozenset(
    {
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
)
_OPTIONAL = frozenset({"pid"})  # not in journals of earlier versions
_PID_MAX = 4194304  # the kernel's highest pid_max
_ENTRY_KEYS = frozenset(Entry.__dataclass_fields__)
_ENTRY_OPTIONAL = frozenset({"mtime_ns", "dir_mtime_ns"})  # not in journals of earlier versions


def _validate(d: Any) -> Journal:
    require(isinstance(d, dict), "not a JSON object")
    require(
        _KEYS <= set(d) <= _KEYS | _OPTIONAL,
        f"keys {sorted((set(d) - _OPTIONAL) ^ _KEYS)} missing or unknown",
    )
    require(isinstance(d["id"], str) and bool(JOURNAL_ID.fullmatch(d["id"])), "id is malformed")
    for k in ("created", "host", "plan_id"):
        _str(d[k], k)
    _str(d["root"], "root", none=True)
    _str(d["rolled_back"], "rolled_back", none=True)
    require(d["state"] in STATES, "state is unknown")
    for k in ("checks", "irreversible"):
        require(
            isinstance(d[k], list) and all(isinstance(x, str) for x in d[k]), f"{k}: not strings"
        )
    require(isinstance(d["entries"], list), "entries is not a list")
    require(isinstance(d["commands"], list), "commands is not a list")
    seen_paths: set[str] = set()
    seen_backups: set[str] = set()
    entries = [
        _validate_entry(e, f"entry {n + 1}", seen_paths, seen_backups)
        for n, e in enumerate(d["entries"])
    ]
    commands = [_validate_command(c, f"command {n + 1}") for n, c in enumerate(d["commands"])]
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
        _int_or_none(d.get("pid"), _PID_MAX, "pid"),
    )


def _validate_entry(e: Any, w: str, seen_paths: set[str], seen_backups: set[str]) -> Entry:
    """Entry ``w`` of a journal (paths and backups not seen in an entry before)."""
    require(
        isinstance(e, dict) and _ENTRY_KEYS - _ENTRY_OPTIONAL <= set(e) <= _ENTRY_KEYS,
        f"{w}: keys missing or unknown",
    )
    mtime = _int_or_none(e.get("mtime_ns"), 2**63 - 1, f"{w}: mtime_ns")
    dir_mtime = _int_or_none(e.get("dir_mtime_ns"), 2**63 - 1, f"{w}: dir_mtime_ns")
    path = valid_path(e["path"])
    require(path not in seen_paths, f"{w}: {path} is journaled twice")
    seen_paths.add(path)
    existed = e["existed"]
    require(isinstance(existed, bool), f"{w}: existed is not true or false")
    mode = _int_or_none(e["mode"], 0o7777, f"{w}: mode")
    uid = _int_or_none(e["uid"], 2**32 - 2, f"{w}: uid")
    gid = _int_or_none(e["gid"], 2**32 - 2, f"{w}: gid")
    sha = e["sha256"]
    new_sha = e["new_sha256"]
    backup = e["backup"]
    require(
        isinstance(new_sha, str) and bool(_HEX64.fullmatch(new_sha)),
        f"{w}: new_sha256 is not a sha256",
    )
    if existed:
        require(
            isinstance(sha, str) and bool(_HEX64.fullmatch(sha)), f"{w}: sha256 is not a sha256"
        )
        require(
            isinstance(backup, str) and bool(BACKUP.fullmatch(backup)),
            f"{w}: backup is not a file name of the journal",
        )
        require(backup not in seen_backups, f"{w}: backup {backup} is used twice")
        seen_backups.add(backup)
        require(mode is not None, f"{w}: the mode of a file that existed is missing")
    else:
        require(sha is None and backup is None, f"{w}: a created file has a backup")
    dirs = e["created_dirs"]
    require(isinstance(dirs, list), f"{w}: created_dirs is not a list")
    prev = None
    for c in dirs:
        valid_path(c)
        require(
            prev is None or posixpath.dirname(c) == prev,
            f"{w}: created_dirs are not nested folders",
        )
        prev = c
    require(not (existed and dirs), f"{w}: a file that existed has created folders")
    return Entry(path, existed, mode, uid, gid, sha, new_sha, backup, tuple(dirs), mtime, dir_mtime)


def _validate_command(c: Any, w: str) -> CommandRun:
    require(isinstance(c, dict) and set(c) == {"argv", "rc", "detail"}, f"{w}: keys")
    argv = c["argv"]
    require(
        isinstance(argv, list) and bool(argv) and all(isinstance(a, str) for a in argv),
        f"{w}: argv is not a list of strings",
    )
    require(type(c["rc"]) is int and -256 <= c["rc"] <= 256, f"{w}: rc is not an exit status")
    return CommandRun(tuple(argv), c["rc"], _str(c["detail"], f"{w}: detail"))


@dataclass
class Made:
    """The folders of the journal path one process created (resolved host
    paths, outermost first) and the mtime the folder above them had before."""

    folders: list[str] = field(default_factory=list)
    mtime_ns: int | None = None


def journal_base(target: Target, *, create: bool, made: Made | None = None) -> int | None:
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
        why = writable_fd(w.fds[-1])
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


def remove_journal(base: int, name: str) -> None:
    """Remove the journal folder ``name`` of ``base``: only the names a journal
    holds (anything else keeps the folder)."""
    with contextlib.suppress(OSError):
        d = open_dir(name, base)
        try:
            with contextlib.suppress(OSError):
                f = open_dir("files", d)
                try:
                    for n in os.listdir(f):
                        if BACKUP.fullmatch(n):
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
    base = journal_base(target, create=False)
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


class OpenJournal:
    """The open folders of one journal."""

    def __init__(self, dir_fd: int, files_fd: int) -> None:
        self.dir = dir_fd
        self.files = files_fd

    def close(self) -> None:
        for fd in (self.dir, self.files):
            with contextlib.suppress(OSError):
                os.close(fd)


def save(jo: OpenJournal, journal: Journal) -> None:
    write_at(jo.dir, "journal.json", journal.to_json().encode(), mode=0o600)


def save_manifest(jo: OpenJournal, journal: Journal, extra: tuple[str, str] | None = None) -> None:
    lines = [(e.backup, e.sha256) for e in journal.entries if e.backup and e.sha256]
    if extra:
        lines.append(extra)
    text = "".join(f"{sha}  files/{name}\n" for name, sha in lines)
    write_at(jo.dir, MANIFEST, text.encode(), mode=0o600)


def mark_complete(jo: OpenJournal) -> None:
    write_at(jo.dir, COMPLETE, b"", mode=0o600)


def new_journal(target: Target, journal: Journal) -> OpenJournal:
    """The journal folder, made whole under a temporary name then renamed, so
    that a journal folder always holds a journal."""
    base = journal_base(target, create=True)
    assert base is not None
    tmp = f".{journal.id}.partial"
    try:
        os.mkdir(tmp, 0o700, dir_fd=base)
        d = open_dir(tmp, base)
        os.mkdir("files", 0o700, dir_fd=d)
        jo = OpenJournal(d, open_dir("files", d))
        save_manifest(jo, journal)
        save(jo, journal)
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


@contextlib.contextmanager
def opened(target: Target, jid: str) -> Iterator[OpenJournal]:
    base = journal_base(target, create=False)
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
    jo = OpenJournal(d, f)
    try:
        yield jo
    finally:
        jo.close()


def new_id(target: Target) -> str:
    """A journal id that sorts after every journal there (``--rollback`` without an
    id takes the last by name): two applies within one second get increasing
    suffixes, not two random ones. Called under the journal folder's lock."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = journal_base(target, create=False)
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
        return new_id(target)
    return f"{stamp}-{after:06x}"
