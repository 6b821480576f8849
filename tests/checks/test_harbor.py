"""harbor.yml as the checks see it: the settings' defaults, where the file is
looked for, and each way it cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from harborkit.checks import _harbor
from harborkit.collect.snapshot import Snapshot
from harborkit.errors import InputError
from harborkit.host.local import SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import SkipCheck
from tests.support.checks import ctx
from tests.support.sysroot import write

YML = "/opt/harbor/harbor.yml"


def config(tmp_path: Path, text: str) -> _harbor.HarborConfig:
    return _harbor.read(SysrootHost(write(tmp_path, {YML: text})), YML)


@pytest.mark.parametrize(
    ("text", "address", "https_port", "ports"),
    [
        pytest.param("hostname: h\n", "h:80", None, [80], id="defaults"),
        pytest.param("hostname: h\nhttp:\n  port: 8888\n", "h:8888", None, [8888], id="http-port"),
        pytest.param(
            "hostname: h\nhttps:\n  certificate: /c\n",
            "h:80",
            443,
            [80, 443, 4443],
            id="https-default-port",
        ),
        pytest.param(
            "hostname: 10.0.0.5\nhttp:\n  port: 8443\nhttps:\n  port: 8443\n",
            "10.0.0.5:8443",
            8443,
            [8443, 4443],
            id="same-port-listed-once",
        ),
        pytest.param(
            "hostname: h\nhttp:\n  port: '81'\nhttps:\n  port: x\n",
            "h:80",
            443,
            [80, 443, 4443],
            id="ports-that-are-not-numbers",
        ),
        pytest.param("hostname: h\nhttps: {}\n", "h:80", None, [80], id="empty-https-is-off"),
        pytest.param("hostname: 42\nhttps: on\n", "42:80", None, [80], id="https-not-a-mapping"),
        pytest.param("http:\n  port: 8080\n", None, None, [8080], id="no-hostname"),
    ],
)
def test_harbor_config_settings(
    tmp_path: Path, text: str, address: str | None, https_port: int | None, ports: list[int]
) -> None:
    cfg = config(tmp_path, text)
    assert (cfg.registry_address, cfg.https_port, cfg.ports()) == (address, https_port, ports)


def test_get_and_path_setting(tmp_path: Path) -> None:
    cfg = config(tmp_path, "data_volume: /data\nlog:\n  location: logs\n  level: info\nx: 1\n")
    assert cfg.get("log", "level") == "info"
    assert cfg.get("x", "y") is None
    assert cfg.get("nope", "y") is None
    assert cfg.path_setting("data_volume") == "/data"
    assert cfg.path_setting("log", "location") is None
    assert cfg.path_setting("x") is None
    assert cfg.where("log", "level") == f"{YML}:4"


def test_config_path(tmp_path: Path) -> None:
    root = write(tmp_path, {"/opt/harbor/harbor.yml": "", "/srv/h/harbor.yaml": ""})
    host = SysrootHost(root)
    assert _harbor.config_path(ctx(host)) is None
    assert _harbor.config_path(ctx(host, harbor_config="opt/x.yml")) == "/opt/x.yml"
    assert _harbor.config_path(ctx(host, install_dir="opt/harbor")) == YML
    # none of the names there: the first one is named
    assert _harbor.config_path(ctx(host, install_dir="/srv/h")) == "/srv/h/harbor.yml"
    c = ctx(host, install_dir="/srv/h")
    c.profile["harbor"]["config_names"] = ["harbor.yml", "harbor.yaml"]
    assert _harbor.config_path(c) == "/srv/h/harbor.yaml"
    c.profile["harbor"] = {}
    assert _harbor.config_path(c) == "/srv/h/harbor.yml"


def test_find_install_dir(tmp_path: Path) -> None:
    root = write(tmp_path, {"/opt/harbor/harbor.yml": "", "/srv/b/harbor/harbor.yml": "", "/f": ""})
    host = SysrootHost(root)
    assert _harbor.find_install_dir(host, "/opt/harbor") == "/opt/harbor"
    assert _harbor.find_install_dir(host, "/srv/b") == "/srv/b/harbor"
    with pytest.raises(InputError) as e:
        _harbor.find_install_dir(host, "/nope")
    assert e.value.message == "--install-dir /nope: no such folder"
    with pytest.raises(InputError) as e:
        _harbor.find_install_dir(host, "/f")
    assert e.value.message == "--install-dir /f: not a folder"
    with pytest.raises(InputError) as e:
        _harbor.find_install_dir(host, "/srv", ["a.yml", "b.yml"])
    assert e.value.message == (
        "--install-dir /srv: no a.yml or b.yml found (looked for /srv/a.yml or /srv/b.yml or "
        "/srv/harbor/a.yml or /srv/harbor/b.yml); give the folder holding harbor.yml or the "
        "one bundle load unpacked into"
    )


def test_load_optional_names_why(tmp_path: Path) -> None:
    host = SysrootHost(write(tmp_path, {"/opt/harbor/bad.yml": "a: [\n"}))
    assert _harbor.load_optional(ctx(host)) == (None, _harbor.NO_CONFIG)
    cfg, why = _harbor.load_optional(ctx(host, harbor_config="/opt/harbor/none.yml"))
    assert (cfg, why) == (None, "harbor.yml unusable: /opt/harbor/none.yml: no such file")
    with pytest.raises(
        SkipCheck, match=r"^no harbor.yml given \(--harbor-config or --install-dir\)$"
    ):
        _harbor.load(ctx(host))


def test_read_errors(tmp_path: Path) -> None:
    host = SysrootHost(write(tmp_path, {"/a.yml": "a: [\n", "/b.yml": "a: 1\n  b: 2\n"}))
    (tmp_path / "d.yml").mkdir()
    with pytest.raises(_harbor.HarborConfigError) as e:
        _harbor.read(host, "/a.yml")
    assert e.value.location == "/a.yml:2:1"
    with pytest.raises(_harbor.HarborConfigError) as e:
        _harbor.read(host, "/b.yml")
    assert e.value.location == "/b.yml:2:4"
    with pytest.raises(_harbor.HarborConfigError) as e:
        _harbor.read(host, "/d.yml")
    assert (e.value.message, e.value.location) == (
        "/d.yml: is a directory, not a regular file: not read",
        "/d.yml",
    )


def test_read_permission_denied_in_a_snapshot() -> None:
    snap = Snapshot(source="harbor01")
    snap.errors[YML] = "Permission denied"
    with pytest.raises(_harbor.HarborConfigError) as e:
        _harbor.read(SnapshotHost(snap), YML)
    assert (e.value.message, e.value.location) == (
        f"{YML}: cannot read: Permission denied",
        YML,
    )


def test_config_error_prints_its_message() -> None:
    e = _harbor.HarborConfigError("/opt/harbor/harbor.yml: no such file", "/opt/harbor/harbor.yml")
    assert (str(e), e.message, e.location) == (
        "/opt/harbor/harbor.yml: no such file",
        "/opt/harbor/harbor.yml: no such file",
        "/opt/harbor/harbor.yml",
    )
    assert _harbor.HarborConfigError("m").location is None
