"""Report totals a mutation pass showed untested: the JUnit root ``<testsuites>``
counts (with failures and errors that differ), and ``exit_code`` in the JSON
report under ``--strict`` through the real command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from harborkit.engine.registry import LoadedCheck
from harborkit.engine.runner import Selection, run_checks
from harborkit.errors import ExitCode
from harborkit.host import SysrootHost
from harborkit.model.check import CheckContext
from harborkit.model.result import Report
from harborkit.report.json import report_to_dict
from harborkit.report.junit import render_junit
from harborkit.report.table import summary_line
from tests.engine.test_runner import ALL
from tests.support.cli import run_harborkit


def _report(root: Path, only: tuple[str, ...], host: str | None = None) -> Report:
    ctx = CheckContext(host=SysrootHost(root), profile={})
    rep = run_checks(
        [LoadedCheck(c, "harborkit") for c in ALL],
        ctx,
        profile_name="p",
        profile_path="p.yaml",
        selection=Selection(only=only),
        today=dt.date(2026, 11, 26),
    )
    return replace(rep, host=host or rep.host, duration=0.25)


def test_junit_root_totals_add_up_every_suite(tmp_path: Path) -> None:
    # a: 1 fail (t.marker), 1 error (t.boom), 1 warn, 2 skip (t.needs, t.na)
    a = _report(tmp_path, ("t.marker", "t.needs", "t.boom", "t.warn", "t.na"), "node-a")
    # b: 1 warn only
    b = _report(tmp_path, ("t.warn",), "node-b")
    root = ET.fromstring(render_junit([a, b], strict=True))
    assert root.tag == "testsuites"
    # strict: warnings are failures: 1 + 1 (a) + 1 (b) = 3 failures, 1 error
    assert {k: root.get(k) for k in ("name", "tests", "failures", "errors", "time")} == {
        "name": "harborkit check",
        "tests": "6",
        "failures": "3",
        "errors": "1",
        "time": "0.500",
    }
    suites = root.findall("testsuite")
    assert [
        (s.get("hostname"), s.get("id"), s.get("tests"), s.get("failures"), s.get("errors"))
        for s in suites
    ] == [("node-a", "0", "5", "2", "1"), ("node-b", "1", "1", "1", "0")]
    assert [s.get("skipped") for s in suites] == ["2", "0"]

    root = ET.fromstring(render_junit([a, b], strict=False))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "1")


def test_junit_single_report_and_detail_lines(tmp_path: Path) -> None:
    rep = _report(tmp_path, ("t.marker", "t.boom"))
    root = ET.fromstring(render_junit(rep))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "1")
    (suite,) = root.findall("testsuite")
    assert suite.get("time") == "0.250"
    assert suite.get("timestamp") == rep.started.rstrip("Z")
    case = suite.find("testcase")
    assert case is not None
    assert case.find("failure").text == "missing"  # type: ignore[union-attr]
    out = case.find("system-out").text  # type: ignore[union-attr]
    assert out == "status: fail\nseverity: critical\nremediation: touch /etc/marker\nmissing\n"


def test_json_exit_code_and_summary_follow_strict(tmp_path: Path) -> None:
    rep = _report(tmp_path, ("t.warn",))
    plain, strict = report_to_dict(rep), report_to_dict(rep, strict=True)
    assert (plain["strict"], plain["exit_code"]) == (False, 0)
    assert (strict["strict"], strict["exit_code"]) == (True, 1)
    assert strict["summary"] == {
        "pass": 0,
        "skip": 0,
        "waived": 0,
        "warn": 1,
        "fail": 0,
        "error": 0,
        "total": 1,
    }
    assert summary_line(rep) == f"OK: 1 check on {rep.host}: 1 warn"
    assert summary_line(rep, strict=True) == f"FAILED: 1 check on {rep.host}: 1 warn"


# --- the real command line ------------------------------------------------------


def _hk(*args: str) -> subprocess.CompletedProcess[str]:
    return run_harborkit(args, env={**os.environ, "NO_COLOR": "1"}, timeout=120)


@pytest.fixture
def warn_only_root(tmp_path: Path) -> Path:
    """A sysroot where time.sync only warns: ntpd configured but not enabled."""
    root = tmp_path / "root"
    for rel, text in {
        "etc/hostname": "harbor01\n",
        "etc/ntp.conf": "server 192.0.2.1 iburst\n",
        "usr/lib/systemd/system/ntpd.service": "[Service]\nExecStart=/usr/sbin/ntpd\n",
    }.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_cli_json_strict_turns_a_warning_into_exit_1(warn_only_root: Path) -> None:
    args = ("check", "--root", str(warn_only_root), "--only", "time.sync", "-f", "json")
    r = _hk(*args)
    assert (r.returncode, r.stderr) == (ExitCode.OK, "")
    data = json.loads(r.stdout)
    assert (data["strict"], data["exit_code"]) == (False, ExitCode.OK)
    (res,) = data["results"]
    assert (res["id"], res["status"], res["message"]) == (
        "time.sync",
        "warn",
        "ntpd enabled: not enabled at boot (no link to ntpd.service under "
        "/etc/systemd/system/*.wants or rc?.d)",
    )

    r = _hk(*args, "--strict")
    assert (r.returncode, r.stderr) == (ExitCode.FAILED, "")
    data = json.loads(r.stdout)
    assert (data["strict"], data["exit_code"]) == (True, ExitCode.FAILED)
    assert data["summary"]["warn"] == 1


def test_cli_junit_strict_output_file_and_summary_line(
    warn_only_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.xml"
    r = _hk(
        "check",
        "--root",
        str(warn_only_root),
        "--only",
        "time.sync",
        "-f",
        "junit",
        "--strict",
        "-o",
        str(out),
    )
    assert (r.returncode, r.stdout) == (ExitCode.FAILED, "")
    assert r.stderr == "FAILED: 1 check on harbor01: 1 warn\n"
    root = ET.fromstring(out.read_text())
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("1", "1", "0")
