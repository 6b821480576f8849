"""docker.daemon_json and docker.daemon_runtime: fixture sysroots, variants, a real dockerd.

docker.daemon_json and docker.daemon_runtime, rule by rule: exact verdicts and
messages, the running daemon answered from recorded ``docker info`` output
through the snapshot backend (a carried snapshot's own way to answer)."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks import daemon_json_file, daemon_json_plan, docker_units
from harborkit.checks.daemon_json import DaemonJsonCheck
from harborkit.checks.daemon_runtime import DaemonRuntime
from harborkit.checks.dockerd_registry import covers
from harborkit.collect.snapshot import CommandOutput, Snapshot
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import CheckContext, CheckOptions, Finding, Outcome, Status
from tests.support.checks import ctx
from tests.support.sysroot import write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


YML = "/opt/harbor/harbor.yml"


HARBOR_HTTP = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()


HARBOR_HTTPS = (SYSROOTS / "debian12" / "opt/harbor/harbor.yml").read_text()


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


def test_guide_curly_quotes_and_environment_file() -> None:
    out = run_check(DaemonJsonCheck, ctx(SYSROOTS / "guide-as-written", harbor_config=YML))
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
    out = run_check(DaemonJsonCheck, ctx(root))
    assert out.status is Status.FAIL
    assert out.findings[0].message.startswith("line 1 column 2: typographic quote \u201c")
    assert out.findings[0].location == "/etc/docker/daemon.json:1:2"


def test_compliant_lists_harbor() -> None:
    out = run_check(DaemonJsonCheck, ctx(SYSROOTS / "centos7-compliant", install_dir="/opt/harbor"))
    assert (out.status, out.message) == (Status.PASS, "/etc/docker/daemon.json is valid JSON")
    assert rows(out.findings) == [
        ("pass", "daemon.json", "/etc/docker/daemon.json is valid JSON"),
        ("pass", "insecure-registries", "lists 192.168.3.60:8888"),
    ]


def test_debian_https_needs_no_entry() -> None:
    out = run_check(DaemonJsonCheck, ctx(SYSROOTS / "debian12", harbor_config=YML))
    assert out.status is Status.PASS
    assert rows(out.findings)[1] == (
        "pass",
        "insecure-registries",
        "Harbor serves HTTPS: no entry needed",
    )


def test_without_harbor_yml_the_entry_is_not_judged() -> None:
    out = run_check(DaemonJsonCheck, ctx(SYSROOTS / "centos7-compliant"))
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


def test_missing_daemon_json_with_http_harbor_fails(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {YML: HARBOR_HTTP})
    out = run_check(DaemonJsonCheck, ctx(root, harbor_config=YML))
    assert (out.status, out.message) == (
        Status.FAIL,
        "daemon.json: /etc/docker/daemon.json missing: Harbor serves plain HTTP at "
        "192.168.3.60:8888, which docker must list in insecure-registries",
    )


def test_missing_daemon_json_with_https_harbor_passes(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {YML: HARBOR_HTTPS})
    out = run_check(DaemonJsonCheck, ctx(root, harbor_config=YML))
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
    out = run_check(DaemonJsonCheck, ctx(root, harbor_config=YML))
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
    out = run_check(DaemonJsonCheck, ctx(root))
    assert out.message == "daemon.json: must be a JSON object, not list"
    root2 = sysroot(
        tmp_path / "b",
        {YML: HARBOR_HTTP, "/etc/docker/daemon.json": '{"insecure-registries": "10.0.0.1:80"}'},
    )
    out = run_check(DaemonJsonCheck, ctx(root2, harbor_config=YML))
    assert out.message == "insecure-registries: must be a list of strings"


def test_plain_syntax_error(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {"/etc/docker/daemon.json": '{\n  "debug": true,\n}\n'})
    out = run_check(DaemonJsonCheck, ctx(root))
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
    out = run_check(DaemonRuntime, ctx(None, profile_for(configured_dockerd.config)))
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
        out = run_check(DaemonRuntime, ctx(None, profile_for(configured_dockerd.config)))
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
    out = run_check(DaemonRuntime, ctx(None, profile_for(missing)))
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
    out = run_check(DaemonRuntime, ctx(None, profile_for(bad)))
    assert (out.status, out.message) == (
        Status.SKIP,
        f"{bad} is not usable (see docker.daemon_json)",
    )


def test_runtime_skips_on_sysroot() -> None:
    out = run_check(DaemonRuntime, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.SKIP,
        "the running Docker daemon needs a running system; auditing a sysroot",
    )


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


INFO = FIXTURES / "docker-info"


HARBOR_HTTP_daemon_json = (
    FIXTURES / "sysroots/centos7-compliant/opt/harbor/harbor.yml"
).read_text()


HARBOR_HTTPS_daemon_json = (FIXTURES / "sysroots/debian12/opt/harbor/harbor.yml").read_text()


DJ = "/etc/docker/daemon.json"


INFO_KEY = shlex.join(["docker", "info", "--format", "{{json .}}"])


#: what the file listed when insecure-registries.json was recorded
RECORDED = ["192.168.3.60:8888", "10.20.0.0/16", "harbor.lan"]


RESTART = "but the running daemon does not: restart docker"


NOT_LISTED = (
    "as insecure but daemon.json does not list it (a dockerd flag, or the file changed "
    "since docker started)"
)


#: a host without systemd units (the folders docker.service is looked for in)
NO_SYSTEMD = {d: "n" for d in ("/etc/systemd", "/run/systemd", "/usr/lib/systemd", "/lib/systemd")}


def full(findings: tuple[Finding, ...]) -> list[tuple[Any, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location) for f in findings
    ]


def profile(path: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(dict(load_profile().data))
    if path is not None:
        data["daemon_json"] = {"path": path}
    return data


def sys_ctx(tmp_path: Path, files: dict[str, str], **options: str) -> CheckContext:
    root = write(tmp_path / "root", files)
    return CheckContext(host=SysrootHost(root), profile=profile(), options=CheckOptions(**options))


def info_output(name: str = "insecure-registries.json") -> CommandOutput:
    return CommandOutput(0, (INFO / name).read_bytes(), b"")


def snapshot_ctx(
    daemon: str | None, info: CommandOutput | None = None, **extra: bytes
) -> CheckContext:
    """A snapshot of a host whose daemon.json holds ``daemon`` (None: absent)."""
    snap = Snapshot(source="harbor01")
    snap.kinds.update(NO_SYSTEMD)
    if daemon is None:
        snap.kinds["/etc/docker"] = "n"
    else:
        snap.files[DJ] = daemon.encode()
    for path, data in extra.items():
        snap.files[path] = data
    snap.commands[INFO_KEY] = info or info_output()
    return CheckContext(host=SnapshotHost(snap), profile=profile(), options=CheckOptions())


def dj_text(entries: Any) -> str:
    return json.dumps({"insecure-registries": entries})


def runtime(ctx: CheckContext) -> Outcome:
    return run_check(DaemonRuntime, ctx)


def with_info(mutate: Any, name: str = "insecure-registries.json") -> CommandOutput:
    data = json.loads((INFO / name).read_text())
    mutate(data)
    return CommandOutput(0, json.dumps(data).encode(), b"")


def test_the_recording_is_what_the_runtime_check_reads() -> None:
    reg = json.loads((INFO / "insecure-registries.json").read_text())["RegistryConfig"]
    assert reg["InsecureRegistryCIDRs"] == ["10.20.0.0/16", "127.0.0.0/8"]
    assert {k: v["Secure"] for k, v in reg["IndexConfigs"].items()} == {
        "192.168.3.60:8888": False,
        "docker.io": True,
        "harbor.lan": False,
    }


def _in_effect(entry: str) -> tuple[Any, ...]:
    return ("pass", entry, "in effect", None, entry, None)


def _not_running(entry: str) -> tuple[Any, ...]:
    return (
        "fail",
        entry,
        f"daemon.json lists {entry} {RESTART}",
        "insecure in docker info",
        "not listed",
        None,
    )


def _extra(name: str) -> tuple[Any, ...]:
    return ("warn", name, f"the running daemon treats {name} {NOT_LISTED}", None, None, None)


def _through(entry: str, cidr: str) -> tuple[Any, ...]:
    return (
        "pass",
        entry,
        f"in effect through the daemon's insecure range {cidr}",
        None,
        None,
        None,
    )


LIVE = "running daemon's insecure registries: 192.168.3.60:8888, harbor.lan, 10.20.0.0/16"


RUNTIME_CASES = [
    pytest.param(
        RECORDED,
        "pass",
        LIVE,
        [_in_effect(e) for e in RECORDED],
        id="file-matches-daemon",
    ),
    pytest.param(
        ["http://harbor.lan/", "https://192.168.3.60:8888", " 10.20.7.1/16 "],
        "pass",
        LIVE,
        [
            _in_effect("http://harbor.lan/"),
            _in_effect("https://192.168.3.60:8888"),
            # a CIDR with host bits set is the same network as the daemon's
            _in_effect(" 10.20.7.1/16 "),
        ],
        id="schemes-and-a-non-strict-cidr-match",
    ),
    pytest.param(
        ["10.20.3.4:5000", "127.0.0.1:5000", "192.168.3.60:8888", "harbor.lan"],
        "warn",
        "10.20.0.0/16: the running daemon treats 10.20.0.0/16 " + NOT_LISTED,
        [
            _through("10.20.3.4:5000", "10.20.0.0/16"),
            _through("127.0.0.1:5000", "127.0.0.0/8"),
            _in_effect("192.168.3.60:8888"),
            _in_effect("harbor.lan"),
            _extra("10.20.0.0/16"),
        ],
        id="addresses-inside-the-daemons-ranges",
    ),
    pytest.param(
        [*RECORDED, "192.0.2.10:8888", "192.0.2.0/24", "registry.lan:5000"],
        "fail",
        "3 of 6 fail: 192.0.2.10:8888, 192.0.2.0/24, registry.lan:5000",
        [
            *[_in_effect(e) for e in RECORDED],
            _not_running("192.0.2.10:8888"),
            _not_running("192.0.2.0/24"),
            _not_running("registry.lan:5000"),
        ],
        id="file-edited-since-start",
    ),
    pytest.param(
        ["192.168.3.60:8888"],
        "warn",
        "2 of 3 warn: harbor.lan, 10.20.0.0/16",
        [_in_effect("192.168.3.60:8888"), _extra("harbor.lan"), _extra("10.20.0.0/16")],
        id="daemon-has-entries-the-file-lacks",
    ),
    pytest.param(
        ["192.168.3.60"],
        "fail",
        "192.168.3.60: daemon.json lists 192.168.3.60 " + RESTART,
        [_not_running("192.168.3.60"), _extra("192.168.3.60:8888"), _extra("harbor.lan")]
        + [_extra("10.20.0.0/16")],
        id="a-bare-address-is-not-the-address-with-a-port",
    ),
    pytest.param(
        [],
        "warn",
        "3 of 3 warn: 192.168.3.60:8888, harbor.lan, 10.20.0.0/16",
        [_extra("192.168.3.60:8888"), _extra("harbor.lan"), _extra("10.20.0.0/16")],
        id="empty-list",
    ),
]


@pytest.mark.parametrize(("entries", "status", "message", "findings"), RUNTIME_CASES)
def test_runtime_against_the_recorded_daemon(
    entries: list[str], status: str, message: str, findings: list[tuple[Any, ...]]
) -> None:
    out = runtime(snapshot_ctx(dj_text(entries)))
    assert (out.status.value, out.message) == (status, message)
    assert full(out.findings) == findings


def test_runtime_without_a_file_warns_for_every_live_entry() -> None:
    out = runtime(snapshot_ctx(None))
    assert (out.status, out.message) == (
        Status.WARN,
        "3 of 3 warn: 192.168.3.60:8888, harbor.lan, 10.20.0.0/16",
    )


def test_runtime_with_a_default_daemon() -> None:
    out = runtime(snapshot_ctx(None, info_output("defaults.json")))
    assert (out.status, out.message, out.findings) == (
        Status.PASS,
        "running daemon's insecure registries: (defaults only)",
        (),
    )
    out = runtime(snapshot_ctx("{}", info_output("defaults.json")))
    assert (out.status, out.message) == (
        Status.PASS,
        "running daemon's insecure registries: (defaults only)",
    )


def test_runtime_ipv6_loopback_is_a_default_range() -> None:
    # The Engine API documents both "::1/128" and "127.0.0.0/8" as the default
    # InsecureRegistryCIDRs (RegistryServiceConfig); newer daemons list both.
    def add_v6(data: dict[str, Any]) -> None:
        data["RegistryConfig"]["InsecureRegistryCIDRs"] = ["::1/128", "127.0.0.0/8"]

    out = runtime(snapshot_ctx(None, with_info(add_v6, "defaults.json")))
    assert (out.status, out.message, out.findings) == (
        Status.PASS,
        "running daemon's insecure registries: (defaults only)",
        (),
    )
    out = runtime(snapshot_ctx(dj_text(["[::1]:5000"]), with_info(add_v6, "defaults.json")))
    assert full(out.findings) == [_through("[::1]:5000", "::1/128")]


def test_runtime_index_entries_that_are_secure_or_incomplete() -> None:
    def trim(data: dict[str, Any]) -> None:
        index = data["RegistryConfig"]["IndexConfigs"]
        del index["harbor.lan"]["Secure"]  # no Secure field: taken as secure
        index["192.168.3.60:8888"] = None
        data["RegistryConfig"]["InsecureRegistryCIDRs"] = None

    out = runtime(snapshot_ctx(dj_text(["harbor.lan"]), with_info(trim)))
    assert (out.status, out.message) == (
        Status.FAIL,
        "harbor.lan: daemon.json lists harbor.lan " + RESTART,
    )
    assert full(out.findings) == [_not_running("harbor.lan")]


def test_runtime_without_a_registry_config() -> None:
    def drop(data: dict[str, Any]) -> None:
        data["RegistryConfig"] = None

    out = runtime(snapshot_ctx(dj_text(["127.0.0.1:5000"]), with_info(drop)))
    assert full(out.findings) == [_not_running("127.0.0.1:5000")]
    assert out.message == "127.0.0.1:5000: daemon.json lists 127.0.0.1:5000 " + RESTART

    def no_index(data: dict[str, Any]) -> None:
        data["RegistryConfig"] = {"InsecureRegistryCIDRs": ["10.20.0.0/16"]}

    out = runtime(snapshot_ctx(dj_text(["10.20.0.0/16"]), with_info(no_index)))
    assert (out.status, out.message) == (
        Status.PASS,
        "running daemon's insecure registries: 10.20.0.0/16",
    )


def test_runtime_daemon_not_answering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    failed = CommandOutput(
        1, (INFO / "unreachable.stdout").read_bytes(), (INFO / "unreachable.stderr").read_bytes()
    )
    out = runtime(snapshot_ctx(dj_text(RECORDED), failed))
    assert (out.status, out.message, out.findings) == (
        Status.FAIL,
        "docker info failed at unix:///var/run/docker.sock: DockerException: Cannot connect "
        "to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        (),
    )


def test_runtime_daemon_unreachable_from_the_live_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sock = tmp_path / "no-docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    ctx = CheckContext(host=LocalHost(), profile=profile(str(tmp_path / "daemon.json")))
    out = runtime(ctx)
    assert (out.status, out.findings) == (Status.FAIL, ())
    assert out.message.startswith(f"cannot reach the Docker daemon at unix://{sock}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            '{\u201cinsecure-registries": []}',
            f"{DJ} is not usable (see docker.daemon_json)",
            id="broken-file",
        ),
        pytest.param("[]", f"{DJ} is not usable (see docker.daemon_json)", id="not-an-object"),
        pytest.param(
            dj_text("harbor.lan"),
            f"{DJ}: insecure-registries is not a list of strings",
            id="a-string-not-a-list",
        ),
    ],
)
def test_runtime_skips_on_an_unusable_file(text: str, message: str) -> None:
    out = runtime(snapshot_ctx(text))
    assert (out.status, out.message) == (Status.SKIP, message)


def test_runtime_plan_restarts_docker_only_after_a_failure() -> None:
    check = DaemonRuntime()
    ctx = snapshot_ctx(dj_text(RECORDED))
    warn = Outcome(Status.WARN, "w", (Finding(Status.WARN, "x", "w"),))
    assert check.plan(ctx, warn) == ()
    fail = Outcome(
        Status.FAIL, "f", (Finding(Status.PASS, "a", "p"), Finding(Status.FAIL, "x", "f"))
    )
    assert check.plan(ctx, fail) == daemon_json_plan.docker_restart(
        "docker.daemon_runtime", reload=False
    )


def test_default_path_when_the_profile_names_none() -> None:
    for prof in ({}, {"daemon_json": {}}, {"daemon_json": None}):
        ctx = CheckContext(host=LocalHost(), profile=prof)
        assert daemon_json_file.daemon_json_path(ctx) == DJ


def test_the_file_is_read_once_per_run(tmp_path: Path) -> None:
    ctx = sys_ctx(tmp_path, {DJ: "{}", "/srv/other.json": '{"debug": true}'})
    first = daemon_json_file.read_daemon_json(ctx)
    (tmp_path / "root" / DJ.lstrip("/")).write_text("[]")
    assert daemon_json_file.read_daemon_json(ctx) is first
    # once per path: another path is read on its own
    ctx.profile["daemon_json"] = {"path": "/srv/other.json"}
    assert daemon_json_file.read_daemon_json(ctx).data == {"debug": True}


def test_lines_after_a_reset_in_the_same_file_count() -> None:
    snap = Snapshot(source="harbor01")
    snap.kinds.update({d: "n" for d in ("/etc/systemd", "/run/systemd", "/lib/systemd")})
    snap.listings["/usr/lib/systemd/system"] = ["docker.service"]
    unit = "/usr/lib/systemd/system/docker.service"
    snap.files[unit] = (
        b"[Service]\nEnvironmentFile=/etc/a\nEnvironmentFile=\nEnvironmentFile=/etc/b\n"
        b"EnvironmentFile=-Xconf/env\n"
    )
    assert docker_units.environment_files(SnapshotHost(snap)) == [
        docker_units.EnvFileLine(unit, 4, "EnvironmentFile=/etc/b", "/etc/b"),
        # a relative path (systemd ignores it) is taken as written, only "-" dropped
        docker_units.EnvFileLine(unit, 5, "EnvironmentFile=-Xconf/env", "Xconf/env"),
    ]


def test_unreadable_file_in_a_snapshot() -> None:
    snap = Snapshot(source="harbor01", facts={"user": "deploy"})
    snap.errors[DJ] = "cat: /etc/docker/daemon.json: Permission denied"
    snap.kinds.update(NO_SYSTEMD)
    ctx = CheckContext(host=SnapshotHost(snap), profile=profile())
    out = run_check(DaemonJsonCheck, ctx)
    assert (out.status, out.message) == (
        Status.FAIL,
        "daemon.json: cannot read: Permission denied (the collector ran as deploy)",
    )
    assert full(out.findings) == [
        (
            "fail",
            "daemon.json",
            "cannot read: Permission denied (the collector ran as deploy)",
            None,
            None,
            None,
        )
    ]
    assert daemon_json_plan.repaired_json(ctx) == (
        None,
        f"{DJ}: cannot read: Permission denied (the collector ran as deploy)",
    )


def test_http_harbor_without_a_hostname_is_not_judged(tmp_path: Path) -> None:
    ctx = sys_ctx(
        tmp_path, {DJ: dj_text(["a:80"]), YML: "http:\n  port: 8080\n"}, harbor_config=YML
    )
    out = run_check(DaemonJsonCheck, ctx)
    assert full(out.findings)[1:] == [
        ("skip", "insecure-registries", "harbor.yml has no hostname", None, None, None)
    ]
    assert (out.status, out.message) == (
        Status.SKIP,
        f"{DJ} is valid JSON; insecure-registries not judged: harbor.yml has no hostname",
    )


def test_unusable_harbor_yml_is_named(tmp_path: Path) -> None:
    ctx = sys_ctx(tmp_path, {DJ: "{}"}, harbor_config=YML)
    out = run_check(DaemonJsonCheck, ctx)
    assert full(out.findings)[1] == (
        "skip",
        "insecure-registries",
        f"cannot judge: harbor.yml unusable: {YML}: no such file",
        None,
        "(none)",
        None,
    )


def test_an_unreadable_unit_file_is_passed_over() -> None:
    dropins = "/etc/systemd/system/docker.service.d"
    snap = Snapshot(source="harbor01")
    snap.kinds.update({d: "n" for d in ("/run/systemd", "/usr/lib/systemd", "/lib/systemd")})
    snap.listings["/etc/systemd/system"] = ["docker.service.d"]
    snap.listings[dropins] = ["10-x.conf", "20-y.conf"]
    snap.errors[f"{dropins}/10-x.conf"] = "Permission denied"
    snap.files[f"{dropins}/20-y.conf"] = b"[Service]\nEnvironmentFile=-/etc/docker/daemon.json\n"
    assert docker_units.environment_files(SnapshotHost(snap)) == [
        docker_units.EnvFileLine(
            f"{dropins}/20-y.conf", 2, "EnvironmentFile=-/etc/docker/daemon.json", DJ
        )
    ]


@pytest.mark.parametrize(
    ("entry", "host", "port", "ok"),
    [
        ("http://harbor.lan:80://", "harbor.lan", 80, False),
        ("harbor.lan:80", "harbor.lan", 8080, False),
        ("10.0.0.1/32", "10.0.0.1", 5000, True),
        ("harbor.lan/8", "harbor.lan", 80, False),
        # only the first scheme is taken off; a trailing "X" is part of the name
        ("http://x://harbor.lan:80", "harbor.lan", 80, False),
        ("registryX", "registryX", 80, True),
    ],
)
def test_covers_more(entry: str, host: str, port: int, ok: bool) -> None:
    assert covers(entry, host, port) is ok


def test_the_ipv6_recording() -> None:
    reg = json.loads((INFO / "insecure-ipv6.json").read_text())["RegistryConfig"]
    assert reg["InsecureRegistryCIDRs"] == ["10.20.0.0/16", "fd00::/8", "127.0.0.0/8"]
    assert reg["IndexConfigs"]["[fd00::5]:5000"]["Secure"] is False


@pytest.mark.parametrize(
    ("entries", "findings"),
    [
        pytest.param(
            ["10.20.0.0/16", "fd00::/8", "[fd00::5]:5000", "harbor.lan"],
            [_in_effect(e) for e in ["10.20.0.0/16", "fd00::/8", "[fd00::5]:5000", "harbor.lan"]],
            id="as-recorded",
        ),
        pytest.param(
            ["10.20.0.0/16", "10.20.3.4:5000", "[fd00::7]:5000", "fd00::8", "fd00::9:5000"]
            + ["harbor.lan"],
            [
                _in_effect("10.20.0.0/16"),
                _through("10.20.3.4:5000", "10.20.0.0/16"),
                _through("[fd00::7]:5000", "fd00::/8"),
                _through("fd00::8", "fd00::/8"),
                _through("fd00::9:5000", "fd00::/8"),
                _in_effect("harbor.lan"),
                _extra("[fd00::5]:5000"),
                _extra("fd00::/8"),
            ],
            id="ipv6-registries-inside-the-range",
        ),
        pytest.param(
            ["fd00::1:0/112", "[fe80::1]:5000"],
            [
                _not_running("fd00::1:0/112"),
                _not_running("[fe80::1]:5000"),
                _extra("[fd00::5]:5000"),
                _extra("harbor.lan"),
                _extra("10.20.0.0/16"),
                _extra("fd00::/8"),
            ],
            id="a-narrower-range-and-addresses-outside",
        ),
    ],
)
def test_runtime_ipv6(entries: list[str], findings: list[tuple[Any, ...]]) -> None:
    out = runtime(snapshot_ctx(dj_text(entries), info_output("insecure-ipv6.json")))
    assert full(out.findings) == findings


def test_absent_file_with_an_https_harbor(tmp_path: Path) -> None:
    out = run_check(
        DaemonJsonCheck, sys_ctx(tmp_path, {YML: HARBOR_HTTPS_daemon_json}, harbor_config=YML)
    )
    assert full(out.findings) == [
        ("pass", "daemon.json", f"{DJ} absent: not needed, Harbor serves HTTPS", None, None, None)
    ]


@pytest.mark.parametrize(
    ("entry", "host"),
    [
        ("[fd00::5]:5000", "fd00::5"),
        ("[fd00::5]", "fd00::5"),
        ("fd00::5", "fd00::5"),  # bare IPv6: every colon belongs to the address
        ("reg.example.com:5000", "reg.example.com"),
        ("192.168.3.60", "192.168.3.60"),
        # the address ends at the first "]", as URL parsers read a bracketed host
        ("[fd00::5]:5000]", "fd00::5"),
    ],
)
def test_registry_host(entry: str, host: str) -> None:
    from harborkit.checks.dockerd_registry import _registry_host

    assert _registry_host(entry) == host
