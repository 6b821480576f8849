"""Apply a plan with a journal (see :mod:`harborkit.fix.journal`).

Every file is written atomically (a temporary file beside it, fsync, rename)
keeping its mode and owner, after its original is saved in the journal.
Commands run only on the live host, after the files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from harborkit.errors import EnvironmentProblem, HarborkitError
from harborkit.fix.journal import (
    CommandRun,
    Entry,
    Journal,
    OpenJournal,
    mark_complete,
    new_id,
    new_journal,
    save,
    save_manifest,
    scan,
)
from harborkit.fix.lock import forget, hold_lock, release_lock
from harborkit.fix.rollback import restore
from harborkit.fix.target import (
    FixRefused,
    JournalDamaged,
    Target,
    Unsafe,
    read_host,
    sha256_hex,
    walk_host,
    writable_fd,
    write_host,
)
from harborkit.fsutil import write_at
from harborkit.model.change import FileChange, Plan

_STALL_ENV = "HARBORKIT_FIX_TEST_STALL"


@dataclass(frozen=True)
class Applied:
    journal: Journal | None  # None: nothing to change
    not_run: tuple[str, ...] = ()  # commands left out (a sysroot)


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
            now = read_host(target, f.path)
            w = walk_host(target, f.path)
        except Unsafe as e:
            raise FixRefused(f"cannot write {e}; nothing was changed") from None
        with w:
            shown = target.shown(w.done if not w.exists else w.done[:-1])
            if shown not in dirs:
                dirs[shown] = writable_fd(w.parent_fd)
        data = None if now is None else now.data
        if data != f.old:
            said = "absent" if data is None else f"sha256 {sha256_hex(data)[:12]}"
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
            forget(target, None)
            release_lock(target)
        raise
    jid = new_id(target)
    journal = Journal(
        jid,
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        host_name,
        target.root,
        plan_id,
        list(plan.check_ids),
        pid=os.getpid(),
    )
    jo = new_journal(target, journal)
    try:
        for i, f in enumerate(plan.files):
            try:
                _apply_file(target, jo, journal, i, f)
            except (OSError, Unsafe) as e:
                why = e.strerror if isinstance(e, OSError) else str(e)
                restored = restore(target, jo, journal)
                journal.state = "restored"
                with contextlib.suppress(OSError):
                    save(jo, journal)
                    mark_complete(jo)
                kept = f"journal {jid}"
                if target.cleans_up and forget(target, jid):
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
        save(jo, journal)
        mark_complete(jo)
    finally:
        jo.close()
    if failed:
        raise EnvironmentProblem(
            f"'{' '.join(failed.argv)}' failed (rc {failed.rc}: {failed.detail or 'no output'}); "
            f"the files are changed: 'harborkit fix --rollback {jid}' puts them back"
        )
    return Applied(journal, tuple(not_run))


def _apply_file(target: Target, jo: OpenJournal, journal: Journal, i: int, f: FileChange) -> None:
    with walk_host(target, f.path) as w:  # nothing created yet: the journal first
        created = [
            "/" + "/".join([*w.done, *w.missing[: k + 1]]) for k in range(len(w.missing) - 1)
        ]
        dir_mtime = os.fstat(w.fds[-1]).st_mtime_ns  # the folder holding it, or the last one
    st = read_host(target, f.path)
    old = st.data if st is not None else None
    if old != f.old:  # changed since the plan was checked: its change is not overwritten
        said = "absent" if old is None else f"sha256 {sha256_hex(old)[:12]}"
        raise Unsafe(f"it changed while the fix was being applied (now {said})")
    backup = None
    if old is not None:
        backup = f"{i:03d}"
        write_at(jo.files, backup, old, mode=0o600)
        save_manifest(jo, journal, (backup, sha256_hex(old)))
    journal.entries.append(
        Entry(
            f.path,
            st is not None,
            st.mode if st else None,
            st.uid if st else None,
            st.gid if st else None,
            sha256_hex(old) if old is not None else None,
            f.new_sha256,
            backup,
            tuple(created),
            st.mtime_ns if st else None,
            dir_mtime,
        )
    )
    save(jo, journal)  # the journal knows the file before it changes
    if st is not None:  # written through the host, its mode and owner kept
        write_host(target, f.path, f.new, mode=st.mode, uid=st.uid, gid=st.gid)
    else:
        write_host(target, f.path, f.new, mode=f.mode)
