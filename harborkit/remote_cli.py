"""``check`` on other machines (``--host``, ``--snapshot``, ``--inventory``) and
``collect --script``: option handling kept apart from the single-host CLI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harborkit.errors import InputError


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

    @property
    def used(self) -> bool:
        return bool(self.hosts or self.snapshots or self.inventory)


def validate(opts: RemoteOptions, root: str | None) -> None:
    if opts.forks < 1:
        raise InputError(f"--forks {opts.forks}: must be at least 1")
    if opts.connect_timeout <= 0:
        raise InputError(f"--connect-timeout {opts.connect_timeout:g}: must be more than 0")
    if opts.limit and not opts.inventory:
        raise InputError("--limit needs --inventory")
    if root and opts.used:
        raise InputError(
            "--root audits a folder on this machine: not with --host/--snapshot/--inventory"
        )


@dataclass
class RemoteRun:
    """The audit of many hosts: the cluster report and why hosts were left out."""

    report: Any  # ClusterReport
    failure_exit: int
    failure_lines: list[str]
    round_trips: dict[str, int]
    fetched: dict[str, list[str]]  # facts each host was asked for after its snapshot


def run_remote(
    opts: RemoteOptions,
    *,
    loaded: Sequence[Any],
    profile: Any,
    selection: Any,
    waivers: Sequence[Any],
    plugin_failures: Sequence[Any],
    options: Any,
    on_host_done: Callable[[Any], None] | None = None,
) -> RemoteRun:
    """Build the targets, audit them (``forks`` at a time) and the cluster."""
    from harborkit.engine.cluster import Target, run_cluster
    from harborkit.host.fleet import Failures, snapshot_targets, ssh_session, ssh_targets
    from harborkit.host.ssh import SshOptions, SshTarget, parse_target

    failures = Failures()
    ssh_list: list[SshTarget] = []
    for text in opts.hosts:
        for part in text.split(","):
            if part.strip():
                ssh_list.append(parse_target(part))
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
    )
    with ssh_session() as (control, conns):
        targets += ssh_targets(
            ssh_list,
            ssh,
            control,
            loaded=loaded,
            profile=profile,
            selection=selection,
            options=options,
            connections=conns,
            failures=failures,
        )
        report = run_cluster(
            targets,
            loaded,
            profile,
            selection=selection,
            waivers=waivers,
            plugin_failures=plugin_failures,
            options=options,
            forks=opts.forks,
            on_host_done=on_host_done,
        )
        trips = {c.target.label: c.round_trips for c in conns}
        fetched = {c.target.label: list(c.fetched) for c in conns}
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


def print_failures(run: RemoteRun) -> None:
    from harborkit.report.safe import terminal_line

    for line in run.failure_lines:  # each names a host or a file: data, one line each
        print(f"harborkit: error: {terminal_line(line)}", file=sys.stderr)
