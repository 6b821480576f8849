"""Verdicts a mutation pass showed untested: list values, %group limits lines,
single curly quotes, forbidden hostnames in other case, a port shared by
Harbor's nginx and a foreign process. Each asserts the verdict and message."""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harborkit.checks._compare import (
    describe,
    parse_scalar,
    parse_value,
    satisfies,
    show,
    version_at_least,
    version_tuple,
)
from harborkit.checks.daemon_json import DaemonJsonCheck
from harborkit.checks.harbor_config import HarborConfigCheck
from harborkit.checks.limits import PamLimitsCheck, effective, parse_limits
from harborkit.checks.ports import HarborPorts
from harborkit.checks.sysctl import SysctlPersisted, SysctlRuntime
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.model.check import Finding, Status
from tests.support.checks import ctx
from tests.support.sysroot import rows, write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
PROFILE = load_profile().data
COMPLIANT_YML = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()


# --- _compare: list values (kernel.sem) ----------------------------------------


def test_list_values_compare_element_by_element() -> None:
    want = "250 32000 100 128"
    assert satisfies("eq", want, "250\t32000  100 128")
    assert satisfies("ge", want, "250 32000 100 200")
    assert not satisfies("ge", want, "250 31999 100 200")
    assert satisfies("le", want, "250 32000 100 128")
    assert not satisfies("le", want, "251 32000 100 128")
    # too few or too many fields never satisfy, whatever the operator
    for op in ("eq", "ge", "le"):
        assert not satisfies(op, want, "250 32000 100"), op
        assert not satisfies(op, want, "250 32000 100 128 7"), op
        assert not satisfies(op, want, "250"), op
    assert not satisfies("eq", "5", "5 5")
    assert satisfies("eq", [1, 2], "1 2")


def test_kernel_sem_with_too_few_or_too_many_fields_fails(tmp_path: Path) -> None:
    profile = copy.deepcopy(dict(PROFILE))
    profile["sysctl"] = {"kernel.sem": {"op": "ge", "value": "250 32000 100 128"}}
    for actual in ("250 32000 100", "250 32000 100 128 1"):
        root = write(
            tmp_path / actual.replace(" ", "_"),
            {
                "proc/sys/kernel/sem": actual + "\n",
                "etc/sysctl.d/90-harbor.conf": f"kernel.sem = {actual}\n",
            },
        )
        out = run_check(SysctlRuntime, ctx(root, profile))
        assert (out.status, out.message) == (
            Status.FAIL,
            f"kernel.sem: {actual}, expected >= 250 32000 100 128",
        )
        out = run_check(SysctlPersisted, ctx(root, profile))
        assert (out.status, out.message) == (
            Status.FAIL,
            f"kernel.sem: {actual}, expected >= 250 32000 100 128",
        )
        assert out.findings[0].location == "/etc/sysctl.d/90-harbor.conf:1"
    root = write(tmp_path / "ok", {"proc/sys/kernel/sem": "250\t32000\t100\t128\n"})
    out = run_check(SysctlRuntime, ctx(root, profile))
    assert (out.status, out.message) == (Status.PASS, "1 keys as expected")
    assert out.findings[0].message == "250 32000 100 128 (expected >= 250 32000 100 128)"


def test_scalars_operators_and_text() -> None:
    assert parse_scalar("unlimited") == math.inf
    assert parse_scalar(" Infinity ") == math.inf
    assert parse_scalar("65536") == 65536
    assert parse_scalar(True) == 1
    assert parse_scalar(2.5) == 2.5
    assert parse_scalar("abc") == "abc"
    assert parse_value("1 2") == [1, 2]
    assert parse_value(["3", "unlimited"]) == [3, math.inf]
    assert parse_value("7") == 7
    assert satisfies("ge", "unlimited", "unlimited")
    assert not satisfies("ge", "unlimited", "655350")
    assert satisfies("ge", 655350, "unlimited")
    assert not satisfies("le", 10, "unlimited")
    assert not satisfies("ge", 1, "abc")  # ordering needs numbers
    assert not satisfies("le", "abc", 1)
    assert satisfies("eq", "abc", "abc")
    assert satisfies("in", [1, 2], "2")
    assert not satisfies("in", [1, 2], "3")
    assert satisfies("ignore", 1, "anything")
    with pytest.raises(ValueError, match="unknown operator 'gt'"):
        satisfies("gt", 1, 2)
    assert show(math.inf) == "unlimited"
    assert show([250, math.inf]) == "250 unlimited"
    assert show(7) == "7"
    assert describe("ge", 655350) == ">= 655350"
    assert describe("le", 5) == "<= 5"
    assert describe("eq", math.inf) == "= unlimited"
    assert describe("in", [1, "x"]) == "one of 1, x"
    assert describe("ignore", 0) == "(ignored) 0"
    assert version_tuple("17.06.0-ce") == (17, 6, 0)
    assert version_tuple("v2.24") == (2, 24, 0)
    assert version_tuple("docker-compose version 1") == (1, 0, 0)
    with pytest.raises(ValueError, match="no version number in 'none'"):
        version_tuple("none")
    assert version_at_least("17.06.0", "17.06.0")
    assert version_at_least("18.09.1", "17.06.0")
    assert not version_at_least("17.05.9", "17.06.0")


# --- limits: %group and @group lines -------------------------------------------


def test_percent_group_lines_maxlogins_only(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "etc/os-release": 'ID="centos"\n',
            "etc/security/limits.conf": (
                "%admins - maxlogins 4\n"
                "%admins hard nofile 1024\n"
                "%admins - maxsyslogins 9\n"
                "@admins soft nofile 2048\n"
                "%:1000 - maxlogins 2\n"
            ),
        },
    )
    out = run_check(PamLimitsCheck, ctx(root, {"limits": {"expected": []}}))
    assert (out.status, out.message) == (
        Status.WARN,
        "2 of 2 warn: %admins hard nofile 1024, %admins - maxsyslogins 9",
    )
    assert rows(out.findings) == [
        (
            "warn",
            "%admins hard nofile 1024",
            "the '%' domain is valid for maxlogins only: pam_limits ignores this line",
            "/etc/security/limits.conf:2",
        ),
        (
            "warn",
            "%admins - maxsyslogins 9",
            "the '%' domain is valid for maxlogins only: pam_limits ignores this line",
            "/etc/security/limits.conf:3",
        ),
    ]
    pam = parse_limits(ctx(root))
    assert [(e.domain, e.type, e.item, e.value) for e in pam.entries] == [
        ("%admins", "-", "maxlogins", 4),
        ("@admins", "soft", "nofile", 2048),
        ("%:1000", "-", "maxlogins", 2),
    ]


def test_group_lines_rank_between_user_and_wildcard(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "etc/os-release": 'ID="centos"\n',
            "etc/security/limits.conf": (
                "root soft nproc 100\n"
                "@root soft nproc 200\n"
                "* soft nproc 300\n"
                "@root hard nproc 400\n"
                "* hard nproc 500\n"
                "* - nofile 600\n"
            ),
        },
    )
    pam = parse_limits(ctx(root))
    got = effective(pam, "root", "nproc", wildcard_for_root=True)
    assert (got["soft"].value, got["hard"].value) == (100, 400)  # type: ignore[union-attr]
    got = effective(pam, "*", "nproc", wildcard_for_root=True)
    assert (got["soft"].value, got["hard"].value) == (300, 500)  # type: ignore[union-attr]
    got = effective(pam, "root", "nofile", wildcard_for_root=False)
    assert got == {"soft": None, "hard": None}
    got = effective(pam, "root", "nofile", wildcard_for_root=True)
    assert (got["soft"].value, got["hard"].value) == (600, 600)  # type: ignore[union-attr]
    got = effective(pam, "alice", "nproc", wildcard_for_root=True)
    assert (got["soft"].value, got["hard"].value) == (300, 500)  # type: ignore[union-attr]

    profile = {
        "limits": {
            "expected": [
                {"domain": "root", "type": "-", "item": "nproc", "op": "ge", "value": 150},
            ]
        }
    }
    out = run_check(PamLimitsCheck, ctx(root, profile))
    assert (out.status, out.message) == (Status.FAIL, "root soft nproc: 100, expected >= 150")
    assert rows(out.findings) == [
        ("fail", "root soft nproc", "100, expected >= 150", "/etc/security/limits.conf:1"),
        ("pass", "root hard nproc", "400 (expected >= 150)", "/etc/security/limits.conf:4"),
    ]


# --- daemon_json: single curly quotes, the count ---------------------------------


def test_single_curly_quotes_are_named_and_counted(tmp_path: Path) -> None:
    root = write(tmp_path, {"etc/docker/daemon.json": "{\u2018insecure-registries\u2019: []}\n"})
    out = run_check(DaemonJsonCheck, ctx(root))
    msg = (
        'line 1 column 2: typographic quote \u2018 (U+2018) where JSON needs a plain " '
        "(2 typographic quotes in the file); dockerd will not start with this file"
    )
    assert (out.status, out.message) == (Status.FAIL, f"daemon.json: {msg}")
    assert rows(out.findings)[0] == ("fail", "daemon.json", msg, "/etc/docker/daemon.json:1:2")


def test_one_curly_quote_has_no_count(tmp_path: Path) -> None:
    root = write(
        tmp_path, {"etc/docker/daemon.json": '{"insecure-registries": [\u201d10.0.0.5:80"]}\n'}
    )
    out = run_check(DaemonJsonCheck, ctx(root))
    msg = (
        'line 1 column 26: typographic quote \u201d (U+201D) where JSON needs a plain "; '
        "dockerd will not start with this file"
    )
    assert (out.status, out.message) == (Status.FAIL, f"daemon.json: {msg}")
    assert out.findings[0].location == "/etc/docker/daemon.json:1:26"


def test_other_syntax_error_is_reported_as_json_says(tmp_path: Path) -> None:
    root = write(tmp_path, {"etc/docker/daemon.json": '{\n  "debug": true,\n}\n'})
    out = run_check(DaemonJsonCheck, ctx(root))
    msg = (
        "line 3 column 1: Expecting property name enclosed in double quotes; "
        "dockerd will not start with this file"
    )
    assert (out.status, out.message) == (Status.FAIL, f"daemon.json: {msg}")
    assert out.findings[0].location == "/etc/docker/daemon.json:3:1"


# --- harbor_config: forbidden hostnames in other case -------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("REG.MyDomain.com", "unchanged from the shipped default: install.sh refuses to run"),
        ("LocalHost", "clients outside this host cannot reach Harbor at localhost"),
    ],
)
def test_forbidden_hostname_in_other_case_fails(tmp_path: Path, name: str, why: str) -> None:
    root = write(
        tmp_path,
        {
            "opt/harbor/harbor.yml": COMPLIANT_YML.replace(
                "hostname: 192.168.3.60", f"hostname: {name}"
            )
        },
    )
    out = run_check(HarborConfigCheck, ctx(root, harbor_config="/opt/harbor/harbor.yml"))
    assert (out.status, out.message) == (Status.FAIL, f"hostname: {name}: {why}")
    f = out.findings[0]
    assert (f.actual, f.location) == (name, "/opt/harbor/harbor.yml:5")


def test_hostname_forbidden_by_a_profile_only(tmp_path: Path) -> None:
    profile = copy.deepcopy(dict(PROFILE))
    profile["harbor"] = {**profile["harbor"], "forbidden_hostnames": ["Harbor.Example"]}
    root = write(
        tmp_path,
        {
            "opt/harbor/harbor.yml": COMPLIANT_YML.replace(
                "hostname: 192.168.3.60", "hostname: harbor.example"
            )
        },
    )
    out = run_check(HarborConfigCheck, ctx(root, profile, harbor_config="/opt/harbor/harbor.yml"))
    assert (out.status, out.message) == (
        Status.FAIL,
        "hostname: harbor.example: not allowed by the profile",
    )


# --- ports: Harbor's nginx and a foreign process on one port ------------------------


@pytest.fixture
def nginx_and_me(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A process named nginx listening on 127.0.0.1:P (busybox httpd under that
    name) and this test process listening on 127.0.0.2:P."""
    me = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    me.bind(("127.0.0.2", 0))
    me.listen()
    port = me.getsockname()[1]
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is a test dependency (Makefile DEBS)"
    nginx = tmp_path / "nginx"
    shutil.copy2(busybox, nginx)
    proc = subprocess.Popen(
        ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(tmp_path)],
        executable=str(nginx),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            held = [
                c
                for c in psutil.net_connections("tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid == proc.pid
            ]
            if held:
                break
            assert proc.poll() is None, "busybox httpd did not start"
            time.sleep(0.05)
        else:
            raise AssertionError(f"nginx stand-in is not listening on 127.0.0.1:{port}")
        yield port, proc.pid
    finally:
        proc.kill()
        proc.wait()
        me.close()


def test_port_held_by_nginx_and_a_foreign_process_fails(
    tmp_path: Path, nginx_and_me: tuple[int, int]
) -> None:
    port, nginx_pid = nginx_and_me
    cfg = tmp_path / "harbor.yml"
    cfg.write_text(COMPLIANT_YML.replace("port: 8888", f"port: {port}"))
    # only the test's own port: what else this machine listens on (1514 ...) is not
    # the test's to judge (the default ports are judged in tests/checks/test_live_state.py)
    mine = copy.deepcopy(dict(PROFILE))
    mine["ports"] = {**mine["ports"], "always": []}
    out = run_check(HarborPorts, ctx(None, mine, harbor_config=str(cfg)))
    me = psutil.Process().name()
    holder = f"nginx (pid {nginx_pid}) on 127.0.0.1; {me} (pid {os.getpid()}) on 127.0.0.2"
    holders = {
        holder,
        f"{me} (pid {os.getpid()}) on 127.0.0.2; nginx (pid {nginx_pid}) on 127.0.0.1",
    }
    assert out.status is Status.FAIL
    assert out.message.startswith(f"port {port}: in use by ")
    assert out.message.removeprefix(f"port {port}: in use by ") in holders
    (f,) = out.findings
    assert (f.status, f.subject, f.expected, f.location) == (
        Status.FAIL,
        f"port {port}",
        "free, or held by docker-proxy, nginx",
        f"{cfg}:10",
    )
    # nginx alone is Harbor itself
    profile = copy.deepcopy(mine)
    profile["ports"] = {**profile["ports"], "harbor_processes": ["nginx", me]}
    out = run_check(HarborPorts, ctx(None, profile, harbor_config=str(cfg)))
    assert out.status is Status.PASS
    assert out.findings[0].message.endswith(": counted as Harbor itself (ports.harbor_processes)")


# --- limits.dockerd: a process named dockerd started under prlimit ------------------


#: a stand-in daemon: listens on the unix socket argv[1], then waits
LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "s.bind(sys.argv[1]); s.listen(8)\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


def standin(tmp_path: Path, name: str, sock: Path, *limits: str) -> subprocess.Popen[str]:
    """A process called ``name`` (a copy of Python) listening on ``sock``."""
    import os

    exe = tmp_path / name
    shutil.copy2(os.path.realpath(sys.executable), exe)
    proc = subprocess.Popen(
        ["prlimit", *limits, "--", str(exe), "-c", LISTEN, str(sock)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    assert psutil.Process(proc.pid).name() == name
    return proc


@pytest.fixture
def standin_dockerd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A process named ``dockerd`` with nofile 1024:4096 and nproc 1000:2000, as a
    docker.service without LimitNOFILE= may get, serving the socket DOCKER_HOST names."""
    sock = tmp_path / "d.sock"
    proc = standin(tmp_path, "dockerd", sock, "--nofile=1024:4096", "--nproc=1000:2000")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _mine(out_findings: tuple[Finding, ...], pid: int) -> list[tuple[str, str, str, str | None]]:
    return [
        (f.status.value, f.subject, f.message, f.actual)
        for f in out_findings
        if f.subject.startswith(f"dockerd[{pid}]")
    ]


def test_dockerd_limits_of_a_running_dockerd(standin_dockerd: int) -> None:
    from harborkit.checks.limits import DockerdLimits

    pid = standin_dockerd
    profile = copy.deepcopy(dict(PROFILE))
    profile["limits"] = {
        "dockerd": {
            "nofile": {"op": "ge", "value": 2048},
            "nproc": {"op": "le", "value": 1500},
            "bogus": {"op": "ge", "value": 1},
            "stack": {"op": "ge", "value": 1},
        }
    }
    out = run_check(DockerdLimits, ctx(None, profile))
    assert out.status is Status.FAIL
    assert _mine(out.findings, pid) == [
        (
            "fail",
            f"dockerd[{pid}] soft nofile",
            "1024, expected >= 2048: set LimitNOFILE= in a docker.service drop-in",
            "1024",
        ),
        ("pass", f"dockerd[{pid}] hard nofile", "4096 (expected >= 2048)", "4096"),
        ("pass", f"dockerd[{pid}] soft nproc", "1000 (expected <= 1500)", "1000"),
        (
            "fail",
            f"dockerd[{pid}] hard nproc",
            "2000, expected <= 1500: set LimitNPROC= in a docker.service drop-in",
            "2000",
        ),
        ("warn", f"dockerd[{pid}] bogus", f"no 'bogus' limit known in /proc/{pid}/limits", None),
        ("pass", f"dockerd[{pid}] soft stack", mine_stack(pid, 0), mine_stack(pid, 0).split()[0]),
        ("pass", f"dockerd[{pid}] hard stack", mine_stack(pid, 1), mine_stack(pid, 1).split()[0]),
    ]
    locations = {
        f.location
        for f in out.findings
        if f.subject.startswith(f"dockerd[{pid}] ") and f.status is not Status.WARN
    }
    assert locations == {f"/proc/{pid}/limits"}
    # only the daemon DOCKER_HOST names, whatever other dockerd processes run here
    assert {f.subject.split()[0] for f in out.findings} == {f"dockerd[{pid}]"}


def test_dockerd_limits_judges_only_the_daemon_docker_host_names(
    standin_dockerd: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second dockerd with other limits on a socket of its own: each is judged
    alone when DOCKER_HOST names it; a name that is no daemon, a socket served by
    another program or a TCP address judges no dockerd at all, and says why."""
    from harborkit.checks.limits import DockerdLimits

    profile = copy.deepcopy(dict(PROFILE))
    profile["limits"] = {"dockerd": {"nofile": {"op": "ge", "value": 2048}}}
    first = os.environ["DOCKER_HOST"]
    other_sock = tmp_path / "other" / "d.sock"
    other_sock.parent.mkdir()
    other = standin(other_sock.parent, "dockerd", other_sock, "--nofile=4096:4096")
    imposter_sock = tmp_path / "i.sock"
    imposter = standin(tmp_path, "registry", imposter_sock)
    try:
        for address, pid, soft in (
            (first, standin_dockerd, "1024"),
            (f"unix://{other_sock}", other.pid, "4096"),
        ):
            monkeypatch.setenv("DOCKER_HOST", address)
            out = run_check(DockerdLimits, ctx(None, profile))
            assert [(f.subject, f.actual) for f in out.findings] == [
                (f"dockerd[{pid}] soft nofile", soft),
                (f"dockerd[{pid}] hard nofile", "4096"),
            ]
        n = "N"  # two stand-ins at least; other dockerd processes come and go here
        cases = {
            f"unix://{imposter_sock}": f"unix://{imposter_sock} is served by pid {imposter.pid} "
            f"(registry), not by a dockerd; the {n} dockerd processes running not judged",
            f"unix://{tmp_path}/none.sock": f"no daemon answers at unix://{tmp_path}/none.sock: "
            f"No such file or directory; the {n} dockerd processes running not judged",
            "tcp://127.0.0.1:2375": "DOCKER_HOST is tcp://127.0.0.1:2375: which process serves "
            f"it cannot be told (only for a unix socket); the {n} dockerd processes running "
            "not judged",
        }
        for address, why in cases.items():
            monkeypatch.setenv("DOCKER_HOST", address)
            out = run_check(DockerdLimits, ctx(None, profile))
            said = re.sub(r"the \d+ dockerd processes", "the N dockerd processes", out.message)
            assert (out.status, said, out.findings) == (Status.SKIP, why, ())
    finally:
        for p in (other, imposter):
            p.kill()
            p.wait()


def mine_stack(pid: int, column: int) -> str:
    """The stand-in's stack limit as /proc shows it, as the check words a pass."""
    from harborkit.checks._compare import parse_scalar

    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max stack size"):
            value = parse_scalar(line.split()[3 + column])
            return f"{show(value)} (expected >= 1)"
    raise AssertionError("no stack row")


def test_dockerd_limits_skip_without_settings() -> None:
    from harborkit.checks.limits import DockerdLimits

    profile = copy.deepcopy(dict(PROFILE))
    profile["limits"] = {"expected": []}
    out = run_check(DockerdLimits, ctx(None, profile))
    assert (out.status, out.message) == (Status.SKIP, "the profile sets no limits.dockerd items")
