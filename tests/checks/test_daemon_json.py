"""docker.daemon_json and docker.daemon_runtime: fixture sysroots, variants, a real dockerd."""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.daemon_json import DaemonJsonCheck, DaemonRuntime, covers
from harborkit.engine.interface import CheckContext, CheckOptions, Finding, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import _run_one
from harborkit.host.local import LocalHost, SysrootHost

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
YML = "/opt/harbor/harbor.yml"
HARBOR_HTTP = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()
HARBOR_HTTPS = (SYSROOTS / "debian12" / "opt/harbor/harbor.yml").read_text()


def ctx(root: Path | None, profile: dict[str, Any] | None = None, **options: str) -> CheckContext:
    host = LocalHost() if root is None else SysrootHost(root)
    return CheckContext(
        host=host, profile=profile or load_profile().data, options=CheckOptions(**options)
    )


def rows(findings: tuple[Finding, ...]) -> list[tuple[str, str, str]]:
    return [(f.status.value, f.subject, f.message) for f in findings]


def sysroot(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "root"
    root.mkdir(parents=True)
    for rel, content in files.items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def profile_for(path: Path) -> dict[str, Any]:
    data = copy.deepcopy(dict(load_profile().data))
    data["daemon_json"] = {"path": str(path)}
    return data


# --- fixture sysroots -------------------------------------------------------


def test_guide_curly_quotes_and_environment_file() -> None:
    out = _run_one(DaemonJsonCheck, ctx(SYSROOTS / "guide-as-written", harbor_config=YML))
    assert out.status is Status.FAIL
    curly = (
        'line 2 column 3: typographic quote \u201c (U+201C) where JSON needs a plain " '
        "(3 typographic quotes in the file); dockerd will not start with this file"
    )
    assert out.message == f"daemon.json: {curly}"
    assert rows(out.findings) == [
        ("fail", "daemon.json", curly),
        (
            "warn",
            "EnvironmentFile",
            "/usr/lib/systemd/system/docker.service loads /etc/docker/daemon.json: "
            "daemon.json is not an environment file (dockerd reads it by itself); remove the line",
        ),
    ]
    assert [f.location for f in out.findings] == [
        "/etc/docker/daemon.json:2:3",
        "/usr/lib/systemd/system/docker.service:11",
    ]


def test_one_line_curly_daemon_json(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {"/etc/docker/daemon.json": '{\u201cinsecure-registries": []}'})
    out = _run_one(DaemonJsonCheck, ctx(root))
    assert out.status is Status.FAIL
    assert out.findings[0].message.startswith("line 1 column 2: typographic quote \u201c")
    assert out.findings[0].location == "/etc/docker/daemon.json:1:2"


def test_compliant_lists_harbor() -> None:
    out = _run_one(DaemonJsonCheck, ctx(SYSROOTS / "centos7-compliant", install_dir="/opt/harbor"))
    assert (out.status, out.message) == (Status.PASS, "/etc/docker/daemon.json is valid JSON")
    assert rows(out.findings) == [
        ("pass", "daemon.json", "/etc/docker/daemon.json is valid JSON"),
        ("pass", "insecure-registries", "lists 192.168.3.60:8888"),
    ]


def test_debian_https_needs_no_entry() -> None:
    out = _run_one(DaemonJsonCheck, ctx(SYSROOTS / "debian12", harbor_config=YML))
    assert out.status is Status.PASS
    assert rows(out.findings)[1] == (
        "pass",
        "insecure-registries",
        "Harbor serves HTTPS: no entry needed",
    )


def test_without_harbor_yml_the_entry_is_not_judged() -> None:
    out = _run_one(DaemonJsonCheck, ctx(SYSROOTS / "centos7-compliant"))
    # "unknown" is never a pass: the check's title promises Harbor's entry
    assert (out.status, out.message) == (
        Status.SKIP,
        "/etc/docker/daemon.json is valid JSON; insecure-registries not judged: "
        "no harbor.yml given (--harbor-config or --install-dir) and no --harbor address",
    )
    assert rows(out.findings)[1] == (
        "skip",
        "insecure-registries",
        "cannot judge: no harbor.yml given (--harbor-config or --install-dir) and no --harbor address",
    )


# --- variants ---------------------------------------------------------------


def test_missing_daemon_json_with_http_harbor_fails(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {YML: HARBOR_HTTP})
    out = _run_one(DaemonJsonCheck, ctx(root, harbor_config=YML))
    assert (out.status, out.message) == (
        Status.FAIL,
        "daemon.json: /etc/docker/daemon.json missing: Harbor serves plain HTTP at "
        "192.168.3.60:8888, which docker must list in insecure-registries",
    )


def test_missing_daemon_json_with_https_harbor_passes(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {YML: HARBOR_HTTPS})
    out = _run_one(DaemonJsonCheck, ctx(root, harbor_config=YML))
    assert (out.status, out.message) == (
        Status.PASS,
        "/etc/docker/daemon.json absent: not needed, Harbor serves HTTPS",
    )


def test_wrong_entry_fails_and_drop_in_environment_file_warns(tmp_path: Path) -> None:
    root = sysroot(
        tmp_path,
        {
            YML: HARBOR_HTTP,
            "/etc/docker/daemon.json": '{"insecure-registries": ["192.168.3.60:80"]}',
            "/etc/systemd/system/docker.service.d/env.conf": (
                "[Service]\nEnvironmentFile=/etc/docker/daemon.json\n"
            ),
        },
    )
    out = _run_one(DaemonJsonCheck, ctx(root, harbor_config=YML))
    assert out.status is Status.FAIL
    assert rows(out.findings)[1:] == [
        (
            "fail",
            "insecure-registries",
            f"does not list 192.168.3.60:8888, where Harbor serves plain HTTP (from {YML})",
        ),
        (
            "warn",
            "EnvironmentFile",
            "/etc/systemd/system/docker.service.d/env.conf loads /etc/docker/daemon.json: "
            "daemon.json is not an environment file (dockerd reads it by itself); remove the line",
        ),
    ]
    assert out.findings[2].location == "/etc/systemd/system/docker.service.d/env.conf:2"


def test_not_an_object_and_bad_list(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {"/etc/docker/daemon.json": '["insecure-registries"]'})
    out = _run_one(DaemonJsonCheck, ctx(root))
    assert out.message == "daemon.json: must be a JSON object, not list"
    root2 = sysroot(
        tmp_path / "b",
        {YML: HARBOR_HTTP, "/etc/docker/daemon.json": '{"insecure-registries": "10.0.0.1:80"}'},
    )
    out = _run_one(DaemonJsonCheck, ctx(root2, harbor_config=YML))
    assert out.message == "insecure-registries: must be a list of strings"


def test_plain_syntax_error(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {"/etc/docker/daemon.json": '{\n  "debug": true,\n}\n'})
    out = _run_one(DaemonJsonCheck, ctx(root))
    assert out.findings[0].message == (
        "line 3 column 1: Expecting property name enclosed in double quotes; "
        "dockerd will not start with this file"
    )


@pytest.mark.parametrize(
    ("entry", "host", "port", "ok"),
    [
        ("192.168.3.60:8888", "192.168.3.60", 8888, True),
        ("http://192.168.3.60:8888/", "192.168.3.60", 8888, True),
        ("192.168.3.0/24", "192.168.3.60", 8888, True),
        ("192.168.4.0/24", "192.168.3.60", 8888, False),
        ("harbor.lan", "harbor.lan", 80, True),
        ("harbor.lan", "harbor.lan", 8080, False),
        ("192.168.3.60:80", "192.168.3.60", 8888, False),
    ],
)
def test_covers(entry: str, host: str, port: int, ok: bool) -> None:
    assert covers(entry, host, port) is ok


# --- docker.daemon_runtime against a real dockerd ---------------------------


@dataclass
class ConfiguredDaemon:
    url: str
    config: Path


@pytest.fixture(scope="module")
def configured_dockerd() -> Iterator[ConfiguredDaemon]:
    """A private dockerd started with ``--config-file`` (its own daemon.json)."""
    from tests.support.dockerd import start_dockerd

    with tempfile.TemporaryDirectory(prefix="hkdj-", dir="/tmp") as tmp:
        config = Path(tmp) / "daemon.json"
        config.write_text(json.dumps({"insecure-registries": ["10.11.12.13:5999"]}))
        with start_dockerd(
            extra_args=["--config-file", str(config)], stop_in_background=True
        ) as daemon:
            yield ConfiguredDaemon(daemon.url, config)


def _docker_info_registries(url: str) -> dict[str, Any]:
    out = subprocess.run(
        ["docker", "-H", url, "info", "--format", "{{json .RegistryConfig}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def test_runtime_agrees_with_the_file(
    configured_dockerd: ConfiguredDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", configured_dockerd.url)
    configured_dockerd.config.write_text(json.dumps({"insecure-registries": ["10.11.12.13:5999"]}))
    real = _docker_info_registries(configured_dockerd.url)
    assert real["IndexConfigs"]["10.11.12.13:5999"]["Secure"] is False
    out = _run_one(DaemonRuntime, ctx(None, profile_for(configured_dockerd.config)))
    assert out.status is Status.PASS
    assert out.message == "running daemon's insecure registries: 10.11.12.13:5999"
    assert rows(out.findings) == [("pass", "10.11.12.13:5999", "in effect")]


def test_runtime_file_edited_but_not_restarted(
    configured_dockerd: ConfiguredDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", configured_dockerd.url)
    configured_dockerd.config.write_text(
        json.dumps(
            {"insecure-registries": ["10.11.12.13:5999", "192.0.2.10:8888", "127.0.0.1:5000"]}
        )
    )
    try:
        out = _run_one(DaemonRuntime, ctx(None, profile_for(configured_dockerd.config)))
    finally:
        configured_dockerd.config.write_text(
            json.dumps({"insecure-registries": ["10.11.12.13:5999"]})
        )
    assert "192.0.2.10:8888" not in _docker_info_registries(configured_dockerd.url)["IndexConfigs"]
    assert out.status is Status.FAIL
    assert out.message == (
        "192.0.2.10:8888: daemon.json lists 192.0.2.10:8888 but the running daemon does not: "
        "restart docker"
    )
    assert rows(out.findings) == [
        ("pass", "10.11.12.13:5999", "in effect"),
        (
            "fail",
            "192.0.2.10:8888",
            "daemon.json lists 192.0.2.10:8888 but the running daemon does not: restart docker",
        ),
        ("pass", "127.0.0.1:5000", "in effect through the daemon's insecure range 127.0.0.0/8"),
    ]


def test_runtime_entry_the_file_no_longer_lists_warns(
    configured_dockerd: ConfiguredDaemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", configured_dockerd.url)
    missing = tmp_path / "daemon.json"  # absent: the daemon still has its entry
    out = _run_one(DaemonRuntime, ctx(None, profile_for(missing)))
    assert out.status is Status.WARN
    assert rows(out.findings) == [
        (
            "warn",
            "10.11.12.13:5999",
            "the running daemon treats 10.11.12.13:5999 as insecure but daemon.json does not "
            "list it (a dockerd flag, or the file changed since docker started)",
        )
    ]


def test_runtime_skips_when_the_file_is_broken(
    configured_dockerd: ConfiguredDaemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", configured_dockerd.url)
    bad = tmp_path / "daemon.json"
    bad.write_text('{\u201cinsecure-registries": []}')
    out = _run_one(DaemonRuntime, ctx(None, profile_for(bad)))
    assert (out.status, out.message) == (
        Status.SKIP,
        f"{bad} is not usable (see docker.daemon_json)",
    )


def test_runtime_skips_on_sysroot() -> None:
    out = _run_one(DaemonRuntime, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.SKIP,
        "the running Docker daemon needs a running system; auditing a sysroot",
    )
