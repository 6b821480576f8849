"""The one audit path: a Session and engine.audit.run, used by check, fix and the fleet."""

from __future__ import annotations

from pathlib import Path

from harborkit.engine import audit
from harborkit.engine.audit import Session
from harborkit.engine.cluster import run_cluster, run_fleet
from harborkit.engine.plugins import discover
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import Selection, run_checks
from harborkit.engine.waivers import Waiver
from harborkit.host import SysrootHost
from harborkit.model.check import CheckContext, CheckOptions, Status
from harborkit.model.result import Report

GUIDE = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots" / "guide-as-written"
DEBIAN = GUIDE.parent / "debian12"


def _results(report: Report) -> list[tuple[str, Status, str, object, object]]:
    return [(r.check.id, r.status, r.message, r.waiver, r.original_status) for r in report.results]


def _session(**kw: object) -> Session:
    loaded, failures = discover()
    prof = load_profile()
    return Session(
        tuple(loaded),
        tuple(failures),
        prof,
        Selection(prof.select, prof.skip),
        str(GUIDE),
        CheckOptions(None, "/opt/harbor"),
        **kw,  # type: ignore[arg-type]
    )


def test_run_is_run_checks_with_the_sessions_parts() -> None:
    waiver = Waiver("selinux.mode", "known", None, "w.yaml:1")
    gone = Waiver("cluster.ntp", "no NTP here", None, "w.yaml:2")
    s = _session(waivers=(waiver, gone), also_known=("cluster.ntp",))
    report = audit.run(s)
    direct = run_checks(
        s.loaded,
        CheckContext(SysrootHost(GUIDE), s.profile.data, s.options),
        profile_name=s.profile.name,
        profile_path=s.profile.path,
        selection=s.selection,
        waivers=[waiver, gone],
        also_known=["cluster.ntp"],
    )
    assert _results(report) == _results(direct)
    assert report.host == "server58" and report.notes == direct.notes == ()
    assert [r.status for r in report.results if r.check.id == "selinux.mode"] == [Status.WAIVED]
    # without also_known the cross-node waiver names nothing installed
    assert audit.run(_session(waivers=(gone,))).notes == (
        "waiver for cluster.ntp (w.yaml:2) names no installed check",
    )
    # Session.run is the same path; waivers given replace the session's, only narrows
    assert _results(s.run()) == _results(report)
    assert [r.status for r in s.run([]).results if r.check.id == "selinux.mode"] != [Status.WAIVED]
    assert [r.check.id for r in audit.run(s, only=["selinux.mode"]).results] == ["selinux.mode"]


def test_run_audits_the_context_it_is_given() -> None:
    s = _session()
    other = audit.run(s, s.context(SysrootHost(DEBIAN)))
    assert other.host == "harbor01"
    assert other.counts() != audit.run(s).counts()


def test_the_fleet_runs_each_host_as_run_does() -> None:
    s = _session(waivers=(Waiver("selinux.mode", "known", None, "w.yaml:1"),))
    hosts = [SysrootHost(GUIDE), SysrootHost(DEBIAN)]
    fleet = run_fleet(s, hosts, options=s.options, cluster_checks=[])
    assert [_results(r) for r in fleet.hosts] == [
        _results(audit.run(s, s.context(h, s.options))) for h in hosts
    ]
    same = run_cluster(
        hosts,
        s.loaded,
        s.profile,
        selection=s.selection,
        waivers=s.waivers,
        options=s.options,
        cluster_checks=[],
    )
    assert [_results(r) for r in same.hosts] == [_results(r) for r in fleet.hosts]
