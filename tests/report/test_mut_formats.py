"""The small pieces around the renderers: which renderer a format and a
report kind get, the one-line summary, the JSON text details, and the
escaping of host text for terminals and XML."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from harborkit.model.check import Status
from harborkit.model.result import CheckResult
from harborkit.report import OutputFormat, renderer, summary
from harborkit.report.cluster import render_cluster_json, render_cluster_table
from harborkit.report.html import render_html
from harborkit.report.json import render_json, report_to_dict
from harborkit.report.junit import render_junit
from harborkit.report.table import render_table
from harborkit.textsafe import terminal_text, xml_text
from tests.report.fleet import A1, B2, FLEET, host, info

# -- renderer() and summary() -----------------------------------------------------


def test_each_format_renders_a_single_host_and_a_cluster() -> None:
    assert renderer(OutputFormat.table)(B2, strict=True, width=90) == render_table(
        B2, strict=True, width=90
    )
    assert renderer(OutputFormat.table)(FLEET, strict=True) == render_cluster_table(
        FLEET, strict=True
    )
    assert renderer(OutputFormat.json)(B2, strict=True) == render_json(B2, strict=True)
    assert renderer(OutputFormat.json)(FLEET, strict=True) == render_cluster_json(
        FLEET, strict=True
    )
    assert renderer(OutputFormat.junit)(B2, strict=True) == render_junit(B2, strict=True)
    # a cluster: one suite per host, then the cross-node checks
    assert renderer(OutputFormat.junit)(FLEET, strict=True) == render_junit(
        FLEET.reports, strict=True
    )
    assert renderer(OutputFormat.html)(A1, strict=True) == render_html(A1, strict=True)
    assert renderer(OutputFormat.html)(FLEET) == render_html(FLEET)


def test_summary_of_either_kind() -> None:
    assert summary(B2) == "OK: 2 checks on b2: 1 skip, 1 warn"
    assert summary(B2, strict=True) == "FAILED: 2 checks on b2: 1 skip, 1 warn"
    assert summary(FLEET, True) == (
        "FAILED: 4 hosts, 1 unreachable, 9 checks: 2 pass, 2 skip, 1 warn, 2 fail, 2 error; "
        "failing: a1, b2, c3, cluster"
    )


# -- JSON text ----------------------------------------------------------------------


def test_json_keeps_text_exact_and_a_lone_surrogate_escaped() -> None:
    r = CheckResult(info("c", "C"), Status.WARN, "h\u00f6\x1b \ud800", (), 0.1234567)
    text = render_json(host("h", (r,)))
    assert '\n      "message": "h\u00f6\\u001b \\ud800",\n' in text
    assert '\n      "duration_seconds": 0.123457,\n' in text
    data = json.loads(text)
    assert (data["strict"], data["exit_code"]) == (False, 0)
    assert report_to_dict(host("h", (r,)))["exit_code"] == 0
    assert report_to_dict(host("h", (r,)), strict=True)["exit_code"] == 1


def test_json_report_duration_is_rounded_to_microseconds() -> None:
    assert report_to_dict(replace(B2, duration=2.0000004))["duration_seconds"] == 2.0
    assert report_to_dict(replace(B2, duration=2.0000005001))["duration_seconds"] == 2.000001


# -- escaping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, ü and 😀", "plain text, ü and 😀"),
        ("tab\there\nnewline kept", "tab\\x09here\nnewline kept"),
        ("\x00\x0b\x1f\x20", "\\x00\\x0b\\x1f "),
        ("\x7e\x7f\x9f\xa0", "~\\x7f\\x9f\xa0"),
        ("\u061c\u200d\u200e\u200f", "\\u061c\u200d\\u200e\\u200f"),
        ("\u2027\u2028\u2029\u202a\u202e\u202f", "\u2027\\u2028\\u2029\\u202a\\u202e\u202f"),
        ("\u2065\u2066\u2069\u206a", "\u2065\\u2066\\u2069\u206a"),
        ("\ud800\udfff", "\\ud800\\udfff"),
    ],
)
def test_terminal_text(text: str, shown: str) -> None:
    assert terminal_text(text) == shown


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("abcd", 4, "abcd"),
        ("abcde", 4, "abcd... (1 more characters)"),
        ("abcdefg", 4, "abcd... (3 more characters)"),
        ("a\x1bcdefg", 2, "a\\x1b... (5 more characters)"),
        ("a" * 500, None, "a" * 500),
    ],
)
def test_terminal_text_abridged(text: str, limit: int | None, shown: str) -> None:
    assert terminal_text(text, limit) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("tab\t, lines\n\r kept, ü 😀", "tab\t, lines\n\r kept, ü 😀"),
        ("\x00\x08\x0b\x0c\x1f\x20", "\\x00\\x08\\x0b\\x0c\\x1f "),
        ("\x7f\x9f\u202e", "\x7f\x9f\u202e"),  # allowed in XML
        ("\ud7ff\ud800\udfff\ue000", "\ud7ff\\ud800\\udfff\ue000"),
        ("\ufffd\ufffe\uffff\U00010000", "\ufffd\\ufffe\\uffff\U00010000"),
    ],
)
def test_xml_text(text: str, shown: str) -> None:
    assert xml_text(text) == shown
