"""ports.harbor: a real listening socket held by this test process.

The ports a docker-compose.yml publishes, entry by entry, as harborkit reads them
(the compose file reference's short and long ``ports:`` syntax)."""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harborkit.checks.ports import (
    HarborPorts,
    Published,
    _compose_entry,
    _compose_ports,
    _container_only,
    _port_range,
)
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, Status
from harborkit.yamlfile import parse_yaml
from tests.support.checks import ctx

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


HARBOR_YML = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()


HARBOR_HTTPS = (SYSROOTS / "debian12" / "opt/harbor/harbor.yml").read_text()


def no_fixed_ports() -> dict[str, Any]:
    """The built-in profile without ``ports.always`` (127.0.0.1:1514 is a fixed
    port on a shared machine: tests use ports of their own)."""
    data = copy.deepcopy(dict(load_profile().data))
    data["ports"] = {**data["ports"], "always": []}
    return data


def ports_ctx(profile: dict[str, Any] | None = None, **options: str) -> CheckContext:
    return ctx(None, profile or no_fixed_ports(), **options)


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
    out = run_check(HarborPorts, ports_ctx(harbor_config=cfg))
    me = psutil.Process().name()
    assert "python" in me
    assert out.status is Status.FAIL
    assert out.message == f"port {port}: in use by {me} (pid {os.getpid()}) on 127.0.0.1"
    listener.close()
    out = run_check(HarborPorts, ports_ctx(harbor_config=cfg))
    assert out.status is Status.PASS
    assert out.message == (
        f"ports {port} free ({cfg}; docker-compose.yml not generated yet (./prepare writes it))"
    )


def test_port_held_by_harbor_itself_passes(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    me = psutil.Process().name()
    data = no_fixed_ports()
    data["ports"] = {**data["ports"], "harbor_processes": ["docker-proxy", "nginx", me]}
    out = run_check(HarborPorts, ports_ctx(data, harbor_config=harbor_on(tmp_path, port)))
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
    out = run_check(HarborPorts, ports_ctx(harbor_config=str(cfg)))
    assert [f.subject for f in out.findings] == ["port 80", "port 443", "port 4443"]


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
    out = run_check(HarborPorts, ports_ctx(load_profile().data))
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
    out = run_check(HarborPorts, ports_ctx(data))
    assert (out.status, out.message) == (
        Status.FAIL,
        f"127.0.0.1:{port}: in use by {me} (pid {os.getpid()}) on 127.0.0.1",
    )
    data["ports"]["always"] = [f"127.0.0.2:{port}"]  # the same port on another address
    out = run_check(HarborPorts, ports_ctx(data))
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
        out = run_check(HarborPorts, ports_ctx(harbor_config=cfg))
    compose = str(tmp_path / "docker-compose.yml")
    assert out.status is Status.FAIL
    assert out.message == f"port {extra}: in use by {me} (pid {os.getpid()}) on 127.0.0.1"
    assert [(f.status.value, f.subject, f.location) for f in out.findings] == [
        ("pass", f"port {http}", f"{cfg}:10"),
        ("pass", f"127.0.0.1:{log}", f"{compose}:8"),
        ("fail", f"port {extra}", f"{compose}:18"),
        ("pass", f"port {long_}", f"{compose}:19"),
    ]
    out = run_check(HarborPorts, ports_ctx(harbor_config=cfg))
    assert out.status is Status.PASS
    assert out.message == (
        f"ports {http}, 127.0.0.1:{log}, {extra}, {long_} free ({cfg}, {compose})"
    )


def test_unreadable_compose_file_is_a_warning(tmp_path: Path) -> None:
    cfg = harbor_on(tmp_path, free_port())
    (tmp_path / "docker-compose.yml").write_text("services: [\n")
    out = run_check(HarborPorts, ports_ctx(harbor_config=cfg))
    compose = str(tmp_path / "docker-compose.yml")
    assert out.status is Status.WARN
    assert out.message == (
        f"docker-compose.yml: {compose}:2:1: invalid YAML: did not find expected node content"
    )


TCP = "tcp"


@pytest.mark.parametrize(
    ("entry", "read"),
    [
        ({"published": 8080, "target": 80}, ([8080], "", TCP)),
        ({"published": "8080-8081", "host_ip": "127.0.0.1", "protocol": "udp"},
         ([8080, 8081], "127.0.0.1", "udp")),
        ({"published": 8080, "host_ip": None, "protocol": None}, ([8080], "", TCP)),
        ({"target": 80}, (None, "", TCP)),  # no host port
        ({"published": "x"}, (None, "", TCP)),
        (80, (None, "", TCP)),
        (None, (None, "", TCP)),
        ("8080:80", ([8080], "", TCP)),
        (" 8080:80 ", ([8080], "", TCP)),
        ("127.0.0.1:1514:10514", ([1514], "127.0.0.1", TCP)),
        ("[::1]:8080:80/udp", ([8080], "::1", "udp")),
        ("8080-8081:80-81/sctp", ([8080, 8081], "", "sctp")),
        ("80", (None, "", TCP)),  # container port only
        ("8080:80/icmp", (None, "", TCP)),
        ("host:8080:80", (None, "", TCP)),
    ],
)  # fmt: skip
def test_compose_entry(entry: Any, read: tuple[Any, str, str]) -> None:
    assert _compose_entry(entry) == read


@pytest.mark.parametrize(
    ("text", "ports"),
    [
        ("80", [80]),
        ("1", [1]),
        ("0", None),
        ("65535", [65535]),
        ("65536", None),
        ("80-82", [80, 81, 82]),
        ("80-80", [80]),
        ("82-80", None),
        ("1-1001", list(range(1, 1002))),  # a range of 1000 more ports: read
        ("1-1002", None),  # larger: not a range harborkit checks port by port
        ("８０", None),  # fullwidth digits
        ("80-８１", None),
        ("80-x", None),
        ("x-80", None),
        ("", None),
        ("80-", [80]),  # an empty end is the start
    ],
)
def test_port_range(text: str, ports: list[int] | None) -> None:
    assert _port_range(text) == ports


@pytest.mark.parametrize(
    ("entry", "only"),
    [(80, True), ("80", True), ("80:80", False), ("x", False), (None, False), (8.0, False)],
)
def test_container_only(entry: Any, only: bool) -> None:
    assert _container_only(entry) is only


COMPOSE_ports = """\
services:
  proxy:
    ports:
      - 8080:80
      - "9000"
      - "53:53/udp"
      - 8443:443
      - {published: 4443, target: 4443}
      - "bogus"
      - null
      - [1, 2]
  log:
    ports:
      - "127.0.0.1:1514:10514"
  db: {}
  redis:
    ports: "6379:6379"
  core: [not, a, mapping]
"""


def test_compose_ports_of_a_file() -> None:
    doc = parse_yaml(COMPOSE_ports, "/opt/harbor/docker-compose.yml")
    found, odd = _compose_ports(doc)
    f = "/opt/harbor/docker-compose.yml"
    assert found == [
        Published(8080, "", f"{f}:4"),
        Published(8443, "", f"{f}:7"),
        Published(4443, "", f"{f}:8"),
        Published(1514, "127.0.0.1", f"{f}:14"),
    ]
    assert odd == [
        f"{f}:9: 'bogus' is not a port mapping harborkit reads",
        f"{f}:11: [1, 2] is not a port mapping harborkit reads",
    ]


@pytest.mark.parametrize("text", ["[1, 2]\n", "services: [a]\n", "services:\n", "x: 1\n"])
def test_compose_ports_of_odd_documents(text: str) -> None:
    assert _compose_ports(parse_yaml(text, "/c.yml")) == ([], [])


@pytest.mark.parametrize(
    ("spec", "published"),
    [
        ("127.0.0.1:1514", Published(1514, "127.0.0.1")),
        ("[::1]:8080", Published(8080, "::1")),
        ("8080", Published(8080, "")),
        (443, Published(443, "")),
    ],
)
def test_parse_address(spec: object, published: Published) -> None:
    from harborkit.checks.ports import parse_address

    assert parse_address(spec) == published  # type: ignore[arg-type]
