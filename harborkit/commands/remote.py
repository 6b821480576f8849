"""``check`` on other machines (``--host``, ``--snapshot``, ``--inventory``):
build the targets, audit them as one cluster, name what could not be audited.

The options themselves are :class:`~harborkit.commands.options.RemoteOptions`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harborkit.commands.options import RemoteOptions, host_parts
from harborkit.errors import InputError

if TYPE_CHECKING:
    from harborkit.engine.cluster import ClusterReport
    from harborkit.engine.fleet import Failures
    from harborkit.engine.plugins import LoadedCheck, PluginFailure
    from harborkit.engine.profile import Profile
    from harborkit.engine.runner import Selection
    from harborkit.engine.waivers import Waiver
    from harborkit.host.ssh import SshConnection, SshTarget
    from harborkit.model.check import CheckOptions
    from harborkit.model.result import Report


@dataclass
class RemoteRun:
    """The audit of many hosts: the cluster report and why hosts were left out."""

    report: ClusterReport
    failure_exit: int
    failure_lines: list[str]
    round_trips: dict[str, int]
    fetched: dict[str, list[str]]  # facts each host was asked for after its snapshot
    #: the SSH target of each host report, by its name in the report (for fix --host)
    ssh_targets: dict[str, SshTarget] = field(default_factory=dict)


def run_remote(
    opts: RemoteOptions,
    *,
    loaded: Sequence[LoadedCheck],
    profile: Profile,
    selection: Selection,
    waivers: Sequence[Waiver],
    plugin_failures: Sequence[PluginFailure],
    options: CheckOptions,
    on_host_done: Callable[[Report], None] | None = None,
) -> RemoteRun:
    """Build the targets, audit them (``forks`` at a time) and the cluster."""
    from harborkit.engine.audit import Session
    from harborkit.engine.cluster import Target, run_fleet
    from harborkit.engine.fleet import Failures, snapshot_targets, ssh_session, ssh_targets
    from harborkit.host.ssh import SshOptions, parse_target

    session = Session(
        tuple(loaded), tuple(plugin_failures), profile, selection, None, options, tuple(waivers)
    )
    failures = Failures()
    ssh_list: list[SshTarget] = []
    for text in opts.hosts:
        ssh_list += [parse_target(part) for part in host_parts(text)]
    if opts.inventory:
        from harborkit.host.inventory import load_inventory, select

        inv = load_inventory(opts.inventory)
        ssh_list += select(inv, opts.limit)
    targets: list[Target] = snapshot_targets(opts.snapshots, failures) if opts.snapshots else []
    ssh = SshOptions(
        config_file=opts.ssh_config,
        become=opts.become,
        connect_timeout=opts.connect_timeout,
        accept_new_host_keys=opts.accept_new_host_keys,
        command_timeout=opts.command_timeout,
    )
    duplicates: list[tuple[str, str]] = []
    first_ssh = len(targets)
    with ssh_session() as (control, conns):
        targets += ssh_targets(
            ssh_list,
            ssh,
            control,
            session=session,
            options=options,
            connections=conns,
            failures=failures,
            duplicates=duplicates,
            forks=opts.forks,
        )
        if not targets:
            raise InputError("no host to audit: the --host/--snapshot/--inventory list is empty")
        report = run_fleet(
            session, targets, options=options, forks=opts.forks, on_host_done=on_host_done
        )
        report = _stopped_hosts(report, first_ssh, conns, failures)
        report = _name_targets(report, first_ssh, conns, duplicates)
        report = _label_snapshots(report, targets[:first_ssh])
        trips = {c.label: c.round_trips for c in conns}
        fetched = {c.label: list(c.fetched) for c in conns}
        ssh_reports = report.hosts[first_ssh : first_ssh + len(conns)]
        by_name = {r.host: c.target for r, c in zip(ssh_reports, conns)}
    lines = [msg for _, msg in failures.items.values()]  # each names its host or file
    # hosts that failed in ways the backends did not classify (cluster's own Unreachable)
    known = set(failures.items)
    extra = [u for u in report.unreachable if u.name not in known]
    lines += [f"{u.name}: {u.reason}" for u in extra]
    code = failures.exit_code
    if extra:
        from harborkit.host.ssh import UNREACHABLE_EXIT

        code = max(code, UNREACHABLE_EXIT)
    return RemoteRun(report, code, lines, trips, fetched, by_name)


def _stopped_hosts(
    report: ClusterReport, first: int, conns: Sequence[SshConnection], failures: Failures
) -> ClusterReport:
    """A host whose later round trip (a fact fetched by a check) missed its
    deadline or overflowed is one error line, as if its collector had."""
    from dataclasses import replace

    from harborkit.engine.cluster import Unreachable, unreachable_report
    from harborkit.host.ssh import SshError

    hosts = list(report.hosts)
    lost = list(report.unreachable)
    for i, conn in enumerate(conns):
        rep = hosts[first + i]
        if conn.failed is None or not report.is_reachable(rep.host):
            continue
        failures.add(conn.label, SshError(conn.failed))
        u = Unreachable(conn.label, conn.failed)
        hosts[first + i] = unreachable_report(u, report.profile, report.profile_path)
        lost.append(u)
    return replace(report, hosts=tuple(hosts), unreachable=tuple(lost))


#: what to do about a snapshot that cannot be judged (not SSH access: none was used)
SNAPSHOT_ADVICE = (
    "Make a new snapshot on the host (harborkit collect --script, run with sh) and carry "
    "it unchanged: an edited, truncated or damaged snapshot is never judged"
)


def _label_snapshots(report: ClusterReport, targets: Sequence[object]) -> ClusterReport:
    """Each snapshot's report says it is one (its file and collection time); one
    that could not be read says so, with what to do about it (not SSH advice)."""
    from dataclasses import replace
    from pathlib import PurePath

    hosts = list(report.hosts)
    for i, target in enumerate(targets):
        snap = getattr(target, "snapshot", None)
        rep = hosts[i]
        if snap is not None:
            when = str(snap.facts.get("started") or "").strip()
            origin = f"snapshot {PurePath(snap.source).name}"
            hosts[i] = replace(rep, origin=origin + (f", collected {when}" if when else ""))
            continue
        results = tuple(
            replace(r, check=replace(r.check, remediation=SNAPSHOT_ADVICE)) for r in rep.results
        )
        hosts[i] = replace(rep, origin="unusable snapshot", results=results)
    return replace(report, hosts=tuple(hosts))


def _short(name: str) -> str:
    return name.lower().split(".", 1)[0]


def _meant_name(target: SshTarget) -> str | None:
    """The name a target was given by (inventory name, or a host name given
    to --host), or None for an address."""
    from harborkit.ipaddr import is_ip

    if target.name:
        return str(target.name)
    return None if is_ip(target.host) else str(target.host)


def _where(conn: SshConnection) -> str:
    """``user@address port N`` as ssh_config resolved the target (or as given)."""
    if conn.resolved is None:
        return str(conn.target.destination)
    user, address, port = conn.resolved
    return f"{user + '@' if user else ''}{address} port {port}"


def _name_targets(
    report: ClusterReport,
    first: int,
    conns: Sequence[SshConnection],
    dups: Sequence[tuple[str, str]],
) -> ClusterReport:
    """Say in each SSH host's section which target it came from, which other
    targets were the same one, and when the host answered with a name other
    than the one it was audited as; two sections of one name are told apart
    by their target."""
    from dataclasses import replace

    hosts = list(report.hosts)
    ssh_reports = hosts[first : first + len(conns)]
    counts: dict[str, int] = {}
    for rep in hosts:
        counts[rep.host.lower()] = counts.get(rep.host.lower(), 0) + 1
    for i, (rep, conn) in enumerate(zip(ssh_reports, conns)):
        notes = [f"target: {_where(conn)} over SSH (given as {conn.target.destination})"]
        notes += [
            f"also given as {d}: the same target, audited once"
            for d, k in dups
            if k == conn.target.label
        ]
        name = rep.host
        meant = _meant_name(conn.target)
        answered = conn.answered
        if answered and meant and _short(answered) != _short(meant):
            notes.append(
                f"the host at {_where(conn)} answers with the name {answered}, not {meant}"
            )
        if counts.get(name.lower(), 0) > 1 and report.is_reachable(name):
            notes.append(f"another section has the name {name}: this one is {_where(conn)}")
            name = f"{name} ({_where(conn)})"
        hosts[first + i] = replace(rep, host=name, notes=(*notes, *rep.notes))
    return replace(report, hosts=tuple(hosts))
