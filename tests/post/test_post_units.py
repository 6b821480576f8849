"""post.ports' judgement of published ports, on docker inspect data (no daemon)."""

from __future__ import annotations

from typing import Any

import pytest

from harborkit.checks import _harbor
from harborkit.checks.post._stack import Service, Stack
from harborkit.checks.post.stack_checks import _ports
from harborkit.yamlfile import parse_yaml


def _stack(harbor_yml: str) -> Stack:
    cfg = _harbor.HarborConfig(
        "/opt/harbor/harbor.yml", parse_yaml(harbor_yml, "/opt/harbor/harbor.yml")
    )
    services = (
        Service("log", "harbor-log", "goharbor/harbor-log:v1.8.0", True, "x:1"),
        Service("redis", "redis", "goharbor/redis-photon:v1.8.0", True, "x:2"),
        Service("proxy", "nginx", "goharbor/nginx-photon:v1.8.0", True, "x:3"),
    )
    return Stack("/opt/harbor/docker-compose.yml", "harbor", services, ("harbor",), cfg)


def _item(*bindings: str) -> dict[str, Any]:
    ports: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        ip, _, port = b.rpartition(":")
        ports.setdefault(f"{port}/tcp", []).append({"HostIp": ip.strip("[]"), "HostPort": port})
    return {"NetworkSettings": {"Ports": ports}}


HTTP = "hostname: 192.168.3.60\nhttp:\n  port: 8888\n"
HTTPS = HTTP + "https:\n  port: 443\n  certificate: /c.pem\n  private_key: /k.pem\n"
GOOD_LOG = _item("127.0.0.1:1514")


@pytest.mark.parametrize(
    ("yml", "log", "proxy", "redis", "bad"),
    [
        (HTTP, GOOD_LOG, _item("0.0.0.0:8888", "[::]:8888"), _item(), {}),
        (HTTPS, GOOD_LOG, _item("0.0.0.0:8888", "0.0.0.0:443", "0.0.0.0:4443"), _item(), {}),
        (
            HTTP,
            _item("0.0.0.0:1514"),
            _item("0.0.0.0:8888"),
            _item(),
            {"log (harbor-log)": "publishes 0.0.0.0:1514; only 127.0.0.1:1514 expected"},
        ),
        (
            HTTP,
            _item("127.0.0.1:1514", "127.0.0.1:1515"),
            _item("0.0.0.0:8888"),
            _item(),
            {
                "log (harbor-log)": "publishes 127.0.0.1:1514, 127.0.0.1:1515; only 127.0.0.1:1514 expected"
            },
        ),
        (
            HTTPS,
            GOOD_LOG,
            _item("127.0.0.1:8888", "0.0.0.0:8080"),
            _item("0.0.0.0:6379"),
            {
                "proxy (nginx)": "port 443 not published; 127.0.0.1:8888 not on all addresses; also publishes port 8080",
                "redis (redis)": "publishes 0.0.0.0:6379; only the proxy and harbor-log may",
            },
        ),
        (
            HTTP,
            GOOD_LOG,
            _item("0.0.0.0:8888", "0.0.0.0:4443"),
            _item(),
            {"proxy (nginx)": "also publishes port 4443"},
        ),
    ],
    ids=[
        "http",
        "https-notary",
        "log-all-addresses",
        "log-extra",
        "proxy-and-redis",
        "notary-without-https",
    ],
)
def test_published_ports(yml: str, log: Any, proxy: Any, redis: Any, bad: dict[str, str]) -> None:
    found = _ports(None, _stack(yml), {}, {"harbor-log": log, "nginx": proxy, "redis": redis})  # type: ignore[arg-type]
    assert {f.subject: f.message for f in found if f.status.value == "fail"} == bad
    assert len(found) == 3
