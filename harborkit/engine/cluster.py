"""Auditing several hosts in one run: per-host checks in parallel, then the
checks that only make sense across nodes, once, over every reachable host.

The API (what a caller such as the CLI, an SSH or snapshot backend uses)::

    from harborkit.engine.cluster import Unreachable, Deferred, run_cluster

    targets = [
        SysrootHost("/mnt/server58"),                       # any Host: local, sysroot, SSH, snapshot
        Unreachable("server60", "ssh: connect to host 10.0.0.60 port 22: Connection refused"),
        Deferred("server59", lambda: connect("server59")),  # opened inside the pool
    ]
    report = run_cluster(
        targets, loaded, profile,                # discover()'s checks, a loaded Profile
        selection=selection, waivers=waivers, plugin_failures=failures,
        options=CheckOptions(...), forks=10,
    )
    report.exit_code(strict=False)               # 0 / 1, like Report.exit_code

A *target* is one of:

- a :class:`~harborkit.host.interface.Host`: audited with the selected
  checks exactly as ``run_checks`` audits one host (the same ``Report``);
- an :class:`Unreachable` record (name, one-line reason): the report shows
  that host with one ``error`` result, ``host.reachable``, carrying the
  reason, and the other hosts are still audited;
- a :class:`Deferred` (name, ``open`` callable returning a Host): ``open`` runs
  in the worker pool, so slow connections overlap; a
  :class:`~harborkit.errors.HarborkitError` or ``OSError`` it raises makes the
  host unreachable with that message. So does such an error raised by the
  host outside any check (its ``name``, say); one raised inside a check is
  that check's ``error``, as in a single-host run.

``forks`` is the size of the thread pool (hosts are I/O bound: SSH round
trips, file reads). ``options`` (``--harbor-config``/``--install-dir``) are
the same for every host, or a callable giving each host its own. Per-host
results keep the targets' order whatever order
they finish in. ``on_host_done(report)`` is called (from the worker threads)
as each host finishes, for progress output.

The cross-node checks (:class:`ClusterCheck`, group ``cluster``) run after
every host finished, over the reachable hosts only, each through the Host
protocol alone (so they work over SSH and on snapshots). They see each host
through the same :class:`CheckContext` its per-host checks used, so facts
parsed once are shared. Their results form one more ``Report`` whose host is
``cluster``; selection (``--only``/``--skip``, profile select/skip) and
waivers apply to them by id and group like to any check.

:class:`ClusterReport` is frozen: ``hosts`` (one ``Report`` per target, in
target order), ``cluster`` (the cross-node ``Report``), ``unreachable``
(the :class:`Unreachable` records, including hosts that failed during the
run), ``counts()`` and ``exit_code(strict)``: 1 when any host or the cluster
checks failed or errored (an unreachable host is an error), else 0.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Union

from harborkit import __version__
from harborkit.engine import audit
from harborkit.engine.audit import Session
from harborkit.engine.plugins import LoadedCheck, PluginFailure, discover_cluster
from harborkit.engine.profile import Profile
from harborkit.engine.runner import Selection, _apply_waiver, guarded, plugin_results
from harborkit.engine.waivers import Waiver
from harborkit.errors import HarborkitError
from harborkit.host.interface import Host, NotAvailable
from harborkit.model.check import CheckContext, CheckOptions, Outcome, Severity, Status
from harborkit.model.cluster import ClusterCheck, ClusterContext
from harborkit.model.result import CheckInfo, CheckResult, Report

#: the id under which an unreachable host's error is reported
REACHABLE_ID = "host.reachable"
#: the host name of the cross-node results
CLUSTER_HOST = "cluster"

REACHABLE_INFO = CheckInfo(
    REACHABLE_ID,
    "Host reachable",
    "host",
    Severity.CRITICAL,
    "Make the host reachable (address, SSH access, host key, credentials) or leave it out",
    "harborkit",
)


@dataclass(frozen=True)
class Unreachable:
    """A host that could not be audited, and why (one line)."""

    name: str
    reason: str


@dataclass(frozen=True)
class Deferred:
    """A host opened inside the worker pool: ``open()`` returns the Host or
    raises (a HarborkitError or OSError makes it unreachable)."""

    name: str
    open: Callable[[], Host]


Target = Union[Host, Unreachable, Deferred]


def builtin_cluster_checks() -> list[type[ClusterCheck]]:
    """The installed cross-node checks (entry-point group ``harborkit.cluster_checks``),
    harborkit's own first."""
    return discover_cluster()[0]


@dataclass(frozen=True)
class ClusterReport:
    """A run of checks on several hosts, plus the cross-node checks."""

    hosts: tuple[Report, ...]
    cluster: Report
    unreachable: tuple[Unreachable, ...]
    profile: str
    profile_path: str
    harborkit_version: str
    started: str  # ISO 8601 UTC
    duration: float

    @property
    def reports(self) -> tuple[Report, ...]:
        """Every host's report, then the cluster checks' (JUnit suites, totals)."""
        return (*self.hosts, self.cluster)

    def counts(self) -> dict[str, int]:
        """Results of each status over every host and the cluster checks."""
        c = {s.value: 0 for s in Status}
        for rep in self.reports:
            for k, v in rep.counts().items():
                c[k] += v
        return c

    def total(self) -> int:
        return sum(len(r.results) for r in self.reports)

    def is_reachable(self, host: str) -> bool:
        return all(u.name != host for u in self.unreachable)

    def exit_code(self, *, strict: bool = False) -> int:
        return max(r.exit_code(strict=strict) for r in self.reports)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def unreachable_report(u: Unreachable, profile_name: str, profile_path: str) -> Report:
    """The report of a host that could not be audited: one error with the reason."""
    return Report(
        host=u.name,
        live=False,
        profile=profile_name,
        profile_path=profile_path,
        harborkit_version=__version__,
        started=_now(),
        duration=0.0,
        results=(CheckResult(REACHABLE_INFO, Status.ERROR, u.reason, (), 0.0),),
    )


def _target_name(t: Target) -> str:
    if isinstance(t, (Unreachable, Deferred)):
        return t.name
    try:
        return t.name
    except (HarborkitError, OSError) as e:  # a backend may connect to learn it
        return f"<{type(t).__name__}: {e}>"


def _one_line(e: BaseException) -> str:
    text = e.message if isinstance(e, HarborkitError) else str(e) or type(e).__name__
    return " ".join(text.split())


def run_cluster(
    targets: Sequence[Target],
    loaded: Sequence[LoadedCheck],
    profile: Profile,
    *,
    selection: Selection,
    waivers: Sequence[Waiver] = (),
    plugin_failures: Sequence[PluginFailure] = (),
    options: CheckOptions | Callable[[Host], CheckOptions] | None = None,
    forks: int = 10,
    cluster_checks: Sequence[type[ClusterCheck]] | None = None,
    on_host_done: Callable[[Report], None] | None = None,
    today: dt.date | None = None,
) -> ClusterReport:
    """:func:`run_fleet` with the session's parts given one by one."""
    session = Session(
        tuple(loaded),
        tuple(plugin_failures),
        profile,
        selection,
        None,
        CheckOptions(),
        tuple(waivers),
    )
    return run_fleet(
        session,
        targets,
        options=options,
        forks=forks,
        cluster_checks=cluster_checks,
        on_host_done=on_host_done,
        today=today,
    )


def run_fleet(
    session: Session,
    targets: Sequence[Target],
    *,
    options: CheckOptions | Callable[[Host], CheckOptions] | None = None,
    forks: int = 10,
    cluster_checks: Sequence[type[ClusterCheck]] | None = None,
    on_host_done: Callable[[Report], None] | None = None,
    today: dt.date | None = None,
) -> ClusterReport:
    """Audit every target (``forks`` at a time) through :func:`harborkit.engine.audit.run`,
    then run the cross-node checks over the reachable ones."""
    if forks < 1:
        raise ValueError("forks must be at least 1")
    profile = session.profile

    def options_for(host: Host) -> CheckOptions:
        if options is None:
            return session.options
        return options if isinstance(options, CheckOptions) else options(host)

    if cluster_checks is None:
        cross, cross_failures = discover_cluster()
    else:
        cross, cross_failures = list(cluster_checks), []
    session = replace(session, also_known=tuple(c.id for c in cross))
    started = _now()
    t0 = time.perf_counter()

    def audit_one(target: Target) -> tuple[Report, CheckContext | None, Unreachable | None]:
        name = _target_name(target)
        if isinstance(target, Unreachable):
            return unreachable_report(target, profile.name, profile.path), None, target
        try:
            host = target.open() if isinstance(target, Deferred) else target
            ctx = session.context(host, options_for(host))
            report = audit.run(session, ctx, today=today)
        except (HarborkitError, OSError, NotAvailable) as e:
            u = Unreachable(name, _one_line(e))
            return unreachable_report(u, profile.name, profile.path), None, u
        return report, ctx, None

    def audit_and_tell(target: Target) -> tuple[Report, CheckContext | None, Unreachable | None]:
        out = audit_one(target)
        if on_host_done is not None:
            on_host_done(out[0])
        return out

    if forks == 1 or len(targets) <= 1:
        done = [audit_and_tell(t) for t in targets]
    else:
        pool = ThreadPoolExecutor(max_workers=min(forks, len(targets)))
        try:
            done = list(pool.map(audit_and_tell, targets))
        except BaseException:
            # interrupted: not waiting here for the hosts still running (their
            # owner, e.g. the SSH session, ends them); none not started is begun
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    contexts = [ctx for _, ctx, _ in done if ctx is not None]
    cluster = run_cluster_checks(
        cross,
        ClusterContext(contexts, profile.data),
        profile_name=profile.name,
        profile_path=profile.path,
        selection=session.selection,
        waivers=session.waivers,
        today=today,
        plugin_failures=cross_failures,
    )
    return ClusterReport(
        hosts=tuple(r for r, _, _ in done),
        cluster=cluster,
        unreachable=tuple(u for _, _, u in done if u is not None),
        profile=profile.name,
        profile_path=profile.path,
        harborkit_version=__version__,
        started=started,
        duration=time.perf_counter() - t0,
    )


def run_cluster_check(cls: type[ClusterCheck], ctx: ClusterContext) -> Outcome:
    """One cross-node check on the reachable hosts: a skip when fewer than its
    ``min_hosts`` were audited, else its outcome (the entry point tests use)."""
    if len(ctx.contexts) < cls.min_hosts:
        n = len(ctx.contexts)
        return Outcome(
            Status.SKIP,
            f"needs at least {cls.min_hosts} reachable hosts, {n} {'was' if n == 1 else 'were'} audited",
        )
    return guarded(lambda: cls().run(ctx))


def run_cluster_checks(
    checks: Sequence[type[ClusterCheck]],
    ctx: ClusterContext,
    *,
    profile_name: str,
    profile_path: str,
    selection: Selection,
    waivers: Sequence[Waiver] = (),
    today: dt.date | None = None,
    plugin_failures: Sequence[PluginFailure] = (),
) -> Report:
    """Run the selected cross-node checks (in order, ``requires`` honoured);
    ``plugin_failures``: cross-node plugins that failed to load, as errors."""
    today = today or dt.date.today()
    started = _now()
    t0 = time.perf_counter()
    results: list[CheckResult] = plugin_results(plugin_failures, selection)
    status_of: dict[str, Status] = {}
    for cls in checks:
        if not selection.picks_name(cls.id, cls.group):
            continue
        info = CheckInfo(cls.id, cls.title, cls.group, cls.severity, cls.remediation, "harborkit")
        blocked = [
            r for r in cls.requires if status_of.get(r) in (Status.FAIL, Status.ERROR, Status.SKIP)
        ]
        t = time.perf_counter()
        if blocked:
            outcome = Outcome(
                Status.SKIP,
                f"requires {blocked[0]}, which did not pass ({status_of[blocked[0]].value})",
            )
        else:
            outcome = run_cluster_check(cls, ctx)
        result = CheckResult(
            info, outcome.status, outcome.message, outcome.findings, time.perf_counter() - t
        )
        result = _apply_waiver(result, waivers, today)
        status_of[cls.id] = result.status
        results.append(result)
    return Report(
        host=CLUSTER_HOST,
        live=any(c.host.live for c in ctx.contexts),
        profile=profile_name,
        profile_path=profile_path,
        harborkit_version=__version__,
        started=started,
        duration=time.perf_counter() - t0,
        results=tuple(results),
    )


__all__ = [
    "CLUSTER_HOST",
    "REACHABLE_ID",
    "ClusterReport",
    "Deferred",
    "Target",
    "Unreachable",
    "builtin_cluster_checks",
    "run_cluster",
    "run_fleet",
    "run_cluster_checks",
    "unreachable_report",
]
