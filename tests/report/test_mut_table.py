"""The single-host table, line for line, in the cases the main exact test
does not reach: findings that repeat the summary, host text with escapes,
abridged long values, multi-line fixes, narrow terminals and the defaults."""

from __future__ import annotations

import pytest

from harborkit.model.check import Finding, Status
from harborkit.model.result import CheckResult, WaiverUse
from harborkit.report.table import render_table, summary_line
from tests.report.fleet import host, info


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_findings_that_repeat_the_summary_are_not_repeated() -> None:
    r = CheckResult(
        info("c.same", "S"),
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
            info("c.\x07id", "E", rem="step one\nstep \x1b two"),
            Status.WARN,
            "m\x1b",
            (Finding(Status.WARN, "s\x1b", "msg", "e\x1b", "a\x1b", "l\x1b"),),
            0.0,
        ),
        CheckResult(
            info("c.w", "W"),
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
            CheckResult(info("c.exact", "X"), Status.PASS, exact, (), 0.0),
            CheckResult(info("c.long", "L"), Status.PASS, longer, (), 0.0),
        ),
    )
    lines = _lines(render_table(rep, width=400))
    assert lines[2] == f"PASS    c.exact  high      {exact}"
    assert lines[3] == f"PASS    c.long   high      {'b' * 300}... (1 more characters)"
    assert (
        summary_line(host("h" * 301, ())) == f"OK: 0 checks on {'h' * 300}... (1 more characters): "
    )


def test_a_narrow_terminal_folds_the_result_and_keeps_the_other_columns() -> None:
    r = CheckResult(info("c.long", "L"), Status.FAIL, "word " * 3 + "x" * 40, (), 0.0)
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
            info("c.warn", "W"), Status.WARN, "odd", (Finding(Status.PASS, "k", "fine"),), 0.0
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
    ok = host("h", (CheckResult(info("c.ok", "O"), Status.PASS, "fine", (), 0.0),))
    assert render_table(ok, color=True).splitlines()[-1] == (
        "\x1b[1;32mOK: 1 checks on h: 1 pass\x1b[0m"
    )
    warn = host("h", (CheckResult(info("c.w", "W"), Status.WARN, "odd", (), 0.0),))
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
    r = CheckResult(info("c.wide", "W"), Status.WARN, "x" * 100, (), 0.0)
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
