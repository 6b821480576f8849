"""docker.engine, docker.daemon, docker.compose: fixture sysroots, a real private dockerd, live."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks._compare import version_tuple
from harborkit.checks.docker import (
    DockerCompose,
    DockerDaemon,
    DockerEngine,
    parse_compose_version,
)
from harborkit.engine.interface import CheckContext, Finding, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import _run_one
from harborkit.host.local import LocalHost, SysrootHost
from tests.support.dockerd import Daemon, start_dockerd

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


def ctx(root: Path | None, profile: dict[str, Any] | None = None) -> CheckContext:
    host = LocalHost() if root is None else SysrootHost(root)
    return CheckContext(host=host, profile=profile or load_profile().data)


def rows(findings: tuple[Finding, ...]) -> list[tuple[str, str, str]]:
    return [(f.status.value, f.subject, f.message) for f in findings]


def profile_with(section: str, **values: Any) -> dict[str, Any]:
    data = copy.deepcopy(dict(load_profile().data))
    data[section] = {**data[section], **values}
    return data


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Daemon]:
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is not installed: make test installs docker.io")
    with start_dockerd(stop_in_background=True) as daemon:
        yield daemon


# --- docker.engine ----------------------------------------------------------


@pytest.mark.parametrize("name", ["centos7-compliant", "guide-as-written", "debian12"])
def test_engine_on_sysroots_judged_by_files(name: str) -> None:
    out = _run_one(DockerEngine, ctx(SYSROOTS / name))
    assert (out.status, out.message) == (Status.PASS, "docker at /usr/bin/docker")
    assert rows(out.findings) == [("pass", "docker", "found at /usr/bin/docker")]


def test_engine_missing_fails(tmp_path: Path) -> None:
    out = _run_one(DockerEngine, ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.FAIL,
        "Docker is not installed: neither dockerd nor docker found",
    )


# docker.engine on a live host: tests/checks/test_live_state.py builds the binaries.


# --- docker.daemon ----------------------------------------------------------


def test_daemon_skips_on_sysroot() -> None:
    out = _run_one(DockerDaemon, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.SKIP,
        "the Docker daemon needs a running system; auditing a sysroot",
    )


def test_daemon_reachable_reports_the_real_version(
    dockerd: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    out = _run_one(DockerDaemon, ctx(None))
    real = subprocess.run(
        [
            "docker",
            "-H",
            dockerd.url,
            "version",
            "--format",
            "{{.Server.Version}}|{{.Server.APIVersion}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    version, api = real.split("|")
    assert out.status is Status.PASS
    assert out.message == f"Docker {version} (API {api}) answering at {dockerd.url}"
    (finding,) = out.findings
    assert (finding.subject, finding.expected, finding.actual) == (
        "server version",
        ">= 17.06.0",
        version,
    )


def test_daemon_older_than_the_minimum_fails(
    dockerd: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    version = dockerd.client().version()["Version"]
    bar = f"{version_tuple(version)[0] + 1}.0.0"
    out = _run_one(DockerDaemon, ctx(None, profile_with("docker", min_version=bar)))
    assert out.status is Status.FAIL
    assert out.message.startswith(f"server version: Docker {version} (API ")
    assert out.message.endswith(f"): older than {bar}, which install.sh refuses")


def test_daemon_unreachable_names_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"unix://{tmp_path}/nothing.sock"
    monkeypatch.setenv("DOCKER_HOST", url)
    out = _run_one(DockerDaemon, ctx(None))
    assert out.status is Status.FAIL
    assert out.message.startswith(f"cannot reach the Docker daemon at {url}: ")
    assert out.message.endswith(": no Docker socket there (is dockerd running?)")


# --- docker.compose ---------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("docker-compose version 1.24.0, build 0aa59064\n", "1.24.0"),
        ("1.24.0\n", "1.24.0"),
        ("docker-compose version 1.17.1, build unknown\n", "1.17.1"),
        ("Docker Compose version v2.24.1\n", "2.24.1"),
        ("v2.29.7\n", "2.29.7"),
        ("Docker Compose version 2.20.2+ds1-0+deb12u1\n", "2.20.2"),
        ("Usage: docker-compose [OPTIONS]\n", None),
    ],
)
def test_compose_version_parser(output: str, version: str | None) -> None:
    assert parse_compose_version(output) == version


def test_compose_binary_on_sysroot_version_skipped() -> None:
    root = SYSROOTS / "centos7-compliant"
    out = _run_one(DockerCompose, ctx(root))
    assert (out.status, out.message) == (
        Status.PASS,
        "docker-compose at /usr/local/bin/docker-compose",
    )
    assert rows(out.findings) == [
        ("pass", "docker-compose", "found at /usr/local/bin/docker-compose"),
        (
            "skip",
            "version",
            f"cannot run /usr/local/bin/docker-compose: auditing the sysroot {root}, "
            "not a running system",
        ),
    ]


def test_compose_v2_plugin_alone_fails() -> None:
    out = _run_one(DockerCompose, ctx(SYSROOTS / "debian12"))
    assert out.status is Status.FAIL
    assert out.message == (
        "only the Compose v2 plugin is installed "
        "(/usr/libexec/docker/cli-plugins/docker-compose); Harbor v1.8.0's install.sh "
        "looks only for the docker-compose binary: link the plugin binary as "
        "/usr/local/bin/docker-compose, or install docker-compose 1.24.0"
    )


def test_compose_absent_everywhere_fails(tmp_path: Path) -> None:
    out = _run_one(DockerCompose, ctx(tmp_path))
    assert (out.status, out.message) == (Status.FAIL, "docker-compose not found")


# No compose at all on a live host: tests/checks/test_live_state.py.


def test_compose_live_version_through_a_real_binary() -> None:
    """The live path (run the binary, parse, compare) on a binary this machine has:
    the profile names ``docker`` as the compose binary; ``docker version --short``
    fails, so the check falls back to ``docker --version``."""
    docker = shutil.which("docker")
    assert docker is not None
    real = subprocess.run([docker, "--version"], capture_output=True, text=True).stdout
    version = parse_compose_version(real)
    assert version is not None and real.startswith(f"Docker version {version},")
    out = _run_one(DockerCompose, ctx(None, profile_with("compose", binary="docker")))
    assert (out.status, out.message) == (Status.PASS, f"docker {version} at {docker}")
    bar = f"{version_tuple(version)[0] + 1}.0"
    out = _run_one(
        DockerCompose, ctx(None, profile_with("compose", binary="docker", min_version=bar))
    )
    assert out.status is Status.FAIL
    assert out.message == f"version: {version} is older than {bar}, which install.sh refuses"
