"""Reports of several hosts: table sections and matrix, cluster JSON, JUnit suites."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from harborkit.engine.cluster import ClusterReport, Unreachable, run_cluster
from harborkit.engine.plugins import discover
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import Selection
from harborkit.host import SysrootHost
from harborkit.report import OutputFormat, renderer, summary
from harborkit.report.cluster import build_matrix, cluster_to_dict
from harborkit.report.json import report_to_dict
from harborkit.resources import schema_path
from tests.cluster.hosts import copy_fixture
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
    for entry, rep in zip(data["hosts"], cluster.hosts, strict=True):
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


def test_table_sections_matrix_and_verdict(cluster: ClusterReport) -> None:
    text = renderer(OutputFormat.table)(cluster, strict=False, color=False, width=140)
    lines = text.splitlines()
    headers = [ln for ln in lines if ln.startswith("harborkit check: ")]
    assert headers == [
        "harborkit check: server58 (sysroot), profile harbor-v1.8.0",
        "harborkit check: server59 (sysroot), profile harbor-v1.8.0",
        "harborkit check: server60 (unreachable), profile harbor-v1.8.0",
        "harborkit check: harbor01 (sysroot), profile harbor-v1.8.0",
        "harborkit check: cross-node checks over 3 reachable hosts, profile harbor-v1.8.0",
        "harborkit check: 4 hosts x 12 checks",
    ]
    # each host's section is exactly its single-host table
    for rep in cluster.hosts:
        alone = renderer(OutputFormat.table)(rep, strict=False, color=False, width=140)
        if rep.host == "server60":
            alone = alone.split("\n", 1)[1]
        assert alone in text
    assert any(ln.startswith("ERROR   host.reachable  critical  " + DOWN) for ln in lines)
    matrix = lines[lines.index(headers[-1]) + 1 :]
    assert matrix[0].split() == ["CHECK", "server58", "server59", "server60", "harbor01"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in matrix[1:-1] if ln.strip()}
    assert rows["selinux.mode"] == ["FAIL", "PASS", "-", "PASS"]
    assert rows["cluster.ntp"] == ["PASS", "PASS", "-", "FAIL"]
    # harbor01's timesyncd has only the distribution's fallback servers: the
    # host check and the cross-node check agree that it is not configured
    assert rows["time.sync"] == ["PASS", "PASS", "-", "FAIL"]
    assert rows["host"] == ["verdict", "FAILED", "OK", "UNREACHABLE", "FAILED"]
    assert lines[-1] == summary(cluster)
    assert lines[-1] == (
        "FAILED: 4 hosts, 1 unreachable, 22 checks: 9 pass, 6 skip, 1 warn, 5 fail, 1 error; "
        "failing: server58, server60, harbor01, cluster"
    )
    assert "\x1b[" not in text
    assert "\x1b[" in renderer(OutputFormat.table)(cluster, strict=False, color=True)


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
    # hosts with no check selected have no section of their own, only matrix columns
    assert [ln for ln in lines if ln.startswith("harborkit check:")] == [
        "harborkit check: cross-node checks over 3 reachable hosts, profile harbor-v1.8.0",
        "harborkit check: 3 hosts x 4 checks",
    ]
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
    text = renderer(OutputFormat.table)(cluster, strict=False, color=False, width=60)
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
    text = renderer(OutputFormat.table)(rep, strict=False, color=False, width=200)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    header = [ln.split() for ln in text.splitlines() if ln.startswith("CHECK ") and "evil" in ln]
    assert header == [["CHECK", "evil\\x1b[2J\\u202e", "down\\x1b]0;owned\\x07"]]
    assert text.splitlines()[-1].endswith("failing: down\\x1b]0;owned\\x07")
    page = renderer(OutputFormat.html)(rep, strict=False)
    assert "\x1b" not in page and "\u202e" not in page
    assert "evil\\x1b[2J\\u202e" in page
