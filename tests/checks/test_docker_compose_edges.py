"""docker.compose and docker.engine without a daemon: presence on small
sysroots, and the version branches through small scripts run for real."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks import docker
from harborkit.checks.docker import DockerCompose, DockerEngine
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, Finding, Status
from tests.support.checks import ctx


def profile(**compose: Any) -> dict[str, Any]:
    data = copy.deepcopy(dict(load_profile().data))
    data["compose"] = {**data["compose"], **compose}
    return data


def compose_ctx(root: Path | None, **compose: Any) -> CheckContext:
    return ctx(root, profile(**compose))


def full(findings: tuple[Finding, ...]) -> list[tuple[object, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location) for f in findings
    ]


def executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


# --- docker.engine ----------------------------------------------------------


def test_engine_reports_each_binary(tmp_path: Path) -> None:
    executable(tmp_path / "usr/sbin/dockerd")
    out = run_check(DockerEngine, compose_ctx(tmp_path))
    assert (out.status, out.message) == (Status.PASS, "dockerd at /usr/sbin/dockerd")
    assert full(out.findings) == [
        ("pass", "dockerd", "found at /usr/sbin/dockerd", None, None, None)
    ]
    executable(tmp_path / "usr/local/bin/docker")
    out = run_check(DockerEngine, compose_ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.PASS,
        "dockerd at /usr/sbin/dockerd; docker at /usr/local/bin/docker",
    )
    assert [f.subject for f in out.findings] == ["dockerd", "docker"]


def test_engine_missing_finding(tmp_path: Path) -> None:
    out = run_check(DockerEngine, compose_ctx(tmp_path))
    assert full(out.findings) == [("fail", "dockerd", "not found", "installed", None, None)]


# --- docker.compose on sysroots ---------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
        "/root/.docker/cli-plugins",
    ],
)
def test_compose_plugin_in_each_folder(tmp_path: Path, where: str) -> None:
    executable(tmp_path / where.lstrip("/") / "docker-compose")
    assert docker.compose_plugin(SysrootHost(tmp_path)) == f"{where}/docker-compose"


def test_compose_plugin_first_folder_wins_and_a_folder_is_no_plugin(tmp_path: Path) -> None:
    (tmp_path / "usr/local/lib/docker/cli-plugins/docker-compose").mkdir(parents=True)
    executable(tmp_path / "usr/libexec/docker/cli-plugins/docker-compose")
    executable(tmp_path / "root/.docker/cli-plugins/docker-compose")
    assert (
        docker.compose_plugin(SysrootHost(tmp_path))
        == "/usr/libexec/docker/cli-plugins/docker-compose"
    )
    assert docker.compose_plugin(SysrootHost(tmp_path / "usr")) is None


def test_plugin_alone_fails_naming_the_profile_binary(tmp_path: Path) -> None:
    executable(tmp_path / "usr/lib/docker/cli-plugins/docker-compose")
    out = run_check(DockerCompose, compose_ctx(tmp_path, binary="compose-one"))
    message = (
        "only the Compose v2 plugin is installed (/usr/lib/docker/cli-plugins/docker-compose); "
        "Harbor v1.8.0's install.sh looks only for the compose-one binary: link the plugin "
        "binary as /usr/local/bin/compose-one, or install docker-compose 1.24.0"
    )
    assert (out.status, out.message) == (Status.FAIL, message)
    assert full(out.findings) == [
        (
            "fail",
            "compose-one",
            message,
            "a binary on PATH",
            "/usr/lib/docker/cli-plugins/docker-compose",
            None,
        )
    ]


def test_absent_finding(tmp_path: Path) -> None:
    out = run_check(DockerCompose, compose_ctx(tmp_path, binary="dc"))
    assert (out.status, out.message) == (Status.FAIL, "dc not found")
    assert full(out.findings) == [("fail", "dc", "dc not found", "a binary on PATH", None, None)]


def test_binary_found_on_a_sysroot(tmp_path: Path) -> None:
    executable(tmp_path / "usr/bin/docker-compose")
    out = run_check(DockerCompose, compose_ctx(tmp_path))
    assert full(out.findings) == [
        (
            "pass",
            "docker-compose",
            "found at /usr/bin/docker-compose",
            None,
            "/usr/bin/docker-compose",
            None,
        ),
        (
            "skip",
            "version",
            f"cannot run /usr/bin/docker-compose: auditing the sysroot {tmp_path}, "
            "not a running system",
            None,
            None,
            None,
        ),
    ]


# --- docker.compose version, run for real -----------------------------------


def script(tmp_path: Path, short: str, long: str) -> str:
    """A compose stand-in: ``version --short`` runs ``short``, anything else ``long``."""
    return str(
        executable(
            tmp_path / "bin/compose",
            f'#!/bin/sh\nif [ "$1" = version ]; then\n{short}\nelse\n{long}\nfi\n',
        )
    )


def test_short_version_passes(tmp_path: Path) -> None:
    path = script(tmp_path, "echo 1.24.1", "echo docker-compose version 9.9.9; exit 0")
    out = run_check(DockerCompose, compose_ctx(None, binary=path))
    assert (out.status, out.message) == (Status.PASS, f"{path} 1.24.1 at {path}")
    assert full(out.findings) == [
        ("pass", path, f"found at {path}", None, path, None),
        ("pass", "version", "1.24.1", ">= 1.18.0", "1.24.1", None),
    ]


def test_falls_back_to_dash_dash_version(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        "echo 'unknown command' >&2; exit 1",
        "echo 'docker-compose version 1.17.1, build x'",
    )
    out = run_check(DockerCompose, compose_ctx(None, binary=path))
    assert (out.status, out.message) == (
        Status.FAIL,
        "version: 1.17.1 is older than 1.18.0, which install.sh refuses",
    )
    assert full(out.findings)[1] == (
        "fail",
        "version",
        "1.17.1 is older than 1.18.0, which install.sh refuses",
        ">= 1.18.0",
        "1.17.1",
        None,
    )
    # an empty answer to --short is no answer either
    path = script(tmp_path, "exit 0", "echo 2.24.1")
    out = run_check(DockerCompose, compose_ctx(None, binary=path, min_version="2.24.1"))
    assert full(out.findings)[1] == ("pass", "version", "2.24.1", ">= 2.24.1", "2.24.1", None)


def test_no_version_in_the_output(tmp_path: Path) -> None:
    path = script(
        tmp_path, "echo usage >&2; exit 2", "echo 'Usage: compose' ; echo oops >&2; exit 3"
    )
    out = run_check(DockerCompose, compose_ctx(None, binary=path))
    assert full(out.findings)[1] == (
        "fail",
        "version",
        f"{path} does not report a version: Usage: compose\noops",
        ">= 1.18.0",
        None,
        None,
    )
    path = script(tmp_path, "exit 1", "exit 1")
    out = run_check(DockerCompose, compose_ctx(None, binary=path))
    assert full(out.findings)[1] == (
        "fail",
        "version",
        f"{path} does not report a version: no output",
        ">= 1.18.0",
        None,
        None,
    )
    assert out.message == f"version: {path} does not report a version: no output"


def test_long_garbage_is_cut(tmp_path: Path) -> None:
    path = script(tmp_path, "exit 1", "printf 'x%.0s' $(seq 200); exit 1")
    out = run_check(DockerCompose, compose_ctx(None, binary=path))
    assert out.findings[1].message == f"{path} does not report a version: " + "x" * 120
