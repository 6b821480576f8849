"""run_cluster: many targets, unreachable hosts, parallelism, cross-node checks.

run_cluster and the cross-node runner in-process over snapshot nodes: what
each report holds, exactly (fast: no files, no programs)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import inspect
import re
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from harborkit import __version__
from harborkit.checks import cluster as builtin
from harborkit.engine.cluster import (
    CLUSTER_HOST,
    REACHABLE_ID,
    REACHABLE_INFO,
    ClusterReport,
    Deferred,
    Target,
    Unreachable,
    _now,
    _one_line,
    _target_name,
    builtin_cluster_checks,
    run_cluster,
    run_cluster_check,
    run_cluster_checks,
    unreachable_report,
)
from harborkit.engine.plugins import LoadedCheck, PluginFailure, discover, discover_cluster
from harborkit.engine.profile import Profile, load_profile
from harborkit.engine.runner import Selection, run_checks
from harborkit.engine.waivers import Waiver
from harborkit.errors import HarborkitError, InputError
from harborkit.host import SysrootHost
from harborkit.host.interface import Host, HostError, NotAvailable
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import (
    Check,
    CheckContext,
    CheckOptions,
    Outcome,
    Severity,
    SkipCheck,
    Status,
    passed,
)
from harborkit.model.cluster import ClusterCheck, ClusterContext
from harborkit.model.result import CheckInfo, CheckResult, Report, WaiverUse
from tests.cluster.hosts import FIXTURES as FIXTURES_engine
from tests.cluster.nodes import node, snapshot
from tests.support.plugins import lay_out_dist

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


def sysroot(tmp: Path, fixture: str, hostname: str | None = None) -> SysrootHost:
    """A writable copy of a fixture sysroot, optionally renamed."""
    dest = tmp / (hostname or fixture)
    shutil.copytree(FIXTURES / fixture, dest, symlinks=True)
    if hostname:
        (dest / "etc/hostname").write_text(hostname + "\n")
    return SysrootHost(dest)


@pytest.fixture(scope="module")
def checks() -> list[LoadedCheck]:
    loaded, failures = discover()
    assert not failures
    return loaded


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile()


def _verdicts(report: Report) -> list[tuple[str, Status, str, tuple[object, ...]]]:
    return [(r.check.id, r.status, r.message, r.findings) for r in report.results]


def test_hosts_are_audited_like_a_single_run_and_unreachable_ones_are_errors(
    tmp_path: Path, checks: list[LoadedCheck], profile: Profile
) -> None:
    guide = sysroot(tmp_path, "guide-as-written")
    compliant = sysroot(tmp_path, "centos7-compliant", "server59")
    selection = Selection(profile.select, profile.skip)

    def refuse() -> Host:
        raise HostError("ssh: connect to host 127.0.0.61 port 22: Connection refused")

    report = run_cluster(
        [
            guide,
            Unreachable("server60", "host key for 127.0.0.60 changed"),
            compliant,
            Deferred("server61", refuse),
            Deferred("server62", lambda: sysroot(tmp_path, "debian12", "server62")),
        ],
        checks,
        profile,
        selection=selection,
        forks=3,
    )
    assert [r.host for r in report.hosts] == [
        "server58",
        "server60",
        "server59",
        "server61",
        "server62",
    ]
    assert report.unreachable == (
        Unreachable("server60", "host key for 127.0.0.60 changed"),
        Unreachable("server61", "ssh: connect to host 127.0.0.61 port 22: Connection refused"),
    )
    (err,) = report.hosts[1].results
    assert (err.check.id, err.status, err.message) == (
        REACHABLE_ID,
        Status.ERROR,
        "host key for 127.0.0.60 changed",
    )
    assert not report.is_reachable("server61") and report.is_reachable("server59")
    # every reachable host's verdicts equal a single-host run's
    for host, rep in ((guide, report.hosts[0]), (compliant, report.hosts[2])):
        alone = run_checks(
            checks,
            CheckContext(host=host, profile=profile.data),
            profile_name=profile.name,
            profile_path=profile.path,
            selection=selection,
        )
        assert _verdicts(rep) == _verdicts(alone)
    assert report.hosts[2].exit_code() == 0
    assert report.exit_code() == 1
    assert [r.check.id for r in report.cluster.results] == [
        "cluster.names",
        "cluster.hostnames",
        "cluster.clock",
        "cluster.ntp",
        "cluster.docker_version",
        "cluster.compose_version",
    ]
    assert report.cluster.host == "cluster"
    counts = report.counts()
    assert counts["error"] == 2
    assert report.total() == sum(len(r.results) for r in (*report.hosts, report.cluster))


def test_forks_audit_hosts_at_the_same_time(tmp_path: Path, profile: Profile) -> None:
    """Two hosts whose opening waits for the other: only parallel runs get past."""

    def opener(name: str, barrier: threading.Barrier) -> Deferred:
        def open_() -> Host:
            try:
                barrier.wait()
            except threading.BrokenBarrierError as e:
                raise HostError(f"{name}: opened alone") from e
            return sysroot(tmp_path, "centos7-compliant", name)

        return Deferred(name, open_)

    both = threading.Barrier(2, timeout=60)  # generous: they meet at once in parallel
    report = run_cluster(
        [opener("a1", both), opener("a2", both)], [], profile, selection=Selection(), forks=2
    )
    assert report.unreachable == ()
    alone = threading.Barrier(2, timeout=0.3)
    report = run_cluster(
        [opener("b1", alone), opener("b2", alone)], [], profile, selection=Selection(), forks=1
    )
    assert [u.reason for u in report.unreachable] == ["b1: opened alone", "b2: opened alone"]


class CountHosts(ClusterCheck):
    id = "t.count"
    title = "count"
    group = "tcluster"
    min_hosts = 1

    def run(self, ctx: ClusterContext) -> Outcome:
        return passed(", ".join(h.name for h in ctx.hosts))


class AlwaysWarns(ClusterCheck):
    id = "t.warns"
    title = "warns"
    group = "tcluster"
    remediation = "none"

    def run(self, ctx: ClusterContext) -> Outcome:
        return Outcome(Status.WARN, "hmm")


class Breaks(ClusterCheck):
    id = "t.breaks"
    title = "breaks"
    group = "tcluster"

    def run(self, ctx: ClusterContext) -> Outcome:
        raise RuntimeError("kaput")


def test_cross_checks_see_reachable_hosts_only_and_follow_selection_and_waivers(
    tmp_path: Path, profile: Profile
) -> None:
    targets = [
        sysroot(tmp_path, "centos7-compliant", "n1"),
        Unreachable("n2", "down"),
        sysroot(tmp_path, "centos7-compliant", "n3"),
    ]
    waiver = Waiver("t.warns", "known", None, "w.yaml:3")
    report = run_cluster(
        targets,
        [],
        profile,
        selection=Selection(),
        waivers=[waiver],
        cluster_checks=[CountHosts, AlwaysWarns, Breaks],
        today=dt.date(2026, 11, 28),
    )
    by_id = {r.check.id: r for r in report.cluster.results}
    assert by_id["t.count"].message == "n1, n3"
    assert (by_id["t.warns"].status, by_id["t.warns"].original_status) == (
        Status.WAIVED,
        Status.WARN,
    )
    assert by_id["t.breaks"].status is Status.ERROR
    line = inspect.getsourcelines(Breaks.run)[1] + 1  # the raise
    assert by_id["t.breaks"].message == (
        f"check raised RuntimeError: kaput (at test_engine.py:{line})"
    )
    # the waiver names a cross-node check: no "names no installed check" note per host
    assert all(not r.notes for r in report.hosts)

    only = run_cluster(
        targets[:1],
        [],
        profile,
        selection=Selection(only=("tcluster",), cli_skip=("t.breaks",)),
        cluster_checks=[CountHosts, AlwaysWarns, Breaks],
    )
    results: tuple[CheckResult, ...] = only.cluster.results
    assert [(r.check.id, r.status) for r in results] == [
        ("t.count", Status.PASS),
        ("t.warns", Status.SKIP),
    ]
    assert results[1].message == "needs at least 2 reachable hosts, 1 was audited"
    assert only.exit_code() == 0
    warns = run_cluster(
        [targets[0], targets[2]], [], profile, selection=Selection(), cluster_checks=[AlwaysWarns]
    )
    assert (warns.exit_code(), warns.exit_code(strict=True)) == (0, 1)


CLUSTER_PLUGIN = """
from harborkit.model.check import Check, Finding, Outcome, Status, passed
from harborkit.model.cluster import ClusterCheck


class Count(ClusterCheck):
    id = "zz.count"
    title = "count the hosts"
    group = "zz"

    def run(self, ctx):
        return passed(f"{len(ctx.hosts)} hosts")


class HostCheck(Check):
    id = "zz.host"
    title = "a host check in the cluster group"
    group = "zz"

    def run(self, ctx):
        return passed("ok")


class Twin(ClusterCheck):
    id = "cluster.ntp"
    title = "twin"

    def run(self, ctx):
        return passed("ok")
"""

CLUSTER_ENTRY_POINTS = """[harborkit.cluster_checks]
a-count = hkzzc_plugin:Count
b-host = hkzzc_plugin:HostCheck
c-twin = hkzzc_plugin:Twin
d-missing = hkzzc_plugin.nowhere:X
"""


@pytest.fixture
def cluster_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution with cross-node checks, laid out as pip lays one out."""
    lay_out_dist(
        tmp_path, "hkzzc_plugin", "hkzzc-plugin", CLUSTER_PLUGIN, CLUSTER_ENTRY_POINTS, package=True
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("hkzzc_plugin", None)


def test_cross_node_checks_are_found_through_their_entry_point_group() -> None:
    from harborkit.checks import cluster as builtin

    found, failures = discover_cluster()
    assert (found, failures) == (builtin.CHECKS, [])
    assert found is not builtin.CHECKS
    # the per-host group does not hold them, nor the cross-node group the host checks
    assert not {lc.cls for lc in discover()[0]} & set(found)


def test_a_cross_node_plugin_runs_after_the_builtins_and_a_broken_one_is_an_error(
    cluster_plugin: Path, profile: Profile
) -> None:
    from harborkit.checks import cluster as builtin

    found, failures = discover_cluster()
    assert [c.id for c in found] == [*(c.id for c in builtin.CHECKS), "zz.count"]
    assert [(f.entry_point, f.source, f.error) for f in failures] == [
        (
            "b-host = hkzzc_plugin:HostCheck",
            "hkzzc-plugin",
            "TypeError: expected a ClusterCheck subclass or a list of them, got ABCMeta",
        ),
        (
            "hkzzc_plugin:Twin",
            "hkzzc-plugin",
            "check id cluster.ntp is already provided by harborkit",
        ),
        (
            "d-missing = hkzzc_plugin.nowhere:X",
            "hkzzc-plugin",
            "ModuleNotFoundError: No module named 'hkzzc_plugin.nowhere'",
        ),
    ]
    hosts = [
        SysrootHost(FIXTURES / "guide-as-written"),
        SysrootHost(FIXTURES / "centos7-compliant"),
    ]
    report = run_cluster(hosts, [], profile, selection=Selection(only=("zz", "plugins")))
    assert [(r.check.id, r.status, r.message) for r in report.cluster.results] == [
        ("plugin:hkzzc-plugin", Status.ERROR, failures[0].error),
        ("plugin:hkzzc-plugin", Status.ERROR, failures[1].error),
        ("plugin:hkzzc-plugin", Status.ERROR, failures[2].error),
        ("zz.count", Status.PASS, "2 hosts"),
    ]
    assert report.exit_code() == 1
    # deselected, a broken plugin does not fail the run
    quiet = run_cluster(hosts, [], profile, selection=Selection(only=("zz.count",)))
    assert [(r.check.id, r.status) for r in quiet.cluster.results] == [("zz.count", Status.PASS)]
    assert quiet.exit_code() == 0


STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


PROFILE = dataclasses.replace(
    load_profile(), name="site", path="/etc/site.yaml", data={"time": {}, "nodes": []}
)


LONG_AGO = dt.date(2000, 1, 1)


class Fails(Check):
    """A per-host check that always fails."""

    id = "t.fails"
    title = "fails"
    group = "tgroup"

    def run(self, ctx: CheckContext) -> Outcome:
        return Outcome(Status.FAIL, f"{ctx.host.name} is wrong")


class Options(ClusterCheck):
    """Each host's options, as its checks saw them."""

    id = "t.options"
    title = "options"
    group = "tcluster"
    min_hosts = 1

    def run(self, ctx: ClusterContext) -> Outcome:
        return passed(
            "; ".join(
                f"{c.host.name}={c.options.harbor_config},{c.options.install_dir}"
                for c in ctx.contexts
            )
        )


class Counts(ClusterCheck):
    id = "t.count"
    title = "count"
    group = "tcluster"
    min_hosts = 3

    def run(self, ctx: ClusterContext) -> Outcome:
        return passed(", ".join(h.name for h in ctx.hosts))


def outcome_check(cid: str, status: Status, requires: Sequence[str] = ()) -> type[ClusterCheck]:
    class Fixed(ClusterCheck):
        id = cid
        title = f"title of {cid}"
        group = "tcluster"
        severity = Severity.LOW
        remediation = f"fix {cid}"
        min_hosts = 1

        def run(self, ctx: ClusterContext) -> Outcome:
            return Outcome(status, f"{cid} says {status.value}")

    Fixed.requires = tuple(requires)
    return Fixed


class BadName(SnapshotHost):
    """A backend that has to connect to learn its name, and cannot."""

    @property
    def name(self) -> str:
        raise HostError("ssh: connect to host 10.0.0.9 port 22: No route to host")


def test_unreachable_report_and_its_identity() -> None:
    assert REACHABLE_ID == "host.reachable" and CLUSTER_HOST == "cluster"
    assert (
        CheckInfo(
            "host.reachable",
            "Host reachable",
            "host",
            Severity.CRITICAL,
            "Make the host reachable (address, SSH access, host key, credentials) or leave it out",
            "harborkit",
        )
        == REACHABLE_INFO
    )
    rep = unreachable_report(Unreachable("n9", "refused"), "site", "/etc/site.yaml")
    assert STAMP.fullmatch(rep.started)
    assert rep == Report(
        host="n9",
        live=False,
        profile="site",
        profile_path="/etc/site.yaml",
        harborkit_version=__version__,
        started=rep.started,
        duration=0.0,
        results=(CheckResult(REACHABLE_INFO, Status.ERROR, "refused", (), 0.0),),
    )


def test_now_is_utc_to_the_second() -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    stamp = _now()
    assert STAMP.fullmatch(stamp)
    got = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before <= got <= dt.datetime.now(dt.timezone.utc)


def test_one_line_and_target_names() -> None:
    assert _one_line(InputError("bad\n   input\tfile ")) == "bad input file"
    assert _one_line(HarborkitError("")) == ""
    assert _one_line(OSError("no  route\nto host")) == "no route to host"
    assert _one_line(NotAvailable("")) == "NotAvailable"
    assert _one_line(OSError()) == "OSError"
    assert _target_name(Unreachable("u", "why")) == "u"
    assert _target_name(Deferred("d", lambda: node("x"))) == "d"
    assert _target_name(node("n1")) == "n1"
    assert _target_name(BadName(snapshot("n1"))) == (
        "<BadName: ssh: connect to host 10.0.0.9 port 22: No route to host>"
    )


def test_cluster_context_and_check_doc() -> None:
    ctx = ClusterContext([CheckContext(host=node("n1"), profile={})], {"time": {"a": 1}})
    assert [h.name for h in ctx.hosts] == ["n1"]
    assert ctx.section("time") == {"a": 1}
    with pytest.raises(SkipCheck) as e:
        ctx.section("nodes")
    assert str(e.value) == "the profile has no 'nodes' section"
    assert Options.doc() == "Each host's options, as its checks saw them."
    assert Counts.doc() == ""
    assert builtin_cluster_checks() == builtin.CHECKS
    assert builtin_cluster_checks() is not builtin.CHECKS


def test_run_one_needs_enough_hosts() -> None:
    def ctx(n: int) -> ClusterContext:
        return ClusterContext([CheckContext(host=node(f"n{i}"), profile={}) for i in range(n)], {})

    assert run_cluster_check(Counts, ctx(0)) == Outcome(
        Status.SKIP, "needs at least 3 reachable hosts, 0 were audited"
    )
    assert run_cluster_check(Counts, ctx(1)) == Outcome(
        Status.SKIP, "needs at least 3 reachable hosts, 1 was audited"
    )
    assert (
        run_cluster_check(Counts, ctx(2)).message
        == "needs at least 3 reachable hosts, 2 were audited"
    )
    assert run_cluster_check(Counts, ctx(3)) == Outcome(Status.PASS, "n0, n1, n2")


def test_run_cluster_checks_order_requires_selection_and_waivers() -> None:
    ctx = ClusterContext([CheckContext(host=node("n1"), profile={})], {})
    checks = [
        outcome_check("c.fail", Status.FAIL),
        outcome_check("c.error", Status.ERROR),
        outcome_check("c.skip", Status.SKIP),
        outcome_check("c.pass", Status.PASS),
        outcome_check("c.warn", Status.WARN),
        outcome_check("c.waived", Status.FAIL),
        outcome_check("c.after-fail", Status.PASS, ["c.pass", "c.fail"]),
        outcome_check("c.after-error", Status.PASS, ["c.error"]),
        outcome_check("c.after-skip", Status.PASS, ["c.skip"]),
        outcome_check("c.after-good", Status.PASS, ["c.pass", "c.warn", "c.waived", "c.nowhere"]),
        outcome_check("c.unselected", Status.PASS),
        outcome_check("c.after-unselected", Status.PASS, ["c.unselected"]),
    ]
    waivers = [
        Waiver("c.waived", "known", dt.date(2030, 1, 1), "w.yaml:2"),
        Waiver("c.warn", "too old", LONG_AGO, "w.yaml:5"),
    ]
    rep = run_cluster_checks(
        checks,
        ctx,
        profile_name="site",
        profile_path="/etc/site.yaml",
        selection=Selection(cli_skip=("c.unselected",)),
        waivers=waivers,
    )
    assert (rep.host, rep.live, rep.profile, rep.profile_path) == (
        "cluster",
        True,
        "site",
        "/etc/site.yaml",
    )
    assert rep.harborkit_version == __version__ and STAMP.fullmatch(rep.started)
    assert rep.duration >= 0 and rep.notes == ()
    assert [(r.check.id, r.status, r.message) for r in rep.results] == [
        ("c.fail", Status.FAIL, "c.fail says fail"),
        ("c.error", Status.ERROR, "c.error says error"),
        ("c.skip", Status.SKIP, "c.skip says skip"),
        ("c.pass", Status.PASS, "c.pass says pass"),
        ("c.warn", Status.WARN, "c.warn says warn"),
        ("c.waived", Status.WAIVED, "c.waived says fail"),
        ("c.after-fail", Status.SKIP, "requires c.fail, which did not pass (fail)"),
        ("c.after-error", Status.SKIP, "requires c.error, which did not pass (error)"),
        ("c.after-skip", Status.SKIP, "requires c.skip, which did not pass (skip)"),
        ("c.after-good", Status.PASS, "c.after-good says pass"),
        ("c.after-unselected", Status.PASS, "c.after-unselected says pass"),
    ]
    first = rep.results[0]
    assert first.check == CheckInfo(
        "c.fail", "title of c.fail", "tcluster", Severity.LOW, "fix c.fail", "harborkit"
    )
    assert first.findings == () and first.duration >= 0
    waived, expired = rep.results[5], rep.results[4]
    assert waived.original_status is Status.FAIL
    assert waived.waiver == WaiverUse("known", "2030-01-01", False, "w.yaml:2")
    # no date given: today's; the waiver of c.warn expired long ago
    assert expired.waiver == WaiverUse("too old", "2000-01-01", True, "w.yaml:5")
    on_the_day = run_cluster_checks(
        checks[4:5],
        ctx,
        profile_name="site",
        profile_path="p",
        selection=Selection(),
        waivers=waivers,
        today=dt.date(1999, 12, 31),
    )
    assert on_the_day.results[0].status is Status.WAIVED
    sysroot_only = ClusterContext(
        [CheckContext(host=SysrootHost(FIXTURES_engine / "debian12"), profile={})], {}
    )
    rep = run_cluster_checks(
        checks[:1], sysroot_only, profile_name="", profile_path="", selection=Selection()
    )
    assert rep.live is False
    assert (
        run_cluster_checks(
            checks[:1],
            ClusterContext([], {}),
            profile_name="",
            profile_path="",
            selection=Selection(),
        ).live
        is False
    )


def test_run_cluster_reports_each_target_in_order() -> None:
    done: list[str] = []

    def fail_open(e: Exception) -> Deferred:
        def open_() -> Host:
            raise e

        return Deferred("never", open_)

    targets: list[Target] = [
        node("n1"),
        Unreachable("n2", "host key of 10.0.0.2 changed"),
        Deferred("n3", lambda: node("n3")),
        fail_open(HostError("ssh: connect to host 10.0.0.4\n port 22: refused")),
        fail_open(OSError("No route to host")),
        fail_open(NotAvailable("no hostname")),
        BadName(snapshot("n7")),
    ]
    loaded = [LoadedCheck(Fails, "harborkit")]
    report = run_cluster(
        targets,
        loaded,
        PROFILE,
        selection=Selection(),
        cluster_checks=[Options, Counts],
        on_host_done=lambda r: done.append(r.host),
        forks=1,
    )
    assert isinstance(report, ClusterReport)
    assert [r.host for r in report.hosts] == [
        "n1",
        "n2",
        "n3",
        "never",
        "never",
        "never",
        "<BadName: ssh: connect to host 10.0.0.9 port 22: No route to host>",
    ]
    assert done == [r.host for r in report.hosts]
    assert [(u.name, u.reason) for u in report.unreachable] == [
        ("n2", "host key of 10.0.0.2 changed"),
        ("never", "ssh: connect to host 10.0.0.4 port 22: refused"),
        ("never", "No route to host"),
        ("never", "no hostname"),
        (
            "<BadName: ssh: connect to host 10.0.0.9 port 22: No route to host>",
            "ssh: connect to host 10.0.0.9 port 22: No route to host",
        ),
    ]
    for rep in report.hosts:
        assert (rep.profile, rep.profile_path, rep.harborkit_version) == (
            "site",
            "/etc/site.yaml",
            __version__,
        )
    assert [(r.check.id, r.status, r.message) for r in report.hosts[0].results] == [
        ("t.fails", Status.FAIL, "n1 is wrong")
    ]
    assert [(r.check.id, r.status, r.message) for r in report.hosts[3].results] == [
        (REACHABLE_ID, Status.ERROR, "ssh: connect to host 10.0.0.4 port 22: refused")
    ]
    assert [(r.check.id, r.status, r.message) for r in report.cluster.results] == [
        ("t.options", Status.PASS, "n1=None,None; n3=None,None"),
        ("t.count", Status.SKIP, "needs at least 3 reachable hosts, 2 were audited"),
    ]
    assert (report.profile, report.profile_path, report.harborkit_version) == (
        "site",
        "/etc/site.yaml",
        __version__,
    )
    assert STAMP.fullmatch(report.started) and report.duration >= 0
    assert report.cluster.host == "cluster" and report.cluster.profile == "site"
    assert report.reports == (*report.hosts, report.cluster)
    assert report.counts() == {
        "pass": 1,
        "warn": 0,
        "fail": 2,
        "error": 5,
        "skip": 1,
        "waived": 0,
    }
    assert report.total() == 9
    assert report.is_reachable("n1") and report.is_reachable("n3")
    assert not report.is_reachable("n2") and not report.is_reachable("never")
    assert report.exit_code() == 1


def test_options_plugin_failures_selection_and_waivers_reach_every_host() -> None:
    failure = PluginFailure("broken = x:CHECKS", "harborkit-broken", "ImportError: x")
    hosts = [node("n1"), node("n2")]
    waivers = [Waiver("t.fails", "accepted", LONG_AGO, "w.yaml:1")]
    report = run_cluster(
        hosts,
        [LoadedCheck(Fails, "harborkit")],
        PROFILE,
        selection=Selection(),
        plugin_failures=[failure],
        waivers=waivers,
        options=CheckOptions("/opt/harbor/harbor.yml", "/opt/harbor"),
        cluster_checks=[Options],
        forks=4,
        today=dt.date(1999, 1, 1),
    )
    assert report.cluster.results[0].message == (
        "n1=/opt/harbor/harbor.yml,/opt/harbor; n2=/opt/harbor/harbor.yml,/opt/harbor"
    )
    for rep in report.hosts:
        assert [(r.check.id, r.status) for r in rep.results] == [
            ("plugin:harborkit-broken", Status.ERROR),
            ("t.fails", Status.WAIVED),
        ]
        assert rep.notes == ()
    per_host = run_cluster(
        hosts,
        [LoadedCheck(Fails, "harborkit")],
        PROFILE,
        selection=Selection(cli_skip=("t.fails",)),
        waivers=[Waiver("t.options", "fine", None, "w.yaml:3")],
        options=lambda h: CheckOptions(f"/srv/{h.name}/harbor.yml"),
        cluster_checks=[Options],
    )
    assert per_host.cluster.results[0].message == (
        "n1=/srv/n1/harbor.yml,None; n2=/srv/n2/harbor.yml,None"
    )
    assert per_host.cluster.results[0].waiver == WaiverUse("fine", None, False, "w.yaml:3")
    assert [r.results for r in per_host.hosts] == [(), ()]
    assert [r.notes for r in per_host.hosts] == [(), ()]
    # today's date by default: the waiver expired long ago
    expired = run_cluster(
        hosts[:1],
        [LoadedCheck(Fails, "harborkit")],
        PROFILE,
        selection=Selection(),
        waivers=waivers,
        cluster_checks=[],
    )
    assert expired.hosts[0].results[0].status is Status.FAIL
    assert expired.cluster.results == ()


def test_waivers_of_the_builtin_cross_node_checks_are_known_to_every_host() -> None:
    waivers = [Waiver("cluster.ntp", "no NTP here", None, "w.yaml:1")]
    report = run_cluster(
        [node("n1"), node("n2")], [], PROFILE, selection=Selection(), waivers=waivers
    )
    assert [r.check.id for r in report.cluster.results] == [c.id for c in builtin.CHECKS]
    assert [r.notes for r in report.hosts] == [(), ()]
    custom = run_cluster(
        [node("n1")], [], PROFILE, selection=Selection(), waivers=waivers, cluster_checks=[]
    )
    assert custom.hosts[0].notes == ("waiver for cluster.ntp (w.yaml:1) names no installed check",)


def test_forks_must_be_positive() -> None:
    with pytest.raises(ValueError, match="^forks must be at least 1$"):
        run_cluster([node("n1")], [], PROFILE, selection=Selection(), forks=0)
    one = run_cluster([node("n1")], [], PROFILE, selection=Selection(), forks=1)
    assert [r.host for r in one.hosts] == ["n1"]
    none = run_cluster([], [], PROFILE, selection=Selection(), cluster_checks=[Counts])
    assert none.hosts == () and none.unreachable == ()
    assert none.cluster.results[0].message == "needs at least 3 reachable hosts, 0 were audited"
    assert none.exit_code() == 0


def test_exit_code_of_warnings() -> None:
    warn = outcome_check("c.warn", Status.WARN)
    report = run_cluster([node("n1")], [], PROFILE, selection=Selection(), cluster_checks=[warn])
    assert (report.exit_code(), report.exit_code(strict=True)) == (0, 1)


def test_forks_bound_how_many_hosts_open_at_once() -> None:
    """Three hosts that each wait for all three to be opening: two forks never get there."""
    import threading

    meet = threading.Barrier(3, timeout=1.0)

    def opener(name: str) -> Deferred:
        def open_() -> Host:
            try:
                meet.wait()
            except threading.BrokenBarrierError as e:
                raise HostError(f"{name}: not all three at once") from e
            return node(name)

        return Deferred(name, open_)

    report = run_cluster(
        [opener("n1"), opener("n2"), opener("n3")],
        [],
        PROFILE,
        selection=Selection(),
        forks=2,
        cluster_checks=[],
    )
    assert [u.reason for u in report.unreachable] == [
        "n1: not all three at once",
        "n2: not all three at once",
        "n3: not all three at once",
    ]


def test_the_cluster_report_carries_the_profile_date_and_durations() -> None:
    waivers = [Waiver("t.options", "old", LONG_AGO, "w.yaml:1")]
    warns = outcome_check("t.options", Status.WARN)
    report = run_cluster(
        [node("n1"), node("n2")],
        [],
        PROFILE,
        selection=Selection(),
        waivers=waivers,
        cluster_checks=[warns],
        today=dt.date(1999, 1, 1),
    )
    cluster = report.cluster
    assert (cluster.profile, cluster.profile_path) == ("site", "/etc/site.yaml")
    assert cluster.results[0].status is Status.WAIVED
    # durations are this run's (seconds), not clock readings
    assert 0 <= report.duration < 60
    assert 0 <= cluster.duration < 60
    assert 0 <= cluster.results[0].duration < 60


def test_ten_forks_by_default() -> None:
    """Ten hosts open at once by default, an eleventh waits for a free fork."""
    import threading

    def run(n: int, meet: threading.Barrier) -> ClusterReport:
        def opener(name: str) -> Deferred:
            def open_() -> Host:
                try:
                    meet.wait()
                except threading.BrokenBarrierError as e:
                    raise HostError(f"{name}: not all at once") from e
                return node(name)

            return Deferred(name, open_)

        targets: list[Target] = [opener(f"n{i}") for i in range(n)]
        return run_cluster(targets, [], PROFILE, selection=Selection(), cluster_checks=[])

    assert run(10, threading.Barrier(10, timeout=60)).unreachable == ()
    eleven = run(11, threading.Barrier(11, timeout=1.0))
    assert len(eleven.unreachable) == 11
