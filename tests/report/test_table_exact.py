"""The table report, line for line: which findings show, expected/found,
waiver notes, fix lines, notes, the verdict, and the colours.

The single-host table, line for line, in the cases the main exact test
does not reach: findings that repeat the summary, host text with escapes,
abridged long values, multi-line fixes, narrow terminals and the defaults."""

from __future__ import annotations

import pytest

from harborkit.model.check import Finding, Severity, Status
from harborkit.model.result import CheckInfo, CheckResult, Report, WaiverUse
from harborkit.report.table import render_table, summary_line
from tests.report.fleet import host
from tests.report.fleet import info as info_table


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


def test_findings_that_repeat_the_summary_are_not_repeated() -> None:
    r = CheckResult(
        info_table("c.same", "S"),
        Status.FAIL,
        "odd",
        (
            Finding(Status.FAIL, "k", "odd"),  # the message is the summary: no line
            Finding(Status.WARN, "k2", "odd", location="/x:1"),  # only its location
            Finding(Status.FAIL, "k3", "other", "odd", "odd"),  # values not in its message
        ),
        0.0,
    )
    assert _lines(render_table(host("h", (r,)), width=100)) == [
        "harborkit check: h (sysroot), profile prof",
        "STATUS  CHECK   SEVERITY  RESULT",
        "FAIL    c.same  high      odd",
        "                            warn at /x:1",
        "                            fail k3: other (expected odd, found odd)",
        "                            fix: fix it",
        "FAILED: 1 checks on h: 1 fail",
    ]


def test_text_from_the_host_is_shown_escaped() -> None:
    results = (
        CheckResult(
            info_table("c.\x07id", "E", rem="step one\nstep \x1b two"),
            Status.WARN,
            "m\x1b",
            (Finding(Status.WARN, "s\x1b", "msg", "e\x1b", "a\x1b", "l\x1b"),),
            0.0,
        ),
        CheckResult(
            info_table("c.w", "W"),
            Status.WAIVED,
            "w",
            (),
            0.0,
            WaiverUse("why\x1b", None, False, "w:1"),
            Status.FAIL,
        ),
    )
    text = render_table(host("h\x1b", results, notes=("n\x1b",)), width=100)
    assert _lines(text) == [
        "harborkit check: h\\x1b (sysroot), profile prof",
        "STATUS  CHECK     SEVERITY  RESULT",
        "WARN    c.\\x07id  high      m\\x1b",
        "                              warn s\\x1b: msg (expected e\\x1b, found a\\x1b) [l\\x1b]",
        # a fix of several steps: one a line, under the first
        "                              fix: step one",
        "                                   step \\x1b two",
        "WAIVED  c.w       high      w  [waived: why\\x1b]",
        "note: n\\x1b",
        "OK: 2 checks on h\\x1b: 1 waived, 1 warn",
    ]
    assert "\x1b" not in text and "\x07" not in text


def test_profile_name_is_escaped_in_the_header() -> None:
    from dataclasses import replace

    rep = replace(host("h", ()), profile="p\x1b")
    assert _lines(render_table(rep))[0] == "harborkit check: h (sysroot), profile p\\x1b"


def test_long_values_are_abridged_at_300_characters() -> None:
    exact = "a" * 300
    longer = "b" * 301
    rep = host(
        "h",
        (
            CheckResult(info_table("c.exact", "X"), Status.PASS, exact, (), 0.0),
            CheckResult(info_table("c.long", "L"), Status.PASS, longer, (), 0.0),
        ),
    )
    lines = _lines(render_table(rep, width=400))
    assert lines[2] == f"PASS    c.exact  high      {exact}"
    assert lines[3] == f"PASS    c.long   high      {'b' * 300}... (1 more characters)"
    assert (
        summary_line(host("h" * 301, ())) == f"OK: 0 checks on {'h' * 300}... (1 more characters): "
    )


def test_a_narrow_terminal_folds_the_result_and_keeps_the_other_columns() -> None:
    r = CheckResult(info_table("c.long", "L"), Status.FAIL, "word " * 3 + "x" * 40, (), 0.0)
    assert _lines(render_table(host("h", (r,)), width=30)) == [
        "harborkit check: h (sysroot),",
        "profile prof",
        "                          RESU",
        "STATUS  CHECK   SEVERITY  LT",
        "FAIL    c.long  high      word",
        "                          word",
        "                          word",
        *["                          xxxx"] * 10,
        "                            fi",
        "                          x:",
        "                          fix",
        "                          it",
        "FAILED: 1 checks on h: 1 fail",
    ]


def test_defaults_120_columns_plain_not_strict_not_verbose() -> None:
    # "note: " and 115 characters: one line wider than 120 columns, so it wraps
    results = (
        CheckResult(
            info_table("c.warn", "W"), Status.WARN, "odd", (Finding(Status.PASS, "k", "fine"),), 0.0
        ),
    )
    text = render_table(host("h", results, notes=("n" * 115,)))
    assert _lines(text) == [
        "harborkit check: h (sysroot), profile prof",
        "STATUS  CHECK   SEVERITY  RESULT",
        "WARN    c.warn  high      odd",
        "                            fix: fix it",
        "note:",
        "n" * 115,
        "OK: 1 checks on h: 1 warn",
    ]
    wide = _lines(render_table(host("h", results, notes=("n" * 115,)), width=121))
    assert wide[4] == "note: " + "n" * 115


def test_colour_of_a_passing_verdict() -> None:
    ok = host("h", (CheckResult(info_table("c.ok", "O"), Status.PASS, "fine", (), 0.0),))
    assert render_table(ok, color=True).splitlines()[-1] == (
        "\x1b[1;32mOK: 1 checks on h: 1 pass\x1b[0m"
    )
    warn = host("h", (CheckResult(info_table("c.w", "W"), Status.WARN, "odd", (), 0.0),))
    assert render_table(warn, color=True).splitlines()[-1] == (
        "\x1b[1;32mOK: 1 checks on h: 1 warn\x1b[0m"
    )
    assert render_table(warn, color=True, strict=True).splitlines()[-1] == (
        "\x1b[1;31mFAILED: 1 checks on h: 1 warn\x1b[0m"
    )


def test_colour_and_width_do_not_depend_on_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The caller chose colour and width: a dumb terminal (which rich would size
    at 80 columns), NO_COLOR or FORCE_COLOR in the environment change nothing."""
    r = CheckResult(info_table("c.wide", "W"), Status.WARN, "x" * 100, (), 0.0)
    wide = host("h", (r,))
    plain = render_table(wide, width=140)
    coloured = render_table(wide, color=True, width=140)
    assert _lines(plain)[2] == "WARN    c.wide  high      " + "x" * 100
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("NO_COLOR", "1")
    assert render_table(wide, color=True, width=140) == coloured
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert render_table(wide, width=140) == plain
