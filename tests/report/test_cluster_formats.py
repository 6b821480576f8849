"""Reports of several hosts: table sections and matrix, cluster JSON, JUnit suites.

The multi-host reports of a hand-built fleet, exactly: the matrix model,
the summary line, the cluster JSON document and the sectioned table with its
host x check matrix (plain and coloured)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from harborkit.compat import zip_strict
from harborkit.engine.cluster import ClusterReport, Unreachable, run_cluster
from harborkit.engine.plugins import discover
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import Selection
from harborkit.host import SysrootHost
from harborkit.model.check import Finding, Status
from harborkit.model.result import CheckResult
from harborkit.report import OutputFormat, renderer, summary
from harborkit.report.cluster import (
    Matrix,
    MatrixRow,
    _host_blocks,
    _matrix_table,
    build_matrix,
    cluster_summary_line,
    cluster_to_dict,
    render_cluster_json,
    render_cluster_table,
)
from harborkit.report.json import report_to_dict
from harborkit.resources import schema_path
from tests.cluster.hosts import copy_fixture
from tests.report.fleet import A1, B2, C3, CROSS, D4, FLEET, REFUSED, STARTED, host, info
from tests.report.test_formats import JUNIT_XSD

REPO = Path(__file__).resolve().parents[2]


ONLY = ("selinux", "network", "time", "docker.compose", "cluster")


DOWN = "ssh: connect to host 127.0.0.60 port 22: Connection refused"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_path("report.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The guide's master server58, its client server59, a Debian Harbor host."""
    tmp = tmp_path_factory.mktemp("cluster")
    return [
        copy_fixture(tmp, "guide-as-written"),
        copy_fixture(tmp, "centos7-compliant", "server59"),
        copy_fixture(tmp, "debian12"),
    ]


@pytest.fixture(scope="module")
def cluster(roots: list[Path]) -> ClusterReport:
    loaded, _ = discover()
    prof = load_profile()
    return run_cluster(
        [
            SysrootHost(roots[0]),
            SysrootHost(roots[1]),
            Unreachable("server60", DOWN),
            SysrootHost(roots[2]),
        ],
        loaded,
        prof,
        selection=Selection(prof.select, prof.skip, only=ONLY),
    )


def test_matrix_rows_hosts_and_cross_node_cells(cluster: ClusterReport) -> None:
    m = build_matrix(cluster)
    assert m.hosts == ("server58", "server59", "server60", "harbor01")
    assert m.reachable == (True, True, False, True)
    assert m.verdicts == (1, 0, 1, 1)
    cells = {r.check_id: tuple(s.value if s else None for s in r.cells) for r in m.rows}
    assert cells["selinux.mode"] == ("fail", "pass", None, "pass")
    assert cells["host.reachable"] == (None, None, "error", None)
    assert cells["docker.compose"] == ("pass", "pass", None, "fail")
    # cross-node rows: what each check found about each host
    assert cells["cluster.ntp"] == ("pass", "pass", None, "fail")
    assert cells["time.sync"] == ("pass", "pass", None, "fail")
    assert cells["cluster.hostnames"] == ("pass", "pass", None, "pass")
    assert cells["cluster.clock"] == ("skip", "skip", None, "skip")
    assert [r.check_id for r in m.rows if r.cross] == [
        "cluster.names",
        "cluster.hostnames",
        "cluster.clock",
        "cluster.ntp",
        "cluster.docker_version",
        "cluster.compose_version",
    ]


def test_json_is_versioned_and_keeps_each_hosts_document(cluster: ClusterReport) -> None:
    data = json.loads(renderer(OutputFormat.json)(cluster, strict=False))
    validator().validate(data)
    assert data["schema"] == "harborkit/cluster-report/v1"
    assert data["exit_code"] == 1
    assert [(h["name"], h["reachable"], h["reason"]) for h in data["hosts"]] == [
        ("server58", True, None),
        ("server59", True, None),
        ("server60", False, DOWN),
        ("harbor01", True, None),
    ]
    for entry, rep in zip_strict(data["hosts"], cluster.hosts):
        assert entry["report"] == report_to_dict(rep)
        assert entry["report"]["schema"] == "harborkit/report/v1"
        validator().validate(entry["report"])  # each host's document stands alone
    down = data["hosts"][2]["report"]
    assert [(r["id"], r["status"], r["message"]) for r in down["results"]] == [
        ("host.reachable", "error", DOWN)
    ]
    assert data["cluster"]["host"] == "cluster"
    assert data["summary"]["hosts"] == 4 and data["summary"]["unreachable"] == 1
    assert data["summary"]["total"] == sum(
        len(h["report"]["results"]) for h in data["hosts"]
    ) + len(data["cluster"]["results"])


def test_json_schema_rejects_bad_cluster_documents(cluster: ClusterReport) -> None:
    v = validator()
    data = cluster_to_dict(cluster)
    data["hosts"][2]["reason"] = None  # unreachable without a reason
    assert not v.is_valid(data)
    data = cluster_to_dict(cluster)
    data["hosts"][0]["reason"] = "up"  # reachable with a reason
    assert not v.is_valid(data)
    data = cluster_to_dict(cluster)
    data["schema"] = "harborkit/report/v1"  # a cluster document under the host schema id
    assert not v.is_valid(data)
    data = cluster_to_dict(cluster)
    del data["hosts"][1]["report"]["results"][0]["findings"]
    assert not v.is_valid(data)
    assert v.is_valid(cluster_to_dict(cluster, strict=True))


def test_junit_one_suite_per_host_valid_for_jenkins(cluster: ClusterReport) -> None:
    text = renderer(OutputFormat.junit)(cluster, strict=False)
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(text)
    root = ET.fromstring(text)
    suites = root.findall("testsuite")
    assert [s.get("hostname") for s in suites] == [
        "server58",
        "server59",
        "server60",
        "harbor01",
        "cluster",
    ]
    assert [s.get("id") for s in suites] == ["0", "1", "2", "3", "4"]
    (case,) = suites[2].findall("testcase")
    assert case.get("name") == "host.reachable: Host reachable"
    assert case.find("error").get("message") == DOWN
    assert root.get("tests") == str(cluster.total())
    assert root.get("errors") == "1"
    cross = {c.get("name"): c for c in suites[4].findall("testcase")}
    ntp = cross["cluster.ntp: NTP clients use the master"]
    assert ntp.find("failure").get("message").startswith("harbor01: systemd-timesyncd uses")


def _rows_naming(lines: list[str], status: str, check_id: str) -> list[str]:
    """The table lines of one check's rows with this status."""
    return [ln.rstrip() for ln in lines if ln.split()[:2] == [status.upper(), check_id]]


def assert_nothing_lost(report: ClusterReport, text: str, verbose: bool) -> None:
    """Every host's result that needs attention (every result with verbose)
    has a row naming the host; what is left out is counted."""
    from harborkit.report.table import QUIET, hidden_line

    lines = text.splitlines()
    every = [(rep.host, r) for rep in report.hosts for r in rep.results]
    for name, r in every:
        if r.status in QUIET and not verbose:
            continue
        rows = _rows_naming(lines, r.status.value, r.check.id)
        assert any(
            f" {name}: " in ln or f" {name}, " in ln or f", {name}: " in ln for ln in rows
        ), (name, r.check.id)
    for r in report.cluster.results:
        assert bool(_rows_naming(lines, r.status.value, r.check.id)) == (
            verbose or r.status not in QUIET
        ), r.check.id
    hidden = hidden_line([r for rep in report.reports for r in rep.results])
    assert (hidden in lines) == (not verbose and bool(hidden))


def test_table_rows_host_lines_matrix_and_verdict(cluster: ClusterReport) -> None:
    text = renderer(OutputFormat.table)(cluster, strict=False, color=False, width=140)
    lines = text.splitlines()
    headers = [ln for ln in lines if ln.startswith("harborkit check: ")]
    assert headers == ["harborkit check: 4 hosts, 1 unreachable, profile harbor-v1.8.0"]
    assert_nothing_lost(cluster, text, verbose=False)
    down = "ERROR host.reachable critical server60: " + DOWN
    assert any(" ".join(ln.split()) == down for ln in lines)
    # one line per host, the verdict last
    assert [ln.split(":")[0].strip() for ln in lines[-5:-1]] == [
        "server58 (sysroot)",
        "server59 (sysroot)",
        "server60 (unreachable)",
        "harbor01 (sysroot)",
    ]
    assert not any(ln.startswith("CHECK ") for ln in lines)  # no matrix without -v
    verbose = renderer(OutputFormat.table)(
        cluster, strict=False, color=False, width=140, verbose=True
    )
    assert_nothing_lost(cluster, verbose, verbose=True)
    lines = verbose.splitlines()
    head = "harborkit check: 4 hosts x 12 checks"
    matrix = lines[lines.index(head) + 1 :]
    assert matrix[0].split() == ["CHECK", "server58", "server59", "server60", "harbor01"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in matrix[1:-1] if ln.strip()}
    assert rows["selinux.mode"] == ["FAIL", "PASS", "-", "PASS"]
    assert rows["cluster.ntp"] == ["PASS", "PASS", "-", "FAIL"]
    # harbor01's timesyncd has only the distribution's fallback servers: the
    # host check and the cross-node check agree that it is not configured
    assert rows["time.sync"] == ["PASS", "PASS", "-", "FAIL"]
    assert rows["host"] == ["verdict", "FAILED", "OK", "UNREACHABLE", "FAILED"]
    for out in (text, verbose):
        assert out.splitlines()[-1] == summary(cluster)
    assert lines[-1] == (
        "FAILED: 4 hosts, 1 unreachable, 22 checks: 9 pass, 6 skip, 1 warn, 5 fail, 1 error; "
        "failing: server58, server60, harbor01, cluster"
    )
    assert "\x1b[" not in text
    assert "\x1b[" in renderer(OutputFormat.table)(cluster, strict=False, color=True)


def test_hosts_with_the_same_result_share_a_row(tmp_path: Path) -> None:
    """Two copies of one fixture: each failing check is one row naming both,
    its fix block printed once; a third host that differs gets its own row."""
    roots = [copy_fixture(tmp_path, "debian12", n) for n in ("server58", "server59")]
    roots.append(copy_fixture(tmp_path, "centos7-compliant", "server60"))
    prof = load_profile()
    loaded, _ = discover()
    rep = run_cluster(
        [SysrootHost(r) for r in roots],
        loaded,
        prof,
        selection=Selection(
            prof.select, prof.skip, only=("sysctl.runtime", "sysctl.persisted", "limits.pam")
        ),
    )
    text = renderer(OutputFormat.table)(rep, strict=False, color=False, width=200)
    lines = text.splitlines()
    assert_nothing_lost(rep, text, verbose=False)
    runtime = _rows_naming(lines, "fail", "sysctl.runtime")
    assert [ln.split("  ")[-1].split(":")[0].strip() for ln in runtime] == ["server58, server59"]
    assert text.count("vm.max_map_count = 655360") == 1  # one fix block, not one per host or check
    assert text.count("the same change as sysctl.runtime above") == 1
    # the compliant host differs: its own row (verbose), or only counted
    assert "server60" not in " ".join(runtime)
    v = renderer(OutputFormat.table)(rep, strict=False, color=False, width=200, verbose=True)
    assert (
        _rows_naming(v.splitlines(), "pass", "sysctl.runtime")[0]
        .split("  ")[-1]
        .startswith("server60: ")
    )
    assert len(lines) * 2 <= len(
        "".join(
            renderer(OutputFormat.table)(h, strict=False, color=False, width=200, verbose=True)
            for h in rep.hosts
        ).splitlines()
    )


def hk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harborkit", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=REPO,
        timeout=120,
    )


def test_cli_audits_several_roots_as_one_cluster(roots: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    args = [a for r in roots for a in ("--root", str(r))]
    r = hk("check", *args, "--only", ",".join(ONLY), "-f", "json", "-o", str(out))
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    assert r.stderr == (
        "FAILED: 3 hosts, 21 checks: 9 pass, 6 skip, 1 warn, 5 fail; "
        "failing: server58, harbor01, cluster\n"
    )
    data = json.loads(out.read_text())
    validator().validate(data)
    assert [h["name"] for h in data["hosts"]] == ["server58", "server59", "harbor01"]
    # only the cross-node checks, and a waiver naming one of them is no "unknown check"
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - id: cluster.ntp\n    reason: harbor01 syncs from the site's DC\n"
    )
    r = hk("check", *args, "--only", "cluster", "--waivers", str(waivers), "-f", "junit")
    assert r.returncode == 1, r.stderr
    root = ET.fromstring(r.stdout)
    assert [s.get("tests") for s in root.findall("testsuite")] == ["0", "0", "0", "6"]
    ntp = root.find(
        "testsuite[@hostname='cluster']/testcase[@name='cluster.ntp: NTP clients use the master']"
    )
    assert ntp.find("skipped").get("message") == "waived (fail): harbor01 syncs from the site's DC"
    r = hk("check", *args, "--only", "cluster", "--skip", "cluster.names,cluster.ntp")
    assert r.returncode == 0, r.stdout
    lines = r.stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("harborkit check:")] == [
        "harborkit check: 3 hosts, profile harbor-v1.8.0"
    ]
    assert "not shown: 1 passing check and 3 skipped checks (-v shows them)" in lines
    assert lines[-1] == "OK: 3 hosts, 4 checks: 1 pass, 3 skip"
    # a single --root keeps the single-host report
    r = hk("check", "--root", str(roots[1]), "--only", "selinux", "-f", "json")
    assert json.loads(r.stdout)["schema"] == "harborkit/report/v1"


def test_list_shows_the_cross_node_checks() -> None:
    r = hk("check", "--list")
    assert r.returncode == 0
    lines = [ln.split() for ln in r.stdout.splitlines()]
    cluster = [ln[:3] for ln in lines if ln and ln[0].startswith("cluster.")]
    assert cluster == [
        ["cluster.names", "cluster", "high"],
        ["cluster.hostnames", "cluster", "high"],
        ["cluster.clock", "cluster", "high"],
        ["cluster.ntp", "cluster", "high"],
        ["cluster.docker_version", "cluster", "medium"],
        ["cluster.compose_version", "cluster", "medium"],
    ]


def test_a_wide_matrix_is_split_into_blocks_of_hosts(cluster: ClusterReport) -> None:
    text = renderer(OutputFormat.table)(cluster, strict=False, color=False, width=60, verbose=True)
    lines = text.splitlines()
    heads = [ln.split() for ln in lines if ln.startswith("CHECK ") and "server" in ln]
    # "cluster.compose_version" + 2 hosts of 13 columns each fit in 60
    assert heads == [["CHECK", "server58", "server59"], ["CHECK", "server60", "harbor01"]]
    verdicts = [ln.split()[2:] for ln in lines if ln.startswith("host verdict")]
    assert verdicts == [["FAILED", "OK"], ["UNREACHABLE", "FAILED"]]


def test_html_of_one_host(cluster: ClusterReport) -> None:
    from harborkit.report.html import CSP

    one = cluster.hosts[0]
    text = renderer(OutputFormat.html)(one, strict=False)
    assert text.startswith("<!DOCTYPE html>\n")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert "<h1>harborkit check: server58</h1>" in text
    assert 'id="matrix"' not in text  # one host: no matrix
    assert text.count('<tr id="h0-c') == len(one.results)
    # server58 has SELINUX=disabled in its config but enforces until a reboot:
    # the hint is built from that finding (one step a line, in a <pre>)
    assert text.count('<div class="fix">') == 1
    assert (
        '<div class="fix"><strong>fix:</strong> <pre class="hint">run: setenforce 0\n'
        "reboot to make SELINUX=disabled take effect (the running kernel is enforcing)</pre></div>"
    ) in text
    assert "white-space: pre-wrap; tab-size: 8;" in text


def test_cli_install_dir_is_checked_in_every_root_before_anything_runs(
    roots: list[Path], tmp_path: Path
) -> None:
    r = hk(
        "check", "--root", str(roots[0]), "--root", str(roots[2]), "--install-dir", "/opt/harbor"
    )
    assert r.returncode == 1, r.stderr
    assert "harbor.config" in r.stdout
    bare = copy_fixture(tmp_path, "centos7-compliant", "server59")
    shutil.rmtree(bare / "opt")
    out = tmp_path / "r.html"
    r = hk(
        "check",
        *("--root", str(roots[0]), "--root", str(bare)),
        *("--install-dir", "/opt/harbor", "-f", "html", "-o", str(out)),
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("harborkit: error: --install-dir /opt/harbor")
    assert str(bare) in r.stderr
    assert not out.exists()


def test_host_names_with_terminal_escapes_are_shown_not_obeyed(tmp_path: Path) -> None:
    evil = copy_fixture(tmp_path, "centos7-compliant", "evil")
    (evil / "etc/hostname").write_text("evil\x1b[2J\u202e\n")
    prof = load_profile()
    rep = run_cluster(
        [SysrootHost(evil), Unreachable("down\x1b]0;owned\x07", "gone")],
        [],
        prof,
        selection=Selection(),
    )
    text = renderer(OutputFormat.table)(rep, strict=False, color=False, width=200, verbose=True)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    header = [ln.split() for ln in text.splitlines() if ln.startswith("CHECK ") and "evil" in ln]
    assert header == [["CHECK", "evil\\x1b[2J\\u202e", "down\\x1b]0;owned\\x07"]]
    assert text.splitlines()[-1].endswith("failing: down\\x1b]0;owned\\x07")
    page = renderer(OutputFormat.html)(rep, strict=False)
    assert "\x1b" not in page and "\u202e" not in page
    assert "evil\\x1b[2J\\u202e" in page


P, S, W, F, E = Status.PASS, Status.SKIP, Status.WARN, Status.FAIL, Status.ERROR


def fleet(
    *hosts_: object, cross: tuple[CheckResult, ...] = (), down: tuple[str, ...] = ()
) -> ClusterReport:
    return ClusterReport(
        tuple(hosts_),  # type: ignore[arg-type]
        host("cluster", cross),
        tuple(Unreachable(n, REFUSED) for n in down),
        "prof",
        "p.yaml",
        "0.1.0",
        STARTED,
        0.0,
    )


def test_matrix_rows_cells_and_verdicts() -> None:
    m = build_matrix(FLEET)
    assert m.hosts == ("a1", "b2", "c3", "d4")
    assert m.reachable == (True, True, False, True)
    assert m.verdicts == (1, 0, 1, 0)
    assert m.rows == (
        MatrixRow("chk.one", "One", False, None, (P, W, None, None)),
        MatrixRow("chk.two", "Two", False, None, (F, None, None, None)),
        MatrixRow("chk.three", "Three", False, None, (None, S, None, None)),
        MatrixRow("host.reachable", "Host reachable", False, None, (None, None, E, None)),
        # a1: its own finding; b2: the worst of its two; c3: unreachable, never
        # judged; d4: no finding about it
        MatrixRow("cluster.x", "Cross", True, F, (P, F, None, None)),
        # skipped / broken for every reachable host alike
        MatrixRow("cluster.s", "Skipped", True, S, (S, S, None, S)),
        MatrixRow("cluster.e", "Broken", True, E, (E, E, None, E)),
        MatrixRow("cluster.p", "Passed", True, P, (P, None, None, None)),
    )


def test_matrix_verdicts_follow_strict() -> None:
    assert build_matrix(FLEET, strict=True).verdicts == (1, 1, 1, 0)


def test_cross_cell_of_a_host_with_only_skipped_findings() -> None:
    skipped = CheckResult(
        info("cluster.k", "K", "cluster"), P, "ok", (Finding(S, "a1", "n/a"),), 0.0
    )
    m = build_matrix(fleet(A1, cross=(skipped,)))
    assert m.rows[-1] == MatrixRow("cluster.k", "K", True, P, (S,))


@pytest.mark.parametrize(
    ("report", "strict", "line"),
    [
        pytest.param(
            FLEET,
            False,
            "FAILED: 4 hosts, 1 unreachable, 9 checks: 2 pass, 2 skip, 1 warn, 2 fail, 2 error; "
            "failing: a1, c3, cluster",
            id="fleet",
        ),
        pytest.param(
            FLEET,
            True,
            "FAILED: 4 hosts, 1 unreachable, 9 checks: 2 pass, 2 skip, 1 warn, 2 fail, 2 error; "
            "failing: a1, b2, c3, cluster",
            id="strict-warning-fails",
        ),
        pytest.param(fleet(B2), False, "OK: 1 host, 2 checks: 1 skip, 1 warn", id="one-host"),
        pytest.param(
            fleet(B2),
            True,
            "FAILED: 1 host, 2 checks: 1 skip, 1 warn; failing: b2",
            id="one-strict",
        ),
        pytest.param(fleet(D4, D4), False, "OK: 2 hosts, 0 checks: ", id="nothing-ran"),
        pytest.param(
            fleet(host("x\x1b[2J", (CheckResult(info("c", "C"), F, "no", (), 0.0),))),
            False,
            "FAILED: 1 host, 1 check: 1 fail; failing: x\\x1b[2J",
            id="escaped-host-name",
        ),
    ],
)
def test_cluster_summary_line(report: ClusterReport, strict: bool, line: str) -> None:
    assert cluster_summary_line(report, strict) == line


def test_summary_line_is_not_strict_by_default() -> None:
    assert cluster_summary_line(fleet(B2)) == "OK: 1 host, 2 checks: 1 skip, 1 warn"


@pytest.mark.parametrize("strict", [False, True])
def test_cluster_document(strict: bool) -> None:
    data = cluster_to_dict(FLEET, strict=strict)
    validator().validate(data)
    assert data == {
        "schema": "harborkit/cluster-report/v1",
        "harborkit_version": "0.1.0",
        "profile": {"name": "prof", "path": "p.yaml"},
        "started": STARTED,
        "duration_seconds": 2.25,
        "strict": strict,
        "exit_code": 1,
        "summary": {
            "pass": 2,
            "skip": 2,
            "waived": 0,
            "warn": 1,
            "fail": 2,
            "error": 2,
            "total": 9,
            "hosts": 4,
            "unreachable": 1,
        },
        "hosts": [
            {
                "name": "a1",
                "reachable": True,
                "reason": None,
                "report": report_to_dict(A1, strict=strict),
            },
            {
                "name": "b2",
                "reachable": True,
                "reason": None,
                "report": report_to_dict(B2, strict=strict),
            },
            {
                "name": "c3",
                "reachable": False,
                "reason": REFUSED,
                "report": report_to_dict(C3, strict=strict),
            },
            {
                "name": "d4",
                "reachable": True,
                "reason": None,
                "report": report_to_dict(D4, strict=strict),
            },
        ],
        "cluster": report_to_dict(CROSS, strict=strict),
    }
    # strict reaches each host's own document: b2 only warns
    assert data["hosts"][1]["report"]["exit_code"] == int(strict)


def test_cluster_document_rounds_the_duration_and_defaults_to_not_strict() -> None:
    data = cluster_to_dict(replace(fleet(B2), duration=1.23456789))
    assert (data["duration_seconds"], data["strict"], data["exit_code"]) == (1.234568, False, 0)


def test_cluster_json_text() -> None:
    text = render_cluster_json(fleet(replace(B2, host="b\u00f6")))
    assert text.endswith("\n}\n")
    assert text.startswith('{\n  "schema": "harborkit/cluster-report/v1",\n')
    assert '\n      "name": "b\u00f6",\n' in text  # UTF-8, not \u escapes
    data = json.loads(text)
    validator().validate(data)
    assert (data["strict"], data["exit_code"]) == (False, 0)
    strict = json.loads(render_cluster_json(fleet(B2), strict=True))
    assert (strict["strict"], strict["exit_code"]) == (True, 1)


ROWS = """\
harborkit check: 4 hosts, 1 unreachable, profile prof
STATUS  CHECK           SEVERITY  RESULT
WARN    chk.one         high      b2: one odd
                                    fix: fix it
FAIL    chk.two         critical  a1: two bad
                                    fail k: bad (expected >= 5, found 3) [/etc/two:4]
                                    fix: fix it
ERROR   host.reachable  critical  c3: ssh: connect to host c3 port 22: Connection refused
                                    fix: Make the host reachable (address, SSH access, host key, credentials) or leave it out
FAIL    cluster.x       high      b2 differs
                                    warn b2: odd
                                    fail b2: differs
                                    fix: fix it
ERROR   cluster.e       high      it broke
                                    fix: as for cluster.x above
note: b2: b2 note
not shown: 2 passing checks and 2 skipped checks (-v shows them)
"""

HOSTS = """\
  a1 (sysroot): FAILED: 2 checks: 1 pass, 1 fail
  b2 (live host): OK: 2 checks: 1 skip, 1 warn
  c3 (unreachable): FAILED: 1 check: 1 error
  d4 (sysroot): OK: 0 checks
"""

VERBOSE_ROWS = """\
harborkit check: 4 hosts, 1 unreachable, profile prof
STATUS  CHECK           SEVERITY  RESULT
PASS    chk.one         high      a1: one ok
WARN    chk.one         high      b2: one odd
                                    fix: fix it
FAIL    chk.two         critical  a1: two bad
                                    fail k: bad (expected >= 5, found 3) [/etc/two:4]
                                    fix: fix it
SKIP    chk.three       high      b2: not here
ERROR   host.reachable  critical  c3: ssh: connect to host c3 port 22: Connection refused
                                    fix: Make the host reachable (address, SSH access, host key, credentials) or leave it out
FAIL    cluster.x       high      b2 differs
                                    pass a1: same
                                    warn b2: odd
                                    fail b2: differs
                                    fix: fix it
SKIP    cluster.s       high      too few
ERROR   cluster.e       high      it broke
                                    fix: as for cluster.x above
PASS    cluster.p       high      all agree
                                    pass a1: agrees
note: b2: b2 note
"""

MATRIX = """\

harborkit check: 4 hosts x 8 checks
CHECK           a1      b2     c3           d4
chk.one         PASS    WARN   -            -
chk.two         FAIL    -      -            -
chk.three       -       skip   -            -
host.reachable  -       -      ERROR        -
cluster.x       PASS    FAIL   -            -
cluster.s       skip    skip   -            skip
cluster.e       ERROR   ERROR  -            ERROR
cluster.p       PASS    -      -            -
host verdict    FAILED  OK     UNREACHABLE  OK
"""


def _plain(text: str) -> str:
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


VERDICT = (
    "FAILED: 4 hosts, 1 unreachable, 9 checks: 2 pass, 2 skip, 1 warn, 2 fail, 2 error; "
    "failing: a1, c3, cluster\n"
)


def test_table_rows_then_hosts_then_verdict() -> None:
    assert _plain(render_cluster_table(FLEET, width=130)) == ROWS + HOSTS + VERDICT


def test_verbose_table_adds_the_rest_and_the_matrix() -> None:
    text = _plain(render_cluster_table(FLEET, width=130, verbose=True))
    assert text == VERBOSE_ROWS + HOSTS + MATRIX + VERDICT


def test_strict_table_fails_the_warning_host() -> None:
    lines = _plain(render_cluster_table(FLEET, strict=True, width=130)).splitlines()
    assert "  b2 (live host): FAILED: 2 checks: 1 skip, 1 warn" in lines
    lines = _plain(render_cluster_table(FLEET, strict=True, width=130, verbose=True)).splitlines()
    assert lines[-2:] == [
        "host verdict    FAILED  FAILED  UNREACHABLE  OK",
        "FAILED: 4 hosts, 1 unreachable, 9 checks: 2 pass, 2 skip, 1 warn, 2 fail, 2 error; "
        "failing: a1, b2, c3, cluster",
    ]


def test_verbose_reaches_every_section() -> None:
    text = _plain(render_cluster_table(FLEET, width=130, verbose=True))
    assert "                               pass a1: same\n" in text
    assert "pass a1: agrees" in text
    assert "pass a1: same" not in _plain(render_cluster_table(FLEET, width=130))


def test_a_host_with_only_notes_keeps_its_section() -> None:
    noted = replace(D4, notes=("nothing selected",))
    text = _plain(render_cluster_table(fleet(noted), width=80))
    assert text == (
        "harborkit check: d4 (sysroot), profile prof\n"
        "note: d4: nothing selected\n"
        "OK: 1 host, 0 checks:\n"
    )


def test_header_counts_hosts_and_unreachable_and_names_the_profile() -> None:
    rep = replace(fleet(A1, C3, down=("c3",)), hosts=(A1, replace(C3, profile="other")))
    heads = [ln for ln in render_cluster_table(rep).splitlines() if ln.startswith("harborkit")]
    assert heads == ["harborkit check: 2 hosts, 1 unreachable, profile prof"]


COLOR_MATRIX = [
    "",
    "\x1b[1mharborkit check: 4 hosts x 8 checks\x1b[0m",
    "\x1b[1mCHECK         \x1b[0m\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1ma1    \x1b[0m\x1b[1m \x1b[0m"
    "\x1b[1m \x1b[0m\x1b[1mb2   \x1b[0m\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1mc3         \x1b[0m"
    "\x1b[1m \x1b[0m\x1b[1m \x1b[0m\x1b[1md4   \x1b[0m",
    "chk.one         \x1b[32mPASS  \x1b[0m  \x1b[33mWARN \x1b[0m  \x1b[2m-          \x1b[0m  \x1b[2m-    \x1b[0m",
    "chk.two         \x1b[1;31mFAIL  \x1b[0m  \x1b[2m-    \x1b[0m  \x1b[2m-          \x1b[0m  \x1b[2m-    \x1b[0m",
    "chk.three       \x1b[2m-     \x1b[0m  \x1b[2mskip \x1b[0m  \x1b[2m-          \x1b[0m  \x1b[2m-    \x1b[0m",
    "host.reachable  \x1b[2m-     \x1b[0m  \x1b[2m-    \x1b[0m  \x1b[1;35mERROR      \x1b[0m  \x1b[2m-    \x1b[0m",
    "cluster.x       \x1b[32mPASS  \x1b[0m  \x1b[1;31mFAIL \x1b[0m  \x1b[2m-          \x1b[0m  \x1b[2m-    \x1b[0m",
    "cluster.s       \x1b[2mskip  \x1b[0m  \x1b[2mskip \x1b[0m  \x1b[2m-          \x1b[0m  \x1b[2mskip \x1b[0m",
    "cluster.e       \x1b[1;35mERROR \x1b[0m  \x1b[1;35mERROR\x1b[0m  \x1b[2m-          \x1b[0m  \x1b[1;35mERROR\x1b[0m",
    "cluster.p       \x1b[32mPASS  \x1b[0m  \x1b[2m-    \x1b[0m  \x1b[2m-          \x1b[0m  \x1b[2m-    \x1b[0m",
    "\x1b[1mhost verdict  \x1b[0m  \x1b[1;31mFAILED\x1b[0m  \x1b[1;32mOK   \x1b[0m  \x1b[1;31mUNREACHABLE\x1b[0m  \x1b[1;32mOK   \x1b[0m",
    "\x1b[1;31mFAILED: 4 hosts, 1 unreachable, 9 checks: 2 pass, 2 skip, 1 warn, 2 fail, 2 error; "
    "failing: a1, c3, cluster\x1b[0m",
]


def test_colours_of_headers_cells_and_verdicts() -> None:
    lines = render_cluster_table(FLEET, color=True, width=130, verbose=True).splitlines()
    assert lines[lines.index(COLOR_MATRIX[1]) - 1 :] == COLOR_MATRIX
    assert lines[0] == "\x1b[1mharborkit check: 4 hosts, 1 unreachable, profile prof\x1b[0m"
    # a host line is red when the host failed or was not reached
    assert "  b2 (live host): OK: 2 checks: 1 skip, 1 warn" in lines
    assert "\x1b[31m  a1 (sysroot): FAILED: 2 checks: 1 pass, 1 fail\x1b[0m" in lines
    assert "\x1b[31m  c3 (unreachable): FAILED: 1 check: 1 error\x1b[0m" in lines
    assert "\x1b[2mnot shown: 2 passing checks and 2 skipped checks (-v shows them)\x1b[0m" in (
        render_cluster_table(FLEET, color=True, width=130).splitlines()
    )
    # the cross-node rows are coloured too
    assert any(
        ln.startswith("\x1b[1;31mFAIL  \x1b[0m  cluster.x       high      b2 differs")
        for ln in lines
    )
    ok = render_cluster_table(fleet(B2), color=True).splitlines()
    assert ok[-1] == "\x1b[1;32mOK: 1 host, 2 checks: 1 skip, 1 warn\x1b[0m"
    strict = render_cluster_table(fleet(B2), color=True, strict=True).splitlines()
    assert strict[-1] == "\x1b[1;31mFAILED: 1 host, 2 checks: 1 skip, 1 warn; failing: b2\x1b[0m"


def test_defaults_plain_not_strict_not_verbose() -> None:
    text = render_cluster_table(fleet(B2))
    assert "\x1b" not in text
    assert text.splitlines()[-1] == "OK: 1 host, 2 checks: 1 skip, 1 warn"


def test_matrix_sections_separate_cross_node_rows_and_verdicts() -> None:
    m = build_matrix(FLEET)
    table = _matrix_table(m, range(4))
    ends = [row.end_section for row in table.rows]
    # a section ends before the first cross-node row and before the verdicts
    assert ends == [False, False, False, True, False, False, False, True, False]
    assert [str(c.header) for c in table.columns] == ["CHECK", "a1", "b2", "c3", "d4"]


def _matrix(*names: str, check: str = "chk") -> Matrix:
    n = len(names)
    row = MatrixRow(check, "t", False, None, (None,) * n)
    return Matrix(names, (True,) * n, (0,) * n, (row,))


@pytest.mark.parametrize(
    ("m", "width", "blocks"),
    [
        # CHECK column: "host verdict" + 2 = 14; a host: max(name, "UNREACHABLE") + 2 = 13
        pytest.param(_matrix("a", "b"), 40, [range(0, 2)], id="fits-exactly"),
        pytest.param(_matrix("a", "b"), 39, [range(0, 1), range(1, 2)], id="one-short"),
        pytest.param(
            _matrix("a", "b", "c"), 27, [range(0, 1), range(1, 2), range(2, 3)], id="one-each"
        ),
        pytest.param(_matrix("a", "b"), 5, [range(0, 1), range(1, 2)], id="narrower-than-one"),
        pytest.param(_matrix(check="x" * 20), 80, [range(0, 0)], id="no-hosts"),
        # a long check id widens the first column: 20 + 2 + 13 + 13 = 48
        pytest.param(_matrix("a", "b", check="x" * 20), 48, [range(0, 2)], id="long-check"),
        pytest.param(
            _matrix("a", "b", check="x" * 20), 47, [range(0, 1), range(1, 2)], id="long-check-short"
        ),
        # a long host name widens its column, measured as shown (escapes visible):
        # "host\x1b12345" is 13 characters on screen, its column 15
        pytest.param(_matrix("host\x1b12345", "b"), 42, [range(0, 2)], id="escaped-name"),
        pytest.param(
            _matrix("host\x1b12345", "b"), 41, [range(0, 1), range(1, 2)], id="escaped-name-short"
        ),
    ],
)
def test_host_blocks(m: Matrix, width: int, blocks: list[range]) -> None:
    assert _host_blocks(m, width) == blocks


def test_a_split_matrix_repeats_the_check_column_after_a_blank_line() -> None:
    text = _plain(render_cluster_table(FLEET, width=42, verbose=True))
    assert text.split("harborkit check: 4 hosts x 8 checks\n", 1)[1] == (
        "CHECK           a1      b2\n"
        "chk.one         PASS    WARN\n"
        "chk.two         FAIL    -\n"
        "chk.three       -       skip\n"
        "host.reachable  -       -\n"
        "cluster.x       PASS    FAIL\n"
        "cluster.s       skip    skip\n"
        "cluster.e       ERROR   ERROR\n"
        "cluster.p       PASS    -\n"
        "host verdict    FAILED  OK\n"
        "\n"
        "CHECK           c3           d4\n"
        "chk.one         -            -\n"
        "chk.two         -            -\n"
        "chk.three       -            -\n"
        "host.reachable  ERROR        -\n"
        "cluster.x       -            -\n"
        "cluster.s       -            skip\n"
        "cluster.e       -            ERROR\n"
        "cluster.p       -            -\n"
        "host verdict    UNREACHABLE  OK\n"
        "FAILED: 4 hosts, 1 unreachable, 9 checks:\n"
        "2 pass, 2 skip, 1 warn, 2 fail, 2 error;\n"
        "failing: a1, c3, cluster\n"
    )


def test_default_width_is_120_columns() -> None:
    # CHECK column 14, then seven hosts of 13 and one of 16: 121 columns
    names = [f"host-{i:06d}" for i in range(7)] + ["host-000000007"]
    rep = fleet(*(replace(D4, host=n) for n in names))
    text = render_cluster_table(rep, verbose=True)
    heads = [ln.split() for ln in text.splitlines() if ln.startswith("CHECK")]
    assert heads == [["CHECK", *names[:7]], ["CHECK", names[7]]]
    wide = render_cluster_table(rep, width=121, verbose=True).splitlines()
    assert [ln.split() for ln in wide if ln.startswith("CHECK")] == [["CHECK", *names]]


def test_colour_and_width_do_not_depend_on_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The caller chose colour and width: a dumb terminal (which rich would size
    at 80 columns), NO_COLOR or FORCE_COLOR in the environment change nothing."""
    plain = render_cluster_table(FLEET, width=130)
    coloured = render_cluster_table(FLEET, color=True, width=130)
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("NO_COLOR", "1")
    assert render_cluster_table(FLEET, color=True, width=130) == coloured
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert render_cluster_table(FLEET, width=130) == plain


LONG = "the clocks of a1 and b2 differ by 2.5 s, more than the 1.0 s the profile allows; "


def test_cross_section_takes_strict_width_and_verbose() -> None:
    warn = CheckResult(
        info("cluster.w", "W", "cluster"),
        W,
        LONG + "see the findings for each host",
        (Finding(P, "a1", "in step"),),
        0.0,
    )
    rep = fleet(D4, replace(D4, host="e5"), cross=(warn,))
    cross = [
        "harborkit check: 2 hosts, profile prof",
        "STATUS  CHECK      SEVERITY  RESULT",
        "WARN    cluster.w  high      the clocks of a1 and b2 differ by 2.5 s, more than the 1.0 s the profile "
        "allows; see the findings for each host",
        "                               fix: fix it",
    ]
    lines = _plain(render_cluster_table(rep, width=140)).splitlines()
    assert lines == [
        *cross,
        "  d4 (sysroot): OK: 0 checks",
        "  e5 (sysroot): OK: 0 checks",
        "OK: 2 hosts, 1 check: 1 warn",
    ]
    lines = _plain(render_cluster_table(rep, strict=True, width=140, verbose=True)).splitlines()
    assert lines[:5] == [*cross[:3], "                               pass a1: in step", cross[3]]
    assert lines[-1] == "FAILED: 2 hosts, 1 check: 1 warn; failing: cluster"


def test_a_host_that_ran_nothing_does_not_hide_the_next() -> None:
    lines = render_cluster_table(fleet(D4, A1)).splitlines()
    assert [ln for ln in lines if ln.startswith("harborkit check:")] == [
        "harborkit check: 2 hosts, profile prof"
    ]
    assert lines[2].startswith("FAIL    chk.two  critical  a1: two bad")


def test_verbose_reaches_each_host_section() -> None:
    ok = host(
        "e5",
        (CheckResult(info("chk.ok", "OK"), P, "fine", (Finding(P, "k", "good"),), 0.0),),
    )
    assert "  pass k: good" not in render_cluster_table(fleet(ok))
    assert _plain(render_cluster_table(fleet(ok), verbose=True)).startswith(
        "harborkit check: e5 (sysroot), profile prof\n"
        "STATUS  CHECK   SEVERITY  RESULT\n"
        "PASS    chk.ok  high      fine\n"
        "                            pass k: good\n"
    )


def test_a_matrix_narrower_than_one_host_cuts_cells_instead_of_wrapping() -> None:
    text = _plain(render_cluster_table(fleet(A1), width=14, verbose=True))
    assert "CHECK" + text.split("\nCHECK", 1)[1] == (
        "CHECK      a1\n"
        "chk.one    PA…\n"
        "chk.two    FA…\n"
        "host ver…  FA…\n"
        "FAILED: 1\n"
        "host, 2\n"
        "checks: 1\n"
        "pass, 1 fail;\n"
        "failing: a1\n"
    )


def test_long_host_names_are_abridged_in_the_table() -> None:
    name = "h" * 301
    shown = "h" * 300 + "... (1 more characters)"
    rep = fleet(host(name, (CheckResult(info("c", "C"), F, "no", (), 0.0),)))
    assert cluster_summary_line(rep) == f"FAILED: 1 host, 1 check: 1 fail; failing: {shown}"
    lines = render_cluster_table(rep, width=400, verbose=True).splitlines()
    assert f"CHECK         {shown}" in [ln.rstrip() for ln in lines]
