"""run_cluster: many targets, unreachable hosts, parallelism, cross-node checks."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.engine.cluster import REACHABLE_ID, Deferred, Unreachable, run_cluster
from harborkit.engine.plugins import LoadedCheck, discover, discover_cluster
from harborkit.engine.profile import Profile, load_profile
from harborkit.engine.runner import Selection, run_checks
from harborkit.engine.waivers import Waiver
from harborkit.host import SysrootHost
from harborkit.host.interface import Host, HostError
from harborkit.model.check import CheckContext, Outcome, Status, passed
from harborkit.model.cluster import ClusterCheck, ClusterContext
from harborkit.model.result import CheckResult, Report

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
    (tmp_path / "hkzzc_plugin").mkdir()
    (tmp_path / "hkzzc_plugin/__init__.py").write_text(CLUSTER_PLUGIN)
    info = tmp_path / "hkzzc_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hkzzc-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(CLUSTER_ENTRY_POINTS)
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
