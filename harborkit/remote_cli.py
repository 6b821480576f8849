"""``check`` on other machines (``--host``, ``--snapshot``, ``--inventory``) and
``collect --script``: option handling kept apart from the single-host CLI."""

from __future__ import annotations

import math
import os
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


@dataclass(frozen=True)
class RemoteOptions:
    """What the command line says about the hosts to audit."""

    hosts: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()
    inventory: str | None = None
    limit: str | None = None
    forks: int = 10
    ssh_config: str | None = None
    become: bool = False
    connect_timeout: float = 10.0
    accept_new_host_keys: bool = False
    command_timeout: float = 45.0

    @property
    def used(self) -> bool:
        return bool(self.hosts or self.snapshots or self.inventory)


#: the longest --connect-timeout / --command-timeout accepted (a day)
MAX_SECONDS = 86400.0


def _seconds(option: str, value: float) -> None:
    if not math.isfinite(value):
        raise InputError(f"{option} {value:g}: not a number of seconds")
    if value <= 0:
        raise InputError(f"{option} {value:g}: must be more than 0")
    if value > MAX_SECONDS:
        raise InputError(f"{option} {value:g}: at most {MAX_SECONDS:g} seconds")


def host_parts(text: str) -> list[str]:
    """The comma-separated targets of one --host value; an empty one is a mistake."""
    parts = text.split(",")
    if any(not p.strip() for p in parts):
        what = "no host" if not text.strip(", \t") else "an empty host between commas"
        raise InputError(f"--host {text!r}: {what} (expected [ssh://][USER@]HOST[:PORT])")
    return [p.strip() for p in parts]


def _regular_file(option: str, path: str) -> None:
    """``path`` is a regular file (a FIFO would hang ssh, a device is no config)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise InputError(f"{option} {path}: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{option} {path}: not a regular file")


def validate(opts: RemoteOptions, root: str | None) -> None:
    if opts.forks < 1:
        raise InputError(f"--forks {opts.forks}: must be at least 1")
    _seconds("--connect-timeout", opts.connect_timeout)
    _seconds("--command-timeout", opts.command_timeout)
    for text in opts.hosts:
        host_parts(text)
    if opts.ssh_config is not None:
        _regular_file("--ssh-config", opts.ssh_config)
    if opts.limit and not opts.inventory:
        raise InputError("--limit needs --inventory")
    if root and opts.used:
        raise InputError(
            "--root audits a folder on this machine: not with --host/--snapshot/--inventory"
        )


@dataclass
class RemoteRun:
    """The audit of many hosts: the cluster report and why hosts were left out."""

    report: ClusterReport
    failure_exit: int
    failure_lines: list[str]
    round_trips: dict[str, int]
    fetched: dict[str, list[str]]  # facts each host was asked for after its snapshot


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
        trips = {c.label: c.round_trips for c in conns}
        fetched = {c.label: list(c.fetched) for c in conns}
    lines = [msg for _, msg in failures.items.values()]  # each names its host or file
    # hosts that failed in ways the backends did not classify (cluster's own Unreachable)
    known = set(failures.items)
    extra = [u for u in report.unreachable if u.name not in known]
    lines += [f"{u.name}: {u.reason}" for u in extra]
    code = failures.exit_code
    if extra:
        from harborkit.host.ssh import UNREACHABLE_EXIT

        code = max(code, UNREACHABLE_EXIT)
    return RemoteRun(report, code, lines, trips, fetched)


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


def _short(name: str) -> str:
    return name.lower().split(".", 1)[0]


def _meant_name(target: SshTarget) -> str | None:
    """The name a target was given by (inventory name, or a host name given
    to --host), or None for an address."""
    import ipaddress

    if target.name:
        return str(target.name)
    try:
        ipaddress.ip_address(target.host)
    except ValueError:
        return str(target.host)
    return None


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
    for i, (rep, conn) in enumerate(zip(ssh_reports, conns, strict=False)):
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


def print_failures(run: RemoteRun) -> None:
    from harborkit.textsafe import terminal_line

    for line in run.failure_lines:  # each names a host or a file: data, one line each
        print(f"harborkit: error: {terminal_line(line)}", file=sys.stderr)
