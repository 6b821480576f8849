"""``harborkit fix --host/--inventory/--snapshot``: each host's plan from its
own snapshot (collected over SSH as ``check`` does, or carried), shown,
written out per host, or applied over the host's SSH connection.

One host that cannot be reached or is refused never stops the others; the
exit code is the worst one."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from harborkit.commands.fix_apply import HostPlan, RemoteFix
from harborkit.commands.options import AuditOptions, FixFormat, RemoteOptions
from harborkit.commands.output import one as _one
from harborkit.errors import InputError

if TYPE_CHECKING:
    from harborkit.commands.remote import RemoteRun
    from harborkit.engine.audit import Session
    from harborkit.model.change import Plan


def fix_remote(
    remote: RemoteOptions,
    audit: AuditOptions,
    what: RemoteFix,
    fmt: FixFormat,
    output: Path | None,
) -> NoReturn:
    if sum([what.apply, what.rollback, what.list_journal, what.break_lock is not None]) > 1:
        raise InputError("--apply, --rollback, --list and --break-lock exclude each other")
    if what.break_lock is not None and not 0 < what.break_lock < 1 << 31:
        raise InputError(f"--break-lock {what.break_lock}: not a process id")
    if what.journal_id is not None and not what.rollback:
        raise InputError(f"unexpected argument {what.journal_id!r} (an ID goes with --rollback)")
    changing = what.apply or what.rollback or what.list_journal or what.break_lock is not None
    if remote.snapshots and changing:
        raise InputError(
            "--snapshot plans from a carried snapshot: dry run and --format only "
            "(--apply, --rollback and --list need --host or --inventory)"
        )
    if fmt is not FixFormat.diff:
        if changing:
            raise InputError("--format sh/ansible writes the plans out; not with --apply")
        if output is None:
            raise InputError("--format sh/ansible with several hosts needs -o DIR")
    if what.rollback or what.list_journal or what.break_lock is not None:
        from harborkit.commands.fix_apply import journal_remote

        journal_remote(remote, what)
    session = _session(audit)
    run = collect(remote, session)
    plans = host_plans(run)
    code = run.failure_exit
    if fmt is not FixFormat.diff:
        assert output is not None
        export_all(plans, fmt, output)
    elif what.apply:
        from harborkit.commands.fix_apply import apply_all

        code = max(code, apply_all(remote, plans, what, run, lambda: collect(remote, session)))
    else:
        show_all(plans)
    _errors(run.failure_lines)
    raise typer.Exit(code)


def _errors(lines: list[str]) -> None:
    from harborkit.commands.output import print_errors

    print_errors(lines)


def _session(audit: AuditOptions) -> Session:
    from dataclasses import replace

    from harborkit.engine.session import host_path, prepare
    from harborkit.model.check import CheckOptions

    session = prepare(
        profile=audit.profile,
        root=None,
        harbor_config=None,
        install_dir=None,
        node=audit.nodes,
        only=audit.only,
        skip=audit.skip,
        harbor=audit.harbor,
    )
    # paths on the hosts: not looked for on this machine
    options = CheckOptions(host_path(audit.harbor_config, "/"), host_path(audit.install_dir, "/"))
    return replace(session, options=options)


def collect(remote: RemoteOptions, session: Session, only: tuple[str, ...] = ()) -> RemoteRun:
    """Audit every host as ``check`` does (``forks`` at a time)."""
    from dataclasses import replace

    from harborkit.commands.remote import run_remote

    selection = session.selection
    if only:
        selection = replace(selection, only=only)
    return run_remote(
        remote,
        loaded=session.loaded,
        profile=session.profile,
        selection=selection,
        waivers=(),
        plugin_failures=session.failures,
        options=session.options,
    )


def host_plans(run: RemoteRun) -> list[HostPlan]:
    """The plan of every host that was audited (in the order given)."""
    from harborkit.fix.build import plan_from_report, plan_id

    out = []
    for rep in run.report.hosts:
        if not run.report.is_reachable(rep.host):
            continue
        plan = plan_from_report(rep)
        out.append(HostPlan(rep.host, rep, plan, plan_id(plan)))
    return out


def summary(plan: Plan) -> str:
    return (
        f"{len(plan.files)} file(s), {len(plan.commands)} command(s), "
        f"{len(plan.manual)} manual step(s)"
    )


def show_all(plans: list[HostPlan]) -> None:
    """The dry run: each host's diffs, commands and manual steps, then one line per host."""
    from harborkit.fix.build import render_dry_run

    for i, hp in enumerate(plans):
        if i:
            print()
        print(f"harborkit fix: {_one(hp.name)} (remote), plan {hp.pid}: {summary(hp.plan)}")
        sys.stdout.write(render_dry_run(hp.plan, live=True))
    ids = ",".join(hp.pid for hp in plans if hp.plan.files or hp.plan.commands)
    if ids:
        print(f"\napply with: harborkit fix --apply --plan {ids} (same options)")


#: characters kept in a file name made from a host name
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(name: str) -> str:
    """A host name as one plain file name (no folder, no dot file, no control character)."""
    text = _UNSAFE.sub("_", name).lstrip(".")[:100]
    return text or "host"


def export_all(plans: list[HostPlan], fmt: FixFormat, folder: Path) -> None:
    """``--format sh|ansible -o DIR``: one script or playbook per host in DIR."""
    from harborkit.fix.export import render_sh
    from harborkit.fix.playbook import render_ansible
    from harborkit.fsutil import atomic_write_text

    if folder.exists() and not folder.is_dir():
        raise InputError(f"-o {folder}: not a folder (several hosts: one file each)")
    folder.mkdir(parents=True, exist_ok=True)
    render = render_sh if fmt is FixFormat.sh else render_ansible
    suffix = ".sh" if fmt is FixFormat.sh else ".yml"
    used: set[str] = set()
    for hp in plans:
        base = safe_name(hp.name)
        name, n = base, 1
        while name.lower() in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name.lower())
        path = folder / (name + suffix)
        rep = hp.before
        atomic_write_text(path, render(hp.plan, host=rep.host, profile=rep.profile, plan_id=hp.pid))
        if fmt is FixFormat.sh:
            path.chmod(0o755)
        print(f"{_one(hp.name)}: plan {hp.pid} written to {_one(str(path))}")
