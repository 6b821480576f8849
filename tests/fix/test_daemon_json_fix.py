"""The daemon.json fixes in-process: the repaired document, the exact file
changes and commands each plan holds, for every shape of daemon.json and of
docker.service's EnvironmentFile= lines."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks import daemon_json_file, docker_units
from harborkit.checks.daemon_json import DaemonJsonCheck
from harborkit.checks.daemon_json_plan import docker_restart, plan_daemon_json, repaired_json
from harborkit.checks.docker_units import ENVFILE_DROPIN, plan_environment_file
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.model.change import Command, FileChange, ManualStep
from harborkit.model.check import CheckContext, CheckOptions, Finding, Outcome, Status
from tests.support.sysroot import write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
HARBOR_HTTP = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()
HARBOR_HTTPS = (SYSROOTS / "debian12" / "opt/harbor/harbor.yml").read_text()
YML = "/opt/harbor/harbor.yml"
DJ = "/etc/docker/daemon.json"
ID = "docker.daemon_json"
ADDR = "192.168.3.60:8888"
VENDOR = "/usr/lib/systemd/system/docker.service"
DROPIN_DIR = "/etc/systemd/system/docker.service.d"
KEEP = "valid JSON, every other key kept"
NOT_ENV = "  # harborkit: daemon.json is not an environment file"

RELOAD = Command((ID,), ("systemctl", "daemon-reload"), "read the changed docker.service drop-ins")
RESTART = Command(
    (ID,),
    ("systemctl", "restart", "docker"),
    "dockerd reads daemon.json and its unit only at start",
    restarts_docker=True,
)


def make_ctx(tmp_path: Path, files: dict[str, str], harbor: str | None = None) -> CheckContext:
    if harbor is not None:
        files = {**files, YML: harbor}
    (tmp_path / "root").mkdir(parents=True)
    root = write(tmp_path / "root", files)
    options = CheckOptions(harbor_config=YML) if harbor is not None else CheckOptions()
    profile: dict[str, Any] = copy.deepcopy(dict(load_profile().data))
    return CheckContext(host=SysrootHost(root), profile=profile, options=options)


def pretty(data: str) -> bytes:
    return data.encode()


# --- repaired_json --------------------------------------------------------------

REPAIRS = [
    pytest.param({}, None, ({}, ""), id="absent-no-harbor"),
    pytest.param({}, HARBOR_HTTP, ({"insecure-registries": [ADDR]}, ""), id="absent-http"),
    pytest.param({}, HARBOR_HTTPS, ({}, ""), id="absent-https"),
    pytest.param(
        {DJ: '{"debug": true, "insecure-registries": ["10.0.0.1:5000"]}'},
        HARBOR_HTTP,
        ({"debug": True, "insecure-registries": ["10.0.0.1:5000", ADDR]}, ""),
        id="entry-appended-other-keys-kept",
    ),
    pytest.param(
        {DJ: '{"insecure-registries": ["192.168.3.0/24"]}'},
        HARBOR_HTTP,
        ({"insecure-registries": ["192.168.3.0/24"]}, ""),
        id="already-covered-by-a-range",
    ),
    pytest.param(
        {DJ: '{"insecure-registries": "10.0.0.1:5000"}'},
        HARBOR_HTTP,
        ({"insecure-registries": ["10.0.0.1:5000", ADDR]}, ""),
        id="a-single-string-becomes-a-list",
    ),
    pytest.param(
        {DJ: '{"insecure-registries": "10.0.0.1:5000"}'},
        HARBOR_HTTPS,
        ({"insecure-registries": "10.0.0.1:5000"}, ""),
        id="https-leaves-the-entries-alone",
    ),
    pytest.param(
        {DJ: '{"insecure-registries": ["a", 1]}'},
        HARBOR_HTTP,
        (
            None,
            f'{DJ}: insecure-registries is ["a", 1], not a list of strings: rewrite it by hand',
        ),
        id="a-list-with-a-number",
    ),
    pytest.param(
        {DJ: '{"insecure-registries": {"a": 1}}'},
        HARBOR_HTTP,
        (
            None,
            f'{DJ}: insecure-registries is {{"a": 1}}, not a list of strings: rewrite it by hand',
        ),
        id="an-object-not-a-list",
    ),
    pytest.param(
        {DJ: "{\n  \u201clabels\u201d: [\u201cit\u2018s\u2019\u201d]\n}\n"},
        HARBOR_HTTP,
        ({"labels": ["it's'"], "insecure-registries": [ADDR]}, ""),
        id="typographic-quotes-made-plain",
    ),
    pytest.param(
        {DJ: '{"debug": true, "debug": false}'},
        None,
        ({"debug": False}, ""),
        id="duplicate-key-the-last-wins",
    ),
    pytest.param(
        {DJ: '{"a": tru}'},
        HARBOR_HTTP,
        (
            None,
            f"{DJ} is not JSON even with plain quotes (line 1 column 7: Expecting value): "
            "rewrite it by hand, keeping the keys it should have",
        ),
        id="not-json-at-all",
    ),
    pytest.param(
        {DJ: '{"debug": true, "x": NaN}'},
        None,
        (
            None,
            f"{DJ} is not JSON even with plain quotes (line 1 column 22: NaN is not a JSON "
            "value): rewrite it by hand, keeping the keys it should have",
        ),
        id="nan-is-not-written-back",
    ),
    pytest.param(
        {DJ: '{"x": 1e999}'},
        None,
        (
            None,
            f"{DJ} is not JSON even with plain quotes (line 1 column 7: number 1e999 is out "
            "of range): rewrite it by hand, keeping the keys it should have",
        ),
        id="infinity-is-not-written-back",
    ),
    pytest.param(
        {DJ: '{"x": 1' + "0" * 5000 + "}"},
        None,
        (
            None,
            f"{DJ} is not JSON even with plain quotes (line 1 column 7: integer of 5001 digits "
            "is out of range): rewrite it by hand, keeping the keys it should have",
        ),
        id="an-integer-too-long-does-not-crash",
    ),
    pytest.param(
        {DJ: "[1]"},
        None,
        (None, f"{DJ} holds a JSON list, not an object: rewrite it by hand"),
        id="a-list",
    ),
    pytest.param(
        {DJ: "[\u201ca\u201d]"},
        None,
        (None, f"{DJ} holds a JSON list, not an object: rewrite it by hand"),
        id="a-curly-quoted-list",
    ),
    pytest.param(
        {DJ: '{"debug": true}'},
        "http:\n  port: 8080\n",
        ({"debug": True}, ""),
        id="harbor-without-hostname",
    ),
]


@pytest.mark.parametrize(("files", "harbor", "expected"), REPAIRS)
def test_repaired_json(
    tmp_path: Path, files: dict[str, str], harbor: str | None, expected: tuple[Any, str]
) -> None:
    assert repaired_json(make_ctx(tmp_path, files, harbor)) == expected


def test_repair_leaves_the_parsed_file_alone(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {DJ: '{"insecure-registries": []}'}, HARBOR_HTTP)
    data, _ = repaired_json(ctx)
    assert data == {"insecure-registries": [ADDR]}
    assert daemon_json_file.read_daemon_json(ctx).data == {"insecure-registries": []}


# --- plan_daemon_json -------------------------------------------------------------


def test_plan_creates_the_file_for_an_http_harbor(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {}, HARBOR_HTTP)
    assert plan_daemon_json(ctx, ID) == [
        FileChange(
            (ID,),
            DJ,
            pretty('{\n  "insecure-registries": [\n    "192.168.3.60:8888"\n  ]\n}\n'),
            None,
            KEEP,
            owned=True,
            whole=True,
        )
    ]


def test_plan_writes_nothing_when_nothing_is_needed(tmp_path: Path) -> None:
    assert plan_daemon_json(make_ctx(tmp_path / "a", {}), ID) == []
    assert plan_daemon_json(make_ctx(tmp_path / "b", {}, HARBOR_HTTPS), ID) == []
    # the same content in its own layout is kept as it is
    text = '{ "insecure-registries" : [ "192.168.3.60:8888" ] ,"debug":true }'
    assert plan_daemon_json(make_ctx(tmp_path / "c", {DJ: text}, HARBOR_HTTP), ID) == []
    assert plan_daemon_json(make_ctx(tmp_path / "d", {DJ: "{}"}, HARBOR_HTTPS), ID) == []


def test_plan_rewrites_keeping_other_keys_and_non_ascii(tmp_path: Path) -> None:
    old = '{"labels": ["zone=caf\u00e9"], "insecure-registries": []}'
    ctx = make_ctx(tmp_path, {DJ: old}, HARBOR_HTTP)
    assert plan_daemon_json(ctx, ID) == [
        FileChange(
            (ID,),
            DJ,
            (
                '{\n  "labels": [\n    "zone=caf\u00e9"\n  ],\n'
                '  "insecure-registries": [\n    "192.168.3.60:8888"\n  ]\n}\n'
            ).encode(),
            old.encode(),
            KEEP,
            whole=True,
        )
    ]


def test_plan_rewrites_a_file_that_only_a_lenient_parser_reads(tmp_path: Path) -> None:
    # duplicate keys: json.loads takes the last, dockerd refuses the file
    old = '{"debug": true, "debug": true}'
    ctx = make_ctx(tmp_path, {DJ: old})
    assert plan_daemon_json(ctx, ID) == [
        FileChange((ID,), DJ, b'{\n  "debug": true\n}\n', old.encode(), KEEP, whole=True)
    ]


def test_plan_names_a_manual_step_when_it_cannot_repair(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {DJ: "[1]"})
    assert plan_daemon_json(ctx, ID) == [
        ManualStep((ID,), f"{DJ} holds a JSON list, not an object: rewrite it by hand")
    ]


# --- plan_environment_file ------------------------------------------------------


def test_no_environment_file_line_no_change(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {VENDOR: "[Service]\nEnvironmentFile=-/etc/sysconfig/docker\n"})
    assert plan_environment_file(ctx, ID) == []


def test_a_dropin_under_etc_is_commented_out(tmp_path: Path) -> None:
    unit = f"{DROPIN_DIR}/env.conf"
    old = "[Service]\nEnvironmentFile=-/etc/docker/daemon.json\nEnvironment=A=1\n"
    ctx = make_ctx(tmp_path, {unit: old})
    assert plan_environment_file(ctx, ID) == [
        FileChange(
            (ID,),
            unit,
            (
                f"[Service]\n# EnvironmentFile=-/etc/docker/daemon.json{NOT_ENV}\nEnvironment=A=1\n"
            ).encode(),
            old.encode(),
            "dockerd reads daemon.json by itself",
        )
    ]


def _dropin(keep: list[str], unit: str = VENDOR) -> tuple[bytes, str]:
    body = "\n".join(
        [
            "# written by harborkit fix: daemon.json is not an environment file",
            "[Service]",
            "EnvironmentFile=",
            *keep,
        ]
    )
    return (body + "\n").encode(), (
        f"clears the EnvironmentFile= list of {unit} without editing it"
    )


def test_a_vendor_unit_is_cleared_by_a_dropin_that_keeps_the_others(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path,
        {
            VENDOR: (
                "[Service]\nEnvironmentFile=-/etc/sysconfig/docker\n"
                "EnvironmentFile=-/etc/docker/daemon.json\n"
                "EnvironmentFile=/etc/sysconfig/docker-storage\n"
            )
        },
    )
    new, reason = _dropin(
        ["EnvironmentFile=-/etc/sysconfig/docker", "EnvironmentFile=/etc/sysconfig/docker-storage"]
    )
    assert plan_environment_file(ctx, ID) == [
        FileChange((ID,), ENVFILE_DROPIN, new, None, reason, owned=True)
    ]


@pytest.mark.parametrize(
    "unit",
    [
        "/etc/systemd/system/docker.service",
        "/run/systemd/system/docker.service.d/env.conf",
        ENVFILE_DROPIN,
    ],
)
def test_units_that_are_not_edited_in_place(tmp_path: Path, unit: str) -> None:
    old = "[Service]\nEnvironmentFile=/etc/docker/daemon.json\n"
    ctx = make_ctx(tmp_path, {unit: old})
    new, reason = _dropin([], unit)
    owned = unit != ENVFILE_DROPIN
    assert plan_environment_file(ctx, ID) == [
        FileChange(
            (ID,), ENVFILE_DROPIN, new, old.encode() if not owned else None, reason, owned=True
        )
    ]


def test_the_dropin_already_written_is_not_planned_again(tmp_path: Path) -> None:
    new, _ = _dropin([])
    ctx = make_ctx(
        tmp_path,
        {
            VENDOR: "[Service]\nEnvironmentFile=-/etc/docker/daemon.json\n",
            "/run/systemd/system/docker.service.d/10-env.conf": (
                "[Service]\nEnvironmentFile=/etc/docker/daemon.json\n"
            ),
            ENVFILE_DROPIN: new.decode(),
        },
    )
    # the reset in the drop-in (sorted after 10-env.conf) clears both lines
    assert docker_units.environment_files(ctx.host) == []
    assert plan_environment_file(ctx, ID) == []


def test_a_dropin_and_a_vendor_unit_together(tmp_path: Path) -> None:
    unit = f"{DROPIN_DIR}/10-env.conf"
    ctx = make_ctx(
        tmp_path,
        {
            VENDOR: "[Service]\nEnvironmentFile=-/etc/docker/daemon.json\n",
            unit: "[Service]\nEnvironmentFile=/etc/docker/daemon.json\n",
        },
    )
    new, reason = _dropin([])
    assert plan_environment_file(ctx, ID) == [
        FileChange(
            (ID,),
            unit,
            f"[Service]\n# EnvironmentFile=/etc/docker/daemon.json{NOT_ENV}\n".encode(),
            b"[Service]\nEnvironmentFile=/etc/docker/daemon.json\n",
            "dockerd reads daemon.json by itself",
        ),
        FileChange((ID,), ENVFILE_DROPIN, new, None, reason, owned=True),
    ]


# --- DaemonJsonCheck.plan and docker_restart ---------------------------------------


def test_docker_restart() -> None:
    assert docker_restart(ID, reload=False) == [RESTART]
    assert docker_restart(ID, reload=True) == [RELOAD, RESTART]


def _plan(ctx: CheckContext) -> list[Any]:
    return list(DaemonJsonCheck().plan(ctx, run_check(DaemonJsonCheck, ctx)))


def test_check_plan_for_the_file_alone_restarts_without_reload(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {}, HARBOR_HTTP)
    plan = _plan(ctx)
    assert [type(c).__name__ for c in plan] == ["FileChange", "Command"]
    assert plan[0].path == DJ
    assert plan[1] == RESTART


def test_check_plan_for_a_unit_reloads_systemd(tmp_path: Path) -> None:
    unit = f"{DROPIN_DIR}/env.conf"
    ctx = make_ctx(
        tmp_path,
        {DJ: '{"insecure-registries": ["192.168.3.60:8888"]}', unit: "EnvironmentFile=" + DJ},
        HARBOR_HTTP,
    )
    plan = _plan(ctx)
    assert [getattr(c, "path", None) for c in plan] == [unit, None, None]
    assert plan[0].check_ids == (ID,)
    assert plan[1:] == [RELOAD, RESTART]


def test_check_plan_for_a_vendor_unit_reloads_systemd(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {VENDOR: "[Service]\nEnvironmentFile=-" + DJ + "\n"})
    plan = _plan(ctx)
    assert [getattr(c, "path", None) for c in plan] == [ENVFILE_DROPIN, None, None]
    assert plan[1:] == [RELOAD, RESTART]


def test_check_plan_nothing_to_do(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {DJ: '{"insecure-registries": ["192.168.3.60:8888"]}'}, HARBOR_HTTP)
    assert _plan(ctx) == []
    # a failing EnvironmentFile finding alone does not rewrite daemon.json
    ctx = make_ctx(tmp_path / "b", {DJ: '{"insecure-registries": []}'}, HARBOR_HTTP)
    env_only = Outcome(
        Status.FAIL,
        "x",
        (Finding(Status.PASS, "daemon.json", "ok"), Finding(Status.FAIL, "EnvironmentFile", "x")),
    )
    assert list(DaemonJsonCheck().plan(ctx, env_only)) == []
    warn = Outcome(Status.WARN, "x", (Finding(Status.WARN, "insecure-registries", "x"),))
    assert list(DaemonJsonCheck().plan(ctx, warn)) == []


def test_check_plan_with_a_manual_step_restarts_nothing(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {DJ: "[1]"})
    assert _plan(ctx) == [
        ManualStep((ID,), f"{DJ} holds a JSON list, not an object: rewrite it by hand")
    ]


def test_a_line_after_the_dropin_is_left_to_the_operator(tmp_path: Path) -> None:
    # a drop-in sorting after harborkit's own one loads daemon.json again; the
    # drop-in harborkit would write is already there, so nothing more is planned
    new, _ = _dropin([])
    late = "/run/systemd/system/docker.service.d/env.conf"
    ctx = make_ctx(
        tmp_path,
        {
            late: "[Service]\nEnvironmentFile=/etc/docker/daemon.json\n",
            ENVFILE_DROPIN: new.decode(),
        },
    )
    assert [e.unit for e in docker_units.environment_files(ctx.host)] == [late]
    assert plan_environment_file(ctx, ID) == []


def test_a_dropin_that_is_not_utf8_is_still_edited(tmp_path: Path) -> None:
    unit = f"{DROPIN_DIR}/env.conf"
    ctx = make_ctx(tmp_path, {})
    path = tmp_path / "root" / unit.lstrip("/")
    path.parent.mkdir(parents=True)
    old = b"[Service]\n# caf\xe9 (Latin-1)\nEnvironmentFile=/etc/docker/daemon.json\n"
    path.write_bytes(old)
    assert plan_environment_file(ctx, ID) == [
        FileChange(
            (ID,),
            unit,
            (
                "[Service]\n# caf\udce9 (Latin-1)\n"
                f"# EnvironmentFile=/etc/docker/daemon.json{NOT_ENV}\n"
            ).encode("utf-8", "surrogateescape"),
            old,
            "dockerd reads daemon.json by itself",
        )
    ]


def test_the_profiles_own_path_is_the_one_cleared(tmp_path: Path) -> None:
    unit = f"{DROPIN_DIR}/env.conf"
    ctx = make_ctx(
        tmp_path,
        {
            VENDOR: "[Service]\nEnvironmentFile=-/srv/dockerd.json\nEnvironmentFile=/etc/default/docker\n",
            unit: "[Service]\nEnvironmentFile=/srv/dockerd.json\n",
        },
    )
    ctx.profile["daemon_json"] = {"path": "/srv/dockerd.json"}
    new, reason = _dropin(["EnvironmentFile=/etc/default/docker"])
    assert plan_environment_file(ctx, ID) == [
        FileChange(
            (ID,),
            unit,
            f"[Service]\n# EnvironmentFile=/srv/dockerd.json{NOT_ENV}\n".encode(),
            b"[Service]\nEnvironmentFile=/srv/dockerd.json\n",
            "dockerd reads daemon.json by itself",
        ),
        FileChange((ID,), ENVFILE_DROPIN, new, None, reason, owned=True),
    ]
