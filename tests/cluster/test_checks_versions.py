"""cluster.docker_version and cluster.compose_version judged in-process over snapshot nodes:
what each node's CLI answers, and the majority, tie and missing verdicts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks import cluster as cl
from harborkit.checks.cluster import ComposeVersionsMatch, DockerVersionsMatch
from harborkit.collect.snapshot import CommandOutput
from harborkit.host import LocalHost
from harborkit.host.interface import NotAvailable
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import CheckContext, Status
from tests.cluster.hosts import RunnableSysroot, copy_fixture, write_program
from tests.cluster.nodes import (
    DOCKER_VERSION,
    docker_version,
    full,
    judge,
    node,
)

P, W, F, S = Status.PASS, Status.WARN, Status.FAIL, Status.SKIP


def docker_node(name: str, out: CommandOutput | None, **kw: Any) -> SnapshotHost:
    which = {"docker": "/usr/bin/docker"} if out is not None and out.rc != 127 else {"docker": ""}
    cmds = {DOCKER_VERSION: out} if out is not None else {}
    return node(name, which=which, commands=cmds, **kw)


def test_docker_version_reads() -> None:
    def read(out: CommandOutput) -> str | None:
        return cl.docker_version(CheckContext(host=docker_node("n1", out), profile={}))

    assert read(docker_version("18.09.9")) == "18.09.9"
    assert read(CommandOutput(127, b"", b"sh: 1: docker: not found\n")) is None
    down = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    with pytest.raises(NotAvailable) as e:
        read(docker_version(None, 1, f"{down}\n"))
    assert e.value.reason == f"the Docker daemon did not report its version: {down}"
    with pytest.raises(NotAvailable) as e:
        read(CommandOutput(1, b"", b""))
    assert e.value.reason == "the Docker daemon did not report its version: docker exited with 1"
    with pytest.raises(NotAvailable) as e:
        read(CommandOutput(0, b'{"ApiVersion":"1.39"}\n', b""))
    assert e.value.reason == (
        '\'docker version\' gave no server version (it said: {"ApiVersion":"1.39"})'
    )
    with pytest.raises(NotAvailable) as e:
        read(CommandOutput(0, b"{not json\nsecond line\n", b""))
    assert e.value.reason == "'docker version' gave no server version (it said: {not json)"
    with pytest.raises(NotAvailable) as e:
        read(CommandOutput(0, b"", b""))
    assert e.value.reason == "'docker version' gave no server version (it said: nothing)"
    with pytest.raises(NotAvailable) as e:
        read(CommandOutput(0, b"x" * 150 + b"\n", b""))
    assert e.value.reason == f"'docker version' gave no server version (it said: {'x' * 100})"


def test_compose_version_reads() -> None:
    def read(which: dict[str, str], cmds: dict[str, CommandOutput], prof: dict) -> str | None:
        return cl.compose_version(
            CheckContext(host=node("n1", which=which, commands=cmds), profile=prof)
        )

    at = {"docker-compose": "/usr/local/bin/docker-compose"}
    short = "/usr/local/bin/docker-compose version --short"
    long = "/usr/local/bin/docker-compose --version"
    ok = {short: CommandOutput(0, b"1.24.0\n", b"")}
    assert read(at, ok, {}) == "1.24.0"
    assert read(at, ok, {"compose": None}) == "1.24.0"
    assert read({"docker-compose": ""}, ok, {}) is None
    v2 = {"compose": {"binary": "compose2"}}
    cmds = {"/opt/compose2 version --short": CommandOutput(0, b"2.24.1\n", b"")}
    assert read({"compose2": "/opt/compose2", "docker-compose": ""}, cmds, v2) == "2.24.1"
    silent = {short: CommandOutput(1, b"", b""), long: CommandOutput(1, b"", b"")}
    with pytest.raises(NotAvailable) as e:
        read(at, silent, {})
    assert e.value.reason == "/usr/local/bin/docker-compose does not report a version"
    garbled = {short: CommandOutput(0, b"what?\n", b"")}
    with pytest.raises(NotAvailable):
        read(at, garbled, {})


def test_docker_versions_majority_tie_and_missing() -> None:
    v = docker_version
    hosts = [
        docker_node("n1", v("18.09.9")),
        docker_node("n2", v("19.03.1")),
        docker_node("n3", v("18.09.9")),
        docker_node("n4", CommandOutput(127, b"", b"")),
        docker_node("n5", v("20.10.5")),
    ]
    out = judge(DockerVersionsMatch, hosts)
    assert (out.status, out.message) == (
        F,
        "Docker versions differ: 18.09.9 on n1, n3; 19.03.1 on n2; 20.10.5 on n5",
    )
    assert full(out) == [
        ("skip", "n4", "Docker not found", None, None, None),
        ("pass", "n1", "Docker 18.09.9", None, "18.09.9", None),
        (
            "fail",
            "n2",
            "Docker 19.03.1, other nodes run 18.09.9 on n1, n3; 20.10.5 on n5",
            "18.09.9",
            "19.03.1",
            None,
        ),
        ("pass", "n3", "Docker 18.09.9", None, "18.09.9", None),
        (
            "fail",
            "n5",
            "Docker 20.10.5, other nodes run 18.09.9 on n1, n3; 19.03.1 on n2",
            "18.09.9",
            "20.10.5",
            None,
        ),
    ]
    tie = judge(DockerVersionsMatch, hosts[:2])
    assert (tie.status, tie.message) == (F, "Docker versions differ: 18.09.9 on n1; 19.03.1 on n2")
    assert full(tie) == [
        ("fail", "n1", "Docker 18.09.9, other nodes run 19.03.1 on n2", None, "18.09.9", None),
        ("fail", "n2", "Docker 19.03.1, other nodes run 18.09.9 on n1", None, "19.03.1", None),
    ]
    same = judge(DockerVersionsMatch, [hosts[0], hosts[3], hosts[2]])
    assert (same.status, same.message) == (P, "2 nodes run Docker 18.09.9")
    assert [f.status for f in same.findings] == [S, P, P]
    down = docker_node("n6", v(None, 1, "Cannot connect to the Docker daemon\n"))
    few = judge(DockerVersionsMatch, [hosts[0], down, hosts[3]])
    assert (few.status, few.message) == (
        S,
        "fewer than two nodes report a Docker version (n6: version unknown: the Docker daemon "
        "did not report its version: Cannot connect to the Docker daemon; and 1 more)",
    )
    assert full(few)[:2] == [
        (
            "skip",
            "n6",
            "version unknown: the Docker daemon did not report its version: "
            "Cannot connect to the Docker daemon",
            None,
            None,
            None,
        ),
        ("skip", "n4", "Docker not found", None, None, None),
    ]


def test_compose_versions() -> None:
    def compose(name: str, version: str | None) -> SnapshotHost:
        if version is None:
            return node(name, which={"docker-compose": ""})
        path = "/usr/local/bin/docker-compose"
        out = CommandOutput(0, f"{version}\n".encode(), b"")
        return node(name, which={"docker-compose": path}, commands={f"{path} version --short": out})

    out = judge(ComposeVersionsMatch, [compose("n1", "1.24.0"), compose("n2", "1.24.0")])
    assert (out.status, out.message) == (P, "2 nodes run docker-compose 1.24.0")
    out = judge(
        ComposeVersionsMatch,
        [compose("n1", "1.24.0"), compose("n2", "1.18.0"), compose("n3", None)],
    )
    assert out.message == "docker-compose versions differ: 1.24.0 on n1; 1.18.0 on n2"
    assert full(out)[0] == ("skip", "n3", "docker-compose not found", None, None, None)


def test_docker_version_of_a_silent_cli_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A docker CLI that fails without a word: the SDK's reason when it gave
    one (this machine, no daemon at DOCKER_HOST), else the exit status."""
    root = copy_fixture(tmp_path, "centos7-compliant", "n1")
    write_program(root, "/usr/bin/docker", "exit 1\n")
    with pytest.raises(NotAvailable) as e:
        cl.docker_version(CheckContext(host=RunnableSysroot(root), profile={}))
    assert e.value.reason == "the Docker daemon did not report its version: docker exited with 1"
    monkeypatch.setenv("PATH", f"{root}/usr/bin:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(NotAvailable) as e:
        cl.docker_version(CheckContext(host=LocalHost(), profile={}))
    assert e.value.reason.startswith(
        "the Docker daemon did not report its version: Error while fetching server API version"
    )


def test_docker_version_of_a_failed_command_is_not_believed() -> None:
    """A docker CLI that exits non-zero is not believed, even with a version
    on its standard output (the daemon part of the answer failed)."""
    out = docker_version("18.09.9", 1, "Error response from daemon: Bad Gateway\n")
    with pytest.raises(NotAvailable) as e:
        cl.docker_version(CheckContext(host=docker_node("n1", out), profile={}))
    assert e.value.reason == (
        "the Docker daemon did not report its version: Error response from daemon: Bad Gateway"
    )
