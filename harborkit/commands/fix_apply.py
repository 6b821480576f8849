"""``harborkit fix --host ... --apply``, ``--rollback`` and ``--list``: each
host's program (:mod:`harborkit.fix.remote`) run over its SSH connection,
``--forks`` hosts at a time; one host's failure never stops the others and
the exit code is the worst one."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import typer

from harborkit.commands.options import RemoteOptions
from harborkit.commands.output import one as _one
from harborkit.compat import zip_strict
from harborkit.errors import ExitCode
from harborkit.fix.remote import JOURNAL

if TYPE_CHECKING:
    from harborkit.commands.remote import RemoteRun
    from harborkit.host.ssh import ControlDir, SshConnection, SshTarget
    from harborkit.model.change import Plan
    from harborkit.model.result import Report


@dataclass(frozen=True)
class RemoteFix:
    """What ``fix`` was asked to do on the hosts."""

    apply: bool = False
    expect_plan: str | None = None
    restart_docker: bool = False
    rollback: bool = False
    list_journal: bool = False
    journal_id: str | None = None
    break_lock: int | None = None


@dataclass(frozen=True)
class HostPlan:
    """One host's report before the fix and the plan made from it."""

    name: str
    before: Report
    plan: Plan
    pid: str


@dataclass
class Outcome:
    """What happened on one host: its exit code and the lines to print."""

    name: str
    code: int
    said: str
    lines: tuple[str, ...] = ()
    applied: bool = False


def _connection(remote: RemoteOptions, target: SshTarget, control: ControlDir) -> SshConnection:
    from harborkit.host.ssh import SshConnection, SshOptions

    ssh = SshOptions(
        config_file=remote.ssh_config,
        become=remote.become,
        connect_timeout=remote.connect_timeout,
        accept_new_host_keys=remote.accept_new_host_keys,
        command_timeout=remote.command_timeout,
    )
    return SshConnection(target, ssh, control)


def run_each(
    remote: RemoteOptions,
    targets: Sequence[tuple[str, SshTarget]],
    program: Callable[[str], str | Outcome],
    judge: Callable[[str, list[list[str]]], Outcome],
) -> list[Outcome]:
    """``program(name)`` (a script, or an Outcome without running one) on every
    host, ``forks`` at a time; ``judge`` reads its ``HK`` lines."""
    from harborkit.engine.fleet import ssh_session
    from harborkit.fix.remote import outcome
    from harborkit.host.ssh import SshError

    def one(conn: SshConnection, name: str) -> Outcome:
        script = program(name)
        if isinstance(script, Outcome):
            return script
        try:
            data, _ = conn.run_script(script)
        except SshError as e:
            return Outcome(name, ExitCode.UNREACHABLE, cut_note(e.message))
        return judge(name, outcome(data))

    from concurrent.futures import ThreadPoolExecutor

    with ssh_session() as (control, conns):
        for _name, t in targets:
            conns.append(_connection(remote, t, control))
        work = [(c, name) for c, (name, _) in zip_strict(conns, targets)]
        with ThreadPoolExecutor(max_workers=max(1, min(remote.forks, len(work)))) as pool:
            return list(pool.map(lambda w: one(*w), work))


def cut_note(message: str) -> str:
    """An SSH failure while a program ran: it may have been cut off."""
    return (
        f"{message}; the program may have been cut off: see --list (a journal left "
        "'applying' is completed by --rollback)"
    )


def _judge_apply(pid: str) -> Callable[[str, list[list[str]]], Outcome]:
    def judge(name: str, out: list[list[str]]) -> Outcome:
        changed = tuple(f"changed: {w[1]}" for w in out if w[:1] == ["changed"] and len(w) > 1)
        last = out[-1] if out else ["failed", "the applier said nothing (was it cut off?)"]
        word, rest = last[0], " ".join(last[1:])
        if word == "applied":
            return Outcome(name, 0, f"applied plan {pid} as journal {rest}", changed, True)
        if word == "nothing":
            return Outcome(name, 0, "nothing to change")
        if word == "refused":
            path, _, why = rest.partition(" ")
            what = {
                "changed": "differs from the planned original",
                "exists": "exists here but not on the planned host",
                "not-a-file": "is not a plain file",
            }
            return Outcome(
                name,
                ExitCode.FIX_REFUSED,
                f"refused: {path} {what.get(why, why)} (nothing was changed)",
            )
        if word == "unfinished":
            return Outcome(
                name,
                ExitCode.FIX_REFUSED,
                f"refused: journal {rest} was cut off halfway; complete it with "
                f"'harborkit fix --rollback {rest}' and the same --host (nothing was changed)",
            )
        if word in ("locked", "stale", "local"):
            return lock_outcome(name, word, last[1:])
        if word == "docker":
            return Outcome(
                name,
                ExitCode.FIX_REFUSED,
                "refused: the plan restarts docker while containers run: "
                "--restart-docker allows it (nothing was changed)",
            )
        return Outcome(name, ExitCode.ENVIRONMENT, f"failed: {rest}", changed)

    return judge


def _holder(words: list[str]) -> str:
    """The lock's text (PID START WHAT SINCE) as the words of a refusal."""
    pid, _, what, since = (*words, "?", "?", "?", "?")[:4]
    doing = "a rollback" if what == "rollback" else f"plan {what}"
    return f"pid {pid}, {doing}, since {since}"


def lock_outcome(name: str, word: str, words: list[str]) -> Outcome:
    """The host's lock is held by another fix (``locked``) or was left by one
    that is gone (``stale``): refused, exit 15, nothing changed."""
    lock = f"{JOURNAL}/.applier.lock"
    if word == "local":
        said = (
            f"refused: a harborkit fix run on the host holds {JOURNAL}/.lock (pid "
            f"{' '.join(words) or 'unknown'}): try again when it has finished (nothing was changed)"
        )
    elif word == "locked":
        said = (
            f"refused: another harborkit fix holds {lock} ({_holder(words)}): "
            "try again when it has finished (nothing was changed)"
        )
    else:
        pid = words[0] if words and words[0].isdigit() else "PID"
        said = (
            f"refused: stale lock {lock}: its holder ({_holder(words)}) is gone; if no "
            f"harborkit fix runs on this host, clear it with 'harborkit fix --break-lock {pid}' "
            "and the same --host, then see --list (nothing was changed)"
        )
    return Outcome(name, ExitCode.FIX_LOCKED, said)


def apply_all(
    remote: RemoteOptions,
    plans: list[HostPlan],
    what: RemoteFix,
    run: RemoteRun,
    again: Callable[[], RemoteRun],
) -> int:
    """Apply each host's plan; collect again; BEFORE/AFTER per host; the worst exit code."""
    from harborkit.fix.export import ExportError

    wanted = set((what.expect_plan or "").split(",")) - {""}
    by_name = {hp.name: hp for hp in plans}
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

    def program(name: str) -> str | Outcome:
        hp = by_name[name]
        if wanted and hp.pid not in wanted:
            return Outcome(
                name,
                ExitCode.FIX_REFUSED,
                f"refused: the plan is now {hp.pid}, not one of --plan {what.expect_plan}: "
                "the host changed since you reviewed it (nothing was changed)",
            )
        if not (hp.plan.files or hp.plan.commands):
            return Outcome(name, 0, "nothing to change")
        try:
            return _applier(hp, stamp, created, what.restart_docker)
        except ExportError as e:  # a name no program can carry: this host only
            return Outcome(
                name, ExitCode.FIX_REFUSED, f"refused: {e.message} (nothing was changed)"
            )

    targets = [(hp.name, run.ssh_targets[hp.name]) for hp in plans if hp.name in run.ssh_targets]
    done = {o.name: o for o in run_each(remote, targets, program, _judge_apply_by(by_name))}
    after = _after(again, [o for o in done.values() if o.applied])
    code = 0
    for hp in plans:
        o = done.get(hp.name)
        if o is None:
            continue
        print(f"harborkit fix: {_one(hp.name)}: {_one(o.said)}")
        for line in o.lines:
            print(f"  {_one(line)}")
        rep = after.get(hp.name)
        still = _before_after(hp.before, rep, hp.plan.check_ids) if rep is not None else False
        for m in hp.plan.manual:
            print(_one(f"  manual step ({', '.join(m.check_ids)}): {m.reason}"))
        code = max(code, o.code, 1 if still else 0)
    print("summary: " + ", ".join(f"{_one(n)} {_short(o)}" for n, o in done.items()))
    return code


def _applier(hp: HostPlan, stamp: str, created: str, restart_docker: bool) -> str:
    from harborkit.fix.remote import render_applier

    return render_applier(
        hp.plan,
        journal_id=f"{stamp}-{hp.pid}",
        plan_id=hp.pid,
        created=created,
        restart_docker=restart_docker,
    )


def _judge_apply_by(by_name: dict[str, HostPlan]) -> Callable[[str, list[list[str]]], Outcome]:
    def judge(name: str, out: list[list[str]]) -> Outcome:
        return _judge_apply(by_name[name].pid)(name, out)

    return judge


def _short(o: Outcome) -> str:
    if o.applied:
        return "fixed"
    if o.code == 0:
        return "unchanged"
    if o.code == ExitCode.FIX_REFUSED:
        return "refused"
    if o.code == ExitCode.FIX_LOCKED:
        return "locked"
    return "failed"


def _after(again: Callable[[], RemoteRun], applied: list[Outcome]) -> dict[str, Report]:
    """The hosts fixed, audited again (the same checks)."""
    if not applied:
        return {}
    names = {o.name for o in applied}
    run = again()
    return {r.host: r for r in run.report.hosts if r.host in names}


def _before_after(before: Report, after: Report, ids: tuple[str, ...]) -> bool:
    """BEFORE/AFTER of the checks of the plan; True when one still fails."""
    was = {r.check.id: r.status.value for r in before.results}
    print(f"  {'CHECK':24} {'BEFORE':7} AFTER")
    still = False
    for r in after.results:
        if r.check.id not in ids:
            continue
        print(_one(f"  {r.check.id:24} {was.get(r.check.id, '-'):7} {r.status.value}"))
        still = still or r.counts_as_failure
    return still


def targets_of(remote: RemoteOptions) -> list[tuple[str, SshTarget]]:
    """The --host and --inventory targets, by their labels (nothing is audited)."""
    from harborkit.commands.options import host_parts
    from harborkit.host.ssh import parse_target

    out = [parse_target(p) for text in remote.hosts for p in host_parts(text)]
    if remote.inventory:
        from harborkit.host.inventory import load_inventory, select

        out += select(load_inventory(remote.inventory), remote.limit)
    return [(t.label, t) for t in out]


def journal_remote(remote: RemoteOptions, what: RemoteFix) -> NoReturn:
    """``--list`` / ``--rollback [ID]`` on every host."""
    from harborkit.fix.remote import LIST, render_rollback

    run_targets = targets_of(remote)

    if what.rollback and what.journal_id is not None:
        jid = what.journal_id
        if not jid.replace("-", "").isalnum():
            from harborkit.errors import InputError

            raise InputError(f"{jid!r}: not a journal id")
    if what.break_lock is not None:
        from harborkit.fix.remote import render_break_lock

        script, judge = render_break_lock(what.break_lock), _judge_break
    elif what.list_journal:
        script, judge = LIST, _judge_list
    else:
        script, judge = render_rollback(what.journal_id), _judge_rollback
    done = run_each(remote, run_targets, lambda _n: script, judge)
    code = 0
    for o in done:
        print(f"harborkit fix: {_one(o.name)}: {_one(o.said)}")
        for line in o.lines:
            print(f"  {_one(line)}")
        code = max(code, o.code)
    raise typer.Exit(code)


def _judge_list(name: str, out: list[list[str]]) -> Outcome:
    rows = [w for w in out if w[:1] == ["journal"] and len(w) >= 5]
    if not out or out[-1] != ["listed"]:
        return Outcome(name, ExitCode.ENVIRONMENT, "failed: the listing was cut off")
    locks = [lock_outcome(name, w[0], w[1:]).said for w in out if w[:1] in (["locked"], ["stale"])]
    notes = tuple(f"lock: {s.removeprefix('refused: ')}" for s in locks)
    notes = tuple(n.replace(" (nothing was changed)", "") for n in notes)
    if not rows:
        return Outcome(name, 0, f"no fixes journaled in {JOURNAL}", notes)
    lines = [f"{'ID':32} {'STATE':12} {'CREATED':21} {'FILES':5} CHECKS"]
    lines += [f"{w[1]:32} {w[2]:12} {w[3]:21} {w[4]:5} {' '.join(w[5:])}" for w in rows]
    return Outcome(name, 0, f"{len(rows)} journal(s)", (*lines, *notes))


def _judge_break(name: str, out: list[list[str]]) -> Outcome:
    last = out[-1] if out else ["failed", "the program said nothing (was it cut off?)"]
    word, rest = last[0], last[1:]
    if word == "unlocked":
        return Outcome(name, 0, f"removed the stale lock ({_holder(rest)})")
    if word == "nolock":
        return Outcome(name, 0, f"no lock in {JOURNAL}: nothing to clear")
    if word == "locked":
        return lock_outcome(name, word, rest)
    if word == "otherlock":
        return Outcome(
            name,
            ExitCode.FIX_LOCKED,
            f"refused: the lock is held by another process ({_holder(rest)}), not the one "
            "--break-lock names (nothing was changed)",
        )
    return Outcome(name, ExitCode.ENVIRONMENT, f"failed: {' '.join(rest)}")


def _judge_rollback(name: str, out: list[list[str]]) -> Outcome:
    said = {
        "restored": "restored: {}",
        "removed": "removed: {} (the fix created it)",
        "rmdir": "removed folder: {} (the fix created it)",
        "keptdir": "kept folder: {} (the fix created it, but it is not empty now)",
    }
    lines = tuple(said[w[0]].format(" ".join(w[1:])) for w in out if w[:1] and w[0] in said)
    lines += tuple(f"cannot undo: {' '.join(w[1:])}" for w in out if w[:1] == ["cannotundo"])
    last = out[-1] if out else ["failed", "the rollback said nothing (was it cut off?)"]
    word, rest = last[0], " ".join(last[1:])
    n = sum(1 for w in out if w[:1] in (["restored"], ["removed"]))
    if word == "rolledback":
        return Outcome(
            name, 0, f"rolled back journal {rest}: {n} file(s) restored or removed", lines
        )
    if word == "nojournal":
        return Outcome(name, ExitCode.USAGE, "no journal to roll back")
    if word in ("locked", "stale", "local"):
        return lock_outcome(name, word, last[1:])
    if word == "already":
        return Outcome(name, 0, f"journal {rest} is already rolled back")
    return Outcome(name, ExitCode.ENVIRONMENT, f"failed: {rest}", lines)
