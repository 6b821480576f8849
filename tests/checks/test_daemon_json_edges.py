"""docker.daemon_json on small sysroots: every way the file can be wrong, the
entries that cover Harbor, and the docker.service lines that load it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks import daemon_json, daemon_json_file, docker_units
from harborkit.checks.daemon_json import DaemonJsonCheck
from harborkit.checks.daemon_json_file import DaemonJson, json_problem
from harborkit.checks.dockerd_registry import covers
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, Finding, Status
from tests.support.checks import ctx

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
YML = "/opt/harbor/harbor.yml"
HARBOR_HTTP = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()
HARBOR_HTTPS = (SYSROOTS / "debian12" / "opt/harbor/harbor.yml").read_text()
DJ = "/etc/docker/daemon.json"
TAIL = "; dockerd will not start with this file"
NOT_ENV = "daemon.json is not an environment file (dockerd reads it by itself); remove the line"


def sysroot(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def dj_ctx(root: Path, path: str | None = None, **options: str) -> CheckContext:
    profile: dict[str, Any] = copy.deepcopy(dict(load_profile().data))
    if path is not None:
        profile["daemon_json"] = {"path": path}
    return ctx(root, profile, **options)


def full(findings: tuple[Finding, ...]) -> list[tuple[Any, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location) for f in findings
    ]


# --- syntax -----------------------------------------------------------------


def test_one_single_curly_quote_is_named_without_a_count() -> None:
    text = '{"debug": \u2018true"}'
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        assert json_problem(text, e, DJ) == (
            f'line 1 column 11: typographic quote \u2018 (U+2018) where JSON needs a plain "{TAIL}',
            f"{DJ}:1:11",
        )
    else:
        raise AssertionError("not a syntax error")


def test_right_single_quotes_are_counted(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {DJ: '{\n  \u2019debug\u2019: true,\n  "x": "\u201d"}\n'})
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings) == [
        (
            "fail",
            "daemon.json",
            "line 2 column 3: typographic quote \u2019 (U+2019) where JSON needs a plain "
            f'" (3 typographic quotes in the file){TAIL}',
            None,
            None,
            f"{DJ}:2:3",
        )
    ]
    assert out.message == f"daemon.json: {out.findings[0].message}"


def test_a_quote_after_the_error_is_not_the_cause(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {DJ: '{"a": tru, "b": "\u201c"}'})
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings) == [
        ("fail", "daemon.json", f"line 1 column 7: Expecting value{TAIL}", None, None, f"{DJ}:1:7")
    ]


def test_duplicate_key_is_refused_with_its_place(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {DJ: '{"insecure-registries": [],\n "insecure-registries": []}'})
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings) == [
        (
            "fail",
            "daemon.json",
            'line 2 column 2: duplicate key "insecure-registries"',
            None,
            None,
            f"{DJ}:2:2",
        )
    ]


def test_daemon_json_that_is_not_a_file(tmp_path: Path) -> None:
    # the host refuses to read a non-regular file; the runner reports it
    root = sysroot(tmp_path, {})
    (root / "etc/docker/daemon.json").mkdir(parents=True)
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings) == [
        ("fail", "file", "is a directory, not a regular file: not read", None, None, DJ)
    ]
    assert out.status is Status.FAIL


def test_not_an_object_is_located_on_line_one(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {DJ: "42"})
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings) == [
        ("fail", "daemon.json", "must be a JSON object, not int", None, None, f"{DJ}:1")
    ]
    dj = daemon_json_file.read_daemon_json(ctx(root))
    dj = daemon_json.read_daemon_json(dj_ctx(root))
    assert (dj.exists, dj.data, dj.insecure_registries) == (True, 42, None)


def test_insecure_registries_property() -> None:
    assert DaemonJson(DJ, True, {}).insecure_registries == []
    assert DaemonJson(DJ, True, {"insecure-registries": ["a", "b"]}).insecure_registries == [
        "a",
        "b",
    ]
    assert DaemonJson(DJ, True, {"insecure-registries": ["a", 1]}).insecure_registries is None
    assert DaemonJson(DJ, True, {"insecure-registries": "a"}).insecure_registries is None
    assert DaemonJson(DJ, False).insecure_registries is None


# --- the entry Harbor needs ---------------------------------------------------


def test_absent_without_harbor_yml(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {"etc/hostname": "h\n"})
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings) == [
        (
            "skip",
            "daemon.json",
            f"{DJ} absent; whether Harbor needs an insecure-registries entry is unknown "
            "(no harbor.yml given (--harbor-config or --install-dir) and no --harbor address)",
            None,
            None,
            None,
        )
    ]


def test_absent_with_http_harbor_expects_the_entry(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {YML: HARBOR_HTTP})
    out = run_check(DaemonJsonCheck, dj_ctx(root, harbor_config=YML))
    assert out.findings[0].expected == '{"insecure-registries": ["192.168.3.60:8888"]}'
    assert out.findings[0].location is None


def test_custom_path_from_the_profile(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {"srv/dj.json": '{"insecure-registries": []}', YML: HARBOR_HTTP})
    out = run_check(DaemonJsonCheck, dj_ctx(root, "/srv/dj.json", harbor_config=YML))
    assert full(out.findings) == [
        ("pass", "daemon.json", "/srv/dj.json is valid JSON", None, None, "/srv/dj.json"),
        (
            "fail",
            "insecure-registries",
            f"does not list 192.168.3.60:8888, where Harbor serves plain HTTP (from {YML})",
            "192.168.3.60:8888",
            "(none)",
            "/srv/dj.json",
        ),
    ]


def test_entries_shown_and_https(tmp_path: Path) -> None:
    root = sysroot(
        tmp_path,
        {DJ: '{"insecure-registries": ["10.0.0.0/8", "192.168.3.60:8888"]}', YML: HARBOR_HTTP},
    )
    out = run_check(DaemonJsonCheck, dj_ctx(root, harbor_config=YML))
    assert full(out.findings)[1] == (
        "pass",
        "insecure-registries",
        "lists 192.168.3.60:8888",
        "192.168.3.60:8888",
        "10.0.0.0/8, 192.168.3.60:8888",
        None,
    )
    sysroot(root, {YML: HARBOR_HTTPS})
    out = run_check(DaemonJsonCheck, dj_ctx(root, harbor_config=YML))
    assert full(out.findings)[1] == (
        "pass",
        "insecure-registries",
        "Harbor serves HTTPS: no entry needed",
        None,
        "10.0.0.0/8, 192.168.3.60:8888",
        None,
    )
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings)[1] == (
        "skip",
        "insecure-registries",
        "cannot judge: no harbor.yml given (--harbor-config or --install-dir) and no --harbor address",
        None,
        "10.0.0.0/8, 192.168.3.60:8888",
        None,
    )


def test_bad_list_shows_the_value(tmp_path: Path) -> None:
    root = sysroot(tmp_path, {DJ: '{"insecure-registries": ["a", 3]}'})
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings)[1] == (
        "fail",
        "insecure-registries",
        "must be a list of strings",
        None,
        '["a", 3]',
        DJ,
    )


@pytest.mark.parametrize(
    ("entry", "host", "port", "ok"),
    [
        (" https://harbor.lan:8080// ", "harbor.lan", 8080, True),
        ("harbor.lan/", "harbor.lan", 80, True),
        ("harbor.lan:80", "harbor.lan", 80, True),
        ("harbor.lan", "harbor.lan", 443, False),
        ("10.0.0.0/8", "harbor.lan", 80, False),
        ("10.1.2.3/8", "10.200.0.1", 5000, True),
        ("fd00::/8", "fd00::5", 80, True),
        ("fd00::/8", "10.0.0.1", 80, False),
        ("not-a-net/8", "10.0.0.1", 80, False),
        ("harbor.lan:8080", "harbor", 8080, False),
        ("http://harbor.lan", "harbor.lan", 80, True),
    ],
)
def test_covers_edges(entry: str, host: str, port: int, ok: bool) -> None:
    assert covers(entry, host, port) is ok


# --- EnvironmentFile lines ----------------------------------------------------


def test_unit_files_in_systemd_order(tmp_path: Path) -> None:
    root = sysroot(
        tmp_path,
        {
            "usr/lib/systemd/system/docker.service": "",
            "lib/systemd/system/docker.service": "",
            "usr/lib/systemd/system/docker.service.d/10-a.conf": "",
            "run/systemd/system/docker.service.d/10-a.conf": "",
            "etc/systemd/system/docker.service.d/20-b.conf": "",
            "lib/systemd/system/docker.service.d/05-c.conf": "",
            "etc/systemd/system/docker.service.d/notes.txt": "",
        },
    )
    host = SysrootHost(root)
    assert docker_units._unit_files(host) == [
        "/usr/lib/systemd/system/docker.service",
        "/lib/systemd/system/docker.service.d/05-c.conf",
        "/run/systemd/system/docker.service.d/10-a.conf",
        "/etc/systemd/system/docker.service.d/20-b.conf",
    ]
    sysroot(
        root, {"etc/systemd/system/docker.service": "", "run/systemd/system/docker.service": ""}
    )
    assert docker_units._unit_files(host)[0] == "/etc/systemd/system/docker.service"
    (root / "etc/systemd/system/docker.service").unlink()
    assert docker_units._unit_files(host)[0] == "/run/systemd/system/docker.service"
    assert docker_units._unit_files(SysrootHost(sysroot(tmp_path / "empty", {}))) == []


def test_an_empty_assignment_clears_the_lines_before_it(tmp_path: Path) -> None:
    root = sysroot(
        tmp_path,
        {
            "usr/lib/systemd/system/docker.service": (
                "[Service]\nEnvironmentFile=-/etc/docker/daemon.json\n"
                "EnvironmentFile=/etc/sysconfig/docker\n"
            ),
            "etc/systemd/system/docker.service.d/10-reset.conf": "[Service]\nEnvironmentFile=\n",
            "etc/systemd/system/docker.service.d/20-again.conf": (
                "[Service]\n  EnvironmentFile = - /srv/conf/daemon.json  \n"
                "#EnvironmentFile=/etc/docker/daemon.json\n"
                "EnvironmentFile=/etc/default/docker\n"
            ),
        },
    )
    host = SysrootHost(root)
    unit = "/etc/systemd/system/docker.service.d/20-again.conf"
    assert docker_units.environment_files(host) == [
        docker_units.EnvFileLine(
            unit, 2, "EnvironmentFile = - /srv/conf/daemon.json", "/srv/conf/daemon.json"
        ),
        docker_units.EnvFileLine(
            unit, 4, "EnvironmentFile=/etc/default/docker", "/etc/default/docker"
        ),
    ]
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert full(out.findings) == [
        (
            "skip",
            "daemon.json",
            f"{DJ} absent; whether Harbor needs an insecure-registries entry is unknown "
            "(no harbor.yml given (--harbor-config or --install-dir) and no --harbor address)",
            None,
            None,
            None,
        ),
        (
            "warn",
            "EnvironmentFile",
            f"{unit} loads /srv/conf/daemon.json: {NOT_ENV}",
            None,
            "EnvironmentFile = - /srv/conf/daemon.json",
            f"{unit}:2",
        ),
    ]
    assert out.status is Status.WARN


def test_the_configured_path_is_recognised_by_its_own_name(tmp_path: Path) -> None:
    root = sysroot(
        tmp_path,
        {
            "srv/dockerd.json": "{}",
            "usr/lib/systemd/system/docker.service": (
                "[Service]\nEnvironmentFile=/srv/dockerd.json\nEnvironmentFile=/srv/daemon.jsonx\n"
            ),
        },
    )
    out = run_check(DaemonJsonCheck, dj_ctx(root, "/srv/dockerd.json"))
    assert [(f.status.value, f.location) for f in out.findings] == [
        ("pass", "/srv/dockerd.json"),
        ("skip", None),
        ("warn", "/usr/lib/systemd/system/docker.service:2"),
    ]
    out = run_check(DaemonJsonCheck, dj_ctx(root))
    assert [f.subject for f in out.findings] == ["daemon.json"]
