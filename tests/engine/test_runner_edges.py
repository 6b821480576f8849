"""Engine edges a mutation pass showed untested: a dependant of a skipped check,
a waiver on its expiry day, outcome summaries at their boundaries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from harborkit.engine.registry import LoadedCheck
from harborkit.engine.runner import Selection, _order, run_checks
from harborkit.engine.waivers import Waiver
from harborkit.host import SysrootHost
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Status, passed
from harborkit.model.result import Report
from tests.engine.test_runner import ALL, FileExists, LiveOnly, NeedsMarker


class NeedsLive(Check):
    """Runs only when t.live passed."""

    id = "t.needs-live"
    title = "needs live"
    group = "tgroup"
    requires = ("t.live",)

    def run(self, ctx: CheckContext) -> Outcome:
        return passed("ran")


def _run(root: Path, checks: list[type[Check]], **kw: object) -> Report:
    ctx = CheckContext(host=SysrootHost(root), profile={})
    return run_checks(
        [LoadedCheck(c, "harborkit") for c in checks],
        ctx,
        profile_name="p",
        profile_path="p.yaml",
        selection=kw.pop("selection", Selection()),  # type: ignore[arg-type]
        today=kw.pop("today", dt.date(2026, 11, 26)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_dependant_of_a_skipped_check_is_skipped_naming_it(tmp_path: Path) -> None:
    report = _run(tmp_path, [NeedsLive, LiveOnly])
    assert [(r.check.id, r.status, r.message) for r in report.results] == [
        (
            "t.live",
            Status.SKIP,
            f"CPU count: auditing the sysroot {tmp_path}, not a running system",
        ),
        ("t.needs-live", Status.SKIP, "requires t.live, which did not pass (skip)"),
    ]
    assert report.exit_code() == 0


def test_requirement_outside_the_selection_does_not_block(tmp_path: Path) -> None:
    report = _run(tmp_path, ALL, selection=Selection(only=("t.needs",)))
    assert [(r.check.id, r.status, r.message) for r in report.results] == [
        ("t.needs", Status.PASS, "ran")
    ]


def test_order_keeps_declared_order_and_survives_a_cycle() -> None:
    class A(Check):
        id, title, group, requires = "c.a", "a", "g", ("c.b",)

        def run(self, ctx: CheckContext) -> Outcome:
            return passed("a")

    class B(Check):
        id, title, group, requires = "c.b", "b", "g", ("c.a",)

        def run(self, ctx: CheckContext) -> Outcome:
            return passed("b")

    assert [c.id for c in _order([A, B])] == ["c.b", "c.a"]
    assert [c.id for c in _order([FileExists, NeedsMarker])] == ["t.marker", "t.needs"]
    assert [c.id for c in _order([NeedsMarker, FileExists])] == ["t.marker", "t.needs"]


def test_waiver_still_applies_on_its_expiry_day(tmp_path: Path) -> None:
    day = dt.date(2026, 12, 31)
    waivers = [Waiver("t.marker", "golden image", day, "w.yaml:2")]
    report = _run(
        tmp_path, ALL, selection=Selection(only=("t.marker",)), waivers=waivers, today=day
    )
    (r,) = report.results
    assert (r.status, r.original_status, r.message) == (Status.WAIVED, Status.FAIL, "missing")
    assert r.waiver is not None
    assert (r.waiver.expires, r.waiver.expired, r.waiver.location) == (
        "2026-12-31",
        False,
        "w.yaml:2",
    )
    assert report.notes == ()
    assert report.exit_code() == 0
    # the day after, it no longer applies
    report = _run(
        tmp_path,
        ALL,
        selection=Selection(only=("t.marker",)),
        waivers=waivers,
        today=day + dt.timedelta(days=1),
    )
    (r,) = report.results
    assert (r.status, r.original_status) == (Status.FAIL, None)
    assert r.waiver is not None and r.waiver.expired is True


def test_waiver_on_a_passing_check_is_kept_but_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/marker").write_text("")
    waivers = [Waiver("t.marker", "just in case", None, "w.yaml:2")]
    report = _run(tmp_path, ALL, selection=Selection(only=("t.marker",)), waivers=waivers)
    (r,) = report.results
    assert (r.status, r.original_status, r.message) == (Status.PASS, None, "present")
    assert r.waiver is not None
    assert (r.waiver.reason, r.waiver.expires, r.waiver.expired) == ("just in case", None, False)
    assert report.notes == ()


def test_waiver_does_not_cover_an_error(tmp_path: Path) -> None:
    waivers = [Waiver("t.boom", "known", None, "w.yaml:2")]
    report = _run(tmp_path, ALL, selection=Selection(only=("t.boom",)), waivers=waivers)
    (r,) = report.results
    assert (r.status, r.original_status) == (Status.ERROR, None)
    assert report.exit_code() == 1


def test_from_findings_names_three_then_counts_the_rest() -> None:
    fs = [Finding(Status.WARN, f"k{i}", "off") for i in range(5)]
    assert Outcome.from_findings(fs).message == "5 of 5 warn: k0, k1, k2 and 2 more"
    assert Outcome.from_findings(fs[:3]).message == "3 of 3 warn: k0, k1, k2"
    assert Outcome.from_findings(fs[:4]).message == "4 of 4 warn: k0, k1, k2 and 1 more"
    skips = [Finding(Status.SKIP, "a", "n/a here"), Finding(Status.SKIP, "b", "nor here")]
    assert Outcome.from_findings(skips) == Outcome(Status.SKIP, "n/a here; nor here", tuple(skips))
    assert Outcome.from_findings(fs, summary="custom").message == "custom"
    mixed = [Finding(Status.SKIP, "a", "n/a"), Finding(Status.PASS, "b", "fine")]
    assert Outcome.from_findings(mixed, ok="all good") == Outcome(
        Status.PASS, "all good", tuple(mixed)
    )


def test_status_worst_and_rank() -> None:
    assert Status.worst([]) is Status.PASS
    assert Status.worst([Status.SKIP, Status.SKIP]) is Status.SKIP
    assert Status.worst([Status.SKIP, Status.PASS]) is Status.PASS
    assert Status.worst([Status.WARN, Status.WAIVED]) is Status.WARN
    assert Status.worst([Status.FAIL, Status.WARN]) is Status.FAIL
    assert [s.rank for s in Status] == [1, 0, 2, 3, 4, 5]


def test_report_counts_and_strict_exit_code(tmp_path: Path) -> None:
    report = _run(tmp_path, ALL, selection=Selection(only=("t.warn", "t.na")))
    assert report.counts() == {
        "pass": 0,
        "skip": 1,
        "waived": 0,
        "warn": 1,
        "fail": 0,
        "error": 0,
    }
    assert (report.exit_code(), report.exit_code(strict=True)) == (0, 1)
    assert [r.counts_as_failure for r in report.results] == [False, False]
