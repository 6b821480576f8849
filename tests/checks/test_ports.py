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
from harborkit.engine.runner import _run_one
from harborkit.host.local import LocalHost, SysrootHost

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
HARBOR_YML = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()
HARBOR_HTTPS = (SYSROOTS / "debian12" / "opt/harbor/harbor.yml").read_text()


def ctx(profile: dict[str, Any] | None = None, **options: str) -> CheckContext:
    return CheckContext(
        host=LocalHost(), profile=profile or load_profile().data, options=CheckOptions(**options)
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
    out = _run_one(HarborPorts, ctx(harbor_config=cfg))
    me = psutil.Process().name()
    assert "python" in me
    assert out.status is Status.FAIL
    assert out.message == f"port {port}: in use by {me} (pid {os.getpid()}) on 127.0.0.1"
    listener.close()
    out = _run_one(HarborPorts, ctx(harbor_config=cfg))
    assert out.status is Status.PASS
    assert out.message == f"ports {port} free ({cfg})"


def test_port_held_by_harbor_itself_passes(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    me = psutil.Process().name()
    data = copy.deepcopy(dict(load_profile().data))
    data["ports"] = {**data["ports"], "harbor_processes": ["docker-proxy", "nginx", me]}
    out = _run_one(HarborPorts, ctx(data, harbor_config=harbor_on(tmp_path, port)))
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
    out = _run_one(HarborPorts, ctx(harbor_config=str(cfg)))
    assert [f.subject for f in out.findings] == ["port 80", "port 443", "port 4443"]


# The defaults in an empty network: tests/checks/test_live_state.py.


def test_sysroot_skips() -> None:
    root = SYSROOTS / "centos7-compliant"
    c = CheckContext(host=SysrootHost(root), profile=load_profile().data)
    out = _run_one(HarborPorts, c)
    assert (out.status, out.message) == (
        Status.SKIP,
        f"listening sockets: auditing the sysroot {root}, not a running system",
    )
