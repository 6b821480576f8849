"""The table report, line for line: which findings show, expected/found,
waiver notes, fix lines, notes, the verdict, and the colours."""

from __future__ import annotations

from harborkit.model.check import Finding, Severity, Status
from harborkit.model.result import CheckInfo, CheckResult, Report, WaiverUse
from harborkit.report.table import render_table, summary_line


def info(i: str, sev: Severity = Severity.HIGH, rem: str = "do the fix") -> CheckInfo:
    return CheckInfo(i, f"title {i}", "g", sev, rem, "harborkit")


RESULTS = (
    CheckResult(
        info("a.pass"),
        Status.PASS,
        "all good",
        (Finding(Status.PASS, "k1", "fine", "= 1", "1", "/etc/x:1"),),
        0.1,
    ),
    CheckResult(
        info("b.fail", Severity.CRITICAL),
        Status.FAIL,
        "2 of 3 fail: k1, k2",
        (
            Finding(Status.FAIL, "k1", "3, expected >= 5", ">= 5", "3", "/etc/a:2"),
            Finding(Status.FAIL, "k2", "missing", ">= 5", None, None),
            Finding(Status.PASS, "k3", "ok", None, "7", "/etc/a:4"),
            Finding(Status.SKIP, "k4", "n/a"),
        ),
        0.2,
    ),
    CheckResult(
        info("c.warn", rem=""),
        Status.WARN,
        "k9: odd",
        (Finding(Status.WARN, "k9", "odd", location="/etc/b:9"),),
        0.0,
    ),
    CheckResult(
        info("d.waived"),
        Status.WAIVED,
        "was bad",
        (),
        0.0,
        WaiverUse("ops accepted", "2027-01-31", False, "w.yaml:2"),
        Status.FAIL,
    ),
    CheckResult(
        info("e.expired"),
        Status.FAIL,
        "still bad",
        (),
        0.0,
        WaiverUse("old", "2026-01-01", True, "w.yaml:5"),
    ),
    CheckResult(info("f.error"), Status.ERROR, "check raised RuntimeError: x", (), 0.0),
    CheckResult(info("g.skip"), Status.SKIP, "not here", (), 0.0),
)
REPORT = Report(
    "h1", False, "prof", "p.yaml", "0.1.0", "2026-11-26T00:00:00Z", 1.0, RESULTS, ("note one",)
)


PLAIN = [
    "harborkit check: h1 (sysroot), profile prof",
    "STATUS  CHECK      SEVERITY  RESULT",
    "PASS    a.pass     high      all good",
    "FAIL    b.fail     critical  2 of 3 fail: k1, k2",
    "                               fail k1: 3, expected >= 5 [/etc/a:2]",
    "                               fail k2: missing (expected >= 5)",
    "                               fix: do the fix",
    "WARN    c.warn     high      k9: odd",
    "                               warn at /etc/b:9",
    "WAIVED  d.waived   high      was bad  [waived: ops accepted]",
    "FAIL    e.expired  high      still bad  [waiver expired 2026-01-01]",
    "                               fix: do the fix",
    "ERROR   f.error    high      check raised RuntimeError: x",
    "                               fix: do the fix",
    "SKIP    g.skip     high      not here",
    "note: note one",
    "FAILED: 7 checks on h1: 1 pass, 1 skip, 1 waived, 1 warn, 2 fail, 1 error",
]

VERBOSE = [
    "harborkit check: h1 (sysroot), profile prof",
    "STATUS  CHECK      SEVERITY  RESULT",
    "PASS    a.pass     high      all good",
    "                               pass k1: fine (expected = 1, found 1) [/etc/x:1]",
    "FAIL    b.fail     critical  2 of 3 fail: k1, k2",
    "                               fail k1: 3, expected >= 5 [/etc/a:2]",
    "                               fail k2: missing (expected >= 5)",
    "                               pass k3: ok (found 7) [/etc/a:4]",
    "                               skip k4: n/a",
    "                               fix: do the fix",
    "WARN    c.warn     high      k9: odd",
    "                               warn at /etc/b:9",
    "WAIVED  d.waived   high      was bad  [waived: ops accepted]",
    "FAIL    e.expired  high      still bad  [waiver expired 2026-01-01]",
    "                               fix: do the fix",
    "ERROR   f.error    high      check raised RuntimeError: x",
    "                               fix: do the fix",
    "SKIP    g.skip     high      not here",
    "note: note one",
    "FAILED: 7 checks on h1: 1 pass, 1 skip, 1 waived, 1 warn, 2 fail, 1 error",
]

COLOR = [
    "\x1b[1mharborkit check: h1 (sysroot), profile prof\x1b[0m",
    "\x1b[1mSTATUS\x1b[0m\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1mCHECK    \x1b[0m\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1mSEVERITY\x1b[0m\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1mRESULT                                \x1b[0m",
    "\x1b[32mPASS  \x1b[0m  a.pass     high      all good                              ",
    "\x1b[1;31mFAIL  \x1b[0m  b.fail     critical  2 of 3 fail: k1, k2                   ",
    "                               \x1b[1;31mfail\x1b[0m k1: 3, expected >= 5 [/etc/a:2]",
    "                               \x1b[1;31mfail\x1b[0m k2: missing (expected >= 5)    ",
    "                             \x1b[1m  fix: \x1b[0mdo the fix                     ",
    "\x1b[33mWARN  \x1b[0m  c.warn     high      k9: odd                               ",
    "                               \x1b[33mwarn\x1b[0m at /etc/b:9                    ",
    "\x1b[36mWAIVED\x1b[0m  d.waived   high      was bad\x1b[36m  [waived: ops accepted]\x1b[0m       ",
    "\x1b[1;31mFAIL  \x1b[0m  e.expired  high      still bad\x1b[33m  [waiver expired 2026-01-01]\x1b[0m",
    "                             \x1b[1m  fix: \x1b[0mdo the fix                     ",
    "\x1b[1;35mERROR \x1b[0m  f.error    high      check raised RuntimeError: x          ",
    "                             \x1b[1m  fix: \x1b[0mdo the fix                     ",
    "\x1b[2mSKIP  \x1b[0m  g.skip     high      not here                              ",
    "\x1b[33mnote: note one\x1b[0m",
    "\x1b[1;31mFAILED: 7 checks on h1: 1 pass, 1 skip, 1 waived, 1 warn, 2 fail, 1 error\x1b[0m",
]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_table_shows_what_needs_attention() -> None:
    assert _lines(render_table(REPORT, width=160)) == PLAIN


def test_verbose_table_shows_every_finding() -> None:
    assert _lines(render_table(REPORT, width=160, verbose=True)) == VERBOSE


def test_colours_and_strict_verdict() -> None:
    assert render_table(REPORT, width=100, color=True, strict=True).splitlines() == COLOR


def test_summary_line_counts_only_present_statuses() -> None:
    assert (
        summary_line(REPORT)
        == "FAILED: 7 checks on h1: 1 pass, 1 skip, 1 waived, 1 warn, 2 fail, 1 error"
    )
    ok = Report("h2", True, "p", "p.yaml", "0.1.0", "2026-11-26T00:00:00Z", 0.0, RESULTS[:1])
    assert summary_line(ok) == "OK: 1 checks on h2: 1 pass"
    warn = Report("h3", True, "p", "p.yaml", "0.1.0", "2026-11-26T00:00:00Z", 0.0, RESULTS[2:3])
    assert (summary_line(warn), summary_line(warn, strict=True)) == (
        "OK: 1 checks on h3: 1 warn",
        "FAILED: 1 checks on h3: 1 warn",
    )
    assert _lines(render_table(ok))[0] == "harborkit check: h2 (live host), profile p"
