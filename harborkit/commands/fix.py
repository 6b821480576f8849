"""``harborkit fix``: show the plan, apply it, roll it back, or export it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from harborkit.commands.options import (
    AcceptNewHostKeysOpt,
    ApplyOpt,
    AuditOptions,
    BreakLockOpt,
    ConnectTimeoutOpt,
    FixBecomeOpt,
    FixCommandTimeoutOpt,
    FixForksOpt,
    FixFormat,
    FixFormatOpt,
    FixHarborConfigOpt,
    FixHostsOpt,
    FixInstallDirOpt,
    FixInventoryOpt,
    FixLimitOpt,
    FixNodeOpt,
    FixOnlyOpt,
    FixOutputOpt,
    FixProfileOpt,
    FixRootOpt,
    FixSkipOpt,
    FixSnapshotOpt,
    HarborOption,
    JournalDirOpt,
    JournalIdArg,
    ListJournalOpt,
    PlanIdOpt,
    RemoteOptions,
    RestartDockerOpt,
    RollbackOpt,
    SshConfigOpt,
    validate,
)
from harborkit.commands.output import one as _one
from harborkit.errors import EnvironmentProblem, InputError

if TYPE_CHECKING:
    from harborkit.engine.audit import Session
    from harborkit.fix.target import Target
    from harborkit.model.change import Plan
    from harborkit.model.result import Report


def fix_command(
    profile: FixProfileOpt = None,
    root: FixRootOpt = None,
    harbor_config: FixHarborConfigOpt = None,
    install_dir: FixInstallDirOpt = None,
    node: FixNodeOpt = None,
    harbor: HarborOption = None,
    only: FixOnlyOpt = None,
    skip: FixSkipOpt = None,
    apply: ApplyOpt = False,
    expect_plan: PlanIdOpt = None,
    restart_docker: RestartDockerOpt = False,
    rollback: RollbackOpt = False,
    list_journal: ListJournalOpt = False,
    break_lock: BreakLockOpt = None,
    journal_dir: JournalDirOpt = None,
    fmt: FixFormatOpt = FixFormat.diff,
    output: FixOutputOpt = None,
    journal_id: JournalIdArg = None,
    hosts: FixHostsOpt = None,
    snapshot: FixSnapshotOpt = None,
    inventory: FixInventoryOpt = None,
    limit: FixLimitOpt = None,
    forks: FixForksOpt = 10,
    ssh_config: SshConfigOpt = None,
    become: FixBecomeOpt = False,
    connect_timeout: ConnectTimeoutOpt = 10.0,
    command_timeout: FixCommandTimeoutOpt = 45.0,
    accept_new_host_keys: AcceptNewHostKeysOpt = False,
) -> None:
    """Turn failed checks into reviewed changes; apply and roll them back.

    Without --apply prints the plan (unified diffs, commands, manual steps).
    Exit codes: 0 done (nothing fails), 1 checks still fail (manual steps),
    2 usage, 3 environment (not root, read-only), 12 refused (a file changed
    since the plan, a docker restart with running containers), 11 a host
    could not be reached (--host/--inventory: the others are still fixed),
    15 another fix holds a host's lock, or left it (--break-lock PID clears it).
    """
    from harborkit.fix.target import Target

    remote = RemoteOptions(
        tuple(hosts or ()),
        tuple(snapshot or ()),
        inventory,
        limit,
        forks,
        ssh_config,
        become,
        connect_timeout,
        accept_new_host_keys,
        command_timeout,
    )
    validate(remote, root)
    if remote.used and journal_dir is not None:
        from harborkit.fix.remote import JOURNAL

        raise InputError(f"--journal-dir: on hosts reached over SSH the journal is {JOURNAL}")
    if remote.used:
        from harborkit.commands.fix_remote import RemoteFix, fix_remote

        audit = AuditOptions.of(profile, root, harbor_config, install_dir, node, harbor, only, skip)
        what = RemoteFix(
            apply, expect_plan, restart_docker, rollback, list_journal, journal_id, break_lock
        )
        fix_remote(remote, audit, what, fmt, output)

    if break_lock is not None:
        raise InputError("--break-lock clears a lock on hosts: it goes with --host or -i")
    target = Target.of(root, journal_dir)
    if sum([apply, rollback, list_journal]) > 1:
        raise InputError("--apply, --rollback and --list exclude each other")
    if journal_id is not None and not rollback:
        raise InputError(f"unexpected argument {journal_id!r} (an ID goes with --rollback)")
    if list_journal:
        _list(target)
        return
    if rollback:
        _rollback(target, journal_id)
        return
    if apply and root is None and os.geteuid() != 0:
        raise EnvironmentProblem(
            "harborkit fix --apply changes system files and services: run it as root "
            "(nothing was changed)"
        )
    audit = AuditOptions.of(profile, root, harbor_config, install_dir, node, harbor, only, skip)
    fixing = _plan(audit)
    if fmt is not FixFormat.diff:
        if apply:
            raise InputError("--format sh/ansible writes the plan out; it does not go with --apply")
        _export(fixing, fmt, output)
    elif not apply:
        _show(fixing)
    else:
        _apply(fixing, target, expect_plan=expect_plan, restart_docker=restart_docker)


@dataclass(frozen=True)
class _Fixing:
    """The session, its run before the fix and the plan made from it."""

    session: Session
    before: Report
    plan: Plan
    pid: str

    @property
    def where(self) -> str:
        return "live host" if self.before.live else "sysroot"


def _plan(audit: AuditOptions) -> _Fixing:
    from harborkit.engine.session import prepare
    from harborkit.fix.build import plan_from_report, plan_id

    session = prepare(
        profile=audit.profile,
        root=audit.root,
        harbor_config=audit.harbor_config,
        install_dir=audit.install_dir,
        node=audit.nodes,
        only=audit.only,
        skip=audit.skip,
        harbor=audit.harbor,
    )
    before = session.run()
    plan = plan_from_report(before)
    return _Fixing(session, before, plan, plan_id(plan))


def _export(fixing: _Fixing, fmt: FixFormat, output: Path | None) -> None:
    """``--format sh|ansible``: the plan as a script or a playbook."""
    from harborkit.fix.export import render_sh
    from harborkit.fix.playbook import render_ansible

    render = render_sh if fmt is FixFormat.sh else render_ansible
    before = fixing.before
    text = render(fixing.plan, host=before.host, profile=before.profile, plan_id=fixing.pid)
    if output is not None:
        from harborkit.fsutil import atomic_write_text

        atomic_write_text(output, text)
        if fmt is FixFormat.sh:
            output.chmod(0o755)
    else:
        sys.stdout.write(text)


def _show(fixing: _Fixing) -> None:
    """Without ``--apply``: the plan as diffs, commands and manual steps."""
    from harborkit.fix.build import render_dry_run

    plan, pid = fixing.plan, fixing.pid
    summary = (
        f"{len(plan.files)} file(s), {len(plan.commands)} command(s), "
        f"{len(plan.manual)} manual step(s)"
    )
    print(f"harborkit fix: {_one(fixing.before.host)} ({fixing.where}), plan {pid}: {summary}")
    sys.stdout.write(render_dry_run(plan, live=fixing.before.live))
    if plan.files or plan.commands:
        print(f"\napply with: harborkit fix --apply --plan {pid} (same options)")


def _apply(
    fixing: _Fixing, target: Target, *, expect_plan: str | None, restart_docker: bool
) -> NoReturn:
    """``--apply``: make the changes (journaled), check again, exit 1 if checks still fail."""
    from harborkit.fix.apply import apply_plan
    from harborkit.fix.target import FixRefused

    plan, pid, before = fixing.plan, fixing.pid, fixing.before
    if expect_plan is not None and expect_plan != pid:
        raise FixRefused(
            f"the plan is now {pid}, not {expect_plan}: the host changed since you reviewed "
            "it; review the new plan with 'harborkit fix' (nothing was changed)"
        )
    containers = _running_containers(fixing.session) if before.live else []
    done = apply_plan(
        plan,
        target,
        host_name=before.host,
        plan_id=pid,
        running_containers=containers,
        restart_docker=restart_docker,
    )
    said = f"harborkit fix: {_one(before.host)} ({fixing.where})"
    if done.journal is None:
        print(f"{said}: nothing to change")
    else:
        j = done.journal
        print(
            f"{said}: applied plan {pid} as journal {_one(j.id)}: "
            f"{len(j.entries)} file(s) written, {len(j.commands)} command(s) run"
        )
    for c in done.not_run:
        print(f"not run (a sysroot has no running system): {_one(str(c))}")
    after = fixing.session.run(only=plan.check_ids) if plan.check_ids else None
    _before_after(before, after)
    for m in plan.manual:
        print(_one(f"manual step ({', '.join(m.check_ids)}): {m.reason}"))
    still = [r for r in (after.results if after else ()) if r.counts_as_failure]
    raise typer.Exit(1 if still else 0)


def _running_containers(session: Session | None) -> list[str]:
    from harborkit.checks.docker import DaemonUnreachable
    from harborkit.dockerapi import host_client
    from harborkit.host.local import LocalHost

    try:
        client = host_client(LocalHost())
    except DaemonUnreachable:
        return []
    try:
        return [c.name for c in client.containers.list()]
    except Exception:
        return []
    finally:
        client.close()


def _before_after(before: Report, after: Report | None) -> None:
    if after is None:
        return
    was = {r.check.id: r.status.value for r in before.results}
    print(f"{'CHECK':24} {'BEFORE':7} AFTER")
    for r in after.results:
        print(_one(f"{r.check.id:24} {was.get(r.check.id, '-'):7} {r.status.value}"))


def _list(target: Target) -> None:
    from harborkit.fix.journal import journals

    js = journals(target)
    if not js:
        print(_one(f"no fixes journaled in {target.journal_dir}"))
        return
    print(f"{'ID':24} {'CREATED':21} {'STATE':16} {'FILES':5} CHECKS")
    for j in js:
        # a journal is data from the audited disk: every field shown escaped
        row = [_one(str(x)) for x in (j.id, j.created, j.state)]
        print(
            f"{row[0]:24} {row[1]:21} {row[2]:16} {len(j.entries):<5} {_one(', '.join(j.checks))}"
        )


def _rollback(target: Target, jid: str | None) -> None:
    from harborkit.fix.rollback import rollback

    rb = rollback(target, jid)
    print(
        f"harborkit fix: rolled back journal {_one(rb.journal.id)}: "
        f"{len(rb.restored)} file(s) restored"
    )
    existed = {e.path: e.existed for e in rb.journal.entries}
    for p in rb.restored:
        shown = _one(str(p))
        print(f"restored: {shown}" if existed.get(p) else f"removed: {shown} (the fix created it)")
    for p in rb.changed_since:
        print(
            f"note: {_one(str(p))} was edited after the fix; "
            "restored to its state before the fix anyway"
        )
    for c in rb.cannot_undo:
        print(f"cannot undo: {_one(str(c))}")
    if rb.forgotten:
        print(
            f"removed: journal {_one(rb.journal.id)} (a sysroot keeps no journal of a fix rolled back)"
        )
