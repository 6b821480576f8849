"""Every report format, validated against its schema.

The small pieces around the renderers: which renderer a format and a
report kind get, the one-line summary, the JSON text details, and the
escaping of host text for terminals and XML."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from harborkit.engine.plugins import LoadedCheck
from harborkit.engine.runner import Selection, run_checks
from harborkit.engine.waivers import Waiver
from harborkit.host import SysrootHost
from harborkit.model.check import CheckContext, Status
from harborkit.model.result import CheckResult, Report
from harborkit.report import OutputFormat, renderer, summary
from harborkit.report.cluster import render_cluster_json, render_cluster_table
from harborkit.report.html import render_html
from harborkit.report.json import render_json, report_to_dict
from harborkit.report.junit import render_junit
from harborkit.report.table import render_table
from harborkit.resources import schema_path
from harborkit.textsafe import terminal_text, xml_text
from tests.engine.test_runner import ALL
from tests.report.fleet import A1, B2, FLEET, host, info

JUNIT_XSD = Path(__file__).resolve().parent / "junit" / "jenkins-junit-10.xsd"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    root = tmp_path_factory.mktemp("root")
    ctx = CheckContext(host=SysrootHost(root), profile={})
    waivers = [Waiver("t.warn", "accepted by ops <&>", dt.date(2027, 1, 31), "w.yaml:2")]
    return run_checks(
        [LoadedCheck(c, "harborkit") for c in ALL],
        ctx,
        profile_name="harbor-v1.8.0",
        profile_path="checks/harbor-v1.8.0.yaml",
        selection=Selection(),
        waivers=waivers,
        today=dt.date(2026, 11, 26),
    )


def test_every_format_has_a_renderer(report: Report) -> None:
    for fmt in OutputFormat:
        text = renderer(fmt)(report, strict=False, color=False)
        assert isinstance(text, str) and text.endswith("\n")


def test_json_validates_and_is_exact(report: Report) -> None:
    data = json.loads(renderer(OutputFormat.json)(report))
    schema = json.loads(schema_path("report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        data
    )
    assert data["summary"] == {
        "pass": 0,
        "skip": 3,
        "waived": 1,
        "warn": 0,
        "fail": 1,
        "error": 1,
        "total": 6,
    }
    assert data["exit_code"] == 1
    by_id = {r["id"]: r for r in data["results"]}
    assert by_id["t.warn"]["status"] == "waived"
    assert by_id["t.warn"]["original_status"] == "warn"
    assert by_id["t.warn"]["waiver"] == {
        "reason": "accepted by ops <&>",
        "expires": "2027-01-31",
        "expired": False,
        "location": "w.yaml:2",
    }
    assert by_id["t.marker"]["severity"] == "critical"
    assert by_id["t.marker"]["remediation"] == "touch /etc/marker"


def test_json_schema_rejects_a_wrong_shape(report: Report) -> None:
    data = report_to_dict(report)
    data["results"][0]["status"] = "ok"
    schema = json.loads(schema_path("report.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_junit_is_valid_for_jenkins_and_maps_statuses(report: Report) -> None:
    text = renderer(OutputFormat.junit)(report, strict=False)
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(text)
    root = ET.fromstring(text)
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "6"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "1"
    assert suite.get("skipped") == "4"
    assert suite.get("hostname") == report.host
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {
        "t.marker: marker",
        "t.needs: needs marker",
        "t.boom: raises",
        "t.live: live only",
        "t.na: not applicable",
        "t.warn: warns",
    }
    marker = cases["t.marker: marker"]
    assert marker.get("classname") == "harborkit.tgroup"
    assert marker.find("failure").get("message") == "missing"
    assert cases["t.boom: raises"].find("error") is not None
    assert cases["t.na: not applicable"].find("skipped").get("message") == (
        "does not apply on this distribution"
    )
    waived = cases["t.warn: warns"].find("skipped")
    assert waived.get("type") == "waived"
    assert waived.get("message") == "waived (warn): accepted by ops <&> (until 2027-01-31)"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["t.marker.severity"] == "critical"
    assert props["t.marker.remediation"] == "touch /etc/marker"
    assert props["profile"] == "harbor-v1.8.0"


def test_junit_strict_turns_warnings_into_failures(tmp_path: Path) -> None:
    ctx = CheckContext(host=SysrootHost(tmp_path), profile={})
    rep = run_checks(
        [LoadedCheck(c, "harborkit") for c in ALL],
        ctx,
        profile_name="p",
        profile_path="p",
        selection=Selection(only=("t.warn",)),
    )
    root = ET.fromstring(renderer(OutputFormat.junit)(rep, strict=True))
    case = root.find("testsuite/testcase")
    assert case.find("failure").get("type") == "warn"
    root = ET.fromstring(renderer(OutputFormat.junit)(rep, strict=False))
    assert root.find("testsuite/testcase/failure") is None


def test_table_shows_findings_remediation_and_verdict(report: Report) -> None:
    text = render_table(report, width=200)
    lines = text.splitlines()
    assert lines[0] == f"harborkit check: {report.host} (sysroot), profile harbor-v1.8.0"
    assert any(
        line.startswith("FAIL") and "t.marker" in line and "missing" in line for line in lines
    )
    assert "  fix: touch /etc/marker" in text
    assert "[waived: accepted by ops <&>]" in text
    assert lines[-1] == f"FAILED: 6 checks on {report.host}: 3 skip, 1 waived, 1 fail, 1 error"
    assert "\x1b[" not in text
    assert "\x1b[" in render_table(report, color=True)


def test_status_worst_order() -> None:
    assert Status.worst([Status.PASS, Status.WARN, Status.SKIP]) is Status.WARN
    assert Status.worst([Status.WAIVED, Status.PASS]) is Status.WAIVED
    assert Status.worst([Status.ERROR, Status.FAIL]) is Status.ERROR


HOSTS_HINT_CASES = {
    # the guide's host, a node missing from /etc/hosts: the hint adds a tab-separated line
    "guide-add": (
        "guide-as-written",
        ("--node", "server60=192.168.3.60"),
        None,
        "in /etc/hosts, add at the end:\n"
        "    192.168.3.60\tserver60\n"
        "  (the addresses of the profile's nodes)",
    ),
    # tabs in the lines it changes, and in those it adds
    "debian-change": (
        "debian12",
        ("--node", "server59=192.168.3.59", "--node", "harbor01=192.168.3.61"),
        None,
        "in /etc/hosts, line 2: change '127.0.1.1\tharbor01.example.lan\tharbor01' to "
        "'127.0.1.1\tharbor01.example.lan'; line 10: change '192.168.3.60 server59' to "
        "'# 192.168.3.60 server59  # harborkit: server59 moved below'; add at the end:\n"
        "    192.168.3.59\tserver59\n"
        "    192.168.3.61\tharbor01\n"
        "  (the addresses of the profile's nodes)",
    ),
    # a line that holds a terminal escape, a bell and a bidi override: those are escaped
    "hostile-line": (
        "debian12",
        ("--node", "harbor01=192.168.3.61"),
        ("127.0.1.1\tharbor01.example.lan\tharbor01", "127.0.1.1\tharbor01\t#\x1b[2J\x07\u202e"),
        "in /etc/hosts, line 2: change '127.0.1.1\tharbor01\t#\x1b[2J\x07\u202e' to "
        "'# 127.0.1.1\tharbor01\t#\x1b[2J\x07\u202e  # harborkit: harbor01 moved below'; "
        "add at the end:\n"
        "    192.168.3.61\tharbor01\n"
        "  (the addresses of the profile's nodes)",
    ),
}


def _shown(hint: str) -> str:
    """The hint as a terminal or a page shows it: tabs and newlines as they are."""
    return hint.replace("\x1b", "\\x1b").replace("\x07", "\\x07").replace("\u202e", "\\u202e")


@pytest.fixture(params=sorted(HOSTS_HINT_CASES))
def hosts_case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, tuple[str, ...], str]:
    from tests.fix.helpers import copy_sysroot

    name, nodes, edit, hint = HOSTS_HINT_CASES[request.param]
    root = copy_sysroot(name, tmp_path / "root")
    if edit:
        hosts = root / "etc/hosts"
        text = hosts.read_text()
        assert edit[0] in text
        hosts.write_text(text.replace(edit[0], edit[1]))
    return root, (*nodes, "--only", "network.nodes"), hint


def test_a_fix_hint_is_the_bytes_it_writes_in_every_format(
    hosts_case: tuple[Path, tuple[str, ...], str],
) -> None:
    import html

    from tests.fix.helpers import hk

    root, opts, hint = hosts_case
    shown = _shown(hint)
    assert "\t" in shown

    # JSON: the exact text
    r = hk("check", "--root", str(root), *opts, "-f", "json")
    assert r.returncode == 1, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert res["remediation"] == hint

    # the table: the cell points below it, where the hint is whole, its tabs kept
    r = hk("check", "--root", str(root), *opts)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.split("\n")
    assert lines[-1] == ""
    cell = "fix: under 'fix for network.nodes' below the table (tabs kept)"
    assert [ln.strip() for ln in lines if "fix:" in ln] == [cell]
    assert r.stdout.endswith(f"\nfix for network.nodes:\n{shown}\n{lines[-2]}\n"), r.stdout
    assert lines[-2].startswith("FAILED: 1 check on ")
    assert "\\x09" not in r.stdout and "\x1b" not in r.stdout and "\u202e" not in r.stdout

    # the cluster table: the two hosts share the row, and the block, shown once
    other = root.parent / "other"
    import shutil

    shutil.copytree(root, other, symlinks=True)
    r = hk("check", "--root", str(root), "--root", str(other), *opts)
    assert r.returncode == 1, r.stderr
    name = r.stdout.split("\n  ")[-1].split(" ")[0]  # the first host line
    head = f"\nfix for network.nodes ({name}, {name}):\n"
    assert r.stdout.count(f"{head}{shown}\n") == 1, r.stdout
    assert r.stdout.count("fix for network.nodes") == 2, r.stdout  # the row points to it
    assert "\\x09" not in r.stdout and "\x1b" not in r.stdout

    # HTML: in a <pre>, a tab is a tab (escaped for HTML, nothing else)
    r = hk("check", "--root", str(root), *opts, "-f", "html")
    assert r.returncode == 1, r.stderr
    assert (
        '<div class="fix"><strong>fix:</strong> '
        f'<pre class="hint">{html.escape(shown, quote=True)}</pre></div>'
    ) in r.stdout
    assert "\\x09" not in r.stdout

    # JUnit: the property and the system-out keep the tab (&#09; in an attribute)
    r = hk("check", "--root", str(root), *opts, "-f", "junit")
    assert r.returncode == 1, r.stderr
    doc = ET.fromstring(r.stdout)
    (prop,) = [p for p in doc.iter("property") if p.get("name") == "network.nodes.remediation"]
    assert prop.get("value") == hint.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
    (out,) = [o.text for o in doc.iter("system-out")]
    assert f"remediation: {prop.get('value')}\n" in (out or "")


def test_the_fix_dry_run_shows_the_lines_it_writes(
    hosts_case: tuple[Path, tuple[str, ...], str],
) -> None:
    from tests.fix.helpers import hk

    root, opts, hint = hosts_case
    r = hk("fix", "--root", str(root), *opts)
    assert r.returncode == 0, r.stderr
    added = [ln.strip() for ln in hint.split("\n") if ln.startswith("    ")]
    for line in added:
        assert f"\n+{line}\n" in r.stdout, r.stdout
    assert "\\x09" not in r.stdout and "\x1b" not in r.stdout and "\u202e" not in r.stdout
    if "\x1b" in hint:
        assert "\n-127.0.1.1\tharbor01\t#\\x1b[2J\\x07\\u202e\n" in r.stdout
        assert (
            "\n+# 127.0.1.1\tharbor01\t#\\x1b[2J\\x07\\u202e  # harborkit: harbor01 moved below\n"
        ) in r.stdout


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
