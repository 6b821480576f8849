"""``harborkit fix``: show the plan, apply it, roll it back, or export it."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from harborkit.clihelp import HarborOption


class FixFormat(enum.StrEnum):
    diff = "diff"
    sh = "sh"
    ansible = "ansible"


def fix_command(
    profile: Annotated[
        Path | None,
        typer.Option("--profile", "-p", help="Baseline profile (YAML); default: the built-in one."),
    ] = None,
    root: Annotated[
        str | None,
        typer.Option(
            "--root", help="Fix a sysroot folder instead of this machine (no commands run)."
        ),
    ] = None,
    harbor_config: Annotated[
        str | None,
        typer.Option("--harbor-config", help="harbor.yml to check (a path on the host)."),
    ] = None,
    install_dir: Annotated[
        str | None,
        typer.Option("--install-dir", help="Harbor installer folder holding harbor.yml."),
    ] = None,
    node: Annotated[
        list[str] | None,
        typer.Option("--node", help="Cluster node NAME=ADDRESS for /etc/hosts (repeatable)."),
    ] = None,
    harbor: HarborOption = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Fix only these check ids or groups (comma-separated)."),
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option("--skip", help="Leave these check ids or groups alone (comma-separated)."),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Make the changes (journaled), then check again.")
    ] = False,
    expect_plan: Annotated[
        str | None,
        typer.Option("--plan", help="With --apply: refuse unless the plan is still this id."),
    ] = None,
    restart_docker: Annotated[
        bool,
        typer.Option("--restart-docker", help="Allow restarting docker while containers run."),
    ] = False,
    rollback: Annotated[
        bool,
        typer.Option("--rollback", help="Restore the files of journal ID (default: the last)."),
    ] = False,
    list_journal: Annotated[bool, typer.Option("--list", help="List the journal.")] = False,
    journal_dir: Annotated[
        Path | None,
        typer.Option("--journal-dir", help="Journal folder (default /var/lib/harborkit/fix)."),
    ] = None,
    fmt: Annotated[
        FixFormat,
        typer.Option("--format", "-f", help="diff (default), sh script or ansible playbook."),
    ] = FixFormat.diff,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the sh/ansible output to FILE.")
    ] = None,
    journal_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="Journal id for --rollback.")
    ] = None,
) -> None:
    """Turn failed checks into reviewed changes; apply and roll them back.

    Without --apply prints the plan (unified diffs, commands, manual steps).
    Exit codes: 0 done (nothing fails), 1 checks still fail (manual steps),
    2 usage, 3 environment (not root, read-only), 12 refused (a file changed
    since the plan, a docker restart with running containers).
    """
    from harborkit.errors import InputError
    from harborkit.fix.apply import Target

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

    import os

    from harborkit.engine.session import prepare
    from harborkit.errors import EnvironmentProblem
    from harborkit.fix.build import plan_from_report, plan_id, render_dry_run

    if apply and root is None and os.geteuid() != 0:
        raise EnvironmentProblem(
            "harborkit fix --apply changes system files and services: run it as root "
            "(nothing was changed)"
        )

    session = prepare(
        profile=profile,
        root=root,
        harbor_config=harbor_config,
        install_dir=install_dir,
        node=node,
        only=only,
        skip=skip,
        harbor=harbor,
    )
    before = session.run()
    plan = plan_from_report(before)
    pid = plan_id(plan)
    where = "live host" if before.live else "sysroot"
    if fmt is not FixFormat.diff:
        if apply:
            raise InputError("--format sh/ansible writes the plan out; it does not go with --apply")
        from harborkit.fix.export import render_ansible, render_sh

        render = render_sh if fmt is FixFormat.sh else render_ansible
        text = render(plan, host=before.host, profile=before.profile, plan_id=pid)
        if output is not None:
            from harborkit.fsutil import atomic_write_text

            atomic_write_text(output, text)
            if fmt is FixFormat.sh:
                output.chmod(0o755)
        else:
            sys.stdout.write(text)
        return
    summary = (
        f"{len(plan.files)} file(s), {len(plan.commands)} command(s), "
        f"{len(plan.manual)} manual step(s)"
    )
    host = _one(before.host)
    if not apply:
        print(f"harborkit fix: {host} ({where}), plan {pid}: {summary}")
        sys.stdout.write(render_dry_run(plan, live=before.live))
        if plan.files or plan.commands:
            print(f"\napply with: harborkit fix --apply --plan {pid} (same options)")
        return
    if expect_plan is not None and expect_plan != pid:
        from harborkit.fix.apply import FixRefused

        raise FixRefused(
            f"the plan is now {pid}, not {expect_plan}: the host changed since you reviewed "
            "it; review the new plan with 'harborkit fix' (nothing was changed)"
        )
    from harborkit.fix.apply import apply_plan

    containers = _running_containers(session) if before.live else []
    done = apply_plan(
        plan,
        target,
        host_name=before.host,
        plan_id=pid,
        running_containers=containers,
        restart_docker=restart_docker,
    )
    if done.journal is None:
        print(f"harborkit fix: {host} ({where}): nothing to change")
    else:
        j = done.journal
        print(
            f"harborkit fix: {host} ({where}): applied plan {pid} as journal {_one(j.id)}: "
            f"{len(j.entries)} file(s) written, {len(j.commands)} command(s) run"
        )
    for c in done.not_run:
        print(f"not run (a sysroot has no running system): {_one(str(c))}")
    after = session.run(only=plan.check_ids) if plan.check_ids else None
    _before_after(before, after)
    for m in plan.manual:
        print(_one(f"manual step ({', '.join(m.check_ids)}): {m.reason}"))
    still = [r for r in (after.results if after else ()) if r.counts_as_failure]
    raise typer.Exit(1 if still else 0)


def _one(text: str) -> str:
    """A value from the host or its journal as one line for the terminal."""
    from harborkit.textsafe import terminal_line

    return terminal_line(text)


def _running_containers(session: object) -> list[str]:
    from harborkit.dockerapi import DaemonUnreachable, host_client
    from harborkit.host.local import LocalHost

    try:
        client = host_client(LocalHost())
    except DaemonUnreachable:
        return []
    try:
        return [c.name for c in client.containers.list()]
    except Exception:  # noqa: BLE001 - no answer: no containers known to stop
        return []
    finally:
        client.close()


def _before_after(before: object, after: object) -> None:
    from harborkit.model.result import Report

    assert isinstance(before, Report)
    if not isinstance(after, Report):
        return
    was = {r.check.id: r.status.value for r in before.results}
    print(f"{'CHECK':24} {'BEFORE':7} AFTER")
    for r in after.results:
        print(_one(f"{r.check.id:24} {was.get(r.check.id, '-'):7} {r.status.value}"))


def _list(target: object) -> None:
    from harborkit.fix.apply import Target, journals

    assert isinstance(target, Target)
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


def _rollback(target: object, jid: str | None) -> None:
    from harborkit.fix.apply import Target, rollback

    assert isinstance(target, Target)
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
