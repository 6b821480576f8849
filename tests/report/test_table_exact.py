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
    "FAIL    b.fail     critical  2 of 3 fail: k1, k2",
    "                               fail k1: 3, expected >= 5 [/etc/a:2]",
    "                               fail k2: missing (expected >= 5)",
    "                               fix: do the fix",
    "WARN    c.warn     high      k9: odd",
    "                               warn at /etc/b:9",
    "WAIVED  d.waived   high      was bad  [waived: ops accepted]",
    "FAIL    e.expired  high      still bad  [waiver expired 2026-01-01]",
    "                               fix: as for b.fail above",
    "ERROR   f.error    high      check raised RuntimeError: x",
    "                               fix: as for b.fail above",
    "note: note one",
    "not shown: 1 passing check and 1 skipped check (-v shows them)",
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
    "                               fix: as for b.fail above",
    "ERROR   f.error    high      check raised RuntimeError: x",
    "                               fix: as for b.fail above",
    "SKIP    g.skip     high      not here",
    "note: note one",
    "FAILED: 7 checks on h1: 1 pass, 1 skip, 1 waived, 1 warn, 2 fail, 1 error",
]


COLOR = [
    "\x1b[1mharborkit check: h1 (sysroot), profile prof\x1b[0m",
    "\x1b[1mSTATUS\x1b[0m\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1mCHECK    \x1b[0m\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1mSEVERITY\x1b[0m\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1mRESULT                                \x1b[0m",
    "\x1b[1;31mFAIL  \x1b[0m  b.fail     critical  2 of 3 fail: k1, k2                   ",
    "                               \x1b[1;31mfail\x1b[0m k1: 3, expected >= 5 [/etc/a:2]",
    "                               \x1b[1;31mfail\x1b[0m k2: missing (expected >= 5)    ",
    "                             \x1b[1m  fix: \x1b[0mdo the fix                     ",
    "\x1b[33mWARN  \x1b[0m  c.warn     high      k9: odd                               ",
    "                               \x1b[33mwarn\x1b[0m at /etc/b:9                    ",
    "\x1b[36mWAIVED\x1b[0m  d.waived   high      was bad\x1b[36m  [waived: ops accepted]\x1b[0m       ",
    "\x1b[1;31mFAIL  \x1b[0m  e.expired  high      still bad\x1b[33m  [waiver expired 2026-01-01]\x1b[0m",
    "                             \x1b[1m  fix: \x1b[0mas for b.fail above            ",
    "\x1b[1;35mERROR \x1b[0m  f.error    high      check raised RuntimeError: x          ",
    "                             \x1b[1m  fix: \x1b[0mas for b.fail above            ",
    "\x1b[33mnote: note one\x1b[0m",
    "\x1b[2mnot shown: 1 passing check and 1 skipped check (-v shows them)\x1b[0m",
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
    assert summary_line(ok) == "OK: 1 check on h2: 1 pass"
    warn = Report("h3", True, "p", "p.yaml", "0.1.0", "2026-11-26T00:00:00Z", 0.0, RESULTS[2:3])
    assert (summary_line(warn), summary_line(warn, strict=True)) == (
        "OK: 1 check on h3: 1 warn",
        "FAILED: 1 check on h3: 1 warn",
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
        "FAILED: 1 check on h: 1 fail",
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
            WaiverUse("why\x1b\nOK    forged.row  low  pass", None, False, "w:1"),
            Status.FAIL,
        ),
    )
    notes = ("n\x1b", "waiver for x\nFORGED (w:3) names no installed check")
    text = render_table(host("h\x1b", results, notes=notes), width=120)
    assert _lines(text) == [
        "harborkit check: h\\x1b (sysroot), profile prof",
        "STATUS  CHECK     SEVERITY  RESULT",
        "WARN    c.\\x07id  high      m\\x1b",
        "                              warn s\\x1b: msg (expected e\\x1b, found a\\x1b) [l\\x1b]",
        # a fix of several steps: one a line, under the first
        "                              fix: step one",
        "                                   step \\x1b two",
        # a waiver's reason and a note are one line each: their newlines shown
        "WAIVED  c.w       high      w  [waived: why\\x1b\\x0aOK    forged.row  low  pass]",
        "note: n\\x1b",
        "note: waiver for x\\x0aFORGED (w:3) names no installed check",
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
    lines = _lines(render_table(rep, width=400, verbose=True))
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
        "FAILED: 1 check on h: 1 fail",
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
        "OK: 1 check on h: 1 warn",
    ]
    wide = _lines(render_table(host("h", results, notes=("n" * 115,)), width=121))
    assert wide[4] == "note: " + "n" * 115


def test_colour_of_a_passing_verdict() -> None:
    ok = host("h", (CheckResult(info_table("c.ok", "O"), Status.PASS, "fine", (), 0.0),))
    assert render_table(ok, color=True).splitlines()[-1] == (
        "\x1b[1;32mOK: 1 check on h: 1 pass\x1b[0m"
    )
    warn = host("h", (CheckResult(info_table("c.w", "W"), Status.WARN, "odd", (), 0.0),))
    assert render_table(warn, color=True).splitlines()[-1] == (
        "\x1b[1;32mOK: 1 check on h: 1 warn\x1b[0m"
    )
    assert render_table(warn, color=True, strict=True).splitlines()[-1] == (
        "\x1b[1;31mFAILED: 1 check on h: 1 warn\x1b[0m"
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


# --- less noise, same truth (issue #25 item 5) ---------------------------------

SYSCTL = "/etc/sysctl.d/90-harbor.conf"


def _file(ids: tuple[str, ...], path: str = SYSCTL, new: bytes = b"vm.swappiness = 10\n") -> object:
    from harborkit.model.change import FileChange

    return FileChange(ids, path, new, None, "every boot applies it")


def _run(ids: tuple[str, ...], *argv: str) -> object:
    from harborkit.model.change import Command

    return Command(ids, argv, "now")


def _planned(cid: str, changes: tuple[object, ...], status: Status = Status.FAIL) -> CheckResult:
    from harborkit.model.change import hint

    rem = hint(changes)  # type: ignore[arg-type]
    return CheckResult(
        info(cid, rem=rem),
        status,
        f"{cid} bad",
        (),
        0.0,
        changes=changes,  # type: ignore[arg-type]
    )


def test_a_change_two_checks_plan_is_shown_once() -> None:
    """sysctl.runtime and sysctl.persisted both plan the same drop-in: its
    block is printed under the first, the second names it (and adds only
    what is its own); a different file or command is shown in full."""
    results = (
        _planned("s.runtime", (_file(("s.runtime",)), _run(("s.runtime",), "sysctl", "--system"))),
        _planned("s.persisted", (_file(("s.persisted",)),)),
        # the same file plus a command of its own
        _planned("s.third", (_file(("s.third",)), _run(("s.third",), "echo", "a b"))),
        # the same path with other content is another change
        _planned("s.other", (_file(("s.other",), new=b"vm.swappiness = 1\n"),)),
        # the same change, but the check passed: nothing shown, nothing counted as shown
        _planned("s.pass", (_file(("s.pass",), path="/etc/x"),), Status.PASS),
        _planned("s.after", (_file(("s.after",), path="/etc/x"),)),
    )
    assert _lines(render_table(host("h", results), width=160)) == [
        "harborkit check: h (sysroot), profile prof",
        "STATUS  CHECK        SEVERITY  RESULT",
        "FAIL    s.runtime    high      s.runtime bad",
        "                                 fix: create /etc/sysctl.d/90-harbor.conf as:",
        "                                          vm.swappiness = 10",
        "                                        (every boot applies it)",
        "                                      run: sysctl --system",
        "FAIL    s.persisted  high      s.persisted bad",
        "                                 fix: the same change as s.runtime above"
        " (/etc/sysctl.d/90-harbor.conf)",
        "FAIL    s.third      high      s.third bad",
        "                                 fix: run: echo 'a b'",
        "                                      and the same change as s.runtime above"
        " (/etc/sysctl.d/90-harbor.conf)",
        "FAIL    s.other      high      s.other bad",
        "                                 fix: create /etc/sysctl.d/90-harbor.conf as:",
        "                                          vm.swappiness = 1",
        "                                        (every boot applies it)",
        "FAIL    s.after      high      s.after bad",
        "                                 fix: create /etc/x as:",
        "                                          vm.swappiness = 10",
        "                                        (every boot applies it)",
        "not shown: 1 passing check (-v shows them)",
        "FAILED: 6 checks on h: 1 pass, 5 fail",
    ]


def test_the_sysctl_drop_in_is_printed_once_per_host() -> None:
    """A real run on the Debian fixture: both sysctl checks fail and plan the
    same drop-in; the table prints it once, the JSON keeps both remediations."""
    import json
    from pathlib import Path

    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile
    from harborkit.engine.runner import Selection, run_checks
    from harborkit.host import SysrootHost
    from harborkit.model.check import CheckContext, CheckOptions
    from harborkit.report.json import render_json

    root = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots" / "debian12"
    prof = load_profile(None)
    ctx = CheckContext(SysrootHost(root), prof.data, CheckOptions())
    only = Selection(prof.select, prof.skip, only=("sysctl.runtime", "sysctl.persisted"))
    rep = run_checks(discover()[0], ctx, profile_name="p", profile_path="p", selection=only)
    table = render_table(rep, width=200)
    assert table.count("vm.max_map_count = 655360") == 1
    assert table.count("run: sysctl --system") == 1
    assert "fix: the same change as sysctl.runtime above (/etc/sysctl.d/90-harbor.conf)" in table
    doc = json.loads(render_json(rep))
    rems = [r["remediation"] for r in doc["results"]]
    assert len(rems) == 2 and all("vm.max_map_count = 655360" in x for x in rems)


def test_findings_that_say_the_same_share_a_line_from_three_on() -> None:
    f = Finding
    r = CheckResult(
        info("p.persist"),
        Status.FAIL,
        "4 of 6 fail",
        (
            f(Status.FAIL, "k1", "not persisted", "= 1", None, None),
            f(Status.FAIL, "k2", "2, expected = 1", "= 1", "2", "/p/k2"),
            f(Status.FAIL, "k3", "not persisted", "= 3", None, "/etc/s:3"),
            f(Status.WARN, "k4", "not persisted"),  # another status: its own line
            f(Status.FAIL, "k5", "not persisted", None, None, None),
            f(Status.FAIL, "k6", "2, expected = 1", "= 1", "2", "/p/k6"),  # only two
        ),
        0.0,
    )
    assert _lines(render_table(host("h", (r,)), width=200))[2:-1] == [
        "FAIL    p.persist  high      4 of 6 fail",
        "                               fail not persisted: k1 (expected = 1), k3 (expected = 3)"
        " [/etc/s:3], k5",
        "                               fail k2: 2, expected = 1 [/p/k2]",
        "                               warn k4: not persisted",
        "                               fail k6: 2, expected = 1 [/p/k6]",
        "                               fix: do the fix",
    ]


@pytest.mark.parametrize(
    ("statuses", "hidden"),
    [
        ((Status.PASS,), "not shown: 1 passing check (-v shows them)"),
        ((Status.SKIP, Status.SKIP), "not shown: 2 skipped checks (-v shows them)"),
        (
            (Status.PASS, Status.PASS, Status.SKIP, Status.FAIL),
            "not shown: 2 passing checks and 1 skipped check (-v shows them)",
        ),
        ((Status.FAIL, Status.WAIVED, Status.ERROR), None),
    ],
)
def test_the_table_counts_what_it_leaves_out(
    statuses: tuple[Status, ...], hidden: str | None
) -> None:
    results = tuple(
        CheckResult(info(f"c.{i}", rem=""), s, f"m{i}", (), 0.0) for i, s in enumerate(statuses)
    )
    rep = host("h", results)
    lines = _lines(render_table(rep, width=160))
    shown = [ln.split()[1] for ln in lines[2:] if ln.split()[0] in {"FAIL", "WAIVED", "ERROR"}]
    assert shown == [
        f"c.{i}" for i, s in enumerate(statuses) if s not in (Status.PASS, Status.SKIP)
    ]
    assert lines[-1] == summary_line(rep)  # every check counted
    assert (lines[-2] if hidden else None) == hidden
    if not shown:  # nothing to show: no empty table header
        assert lines == ["harborkit check: h (sysroot), profile prof", hidden, summary_line(rep)]
    verbose = _lines(render_table(rep, width=160, verbose=True))
    assert not any(ln.startswith("not shown:") for ln in verbose)
    assert len([ln for ln in verbose if ln.split()[0] in {s.name for s in Status}]) == len(results)


def test_a_long_file_body_is_abridged_and_v_shows_it_whole() -> None:
    """A fix that writes a long file shows its first lines and counts the rest
    (-v: every line); a body of exactly twelve lines is shown whole."""
    from harborkit.model.change import hint

    def body(n: int) -> bytes:
        return "".join(f"k{i} = {i}\n" for i in range(n)).encode()

    long = _planned("s.long", (_file(("s.long",), new=body(13)),))
    edge = _planned("s.edge", (_file(("s.edge",), path="/etc/e", new=body(12)),))
    lines = _lines(render_table(host("h", (long, edge)), width=160))
    assert lines[2:13] == [
        "FAIL    s.long  high      s.long bad",
        "                            fix: create /etc/sysctl.d/90-harbor.conf as:",
        *[f"                                     k{i} = {i}" for i in range(8)],
        "                                     ... 5 more lines (-v shows the whole file)",
    ]
    assert lines[13] == "                                   (every boot applies it)"
    assert sum(ln.strip().startswith("k") for ln in lines) == 8 + 12
    verbose = render_table(host("h", (long, edge)), width=160, verbose=True)
    assert "more lines" not in verbose
    assert verbose.count("k12 = 12") == 1 and hint(long.changes) == long.check.remediation  # type: ignore[arg-type]


def test_a_location_that_spells_the_key_again_is_left_out() -> None:
    f = Finding
    r = CheckResult(
        info("s.run"),
        Status.FAIL,
        "2 of 3 fail",
        (
            f(
                Status.FAIL,
                "vm.swappiness",
                "60, expected <= 10",
                "<= 10",
                "60",
                "/proc/sys/vm/swappiness",
            ),
            f(
                Status.FAIL,
                "vm.max_map_count",
                "1, expected >= 2",
                ">= 2",
                "1",
                "/etc/sysctl.conf:3",
            ),
            f(
                Status.FAIL,
                "net.ipv4.tcp_syn_retries",
                "6, expected <= 2",
                "<= 2",
                "6",
                "/proc/sys/net/ipv4/tcp_syn_retriez",
            ),
        ),
        0.0,
    )
    assert [ln.strip() for ln in _lines(render_table(host("h", (r,)), width=200))[3:6]] == [
        "fail vm.swappiness: 60, expected <= 10",
        "fail vm.max_map_count: 1, expected >= 2 [/etc/sysctl.conf:3]",
        "fail net.ipv4.tcp_syn_retries: 6, expected <= 2 [/proc/sys/net/ipv4/tcp_syn_retriez]",
    ]
    verbose = _lines(render_table(host("h", (r,)), width=200, verbose=True))
    assert "fail vm.swappiness: 60, expected <= 10 [/proc/sys/vm/swappiness]" in verbose[3]
