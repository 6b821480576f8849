"""Apply a plan with a journal, and roll it back byte for byte.

Every file is written atomically (a temporary file beside it, fsync, rename)
keeping its mode and owner. Before a file is touched its original bytes and
metadata are saved in the journal (``/var/lib/harborkit/fix/<id>/``, inside the
sysroot for ``--root``), and the journal is synced, so an apply killed at any
moment can be rolled back. Commands run only on the live host, after the files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harborkit.errors import EnvironmentProblem, ExitCode, HarborkitError, InputError
from harborkit.fix.plan import FileChange, Plan

JOURNAL_DIR = "/var/lib/harborkit/fix"
#: test hook: stall this many seconds after writing the first N files ("N:SECONDS")
_STALL_ENV = "HARBORKIT_FIX_TEST_STALL"


class FixRefused(HarborkitError):
    """The apply would be unsafe as asked; nothing was changed (exit 12)."""

    exit_code = ExitCode.FIX_REFUSED


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
    created_dirs: tuple[str, ...] = ()


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
        d: dict[str, Any] = json.loads(text)
        d["entries"] = [
            Entry(**{**e, "created_dirs": tuple(e["created_dirs"])}) for e in d["entries"]
        ]
        d["commands"] = [CommandRun(tuple(c["argv"]), c["rc"], c["detail"]) for c in d["commands"]]
        return cls(**d)


@dataclass(frozen=True)
class Target:
    """Where the files of the host are, and where the journal goes."""

    root: str | None  # None: the live host
    journal_dir: Path

    @classmethod
    def of(cls, root: str | None, journal_dir: str | Path | None = None) -> Target:
        base = Path(root or "/")
        jd = Path(journal_dir) if journal_dir else base / JOURNAL_DIR.lstrip("/")
        return cls(root, jd)

    def real(self, path: str) -> Path:
        return Path(self.root or "/") / path.lstrip("/")

    @property
    def live(self) -> bool:
        return self.root is None


@dataclass(frozen=True)
class Applied:
    journal: Journal | None  # None: nothing to change
    not_run: tuple[str, ...] = ()  # commands left out (a sysroot)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(p: Path) -> bytes | None:
    try:
        return p.read_bytes()
    except FileNotFoundError:
        return None


def _fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(
    p: Path, data: bytes, *, mode: int, uid: int | None = None, gid: int | None = None
) -> None:
    """Temporary file beside ``p``, fsync, mode and owner, rename, fsync the folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".harborkit", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            if uid is not None and gid is not None:
                try:
                    os.fchown(f.fileno(), uid, gid)
                except PermissionError:
                    if (uid, gid) != (os.geteuid(), os.getegid()):
                        raise
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(p.parent)


def _nearest_dir(p: Path) -> Path:
    d = p.parent
    while not d.exists() and d != d.parent:
        d = d.parent
    return d


def _writable(d: Path) -> str | None:
    """Why the folder cannot be written, None when it can."""
    try:
        if os.statvfs(d).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError as e:
        return e.strerror
    if not os.access(d, os.W_OK):
        return "permission denied"
    return None


def journals(target: Target) -> list[Journal]:
    """Every journal, oldest first."""
    out: list[Journal] = []
    if not target.journal_dir.is_dir():
        return out
    for d in sorted(target.journal_dir.iterdir()):
        j = d / "journal.json"
        if j.is_file():
            try:
                out.append(Journal.from_json(j.read_text()))
            except (ValueError, TypeError, KeyError):
                continue
    return out


def _save(target: Target, journal: Journal) -> None:
    d = target.journal_dir / journal.id
    write_atomic(d / "journal.json", journal.to_json().encode(), mode=0o600)


def check_preconditions(
    plan: Plan, target: Target, *, running_containers: Sequence[str], restart_docker: bool
) -> None:
    """Every refusal, before anything is changed."""
    if target.live and os.geteuid() != 0:
        raise EnvironmentProblem(
            "harborkit fix --apply changes system files and services: run it as root "
            "(nothing was changed)"
        )
    pending = [j for j in journals(target) if j.state == "applying"]
    if pending:
        raise FixRefused(
            f"the apply of journal {pending[-1].id} was interrupted: run 'harborkit fix "
            f"--rollback {pending[-1].id}' first (nothing was changed)"
        )
    for f in plan.files:
        now = _read(target.real(f.path))
        if now != f.old:
            said = "absent" if now is None else f"sha256 {_sha(now)[:12]}"
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
    dirs = {_nearest_dir(target.real(f.path)) for f in plan.files}
    dirs.add(_nearest_dir(target.journal_dir / "x"))
    for d in sorted(dirs):
        why = _writable(d)
        if why:
            raise EnvironmentProblem(f"cannot write {d}: {why} (nothing was changed)")


def _stall(done: int) -> None:
    spec = os.environ.get(_STALL_ENV)
    if spec:
        n, _, secs = spec.partition(":")
        if done == int(n):
            time.sleep(float(secs or 60))


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
    jdir = target.journal_dir / jid
    try:
        (jdir / "files").mkdir(parents=True, mode=0o700)
        _save(target, journal)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write the journal in {jdir}: {e.strerror}") from e
    for i, f in enumerate(plan.files):
        try:
            _apply_file(target, journal, i, f)
        except OSError as e:
            restored = _restore(target, journal)
            journal.state = "restored"
            with contextlib.suppress(OSError):
                _save(target, journal)
            raise EnvironmentProblem(
                f"cannot write {f.path}: {e.strerror}; the {len(restored)} file(s) already "
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
    _save(target, journal)
    if failed:
        raise EnvironmentProblem(
            f"'{' '.join(failed.argv)}' failed (rc {failed.rc}: {failed.detail or 'no output'}); "
            f"the files are changed: 'harborkit fix --rollback {jid}' puts them back"
        )
    return Applied(journal, tuple(not_run))


def _apply_file(target: Target, journal: Journal, i: int, f: FileChange) -> None:
    p = target.real(f.path)
    created: list[str] = []
    d = p.parent
    missing = []
    while not d.exists():
        missing.append(d)
        d = d.parent
    for m in reversed(missing):
        created.append(str(m))
    old = _read(p)
    st = p.stat() if old is not None else None
    backup = None
    if old is not None:
        backup = f"{i:03d}"
        bp = target.journal_dir / journal.id / "files" / backup
        write_atomic(bp, old, mode=0o600)
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
    _save(target, journal)  # the journal knows the file before it changes
    for m in reversed(missing):
        m.mkdir(mode=0o755)
    if st is not None:
        write_atomic(p, f.new, mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid)
    else:
        write_atomic(p, f.new, mode=f.mode)


def _restore(target: Target, journal: Journal) -> list[str]:
    """Put every journaled file back; the paths restored."""
    done = []
    for e in reversed(journal.entries):
        p = target.real(e.path)
        if e.existed and e.backup is not None:
            data = (target.journal_dir / journal.id / "files" / e.backup).read_bytes()
            if _sha(data) != e.sha256:
                raise EnvironmentProblem(
                    f"journal {journal.id}: the saved copy of {e.path} is damaged; "
                    "nothing more was restored"
                )
            if _read(p) != data or (p.stat().st_mode & 0o7777) != e.mode:
                write_atomic(p, data, mode=e.mode or 0o644, uid=e.uid, gid=e.gid)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            for d in reversed(e.created_dirs):
                with contextlib.suppress(OSError):
                    Path(d).rmdir()
        done.append(e.path)
    return done


@dataclass(frozen=True)
class RolledBack:
    journal: Journal
    restored: tuple[str, ...]
    changed_since: tuple[str, ...]  # files edited after the apply (restored anyway)
    cannot_undo: tuple[str, ...]


def rollback(target: Target, jid: str | None) -> RolledBack:
    """Restore the files of journal ``jid`` (default: the latest not rolled back)."""
    all_j = journals(target)
    if jid is None:
        candidates = [j for j in all_j if j.state not in ("rolled-back", "restored")]
        if not candidates:
            raise InputError(f"no fix to roll back in {target.journal_dir}")
        journal = candidates[-1]
    else:
        found = [j for j in all_j if j.id == jid]
        if not found:
            raise InputError(f"--rollback {jid}: no such journal in {target.journal_dir}")
        journal = found[0]
        if journal.state in ("rolled-back", "restored"):
            raise InputError(
                f"--rollback {jid}: already rolled back ({journal.rolled_back or journal.state})"
            )
    if target.live and os.geteuid() != 0:
        raise EnvironmentProblem("harborkit fix --rollback restores system files: run it as root")
    changed = tuple(
        e.path
        for e in journal.entries
        if (now := _read(target.real(e.path))) is not None and _sha(now) != e.new_sha256
    )
    try:
        restored = _restore(target, journal)
    except OSError as e:
        raise EnvironmentProblem(f"rollback of {journal.id}: {e.filename}: {e.strerror}") from e
    journal.state = "rolled-back"
    journal.rolled_back = (
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
    _save(target, journal)
    cannot = list(journal.irreversible)
    ran = [c for c in journal.commands if c.rc == 0]
    if any(c.argv[:2] == ("systemctl", "restart") or c.argv[:1] == ("sysctl",) for c in ran):
        cannot.append(
            "services restarted and kernel values applied keep their new state until "
            "restarted again (systemctl daemon-reload, systemctl restart docker) or reboot"
        )
    return RolledBack(journal, tuple(restored), changed, tuple(cannot))
