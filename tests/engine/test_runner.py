"""The engine: selection, ordering by requires, errors contained, waivers.

The runner, exactly: what guarded() makes of each exception, which statuses
block a dependant, planners and remediation, waivers, plugin failures and the
report's own fields."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from harborkit import __version__
from harborkit.collect.snapshot import Snapshot
from harborkit.engine.plugins import LoadedCheck, PluginFailure
from harborkit.engine.runner import (
    Selection,
    _apply_waiver,
    _order,
    guarded,
    plugin_id,
    run_checks,
)
from harborkit.engine.waivers import Waiver
from harborkit.errors import InputError
from harborkit.host import NotAvailable, SysrootHost
from harborkit.host.interface import UnreadableFile
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.change import Command, ManualStep
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
from harborkit.model.result import CheckInfo, CheckResult, Report, WaiverUse


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


DAY = dt.date(2026, 11, 26)


def _check(
    cid: str,
    outcome: Outcome | BaseException,
    *,
    group: str = "g",
    requires: tuple[str, ...] = (),
    remediation: str = "the static hint",
    plan: Sequence[object] | BaseException | None = None,
) -> type[Check]:
    """A check class that returns (or raises) ``outcome``; with ``plan`` it plans."""

    def run(self: Check, ctx: CheckContext) -> Outcome:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    ns: dict[str, object] = {
        "id": cid,
        "title": f"title of {cid}",
        "group": group,
        "severity": Severity.MEDIUM,
        "remediation": remediation,
        "requires": requires,
        "run": run,
    }
    if plan is not None:

        def planner(self: Check, ctx: CheckContext, out: Outcome) -> Sequence[object]:
            if isinstance(plan, BaseException):
                raise plan
            return plan

        ns["plan"] = planner
    return type(f"C_{cid.replace('.', '_')}", (Check,), ns)


def run(
    checks: Sequence[type[Check]],
    *,
    selection: Selection | None = None,
    waivers: Sequence[Waiver] = (),
    failures: Sequence[PluginFailure] = (),
    today: dt.date | None = DAY,
    also_known: Sequence[str] = (),
    root: Path | None = None,
) -> Report:
    host = SysrootHost(root) if root is not None else SnapshotHost(Snapshot("s1"), name="node-a")
    ctx = CheckContext(host=host, profile={})
    return run_checks(
        [LoadedCheck(c, "dist-x") for c in checks],
        ctx,
        profile_name="site",
        profile_path="/p/site.yaml",
        selection=selection or Selection(),
        waivers=waivers,
        plugin_failures=failures,
        today=today,
        also_known=also_known,
    )


def rows(report: Report) -> list[tuple[str, str, str]]:
    return [(r.check.id, r.status.value, r.message) for r in report.results]


def _raise(e: BaseException) -> Outcome:
    raise e


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: passed("fine"), Outcome(Status.PASS, "fine")),
        (
            lambda: _raise(SkipCheck("not on this distribution")),
            Outcome(Status.SKIP, "not on this distribution"),
        ),
        (
            lambda: _raise(NotAvailable("the CPU count needs a running system")),
            Outcome(Status.SKIP, "the CPU count needs a running system"),
        ),
        (
            lambda: _raise(UnreadableFile("/etc/sysctl.conf", "a FIFO, not a file")),
            Outcome(
                Status.FAIL,
                "/etc/sysctl.conf: a FIFO, not a file",
                (Finding(Status.FAIL, "file", "a FIFO, not a file", location="/etc/sysctl.conf"),),
            ),
        ),
    ],
    ids=["outcome", "skipcheck", "not-available", "unreadable-file"],
)
def test_guarded_turns_each_exception_into_its_outcome(make, expected: Outcome) -> None:  # type: ignore[no-untyped-def]
    assert guarded(make) == expected


def _broken() -> Outcome:
    raise KeyError("hardware")


def test_guarded_error_names_the_exception_and_where_it_was_raised() -> None:
    out = guarded(_broken)
    line = _broken.__code__.co_firstlineno + 1
    assert out == Outcome(
        Status.ERROR, f"check raised KeyError: 'hardware' (at test_runner.py:{line})"
    )


def test_guarded_refuses_a_run_that_returns_no_outcome() -> None:
    out = guarded(lambda: "pass")  # type: ignore[arg-type,return-value]
    assert out.status is Status.ERROR
    assert re.fullmatch(
        r"check raised TypeError: run\(\) returned str, not Outcome \(at runner\.py:\d+\)",
        out.message,
    ), out.message


@pytest.mark.parametrize(
    ("first", "dependant"),
    [
        (failed("no"), ("skip", "requires a.first, which did not pass (fail)")),
        (RuntimeError("x"), ("skip", "requires a.first, which did not pass (error)")),
        (SkipCheck("n/a"), ("skip", "requires a.first, which did not pass (skip)")),
        (warned("meh"), ("pass", "ran")),
        (passed("ok"), ("pass", "ran")),
    ],
    ids=["fail-blocks", "error-blocks", "skip-blocks", "warn-lets-run", "pass-lets-run"],
)
def test_which_statuses_block_a_dependant(
    first: Outcome | BaseException, dependant: tuple[str, str]
) -> None:
    report = run(
        [_check("b.second", passed("ran"), requires=("a.first",)), _check("a.first", first)]
    )
    assert [r.check.id for r in report.results] == ["a.first", "b.second"]
    assert (report.results[1].status.value, report.results[1].message) == dependant


def test_a_waived_prerequisite_does_not_block() -> None:
    report = run(
        [_check("a.first", failed("no")), _check("b.second", passed("ran"), requires=("a.first",))],
        waivers=[Waiver("a.first", "accepted", None, "w.yaml:2")],
    )
    assert rows(report) == [("a.first", "waived", "no"), ("b.second", "pass", "ran")]


def test_the_first_blocking_requirement_is_named() -> None:
    report = run(
        [
            _check("a.ok", passed("ok")),
            _check("a.bad", failed("no")),
            _check("a.err", RuntimeError("x")),
            _check("z.dep", passed("ran"), requires=("a.ok", "a.err", "a.bad")),
        ]
    )
    assert rows(report)[-1] == ("z.dep", "skip", "requires a.err, which did not pass (error)")


def test_order_places_a_chain_of_requirements_before_their_dependants() -> None:
    c = _check("c", passed(""), requires=("b",))
    b = _check("b", passed(""), requires=("a",))
    a = _check("a", passed(""))
    d = _check("d", passed(""), requires=("nowhere",))
    assert [x.id for x in _order([c, d, b, a])] == ["a", "b", "c", "d"]
    # each check once, even when several require it
    e = _check("e", passed(""), requires=("a", "b"))
    assert [x.id for x in _order([e, c, a, b])] == ["a", "b", "e", "c"]


STEP = ManualStep(("p.x",), "add two CPUs")


CMD = Command(("p.x",), ("setenforce", "0"), "permissive now")


@pytest.mark.parametrize(
    ("outcome", "plan", "status", "changes", "remediation"),
    [
        (failed("low"), [STEP], "fail", (STEP,), "add two CPUs"),
        (warned("low"), [CMD, STEP], "warn", (CMD, STEP), "run: setenforce 0\nadd two CPUs"),
        (failed("low"), [], "fail", (), "the static hint"),
        (failed("low"), RuntimeError("planner broke"), "fail", (), "the static hint"),
        (passed("ok"), [STEP], "pass", (), ""),
        (Outcome(Status.SKIP, "n/a"), [STEP], "skip", (), ""),
        (RuntimeError("run broke"), [STEP], "error", (), "the static hint"),
    ],
    ids=[
        "fail-planned",
        "warn-planned",
        "fail-nothing-planned",
        "planner-raises",
        "pass-no-hint",
        "skip-no-hint",
        "error-keeps-hint",
    ],
)
def test_planned_changes_become_the_remediation(
    outcome: Outcome | BaseException,
    plan: Sequence[object] | BaseException,
    status: str,
    changes: tuple[object, ...],
    remediation: str,
) -> None:
    (r,) = run([_check("p.x", outcome, plan=plan)]).results
    assert (r.status.value, r.changes, r.check.remediation) == (status, changes, remediation)


@pytest.mark.parametrize("outcome", [passed("ok"), failed("no"), warned("meh")])
def test_a_check_without_planner_keeps_its_static_hint(outcome: Outcome) -> None:
    (r,) = run([_check("p.y", outcome)]).results
    assert (r.check.remediation, r.changes) == ("the static hint", ())


def _result(status: Status) -> CheckResult:
    info = CheckInfo("w.x", "t", "g", Severity.LOW, "hint", "harborkit")
    return CheckResult(info, status, "m", (), 0.5)


@pytest.mark.parametrize(
    ("status", "expires", "after", "original", "expired"),
    [
        (Status.FAIL, None, Status.WAIVED, Status.FAIL, False),
        (Status.WARN, DAY, Status.WAIVED, Status.WARN, False),
        (Status.FAIL, DAY - dt.timedelta(days=1), Status.FAIL, None, True),
        (Status.WARN, DAY - dt.timedelta(days=1), Status.WARN, None, True),
        (Status.ERROR, None, Status.ERROR, None, False),
        (Status.SKIP, None, Status.SKIP, None, False),
        (Status.PASS, DAY + dt.timedelta(days=1), Status.PASS, None, False),
    ],
    ids=[
        "fail-waived",
        "warn-waived-on-expiry-day",
        "fail-expired-yesterday",
        "warn-expired",
        "error-never-waived",
        "skip-kept",
        "pass-kept",
    ],
)
def test_apply_waiver(
    status: Status, expires: dt.date | None, after: Status, original: Status | None, expired: bool
) -> None:
    w = Waiver("w.x", "accepted risk", expires, "w.yaml:3")
    r = _apply_waiver(_result(status), [Waiver("other", "r", None, "w.yaml:1"), w], DAY)
    assert (r.status, r.original_status) == (after, original)
    assert r.waiver == WaiverUse(
        "accepted risk", expires.isoformat() if expires else None, expired, "w.yaml:3"
    )
    assert (r.message, r.duration, r.check.id) == ("m", 0.5, "w.x")


def test_the_first_waiver_for_an_id_is_the_one_used() -> None:
    first = Waiver("w.x", "first", None, "w.yaml:2")
    second = Waiver("w.x", "second", DAY - dt.timedelta(days=9), "w.yaml:5")
    r = _apply_waiver(_result(Status.FAIL), [first, second], DAY)
    assert (r.status, r.waiver) == (Status.WAIVED, WaiverUse("first", None, False, "w.yaml:2"))


def test_no_waiver_leaves_the_result_alone() -> None:
    res = _result(Status.FAIL)
    assert _apply_waiver(res, [Waiver("w.y", "r", None, "w:1")], DAY) is res


def test_waiver_notes_expired_unknown_and_known_elsewhere() -> None:
    waivers = [
        Waiver("a.x", "r", DAY - dt.timedelta(days=1), "w.yaml:2"),
        Waiver("a.x", "r", DAY, "w.yaml:5"),
        Waiver("cluster.ntp", "r", None, "w.yaml:8"),
        Waiver("nope", "r", DAY - dt.timedelta(days=3), "w.yaml:11"),
    ]
    report = run([_check("a.x", failed("no"))], waivers=waivers, also_known=["cluster.ntp"])
    assert report.notes == (
        "waiver for a.x expired on 2026-11-25 (w.yaml:2); it no longer applies",
        "waiver for nope expired on 2026-11-23 (w.yaml:11); it no longer applies",
        "waiver for nope (w.yaml:11) names no installed check",
    )
    # an unselected check is still installed: no note
    report = run(
        [_check("a.x", failed("no")), _check("b.y", passed("ok"))],
        selection=Selection(only=("a.x",)),
        waivers=[Waiver("b.y", "r", None, "w.yaml:2")],
    )
    assert report.notes == ()


def test_today_defaults_to_the_real_date() -> None:
    yesterday = dt.date.today() - dt.timedelta(days=1)
    report = run(
        [_check("a.x", failed("no"))],
        waivers=[Waiver("a.x", "r", yesterday, "w.yaml:2")],
        today=None,
    )
    assert rows(report) == [("a.x", "fail", "no")]
    assert report.notes == (
        f"waiver for a.x expired on {yesterday.isoformat()} (w.yaml:2); it no longer applies",
    )


def test_a_broken_plugin_is_reported_as_an_error_check() -> None:
    pf = PluginFailure("zz = zz_plugin:X", "zz-plugin", "ImportError: nope")
    report = run([_check("a.x", passed("ok"))], failures=[pf])
    first = report.results[0]
    assert first == CheckResult(
        CheckInfo(
            "plugin:zz-plugin",
            "load checks from zz = zz_plugin:X",
            "plugins",
            Severity.HIGH,
            "fix or uninstall the plugin",
            "zz-plugin",
        ),
        Status.ERROR,
        "ImportError: nope",
        (),
        0.0,
    )
    assert rows(report)[1] == ("a.x", "pass", "ok")
    assert plugin_id(pf) == "plugin:zz-plugin"
    # selected by its own id, skipped by group or id
    assert [
        r.check.id
        for r in run([], failures=[pf], selection=Selection(only=("plugin:zz-plugin",))).results
    ] == ["plugin:zz-plugin"]
    assert run([], failures=[pf], selection=Selection(cli_skip=("plugins",))).results == ()
    assert run([], failures=[pf], selection=Selection(skip=("plugin:zz-plugin",))).results == ()
    # one failure left out does not end the others
    other = PluginFailure("yy = yy:Y", "yy-plugin", "SyntaxError: bad")
    report = run([], failures=[pf, other], selection=Selection(skip=("plugin:zz-plugin",)))
    assert [r.check.id for r in report.results] == ["plugin:yy-plugin"]


@pytest.mark.parametrize(
    ("selection", "picked"),
    [
        (Selection(), ["a.one", "a.two", "b.one"]),
        (Selection(select=("a",)), ["a.one", "a.two"]),
        (Selection(select=("b.one", "a.two")), ["a.two", "b.one"]),
        (Selection(skip=("a",)), ["b.one"]),
        (Selection(skip=("all",)), []),
        (Selection(cli_skip=("a.one",)), ["a.two", "b.one"]),
        (Selection(only=("b",)), ["b.one"]),
        (Selection(only=("all",)), ["a.one", "a.two", "b.one"]),
        (Selection(select=("a",), only=("b",)), []),
        (Selection(only=("a",), cli_skip=("a.two",)), ["a.one"]),
    ],
)
def test_selection_picks(selection: Selection, picked: list[str]) -> None:
    checks = [
        _check("a.one", passed(""), group="a"),
        _check("a.two", passed(""), group="a"),
        _check("b.one", passed(""), group="b"),
    ]
    assert [c.id for c in checks if selection.picks(c)] == picked


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (
            Selection(only=("a.one", "c")),
            "--only c: no check or group of that name (see 'harborkit check --list')",
        ),
        (
            Selection(cli_skip=("plugin:zz",)),
            "--skip plugin:zz: no check or group of that name (see 'harborkit check --list')",
        ),
    ],
)
def test_validate_names_rejects_a_typo(selection: Selection, message: str) -> None:
    checks = [_check("a.one", passed(""), group="a")]
    with pytest.raises(InputError) as e:
        selection.validate_names(checks)
    assert e.value.message == message


def test_validate_names_knows_all_ids_groups_and_failed_plugins() -> None:
    checks = [_check("a.one", passed(""), group="a")]
    pf = PluginFailure("zz = zz:X", "zz", "boom")
    Selection(only=("all", "a", "a.one"), cli_skip=("a.one",)).validate_names(checks)
    Selection(only=("plugins", "plugin:zz", "a", "a.one")).validate_names(checks, [pf])
    with pytest.raises(InputError):
        Selection(only=("plugin:other",)).validate_names(checks, [pf])


def test_report_fields(tmp_path: Path) -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    report = run([_check("a.x", passed("ok"))])
    after = dt.datetime.now(dt.timezone.utc)
    assert (report.host, report.live, report.profile, report.profile_path) == (
        "node-a",
        True,
        "site",
        "/p/site.yaml",
    )
    assert report.harborkit_version == __version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report.started), report.started
    started = dt.datetime.fromisoformat(report.started.replace("Z", "+00:00"))
    assert before <= started <= after
    assert 0 <= report.duration < 30
    assert 0 <= report.results[0].duration <= report.duration
    assert report.results[0].check == CheckInfo(
        "a.x", "title of a.x", "g", Severity.MEDIUM, "the static hint", "dist-x"
    )
    sysroot = run([_check("a.x", passed("ok"))], root=tmp_path)
    assert (sysroot.host, sysroot.live) == (str(tmp_path), False)


def test_a_slow_check_is_timed() -> None:
    import time

    class Slow(Check):
        id, title, group = "s.slow", "slow", "s"

        def run(self, ctx: CheckContext) -> Outcome:
            time.sleep(0.05)
            return passed("done")

    report = run([Slow])
    assert 0.05 <= report.results[0].duration < 5
    assert report.results[0].duration <= report.duration < 5


def test_a_planner_sees_the_context_and_the_outcome() -> None:
    class Planner(Check):
        id, title, group = "p.ctx", "plans from what it sees", "g"

        def run(self, ctx: CheckContext) -> Outcome:
            return Outcome(Status.FAIL, "2 CPUs", (Finding(Status.FAIL, "cpu", "2 CPUs"),))

        def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[ManualStep]:
            return [ManualStep((self.id,), f"{ctx.host.name}: {outcome.findings[0].message}")]

    (r,) = run([Planner]).results
    assert r.changes == (ManualStep(("p.ctx",), "node-a: 2 CPUs"),)
    assert r.check.remediation == "node-a: 2 CPUs"


def test_findings_reach_the_result() -> None:
    findings = (Finding(Status.FAIL, "file", "a FIFO, not a file", location="/etc/x"),)
    report = run([_check("f.x", UnreadableFile("/etc/x", "a FIFO, not a file"))])
    assert [(r.status, r.message, r.findings) for r in report.results] == [
        (Status.FAIL, "/etc/x: a FIFO, not a file", findings)
    ]


def test_error_location_of_code_without_a_file_path() -> None:
    # a check compiled from text (no file path) is still located by its name
    ns: dict[str, object] = {}
    exec(compile("def broken():\n    raise ValueError('bad')\n", "<plugin>", "exec"), ns)
    out = guarded(ns["broken"])  # type: ignore[arg-type]
    assert out == Outcome(Status.ERROR, "check raised ValueError: bad (at <plugin>:2)")
