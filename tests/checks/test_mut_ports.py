"""The ports a docker-compose.yml publishes, entry by entry, as harborkit reads them
(the compose file reference's short and long ``ports:`` syntax)."""

from __future__ import annotations

from typing import Any

import pytest

from harborkit.checks.ports import (
    Published,
    _compose_entry,
    _compose_ports,
    _container_only,
    _port_range,
)
from harborkit.yamlfile import parse_yaml

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


COMPOSE = """\
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
    doc = parse_yaml(COMPOSE, "/opt/harbor/docker-compose.yml")
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
