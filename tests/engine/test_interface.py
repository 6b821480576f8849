"""What a check is and returns, exactly: statuses and their order, outcome
summaries, the context's helpers, a check's defaults, report counting."""

from __future__ import annotations

from pathlib import Path

import pytest

from harborkit.collect.snapshot import Snapshot
from harborkit.host import NotAvailable, SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import (
    Check,
    CheckContext,
    CheckOptions,
    Finding,
    Outcome,
    Severity,
    SkipCheck,
    Status,
    failed,
    passed,
    skipped,
    warned,
)
from harborkit.model.result import CheckInfo, CheckResult, Report


def f(status: Status, subject: str, message: str = "m") -> Finding:
    return Finding(status, subject, message)


# --- Status -----------------------------------------------------------------------


def test_status_values_and_ranks() -> None:
    assert [(s.value, s.rank) for s in Status] == [
        ("pass", 1),
        ("skip", 0),
        ("waived", 2),
        ("warn", 3),
        ("fail", 4),
        ("error", 5),
    ]
    assert [s.value for s in Severity] == ["critical", "high", "medium", "low"]


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        ([], Status.PASS),
        ([Status.SKIP], Status.SKIP),
        ([Status.SKIP, Status.SKIP, Status.SKIP], Status.SKIP),
        ([Status.SKIP, Status.PASS], Status.PASS),
        ([Status.PASS, Status.SKIP, Status.WAIVED], Status.WAIVED),
        ([Status.WARN, Status.PASS], Status.WARN),
        ([Status.ERROR, Status.FAIL, Status.WARN], Status.ERROR),
        ([Status.FAIL, Status.SKIP, Status.WARN], Status.FAIL),
    ],
    ids=[
        "none",
        "one-skip",
        "all-skip",
        "skip-and-pass",
        "waived",
        "warn",
        "error",
        "fail",
    ],
)
def test_status_worst(statuses: list[Status], worst: Status) -> None:
    assert Status.worst(statuses) is worst
    assert Status.worst(iter(statuses)) is worst  # any iterable, read once


# --- Outcome ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("findings", "kwargs", "status", "message"),
    [
        ([], {}, Status.PASS, "all as expected"),
        ([f(Status.PASS, "a")], {}, Status.PASS, "all as expected"),
        ([f(Status.PASS, "a")], {"ok": "fine"}, Status.PASS, "fine"),
        ([f(Status.SKIP, "a", "no x")], {"ok": "fine"}, Status.SKIP, "no x"),
        ([f(Status.FAIL, "a", "low")], {"summary": "said so"}, Status.FAIL, "said so"),
        ([f(Status.PASS, "a")], {"summary": ""}, Status.PASS, ""),
        ([f(Status.PASS, "a"), f(Status.WARN, "b", "off")], {}, Status.WARN, "b: off"),
        (
            [f(Status.FAIL, "a"), f(Status.FAIL, "b"), f(Status.WARN, "c")],
            {},
            Status.FAIL,
            "2 of 3 fail: a, b",
        ),
        ([f(Status.ERROR, "a", "broke")], {}, Status.ERROR, "a: broke"),
        ([f(Status.WAIVED, "a", "ok'd")], {}, Status.WAIVED, "a: ok'd"),
        (
            [f(Status.FAIL, s) for s in "abcdef"],
            {},
            Status.FAIL,
            "6 of 6 fail: a, b, c and 3 more",
        ),
    ],
)
def test_from_findings(
    findings: list[Finding], kwargs: dict[str, str], status: Status, message: str
) -> None:
    out = Outcome.from_findings(iter(findings), **kwargs)
    assert out == Outcome(status, message, tuple(findings))


def test_outcome_helpers() -> None:
    fs = [f(Status.FAIL, "a")]
    assert passed("p") == Outcome(Status.PASS, "p", ())
    assert failed("x") == Outcome(Status.FAIL, "x", ())
    assert warned("w") == Outcome(Status.WARN, "w", ())
    assert skipped("s") == Outcome(Status.SKIP, "s", ())
    assert passed("p", iter(fs)).findings == tuple(fs)
    assert failed("x", iter(fs)).findings == tuple(fs)
    assert warned("w", iter(fs)).findings == tuple(fs)
    assert Outcome(Status.PASS, "m").findings == ()
    assert Finding(Status.PASS, "s", "m") == Finding(Status.PASS, "s", "m", None, None, None)


# --- CheckContext ----------------------------------------------------------------------


def _ctx(live: bool = True, profile: dict[str, object] | None = None) -> CheckContext:
    host = SnapshotHost(Snapshot("s")) if live else SysrootHost(Path(__file__).parent)
    return CheckContext(host=host, profile=profile or {})


def test_section_and_missing_section() -> None:
    ctx = _ctx(profile={"sysctl": {"a": 1}})
    assert ctx.section("sysctl") == {"a": 1}
    with pytest.raises(SkipCheck) as e:
        ctx.section("limits")
    assert str(e.value) == "the profile has no 'limits' section"
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_options_default_to_none() -> None:
    ctx = _ctx()
    assert ctx.options == CheckOptions(None, None)
    assert (ctx.options.harbor_config, ctx.options.install_dir) == (None, None)


def test_memo_computes_once_and_remembers_an_exception() -> None:
    ctx = _ctx()
    calls: list[str] = []

    def compute() -> int:
        calls.append("x")
        return 7

    assert (ctx.memo("k", compute), ctx.memo("k", compute)) == (7, 7)
    assert calls == ["x"]
    assert ctx.memo("other", lambda: None) is None
    assert ctx.memo("other", compute) is None  # a None result is remembered too

    err = ValueError("bad file")

    def broken() -> int:
        calls.append("b")
        raise err

    for _ in range(2):
        with pytest.raises(ValueError) as e:
            ctx.memo("b", broken)
        assert e.value is err
    assert calls == ["x", "b"]
    # memos are per context
    assert _ctx().memo("k", lambda: 8) == 8


def test_require_live() -> None:
    _ctx(live=True).require_live("the process table")
    with pytest.raises(NotAvailable) as e:
        _ctx(live=False).require_live("the process table")
    assert e.value.reason == "the process table needs a running system; auditing a sysroot"


# --- Check -------------------------------------------------------------------------------


class Plain(Check):
    """
    Line one of the documentation.

    More text.
    """

    id, title, group = "t.plain", "plain", "tg"

    def run(self, ctx: CheckContext) -> Outcome:
        return passed("ok")


class Planning(Plain):
    __doc__ = None

    def plan(self, ctx: CheckContext, outcome: Outcome) -> list[object]:  # type: ignore[override]
        return ["x"]


def test_check_defaults_doc_and_plans() -> None:
    assert (Plain.severity, Plain.remediation, Plain.requires) == (Severity.HIGH, "", ())
    assert (Plain.reads, Plain.commands) == ((), ())
    assert Plain.doc() == "Line one of the documentation.\n\n    More text."
    assert Planning.doc() == ""
    assert (Plain.plans(), Planning.plans()) == (False, True)
    assert Plain().plan(_ctx(), passed("ok")) == ()
    assert CheckInfo.of(Plain, "dist") == CheckInfo(
        "t.plain", "plain", "tg", Severity.HIGH, "", "dist"
    )


# --- Report ---------------------------------------------------------------------------------


def _report(*statuses: Status) -> Report:
    info = CheckInfo("x", "x", "g", Severity.LOW, "", "harborkit")
    results = tuple(CheckResult(info, s, "m", (), 0.0) for s in statuses)
    return Report("h", True, "p", "p.yaml", "1", "2026-01-01T00:00:00Z", 0.0, results)


@pytest.mark.parametrize(
    ("statuses", "plain", "strict"),
    [
        ((), 0, 0),
        ((Status.PASS, Status.SKIP, Status.WAIVED), 0, 0),
        ((Status.PASS, Status.WARN), 0, 1),
        ((Status.FAIL,), 1, 1),
        ((Status.PASS, Status.ERROR), 1, 1),
    ],
)
def test_exit_code(statuses: tuple[Status, ...], plain: int, strict: int) -> None:
    report = _report(*statuses)
    assert (report.exit_code(), report.exit_code(strict=False), report.exit_code(strict=True)) == (
        plain,
        plain,
        strict,
    )


def test_counts_and_counts_as_failure() -> None:
    report = _report(Status.FAIL, Status.FAIL, Status.ERROR, Status.WAIVED, Status.SKIP)
    assert report.counts() == {
        "pass": 0,
        "skip": 1,
        "waived": 1,
        "warn": 0,
        "fail": 2,
        "error": 1,
    }
    assert _report().counts() == dict.fromkeys(
        ("pass", "skip", "waived", "warn", "fail", "error"), 0
    )
    assert [r.counts_as_failure for r in _report(*Status).results] == [
        False,
        False,
        False,
        False,
        True,
        True,
    ]
    assert report.notes == ()
    r = report.results[0]
    assert (r.waiver, r.original_status, r.changes) == (None, None, ())
