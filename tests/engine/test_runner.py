"""The engine: selection, ordering by requires, errors contained, waivers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harborkit.engine.plugins import LoadedCheck, PluginFailure
from harborkit.engine.runner import Selection, run_checks
from harborkit.engine.waivers import Waiver
from harborkit.errors import InputError
from harborkit.host import NotAvailable, SysrootHost
from harborkit.model.check import (
    Check,
    CheckContext,
    Finding,
    Outcome,
    Severity,
    SkipCheck,
    Status,
    failed,
    passed,
    warned,
)


class FileExists(Check):
    """/etc/marker exists."""

    id = "t.marker"
    title = "marker"
    group = "tgroup"
    severity = Severity.CRITICAL
    remediation = "touch /etc/marker"

    def run(self, ctx: CheckContext) -> Outcome:
        if ctx.host.exists("/etc/marker"):
            return passed("present")
        return failed("missing")


class NeedsMarker(Check):
    id = "t.needs"
    title = "needs marker"
    group = "tgroup"
    requires = ("t.marker",)

    def run(self, ctx: CheckContext) -> Outcome:
        return passed("ran")


class Boom(Check):
    id = "t.boom"
    title = "raises"
    group = "other"

    def run(self, ctx: CheckContext) -> Outcome:
        raise RuntimeError("kaput")


class LiveOnly(Check):
    id = "t.live"
    title = "live only"
    group = "other"

    def run(self, ctx: CheckContext) -> Outcome:
        ctx.host.cpu_count()
        return passed("live")


class NotHere(Check):
    id = "t.na"
    title = "not applicable"
    group = "other"

    def run(self, ctx: CheckContext) -> Outcome:
        raise SkipCheck("does not apply on this distribution")


class Warns(Check):
    id = "t.warn"
    title = "warns"
    group = "other"

    def run(self, ctx: CheckContext) -> Outcome:
        return warned("a bit off")


ALL = [NeedsMarker, FileExists, Boom, LiveOnly, NotHere, Warns]


def _run(root: Path, selection: Selection | None = None, waivers=(), today=None, failures=()):
    ctx = CheckContext(host=SysrootHost(root), profile={})
    loaded = [LoadedCheck(c, "harborkit") for c in ALL]
    return run_checks(
        loaded,
        ctx,
        profile_name="p",
        profile_path="p.yaml",
        selection=selection or Selection(),
        waivers=waivers,
        plugin_failures=failures,
        today=today or dt.date(2026, 11, 26),
    )


def statuses(report) -> dict[str, str]:
    return {r.check.id: r.status.value for r in report.results}


def test_every_outcome_kind_and_dependency_order(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    report = _run(tmp_path)
    # FileExists runs before NeedsMarker although declared after it
    assert [r.check.id for r in report.results] == [
        "t.marker",
        "t.needs",
        "t.boom",
        "t.live",
        "t.na",
        "t.warn",
    ]
    assert statuses(report) == {
        "t.marker": "fail",
        "t.needs": "skip",
        "t.boom": "error",
        "t.live": "skip",
        "t.na": "skip",
        "t.warn": "warn",
    }
    by_id = {r.check.id: r for r in report.results}
    assert by_id["t.needs"].message == "requires t.marker, which did not pass (fail)"
    assert by_id["t.boom"].message.startswith(
        "check raised RuntimeError: kaput (at test_runner.py:"
    )
    assert (
        by_id["t.live"].message
        == f"CPU count: auditing the sysroot {tmp_path}, not a running system"
    )
    assert by_id["t.na"].message == "does not apply on this distribution"
    assert report.exit_code() == 1
    assert report.counts() == {"pass": 0, "skip": 3, "waived": 0, "warn": 1, "fail": 1, "error": 1}


def test_prerequisite_passing_lets_dependant_run(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/marker").write_text("")
    report = _run(tmp_path, Selection(only=("tgroup",)))
    assert statuses(report) == {"t.marker": "pass", "t.needs": "pass"}
    assert report.exit_code() == 0


def test_selection_by_id_group_and_skip(tmp_path: Path) -> None:
    report = _run(tmp_path, Selection(only=("other",), cli_skip=("t.boom",)))
    assert list(statuses(report)) == ["t.live", "t.na", "t.warn"]
    assert report.exit_code() == 0
    assert report.exit_code(strict=True) == 1
    report = _run(tmp_path, Selection(select=("t.warn",)))
    assert list(statuses(report)) == ["t.warn"]


def test_unknown_selection_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"^--only t\.nope: no check or group of that name"):
        Selection(only=("t.nope",)).validate_names(ALL)
    Selection(only=("tgroup", "t.boom")).validate_names(ALL)


def test_waiver_applies_until_it_expires(tmp_path: Path) -> None:
    waivers = [
        Waiver("t.marker", "marker comes with the golden image", dt.date(2026, 12, 31), "w.yaml:2")
    ]
    report = _run(tmp_path, Selection(only=("t.marker",)), waivers=waivers)
    (r,) = report.results
    assert r.status is Status.WAIVED
    assert r.original_status is Status.FAIL
    assert r.waiver is not None and r.waiver.reason == "marker comes with the golden image"
    assert report.exit_code() == 0
    assert report.notes == ()

    report = _run(
        tmp_path, Selection(only=("t.marker",)), waivers=waivers, today=dt.date(2027, 1, 1)
    )
    (r,) = report.results
    assert r.status is Status.FAIL
    assert r.waiver is not None and r.waiver.expired
    assert report.notes == (
        "waiver for t.marker expired on 2026-12-31 (w.yaml:2); it no longer applies",
    )
    assert report.exit_code() == 1


def test_waiver_for_unknown_check_is_noted(tmp_path: Path) -> None:
    report = _run(tmp_path, Selection(only=("t.warn",)), waivers=[Waiver("nope", "r", None, "w:1")])
    assert report.notes == ("waiver for nope (w:1) names no installed check",)


def test_broken_plugin_is_an_error_result_and_run_goes_on(tmp_path: Path) -> None:
    pf = PluginFailure("x = x.y:Z", "harborkit-x", "ModuleNotFoundError: No module named 'x'")
    report = _run(tmp_path, Selection(only=("t.warn", "plugins")), failures=[pf])
    assert statuses(report) == {"plugin:harborkit-x": "error", "t.warn": "warn"}
    report = _run(tmp_path, Selection(only=("t.warn",)), failures=[pf])
    assert statuses(report) == {"t.warn": "warn"}
    report = _run(tmp_path, Selection(only=("t.warn", "plugins")), failures=[pf])
    assert statuses(report) == {"plugin:harborkit-x": "error", "t.warn": "warn"}
    assert report.exit_code() == 1


def test_outcome_from_findings_summarises_worst() -> None:
    fs = [
        Finding(Status.PASS, "a", "ok"),
        Finding(Status.FAIL, "b", "too low", expected=">= 5", actual="3"),
        Finding(Status.WARN, "c", "meh"),
        Finding(Status.FAIL, "d", "missing"),
        Finding(Status.SKIP, "e", "n/a"),
    ]
    o = Outcome.from_findings(fs)
    assert o.status is Status.FAIL
    assert o.message == "2 of 5 fail: b, d"
    o = Outcome.from_findings(fs[:3])
    assert o.message == "b: too low"
    assert Outcome.from_findings([Finding(Status.SKIP, "x", "n/a")]).status is Status.SKIP
    assert Outcome.from_findings([], ok="nothing to do").message == "nothing to do"


def test_not_available_carries_reason() -> None:
    assert NotAvailable("why").reason == "why"
