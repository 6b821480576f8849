"""Roll an apply back byte for byte from its journal.

A complete rollback of a sysroot leaves it as it was: files and their folders
get their bytes, modes, owners and mtimes back (see :mod:`harborkit.fix.lock`
for the journal folder itself).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import posixpath
import re
from dataclasses import dataclass

from harborkit.errors import EnvironmentProblem, InputError
from harborkit.fix.journal import (
    JOURNAL_ID,
    MANIFEST,
    MAX_JOURNAL,
    Entry,
    Journal,
    OpenJournal,
    mark_complete,
    opened,
    save,
    scan,
)
from harborkit.fix.lock import forget, hold_lock, release_lock
from harborkit.fix.target import (
    MAX_FILE,
    JournalDamaged,
    Target,
    Unsafe,
    read_host,
    rmdir_host,
    set_folder_mtime,
    set_path_mtime,
    sha256_hex,
    walk_host,
    write_host,
)
from harborkit.fsutil import read_at, temp_name


def _below(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def verify(target: Target, jo: OpenJournal, journal: Journal) -> dict[str, bytes]:
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
        if sha256_hex(b[0]) != ent.sha256:
            raise damaged(
                f"the saved copy of {ent.path} (files/{ent.backup}) does not match its sha256"
            )
        out[ent.backup] = b[0]
    for ent in journal.entries:
        try:
            with walk_host(target, ent.path) as w:
                resolved = w.host_path()
        except Unsafe as err:
            raise damaged(str(err)) from None
        for c in ent.created_dirs:
            if not _below(resolved, c):
                raise damaged(f"{c} is no folder of {ent.path}: it was not created by this fix")
    return out


def restore(
    target: Target, jo: OpenJournal, journal: Journal, saved: dict[str, bytes] | None = None
) -> list[str]:
    """Put every journaled file back; the paths restored."""
    if saved is None:
        saved = verify(target, jo, journal)
    done = []
    for e in reversed(journal.entries):
        _remove_left_copy(target, journal, e.path)
        if e.existed and e.backup is not None:
            _put_back(target, e, saved[e.backup])
        else:
            try:
                w = walk_host(target, e.path)
            except Unsafe:
                done.append(e.path)
                continue
            with w:
                exists = w.exists
                folder = posixpath.dirname(e.created_dirs[0] if e.created_dirs else w.host_path())
            if exists:
                target.host.remove_file(e.path)
            gone = [rmdir_host(target, d) for d in reversed(e.created_dirs)]
            if e.dir_mtime_ns is not None and all(gone):
                set_path_mtime(target, folder, e.dir_mtime_ns)
        done.append(e.path)
    return done


def _remove_left_copy(target: Target, journal: Journal, path: str) -> None:
    """The temporary copy of ``path`` an apply killed mid-write left beside it
    (the journal's lock kept any other apply away, so it is that apply's)."""
    if journal.pid is None:
        return
    folder, name = posixpath.split(path)
    left = posixpath.join(folder, temp_name(name, journal.pid))
    try:
        with walk_host(target, left) as w:
            exists = w.exists
    except (Unsafe, OSError):
        return
    if exists:
        with contextlib.suppress(OSError, ValueError):
            target.host.remove_file(left)


def _put_back(target: Target, e: Entry, data: bytes) -> None:
    """The file of entry ``e`` as it was: bytes, mode, owner, mtimes (through the host)."""
    try:
        now = read_host(target, e.path)
    except Unsafe:
        now = None  # whatever is there now is replaced (or the write says why it cannot be)
    if now is None or now.data != data or now.mode != e.mode:
        write_host(target, e.path, data, mode=e.mode or 0o644, uid=e.uid, gid=e.gid)
    if e.mtime_ns is not None:
        set_path_mtime(target, e.path, e.mtime_ns)
    if e.dir_mtime_ns is not None:
        set_folder_mtime(target, e.path, e.dir_mtime_ns)


@dataclass(frozen=True)
class RolledBack:
    journal: Journal
    restored: tuple[str, ...]
    changed_since: tuple[str, ...]  # files edited after the apply (restored anyway)
    cannot_undo: tuple[str, ...]
    forgotten: bool = False  # the journal is removed (a sysroot left as it was)


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
    with opened(target, journal.id) as jo:
        saved = verify(target, jo, journal)
        changed = []
        for e in journal.entries:
            try:
                now = read_host(target, e.path)
            except Unsafe:
                now = None
            if now is not None and sha256_hex(now.data) != e.new_sha256:
                changed.append(e.path)
        try:
            restored = restore(target, jo, journal, saved)
        except OSError as e:
            raise EnvironmentProblem(
                f"rollback of {journal.id}: {e.filename or 'a file'}: {e.strerror}"
            ) from e
        journal.state = "rolled-back"
        journal.rolled_back = (
            dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        save(jo, journal)
        mark_complete(jo)
    forgotten = False
    if target.cleans_up:
        # a sysroot is left as it was: its journal, and what was made for it, go
        forgotten = forget(target, journal.id)
        release_lock(target)
    cannot = list(journal.irreversible)
    ran = [c for c in journal.commands if c.rc == 0]
    if any(c.argv[:2] == ("systemctl", "restart") or c.argv[:1] == ("sysctl",) for c in ran):
        cannot.append(
            "services restarted and kernel values applied keep their new state until "
            "restarted again (systemctl daemon-reload, systemctl restart docker) or reboot"
        )
    return RolledBack(journal, tuple(restored), tuple(changed), tuple(cannot), forgotten)
