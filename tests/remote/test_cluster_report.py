"""One report for a cluster reached over SSH: the sshd test hosts of the
remote tests (server58 as the guide wrote it, server59 compliant, harbor01
Debian, one address where nothing listens), judged in one run.

Checks the multi-host path end to end: the cluster JSON, the cross-node
checks fed by real SSH reads (the clocks the collector reports, the hosts'
own docker-compose), the unreachable host kept as an error while the others
are reported, and the HTML page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from harborkit.errors import ExitCode
from harborkit.resources import schema_path
from tests.remote.conftest import Lab

HK = [sys.executable, "-m", "harborkit"]


def hk(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HK, "check", "--ssh-config", str(lab.client.config), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cluster_over_ssh_one_report(lab: Lab, tmp_path: Path) -> None:
    targets = ",".join(h.target for h in (lab.guide, lab.compliant, lab.sudo))
    out = tmp_path / "cluster.json"
    r = hk(lab, "--host", targets, "--host", lab.down_address, "-f", "json", "-o", str(out))
    assert r.returncode == ExitCode.UNREACHABLE, r.stderr  # a host could not be audited
    lines = r.stderr.splitlines()
    assert lines[0].startswith("FAILED: 4 hosts, 1 unreachable, ")
    assert lines[1].startswith(f"harborkit: error: {lab.down_address}")
    data = json.loads(out.read_text())
    schema = json.loads(schema_path("report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        data
    )
    assert data["schema"] == "harborkit/cluster-report/v1"
    hosts = data["hosts"]
    assert [h["reachable"] for h in hosts] == [True, True, True, False]
    assert hosts[3]["report"]["results"][0]["id"] == "host.reachable"
    assert hosts[3]["reason"] == hosts[3]["report"]["results"][0]["message"]
    names = [h["name"] for h in hosts[:3]]
    cross = {r["id"]: r for r in data["cluster"]["results"]}

    # every reachable node's clock was read over SSH; one kernel, so they agree
    clock = cross["cluster.clock"]
    assert clock["status"] == "pass", clock
    assert [f["subject"] for f in clock["findings"]] == names
    assert clock["message"].startswith("3 clocks within ")
    # the hosts' own docker-compose binaries ran over SSH: 1.24.0 on the guide's
    # two nodes, none on harbor01 (the Compose v2 plugin only)
    compose = cross["cluster.compose_version"]
    assert (compose["status"], compose["message"]) == ("pass", "2 nodes run docker-compose 1.24.0")
    assert [(f["subject"], f["status"]) for f in compose["findings"]] == [
        (names[2], "skip"),
        (names[0], "pass"),
        (names[1], "pass"),
    ]
    # the guide's master and client, and a Debian host on timesyncd's defaults
    ntp = cross["cluster.ntp"]
    assert ntp["status"] == "fail"
    assert [(f["subject"], f["status"]) for f in ntp["findings"]] == [
        (names[0], "pass"),
        (names[1], "pass"),
        (names[2], "fail"),
    ]
    assert ntp["findings"][1]["location"] == "/etc/ntp.conf:18"
    hostnames = cross["cluster.hostnames"]
    assert [f["actual"] for f in hostnames["findings"]] == ["server58", "server59", "harbor01"]
    assert hostnames["status"] == "pass"
    assert {f["subject"] for f in cross["cluster.names"]["findings"]} == set(names)

    page = tmp_path / "cluster.html"
    r = hk(lab, "--host", targets, "--host", lab.down_address, "-f", "html", "-o", str(page))
    assert r.returncode == ExitCode.UNREACHABLE, r.stderr
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<h1>harborkit check: 4 hosts</h1>" in html
    assert html.count('<section class="host"') == 5  # 4 hosts + the cross-node checks
    assert "<script" not in html
