"""network.hostname and network.nodes on the fixture sysroots and live."""

from __future__ import annotations

from pathlib import Path

from harborkit.checks.names import HostnameResolves, NodesResolve
from harborkit.engine.interface import CheckContext, Status
from harborkit.engine.profile import load_profile, with_nodes
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost
from tests.support.sysroot import rows

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
GUIDE_NODES = ["server58=192.168.3.58", "server59=192.168.3.59"]


def ctx(root: Path | None, nodes: list[str] | None = None) -> CheckContext:
    host = LocalHost() if root is None else SysrootHost(root)
    return CheckContext(host=host, profile=with_nodes(load_profile(), nodes or []).data)


def test_hostname_resolves_on_centos() -> None:
    out = run_check(HostnameResolves, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (Status.PASS, "server58: resolves to 192.168.3.58")
    assert rows(out.findings) == [
        ("pass", "server58", "resolves to 192.168.3.58", "/etc/hosts:3"),
    ]


def test_hostname_loopback_only_on_debian() -> None:
    out = run_check(HostnameResolves, ctx(SYSROOTS / "debian12"))
    assert out.status is Status.WARN
    assert rows(out.findings) == [
        (
            "warn",
            "harbor01",
            "resolves only to loopback 127.0.1.1: other nodes cannot use this name",
            "/etc/hosts:2",
        )
    ]


def test_hostname_does_not_resolve(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("lonely\n")
    (tmp_path / "etc/hosts").write_text("127.0.0.1 localhost\n# 10.0.0.5 lonely\n")
    out = run_check(HostnameResolves, ctx(tmp_path))
    assert rows(out.findings) == [("fail", "lonely", "does not resolve", None)]
    assert out.status is Status.FAIL


def test_nodes_skip_without_nodes() -> None:
    out = run_check(NodesResolve, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.SKIP,
        "no cluster nodes in the profile (add with --node NAME=ADDRESS)",
    )


def test_nodes_resolve_in_guide_hosts() -> None:
    out = run_check(NodesResolve, ctx(SYSROOTS / "guide-as-written", GUIDE_NODES))
    assert (out.status, out.message) == (Status.PASS, "2 nodes resolve")
    assert rows(out.findings) == [
        ("pass", "server58", "resolves to 192.168.3.58", "/etc/hosts:3"),
        ("pass", "server59", "resolves to 192.168.3.59", "/etc/hosts:4"),
    ]


def test_nodes_wrong_address_and_unresolvable_differ() -> None:
    nodes = [*GUIDE_NODES, "server60=192.168.3.60"]
    out = run_check(NodesResolve, ctx(SYSROOTS / "debian12", nodes))
    assert out.status is Status.FAIL
    assert out.message == "2 of 3 fail: server59, server60"
    assert rows(out.findings) == [
        ("pass", "server58", "resolves to 192.168.3.58", "/etc/hosts:9"),
        ("fail", "server59", "resolves to 192.168.3.60, not 192.168.3.59", "/etc/hosts:10"),
        (
            "fail",
            "server60",
            "does not resolve (add '192.168.3.60 server60' to /etc/hosts)",
            None,
        ),
    ]


# Live resolution (own name, nodes) is built in a private namespace with its own
# /etc/hosts: tests/checks/test_live_state.py.


def test_sysroot_without_hostname_skips(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_text("127.0.0.1 localhost\n")
    out = run_check(HostnameResolves, ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.SKIP,
        "the sysroot has no /etc/hostname: its host name is unknown",
    )
