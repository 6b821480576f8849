"""docker.engine, docker.daemon, docker.compose: fixture sysroots, a real private dockerd, live.

docker.daemon and docker.compose on a running system, answered from recorded
command output through the snapshot backend (a carried snapshot, or an SSH host).

``SERVER`` is what ``docker version --format '{{json .Server}}'`` printed for a
real dockerd 20.10.24 (Debian 12's docker.io) with the docker 28.2.2 CLI; the
other daemons vary its Version/ApiVersion fields. The unreachable-daemon and
missing-plugin outputs are what that CLI printed with no daemon running and no
Compose plugin installed."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks._compare import version_tuple
from harborkit.checks.docker import DockerCompose, DockerDaemon, DockerEngine, parse_compose_version
from harborkit.collect.snapshot import CommandOutput, Snapshot
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.interface import Host
from harborkit.host.local import LocalHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import CheckContext, Finding, Status
from tests.support.checks import ctx, profile_with
from tests.support.dockerd import Daemon, start_dockerd

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


def rows(findings: tuple[Finding, ...]) -> list[tuple[str, str, str]]:
    return [(f.status.value, f.subject, f.message) for f in findings]


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Daemon]:
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is not installed: make test installs docker.io")
    with start_dockerd(stop_in_background=True) as daemon:
        yield daemon


@pytest.mark.parametrize("name", ["centos7-compliant", "guide-as-written", "debian12"])
def test_engine_on_sysroots_judged_by_files(name: str) -> None:
    out = run_check(DockerEngine, ctx(SYSROOTS / name))
    assert (out.status, out.message) == (Status.PASS, "docker at /usr/bin/docker")
    assert rows(out.findings) == [("pass", "docker", "found at /usr/bin/docker")]


def test_engine_missing_fails(tmp_path: Path) -> None:
    out = run_check(DockerEngine, ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.FAIL,
        "Docker is not installed: neither dockerd nor docker found",
    )


def test_daemon_skips_on_sysroot() -> None:
    out = run_check(DockerDaemon, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.SKIP,
        "the Docker daemon needs a running system; auditing a sysroot",
    )


def test_daemon_reachable_reports_the_real_version(
    dockerd: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    out = run_check(DockerDaemon, ctx(None))
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
    out = run_check(DockerDaemon, ctx(None, profile_with("docker", min_version=bar)))
    assert out.status is Status.FAIL
    assert out.message.startswith(f"server version: Docker {version} (API ")
    assert out.message.endswith(f"): older than {bar}, which install.sh refuses")


def test_daemon_unreachable_names_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"unix://{tmp_path}/nothing.sock"
    monkeypatch.setenv("DOCKER_HOST", url)
    out = run_check(DockerDaemon, ctx(None))
    assert out.status is Status.FAIL
    assert out.message.startswith(f"cannot reach the Docker daemon at {url}: ")
    assert out.message.endswith(": no Docker socket there (is dockerd running?)")


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
    out = run_check(DockerCompose, ctx(root))
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
    out = run_check(DockerCompose, ctx(SYSROOTS / "debian12"))
    assert out.status is Status.FAIL
    assert out.message == (
        "only the Compose v2 plugin is installed "
        "(/usr/libexec/docker/cli-plugins/docker-compose); Harbor v1.8.0's install.sh "
        "looks only for the docker-compose binary: link the plugin binary as "
        "/usr/local/bin/docker-compose, or install docker-compose 1.24.0"
    )


def test_compose_absent_everywhere_fails(tmp_path: Path) -> None:
    out = run_check(DockerCompose, ctx(tmp_path))
    assert (out.status, out.message) == (Status.FAIL, "docker-compose not found")


def test_compose_live_version_through_a_real_binary() -> None:
    """The live path (run the binary, parse, compare) on a binary this machine has:
    the profile names ``docker`` as the compose binary; ``docker version --short``
    fails, so the check falls back to ``docker --version``."""
    docker = shutil.which("docker")
    assert docker is not None
    real = subprocess.run([docker, "--version"], capture_output=True, text=True).stdout
    version = parse_compose_version(real)
    assert version is not None and real.startswith(f"Docker version {version},")
    out = run_check(DockerCompose, ctx(None, profile_with("compose", binary="docker")))
    assert (out.status, out.message) == (Status.PASS, f"docker {version} at {docker}")
    bar = f"{version_tuple(version)[0] + 1}.0"
    out = run_check(
        DockerCompose, ctx(None, profile_with("compose", binary="docker", min_version=bar))
    )
    assert out.status is Status.FAIL
    assert out.message == f"version: {version} is older than {bar}, which install.sh refuses"


SERVER = (
    '{"Platform":{"Name":""},"Components":[{"Name":"Engine","Version":"20.10.24+dfsg1",'
    '"Details":{"ApiVersion":"1.41","Arch":"amd64","BuildTime":"Thu May  7 21:09:36 2026",'
    '"Experimental":"false","GitCommit":"5d6db84","GoVersion":"go1.19.8",'
    '"KernelVersion":"6.18.44-fc-v657","MinAPIVersion":"1.12","Os":"linux"}},'
    '{"Name":"containerd","Version":"1.6.20~ds1","Details":{"GitCommit":"1.6.20~ds1-1+deb12u3"}},'
    '{"Name":"runc","Version":"1.1.5+ds1","Details":{"GitCommit":"1.1.5+ds1-1+deb12u1"}},'
    '{"Name":"docker-init","Version":"0.19.0","Details":{"GitCommit":""}}],'
    '"Version":"20.10.24+dfsg1","ApiVersion":"1.41","MinAPIVersion":"1.12",'
    '"GitCommit":"5d6db84","GoVersion":"go1.19.8","Os":"linux","Arch":"amd64",'
    '"KernelVersion":"6.18.44-fc-v657","BuildTime":"2026-05-07T21:09:36.000000000+00:00"}\n'
)


VERSION = shlex.join(["docker", "version", "--format", "{{json .Server}}"])


SOCKET = "unix:///var/run/docker.sock"


NO_DAEMON = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?\n"
)


PLUGIN_DIRS = (
    "/usr/local/lib/docker",
    "/usr/local/libexec/docker",
    "/usr/lib/docker",
    "/usr/libexec/docker",
    "/root/.docker",
)


def server(**fields: Any) -> str:
    """The recorded server JSON with some fields changed (None removes one)."""
    data = json.loads(SERVER)
    for k, v in fields.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    return json.dumps(data) + "\n"


def snapshot_host(
    commands: dict[str, tuple[int, str, str]],
    which: dict[str, str] | None = None,
    plugins: tuple[str, ...] = (),
) -> SnapshotHost:
    snap = Snapshot(source="harbor01")
    snap.commands = {
        k: CommandOutput(rc, out.encode(), err.encode()) for k, (rc, out, err) in commands.items()
    }
    snap.which = {"docker": "/usr/bin/docker", "docker-compose": "", **(which or {})}
    for d in PLUGIN_DIRS:
        snap.kinds[d] = "n"
    for path in plugins:
        snap.kinds.pop(path.rsplit("/", 2)[0], None)
        snap.kinds[path] = "f"
    return SnapshotHost(snap)


def sections_ctx(host: Host, **sections: dict[str, Any]) -> CheckContext:
    return ctx(host, {**load_profile().data, **sections})


def full(findings: tuple[Finding, ...]) -> list[tuple[object, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location) for f in findings
    ]


@pytest.fixture(autouse=True)
def default_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)


@pytest.mark.parametrize(
    ("answer", "minimum", "status", "message", "finding"),
    [
        pytest.param(
            SERVER,
            None,
            Status.PASS,
            f"Docker 20.10.24+dfsg1 (API 1.41) answering at {SOCKET}",
            ("pass", "Docker 20.10.24+dfsg1 (API 1.41)", ">= 17.06.0", "20.10.24+dfsg1"),
            id="recorded-debian-docker-io",
        ),
        pytest.param(
            server(Version="17.06.0-ce", ApiVersion="1.30"),
            None,
            Status.PASS,
            f"Docker 17.06.0-ce (API 1.30) answering at {SOCKET}",
            ("pass", "Docker 17.06.0-ce (API 1.30)", ">= 17.06.0", "17.06.0-ce"),
            id="exactly-the-minimum",
        ),
        pytest.param(
            server(Version="17.05.0-ce", ApiVersion="1.29"),
            None,
            Status.FAIL,
            "server version: Docker 17.05.0-ce (API 1.29): older than 17.06.0, "
            "which install.sh refuses",
            (
                "fail",
                "Docker 17.05.0-ce (API 1.29): older than 17.06.0, which install.sh refuses",
                ">= 17.06.0",
                "17.05.0-ce",
            ),
            id="one-release-older",
        ),
        pytest.param(
            server(Version="1.13.1", ApiVersion="1.26"),
            "17.06.0",
            Status.FAIL,
            "server version: Docker 1.13.1 (API 1.26): older than 17.06.0, "
            "which install.sh refuses",
            (
                "fail",
                "Docker 1.13.1 (API 1.26): older than 17.06.0, which install.sh refuses",
                ">= 17.06.0",
                "1.13.1",
            ),
            id="rhel7-docker-1.13",
        ),
        pytest.param(
            SERVER,
            "20.10.25",
            Status.FAIL,
            "server version: Docker 20.10.24+dfsg1 (API 1.41): older than 20.10.25, "
            "which install.sh refuses",
            (
                "fail",
                "Docker 20.10.24+dfsg1 (API 1.41): older than 20.10.25, which install.sh refuses",
                ">= 20.10.25",
                "20.10.24+dfsg1",
            ),
            id="the-profile-minimum",
        ),
        pytest.param(
            server(ApiVersion=None),
            None,
            Status.PASS,
            f"Docker 20.10.24+dfsg1 (API ?) answering at {SOCKET}",
            ("pass", "Docker 20.10.24+dfsg1 (API ?)", ">= 17.06.0", "20.10.24+dfsg1"),
            id="no-api-version",
        ),
    ],
)
def test_daemon_version_judged(
    answer: str,
    minimum: str | None,
    status: Status,
    message: str,
    finding: tuple[object, ...],
) -> None:
    host = snapshot_host({VERSION: (0, answer, "")})
    # no min_version in the profile: the check's own default, 17.06.0
    section = {} if minimum is None else {"min_version": minimum}
    out = run_check(DockerDaemon, sections_ctx(host, docker=section))
    assert (out.status, out.message) == (status, message)
    assert full(out.findings) == [
        (finding[0], "server version", finding[1], finding[2], finding[3], None)
    ]


def test_daemon_reporting_no_version_is_an_error_naming_it() -> None:
    out = run_check(
        DockerDaemon, sections_ctx(snapshot_host({VERSION: (0, server(Version=None), "")}))
    )
    assert out.status is Status.ERROR
    assert out.message.startswith("check raised ValueError: no version number in '?' (at ")


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        pytest.param((1, "null\n", NO_DAEMON), NO_DAEMON.strip(), id="no-daemon"),
        pytest.param(
            (127, "", "sh: 1: docker: not found\n"),
            "the docker CLI is not installed on the host",
            id="no-cli",
        ),
        pytest.param((0, "null\n", ""), "docker exited with 0", id="null-answer"),
        pytest.param(
            (0, "Docker version 18.09.9, build 039a7df\nsecond line\n", ""),
            "'docker version --format' printed no JSON: 'Docker version 18.09.9, build 039a7df'",
            id="cli-ignoring-format",
        ),
        pytest.param(
            (0, "\x1b[2J" + "x" * 200 + "\n", ""),
            "'docker version --format' printed no JSON: '\\x1b[2J" + "x" * 76 + "...'",
            id="terminal-escape-and-long-line",
        ),
    ],
)
def test_daemon_not_reporting_its_version(
    answer: tuple[int, str, str], why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2375")
    out = run_check(DockerDaemon, sections_ctx(snapshot_host({VERSION: answer})))
    message = (
        f"the Docker daemon at tcp://10.0.0.5:2375 did not report its version: "
        f"DockerException: {why}"
    )
    assert (out.status, out.message) == (Status.FAIL, message)
    assert full(out.findings) == [("fail", "tcp://10.0.0.5:2375", message, None, None, None)]


def test_daemon_unreachable_finding_names_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"unix://{tmp_path}/nothing.sock"
    monkeypatch.setenv("DOCKER_HOST", url)
    out = run_check(DockerDaemon, sections_ctx(LocalHost()))
    message = (
        f"cannot reach the Docker daemon at {url}: no Docker socket there (is dockerd running?)"
    )
    assert (out.status, out.message) == (Status.FAIL, message)
    assert full(out.findings) == [("fail", url, message, None, None, None)]


COMPOSE = "/usr/local/bin/docker-compose"


SHORT = shlex.join([COMPOSE, "version", "--short"])


LONG = shlex.join([COMPOSE, "--version"])


@pytest.mark.parametrize(
    ("commands", "status", "message", "version"),
    [
        pytest.param(
            {SHORT: (0, "1.24.0\n", "")},
            Status.PASS,
            f"docker-compose 1.24.0 at {COMPOSE}",
            ("pass", "version", "1.24.0", ">= 1.18.0", "1.24.0", None),
            id="compose-1.24-short",
        ),
        pytest.param(
            {SHORT: (0, "1.18.0\n", "")},
            Status.PASS,
            f"docker-compose 1.18.0 at {COMPOSE}",
            ("pass", "version", "1.18.0", ">= 1.18.0", "1.18.0", None),
            id="exactly-the-minimum",
        ),
        pytest.param(
            {SHORT: (0, "v2.24.1\n", "")},
            Status.PASS,
            f"docker-compose 2.24.1 at {COMPOSE}",
            ("pass", "version", "2.24.1", ">= 1.18.0", "2.24.1", None),
            id="compose-v2-binary",
        ),
        pytest.param(
            {
                SHORT: (1, "", "No such command: version --short\n"),
                LONG: (0, "docker-compose version 1.17.1, build 6d101fb\n", ""),
            },
            Status.FAIL,
            "version: 1.17.1 is older than 1.18.0, which install.sh refuses",
            (
                "fail",
                "version",
                "1.17.1 is older than 1.18.0, which install.sh refuses",
                ">= 1.18.0",
                "1.17.1",
                None,
            ),
            id="old-compose-by-dash-dash-version",
        ),
        pytest.param(
            {
                SHORT: (0, "\n", ""),
                LONG: (0, "docker-compose version 1.29.2, build 5becea4c\n", ""),
            },
            Status.PASS,
            f"docker-compose 1.29.2 at {COMPOSE}",
            ("pass", "version", "1.29.2", ">= 1.18.0", "1.29.2", None),
            id="empty-short-answer",
        ),
        pytest.param(
            {SHORT: (1, "", ""), LONG: (126, "", "Permission denied\n")},
            Status.FAIL,
            f"version: {COMPOSE} does not report a version: Permission denied",
            (
                "fail",
                "version",
                f"{COMPOSE} does not report a version: Permission denied",
                ">= 1.18.0",
                None,
                None,
            ),
            id="neither-answers",
        ),
    ],
)
def test_compose_version_judged(
    commands: dict[str, tuple[int, str, str]],
    status: Status,
    message: str,
    version: tuple[object, ...],
) -> None:
    host = snapshot_host(commands, which={"docker-compose": COMPOSE})
    out = run_check(DockerCompose, sections_ctx(host, compose={}))
    assert (out.status, out.message) == (status, message)
    assert full(out.findings) == [
        ("pass", "docker-compose", f"found at {COMPOSE}", None, COMPOSE, None),
        version,
    ]


def test_compose_version_not_recorded_is_skipped() -> None:
    host = snapshot_host({}, which={"docker-compose": COMPOSE})
    out = run_check(DockerCompose, sections_ctx(host))
    assert (out.status, out.message) == (Status.PASS, f"docker-compose at {COMPOSE}")
    assert full(out.findings)[1] == (
        "skip",
        "version",
        f"the snapshot from harbor01 has no output of {SHORT} (the collector did not gather it; make it again with harborkit collect --script and this run's --profile, --node, --install-dir and --harbor-config)",
        None,
        None,
        None,
    )


def test_compose_binary_and_minimum_from_the_profile() -> None:
    path = "/opt/bin/compose"
    host = snapshot_host(
        {shlex.join([path, "version", "--short"]): (0, "2.20.2\n", "")}, which={"compose": path}
    )
    out = run_check(
        DockerCompose, sections_ctx(host, compose={"binary": "compose", "min_version": "2.24"})
    )
    assert (out.status, out.message) == (
        Status.FAIL,
        "version: 2.20.2 is older than 2.24, which install.sh refuses",
    )
    assert full(out.findings)[0] == ("pass", "compose", f"found at {path}", None, path, None)


PLUGIN_MESSAGE = (
    "only the Compose v2 plugin is installed ({plugin}); Harbor v1.8.0's install.sh looks "
    "only for the docker-compose binary: link the plugin binary as "
    "/usr/local/bin/docker-compose, or install docker-compose 1.24.0"
)


PROBE = shlex.join(["docker", "compose", "version", "--short"])


@pytest.mark.parametrize(
    ("probe", "plugins", "plugin"),
    [
        pytest.param((0, "2.24.1\n", ""), (), "docker compose 2.24.1", id="probe-answers"),
        pytest.param(
            None,
            ("/usr/libexec/docker/cli-plugins/docker-compose",),
            "/usr/libexec/docker/cli-plugins/docker-compose",
            id="plugin-file-no-probe",
        ),
    ],
)
def test_compose_plugin_alone_fails(
    probe: tuple[int, str, str] | None, plugins: tuple[str, ...], plugin: str
) -> None:
    host = snapshot_host({PROBE: probe} if probe else {}, plugins=plugins)
    out = run_check(DockerCompose, sections_ctx(host, compose={}))
    message = PLUGIN_MESSAGE.format(plugin=plugin)
    assert (out.status, out.message) == (Status.FAIL, message)
    assert full(out.findings) == [
        ("fail", "docker-compose", message, "a binary on PATH", plugin, None)
    ]


@pytest.mark.parametrize(
    "probe",
    [
        pytest.param(
            (
                125,
                "",
                "unknown flag: --short\n\nUsage:  docker [OPTIONS] COMMAND [ARG...]\n\n"
                "Run 'docker --help' for more information\n",
            ),
            id="docker-without-the-plugin",
        ),
        pytest.param((0, "\n", ""), id="empty-answer"),
    ],
)
def test_compose_absent_when_the_probe_finds_no_plugin(probe: tuple[int, str, str]) -> None:
    out = run_check(DockerCompose, sections_ctx(snapshot_host({PROBE: probe})))
    assert (out.status, out.message) == (Status.FAIL, "docker-compose not found")
    assert full(out.findings) == [
        ("fail", "docker-compose", "docker-compose not found", "a binary on PATH", None, None)
    ]
