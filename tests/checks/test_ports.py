"""ports.harbor: a real listening socket held by this test process."""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harborkit.checks.ports import HarborPorts
from harborkit.engine.interface import CheckContext, CheckOptions, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
HARBOR_YML = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()
HARBOR_HTTPS = (SYSROOTS / "debian12" / "opt/harbor/harbor.yml").read_text()


def no_fixed_ports() -> dict[str, Any]:
    """The built-in profile without ``ports.always`` (127.0.0.1:1514 is a fixed
    port on a shared machine: tests use ports of their own)."""
    data = copy.deepcopy(dict(load_profile().data))
    data["ports"] = {**data["ports"], "always": []}
    return data


def ctx(profile: dict[str, Any] | None = None, **options: str) -> CheckContext:
    return CheckContext(
        host=LocalHost(), profile=profile or no_fixed_ports(), options=CheckOptions(**options)
    )


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s
    s.close()


def harbor_on(tmp_path: Path, port: int, text: str = HARBOR_YML) -> str:
    cfg = tmp_path / "harbor.yml"
    cfg.write_text(
        text.replace("port: 8888", f"port: {port}").replace("port: 80\n", f"port: {port}\n")
    )
    return str(cfg)


def test_port_held_by_another_process_fails_then_passes_when_closed(
    tmp_path: Path, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    cfg = harbor_on(tmp_path, port)
    out = run_check(HarborPorts, ctx(harbor_config=cfg))
    me = psutil.Process().name()
    assert "python" in me
    assert out.status is Status.FAIL
    assert out.message == f"port {port}: in use by {me} (pid {os.getpid()}) on 127.0.0.1"
    listener.close()
    out = run_check(HarborPorts, ctx(harbor_config=cfg))
    assert out.status is Status.PASS
    assert out.message == (
        f"ports {port} free ({cfg}; docker-compose.yml not generated yet (./prepare writes it))"
    )


def test_port_held_by_harbor_itself_passes(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    me = psutil.Process().name()
    data = no_fixed_ports()
    data["ports"] = {**data["ports"], "harbor_processes": ["docker-proxy", "nginx", me]}
    out = run_check(HarborPorts, ctx(data, harbor_config=harbor_on(tmp_path, port)))
    assert out.status is Status.PASS
    assert [(f.subject, f.message) for f in out.findings] == [
        (
            f"port {port}",
            f"held by {me} (pid {os.getpid()}) on 127.0.0.1: counted as Harbor itself "
            "(ports.harbor_processes)",
        )
    ]


def test_https_adds_its_port_and_notary(tmp_path: Path) -> None:
    cfg = tmp_path / "harbor.yml"
    cfg.write_text(HARBOR_HTTPS)
    out = run_check(HarborPorts, ctx(harbor_config=str(cfg)))
    assert [f.subject for f in out.findings] == ["port 80", "port 443", "port 4443"]


# The defaults in an empty network: tests/checks/test_live_state.py.


def test_sysroot_skips() -> None:
    root = SYSROOTS / "centos7-compliant"
    c = CheckContext(host=SysrootHost(root), profile=load_profile().data)
    out = run_check(HarborPorts, c)
    assert (out.status, out.message) == (
        Status.SKIP,
        f"listening sockets: auditing the sysroot {root}, not a running system",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_profile_names_harbor_log_on_loopback() -> None:
    assert load_profile().data["ports"]["always"] == ["127.0.0.1:1514"]
    out = run_check(HarborPorts, ctx(load_profile().data))
    assert [f.subject for f in out.findings] == [
        "port 80",
        "port 443",
        "port 4443",
        "127.0.0.1:1514",
    ]


def test_loopback_port_is_taken_on_its_address_not_on_another(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    me = psutil.Process().name()
    data = no_fixed_ports()
    data["ports"] = {**data["ports"], "default": [], "always": [f"127.0.0.1:{port}"]}
    out = run_check(HarborPorts, ctx(data))
    assert (out.status, out.message) == (
        Status.FAIL,
        f"127.0.0.1:{port}: in use by {me} (pid {os.getpid()}) on 127.0.0.1",
    )
    data["ports"]["always"] = [f"127.0.0.2:{port}"]  # the same port on another address
    out = run_check(HarborPorts, ctx(data))
    assert (out.status, out.message) == (
        Status.PASS,
        f"ports 127.0.0.2:{port} free (profile defaults: no harbor.yml given "
        "(--harbor-config or --install-dir))",
    )


def test_an_all_addresses_listener_takes_a_loopback_port() -> None:
    from harborkit.checks.ports import Published
    from harborkit.host.interface import Listener

    pub = Published(1514, "127.0.0.1")
    for address, taken in (
        ("0.0.0.0", True),
        ("::", True),
        ("127.0.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("127.0.0.2", False),
        ("::1", False),
    ):
        assert pub.held_by(Listener("tcp", address, 1514, None, None)) is taken, address
    assert not pub.held_by(Listener("tcp", "0.0.0.0", 1515, None, None))


#: the published ports of the docker-compose.yml that v1.8.0's ./prepare writes
#: (http.port 8888, no https), plus a service a site added by hand
COMPOSE = """version: '2'
services:
  log:
    image: goharbor/harbor-log:v1.8.0
    container_name: harbor-log
    restart: always
    ports:
      - 127.0.0.1:{log}:10514
  registry:
    image: goharbor/registry-photon:v2.7.1-patch-2819-v1.8.0
  proxy:
    image: goharbor/nginx-photon:v1.8.0
    ports:
      - {http}:8080
  metrics:
    image: example/exporter:1
    ports:
      - "{extra}:9100"
      - target: 9200
        published: {long}
        protocol: tcp
      - "{udp}:53/udp"
      - "9300"
"""


def test_compose_file_published_ports_are_judged(tmp_path: Path) -> None:
    http, log, extra, long_, udp = (free_port() for _ in range(5))
    cfg = harbor_on(tmp_path, http)
    (tmp_path / "docker-compose.yml").write_text(
        COMPOSE.format(http=http, log=log, extra=extra, long=long_, udp=udp)
    )
    me = psutil.Process().name()
    with socket.socket() as held:
        held.bind(("127.0.0.1", extra))
        held.listen()
        out = run_check(HarborPorts, ctx(harbor_config=cfg))
    compose = str(tmp_path / "docker-compose.yml")
    assert out.status is Status.FAIL
    assert out.message == f"port {extra}: in use by {me} (pid {os.getpid()}) on 127.0.0.1"
    assert [(f.status.value, f.subject, f.location) for f in out.findings] == [
        ("pass", f"port {http}", f"{cfg}:10"),
        ("pass", f"127.0.0.1:{log}", f"{compose}:8"),
        ("fail", f"port {extra}", f"{compose}:18"),
        ("pass", f"port {long_}", f"{compose}:19"),
    ]
    out = run_check(HarborPorts, ctx(harbor_config=cfg))
    assert out.status is Status.PASS
    assert out.message == (
        f"ports {http}, 127.0.0.1:{log}, {extra}, {long_} free ({cfg}, {compose})"
    )


def test_unreadable_compose_file_is_a_warning(tmp_path: Path) -> None:
    cfg = harbor_on(tmp_path, free_port())
    (tmp_path / "docker-compose.yml").write_text("services: [\n")
    out = run_check(HarborPorts, ctx(harbor_config=cfg))
    compose = str(tmp_path / "docker-compose.yml")
    assert out.status is Status.WARN
    assert out.message == (
        f"docker-compose.yml: {compose}:2:1: invalid YAML: did not find expected node content"
    )
