"""``harborkit check``: parse the options, audit, print the report, exit with its code.

Heavy libraries are imported inside the functions that need them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NoReturn

from harborkit.commands.options import (
    AcceptNewHostKeysOpt,
    AuditOptions,
    BecomeOpt,
    CaOpt,
    CheckHarborConfigOpt,
    CheckInstallDirOpt,
    CheckNodeOpt,
    CheckOnlyOpt,
    CheckProfileOpt,
    CheckRootsOpt,
    CheckSkipOpt,
    CommandTimeoutOpt,
    ConnectTimeoutOpt,
    ForksOpt,
    FormatOpt,
    HarborOption,
    HarborUserOpt,
    HostsOpt,
    InventoryOpt,
    LimitOpt,
    ListChecksOpt,
    NoColorOpt,
    OutputOpt,
    PhaseOpt,
    PostOptions,
    RemoteOptions,
    ReplicationTargetOpt,
    ReplicationUserOpt,
    ReportOptions,
    SmokeOpt,
    SnapshotOpt,
    SshConfigOpt,
    StrictOpt,
    VerboseOpt,
    WaiversOpt,
    validate,
)
from harborkit.commands.output import emit
from harborkit.compat import zip_strict
from harborkit.report import OutputFormat

if TYPE_CHECKING:
    from harborkit.engine.audit import Session
    from harborkit.engine.plugins import LoadedCheck, PluginFailure
    from harborkit.engine.profile import Profile
    from harborkit.engine.runner import Selection
    from harborkit.engine.waivers import Waiver
    from harborkit.host.warm import WarmLocalHost
    from harborkit.model.check import CheckOptions
    from harborkit.model.cluster import ClusterCheck


def check(
    profile: CheckProfileOpt = None,
    roots: CheckRootsOpt = None,
    harbor_config: CheckHarborConfigOpt = None,
    install_dir: CheckInstallDirOpt = None,
    node: CheckNodeOpt = None,
    harbor: HarborOption = None,
    fmt: FormatOpt = OutputFormat.table,
    output: OutputOpt = None,
    strict: StrictOpt = False,
    waivers: WaiversOpt = None,
    only: CheckOnlyOpt = None,
    skip: CheckSkipOpt = None,
    list_checks: ListChecksOpt = False,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
    hosts: HostsOpt = None,
    snapshot: SnapshotOpt = None,
    inventory: InventoryOpt = None,
    limit: LimitOpt = None,
    forks: ForksOpt = 10,
    ssh_config: SshConfigOpt = None,
    become: BecomeOpt = False,
    connect_timeout: ConnectTimeoutOpt = 10.0,
    command_timeout: CommandTimeoutOpt = 45.0,
    accept_new_host_keys: AcceptNewHostKeysOpt = False,
    phase: PhaseOpt = "pre",
    smoke: SmokeOpt = None,
    harbor_user: HarborUserOpt = None,
    ca: CaOpt = None,
    replication_target: ReplicationTargetOpt = None,
    replication_user: ReplicationUserOpt = None,
) -> None:
    """Audit a host against the Harbor baseline.

    Exit codes: 0 no failures, 1 failures (or warnings with --strict),
    2 usage or bad input file, 3 environment error, 4 a snapshot is truncated or
    edited, 11 a host could not be audited (the others are still reported).
    """
    remote = RemoteOptions(
        hosts=tuple(hosts or ()),
        snapshots=tuple(snapshot or ()),
        inventory=inventory,
        limit=limit,
        forks=forks,
        ssh_config=ssh_config,
        become=become,
        connect_timeout=connect_timeout,
        accept_new_host_keys=accept_new_host_keys,
        command_timeout=command_timeout,
    )
    audit = AuditOptions.of(
        profile, roots, harbor_config, install_dir, node, harbor, only, skip, waivers
    )
    validate(remote, audit.root)
    if list_checks:
        _list_checks()
        return
    post = PostOptions(
        phase, smoke, harbor_user, ca, tuple(replication_target or ()), replication_user
    )
    here = None if remote.used or audit.roots else _warm_here(audit)
    run = _prepare(audit, remote, post)
    out = ReportOptions(fmt, output, strict, verbose, no_color)
    if remote.used:
        _audit_remote(run, remote, out)
    if len(audit.roots) > 1:
        _audit_sysroots(run, out)
    _audit_here(run, out, here)


@dataclass(frozen=True)
class _Run:
    """A check run as the options make it: checks, profile, selection, waivers."""

    audit: AuditOptions
    loaded: list[LoadedCheck]
    failures: list[PluginFailure]
    profile: Profile
    selection: Selection
    waivers: list[Waiver]
    cross: list[type[ClusterCheck]]  # judged across nodes

    def session(self, root: str | None, options: CheckOptions) -> Session:
        """The engine's session of this run (one host, or the fleet's template)."""
        from harborkit.engine import audit as engine_audit

        known = tuple(c.id for c in self.cross)
        return engine_audit.Session(
            tuple(self.loaded),
            tuple(self.failures),
            self.profile,
            self.selection,
            root,
            options,
            tuple(self.waivers),
            known,
        )


def _list_checks() -> None:
    from harborkit.engine.cluster import builtin_cluster_checks
    from harborkit.engine.plugins import discover

    loaded, failures = discover()
    for lc in loaded:
        print(
            f"{lc.cls.id:24} {lc.cls.group:10} {lc.cls.severity.value:8} {lc.cls.title}  [{lc.source}]"
        )
    for cc in builtin_cluster_checks():  # judged across nodes when several hosts are audited
        print(f"{cc.id:24} {cc.group:10} {cc.severity.value:8} {cc.title}  [harborkit]")
    for pf in failures:
        print(f"(broken plugin {pf.source}: {pf.error})")


def _prepare(audit: AuditOptions, remote: RemoteOptions, post: PostOptions) -> _Run:
    """Load the checks, the profile and the waivers; check the selection (usage errors)."""
    from harborkit.checks import post as phases
    from harborkit.engine.cluster import builtin_cluster_checks
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile, with_harbor, with_nodes
    from harborkit.engine.runner import Selection
    from harborkit.engine.session import require_some, split_names
    from harborkit.engine.waivers import load_waivers

    loaded, failures = discover()
    prof = with_harbor(with_nodes(load_profile(audit.profile), list(audit.nodes)), audit.harbor)
    prof = phases.with_options(
        prof,
        post.phase,
        post.smoke,
        post.harbor_user,
        post.ca,
        post.replication_targets,
        post.replication_user,
    )
    waiver_list = load_waivers(audit.waivers) if audit.waivers else []
    selection = Selection(
        prof.select, prof.skip, split_names(audit.only), split_names(audit.skip), post.phase
    )
    cross = builtin_cluster_checks()
    selection.validate_names([*(lc.cls for lc in loaded), *cross], failures)  # type: ignore[list-item]
    many = remote.used or len(audit.roots) > 1
    require_some(selection, loaded, cross if many else [], failures)
    return _Run(audit, loaded, failures, prof, selection, waiver_list, cross)


def _audit_remote(run: _Run, remote: RemoteOptions, out: ReportOptions) -> NoReturn:
    """``--host``/``--snapshot``/``--inventory``: the hosts as one cluster."""
    from harborkit.commands.output import print_errors
    from harborkit.commands.remote import run_remote
    from harborkit.engine.session import host_path
    from harborkit.model.check import CheckOptions

    audit = run.audit
    done = run_remote(
        remote,
        loaded=run.loaded,
        profile=run.profile,
        selection=run.selection,
        waivers=run.waivers,
        plugin_failures=run.failures,
        options=CheckOptions(
            host_path(audit.harbor_config, "/"), host_path(audit.install_dir, "/")
        ),
    )
    emit(
        done.report,
        out,
        then=lambda: print_errors(done.failure_lines),
        exit_code=done.failure_exit or None,
    )


def _audit_sysroots(run: _Run, out: ReportOptions) -> NoReturn:
    """``--root`` given more than once: the sysroots as one cluster."""
    from harborkit.engine.cluster import run_fleet
    from harborkit.engine.session import root_options
    from harborkit.host import SysrootHost
    from harborkit.model.check import CheckOptions

    audit = run.audit
    sysroots = [SysrootHost(r) for r in audit.roots]
    # each sysroot's own --harbor-config/--install-dir, checked before anything runs
    per_root = {
        id(h): root_options(h, run.profile.data, audit.harbor_config, audit.install_dir, r)
        for h, r in zip_strict(sysroots, audit.roots)
    }
    fleet = run.session(None, CheckOptions())
    emit(run_fleet(fleet, sysroots, options=lambda h: per_root[id(h)]), out)


def _warm_here(audit: AuditOptions) -> WarmLocalHost:
    """This machine, its slow facts (the daemon, the process table, the Compose
    version) asked in the background now, before the checks are loaded."""
    from harborkit.host.warm import WarmLocalHost, take_early

    early = take_early()  # made before the options were parsed (commands/early.py)
    if early is not None and audit.profile is None:
        return early
    host = WarmLocalHost()
    if audit.profile is None:  # the built-in profile names the Compose binary
        from harborkit.engine.profile import builtin_data

        host.warm_profile(builtin_data())
    host.warm_processes()
    return host


def _audit_here(run: _Run, out: ReportOptions, here: WarmLocalHost | None = None) -> NoReturn:
    """This machine (``here``, warmed), or one sysroot."""
    from harborkit.engine import audit as engine_audit
    from harborkit.engine.session import check_options
    from harborkit.model.check import CheckOptions

    root = run.audit.root
    opts = run.audit
    session = run.session(root, CheckOptions())
    host = session.host() if here is None else here
    if here is not None:
        here.warm_profile(run.profile.data)  # a --profile's Compose (a no-op when warmed)
    options = check_options(host, run.profile.data, opts.harbor_config, opts.install_dir, root)
    session = replace(session, options=options)
    emit(engine_audit.run(session, session.context(host)), out)
