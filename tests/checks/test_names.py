"""network.hostname and network.nodes on the fixture sysroots and live.

network.hostname and network.nodes on a carried snapshot (its recorded
``getent ahosts`` answers and /etc/hosts), and the /etc/hosts fix plan."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.names import (
    HostnameResolves,
    NodesResolve,
    _hosts_line,
    _is_loopback,
    hosts_entries,
    hosts_wanted,
    plan_hosts,
)
from harborkit.collect.snapshot import CommandOutput, Snapshot
from harborkit.engine.profile import load_profile, with_nodes
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.change import FileChange, ManualStep
from harborkit.model.check import CheckContext, Finding, Status
from tests.support.checks import ctx
from tests.support.sysroot import rows, write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


GUIDE_NODES = ["server58=192.168.3.58", "server59=192.168.3.59"]


def nodes_ctx(root: Path | None, nodes: list[str] | None = None) -> CheckContext:
    return ctx(root, with_nodes(load_profile(), nodes or []).data)


def test_hostname_resolves_on_centos() -> None:
    out = run_check(HostnameResolves, nodes_ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (Status.PASS, "server58: resolves to 192.168.3.58")
    assert rows(out.findings) == [
        ("pass", "server58", "resolves to 192.168.3.58", "/etc/hosts:3"),
    ]


def test_hostname_loopback_only_on_debian() -> None:
    out = run_check(HostnameResolves, nodes_ctx(SYSROOTS / "debian12"))
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
    out = run_check(HostnameResolves, nodes_ctx(tmp_path))
    assert rows(out.findings) == [("fail", "lonely", "does not resolve", None)]
    assert out.status is Status.FAIL


def test_nodes_skip_without_nodes() -> None:
    out = run_check(NodesResolve, nodes_ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.SKIP,
        "no cluster nodes in the profile (add with --node NAME=ADDRESS)",
    )


def test_nodes_resolve_in_guide_hosts() -> None:
    out = run_check(NodesResolve, nodes_ctx(SYSROOTS / "guide-as-written", GUIDE_NODES))
    assert (out.status, out.message) == (Status.PASS, "2 nodes resolve")
    assert rows(out.findings) == [
        ("pass", "server58", "resolves to 192.168.3.58", "/etc/hosts:3"),
        ("pass", "server59", "resolves to 192.168.3.59", "/etc/hosts:4"),
    ]


def test_nodes_wrong_address_and_unresolvable_differ() -> None:
    nodes = [*GUIDE_NODES, "server60=192.168.3.60"]
    out = run_check(NodesResolve, nodes_ctx(SYSROOTS / "debian12", nodes))
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


def test_sysroot_without_hostname_skips(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_text("127.0.0.1 localhost\n")
    out = run_check(HostnameResolves, nodes_ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.SKIP,
        "the sysroot has no /etc/hostname: its host name is unknown",
    )


REASON = "the addresses of the profile's nodes"


def ahosts(*addrs: str) -> CommandOutput:
    """``getent ahosts NAME`` as glibc prints it (one line per socket type);
    exit 2 and no output when the name is not found (getent(1))."""
    out = "".join(f"{a:<15} STREAM x\n{a:<15} DGRAM  \n{a:<15} RAW    \n" for a in addrs)
    return CommandOutput(0 if addrs else 2, out.encode(), b"")


def host(hostname: str, hosts: str | None, answers: Mapping[str, tuple[str, ...]]) -> SnapshotHost:
    snap = Snapshot(source="h1")
    snap.files["/proc/sys/kernel/hostname"] = f"{hostname}\n".encode()
    if hosts is None:
        snap.kinds["/etc/hosts"] = "n"
    else:
        snap.files["/etc/hosts"] = hosts.encode()
    for name, addrs in answers.items():
        snap.commands[f"getent ahosts {name}"] = ahosts(*addrs)
    return SnapshotHost(snap)


def nodes(**addrs: str) -> dict[str, Any]:
    return {"nodes": [{"name": n, "address": a} for n, a in addrs.items()]}


HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "127.0.1.1\tharbor01.example.com harbor01  # debian installer\n"
    "10.0.0.9 n3 other # old\n"
    "10.0.0.6 n5\n"  # n5's right line comes first: resolvers that stop here are right
    "10.0.0.99 n5\n"
    "10.0.0.2 n2\n"
)


ANSWERS = {
    "harbor01.example.com": ("127.0.1.1",),
    "harbor01": ("127.0.1.1",),
    "n1": ("10.0.0.1",),
    "n2": ("10.0.0.2",),
    "n3": ("10.0.0.9",),
    "n4": (),
    "n5": ("10.0.0.99",),
}


NODES = nodes(
    harbor01="10.0.0.5", n1="10.0.0.1", n2="10.0.0.2", n3="10.0.0.3", n4="10.0.0.4", n5="10.0.0.6"
)


def test_hosts_wanted_and_the_plan_that_writes_them() -> None:
    c = CheckContext(host=host("harbor01.example.com", HOSTS, ANSWERS), profile=NODES)
    # the own full name gets the address of its short name among the nodes
    assert hosts_wanted(c) == {
        "harbor01": "10.0.0.5",
        "n3": "10.0.0.3",
        "n4": "10.0.0.4",
        "n5": "10.0.0.6",
        "harbor01.example.com": "10.0.0.5",
    }
    new = (
        "127.0.0.1\tlocalhost\n"
        "# 127.0.1.1\tharbor01.example.com harbor01  # debian installer  "
        "# harborkit: harbor01.example.com, harbor01 moved below\n"
        "10.0.0.9\tother  # old\n"
        "10.0.0.6 n5\n"
        "# 10.0.0.99 n5  # harborkit: n5 moved below\n"
        "10.0.0.2 n2\n"
        "10.0.0.5\tharbor01\n"
        "10.0.0.3\tn3\n"
        "10.0.0.4\tn4\n"
        "10.0.0.5\tharbor01.example.com\n"
    )
    for check in (HostnameResolves, NodesResolve):
        changes = check().plan(c, run_check(check, c))
        assert changes == [
            FileChange((check.id,), "/etc/hosts", new.encode(), HOSTS.encode(), REASON)
        ]


def test_nodes_on_a_snapshot() -> None:
    c = CheckContext(host=host("harbor01.example.com", HOSTS, ANSWERS), profile=NODES)
    out = run_check(NodesResolve, c)
    assert out.message == "4 of 6 fail: harbor01, n3, n4 and 1 more"
    assert rows(out.findings) == [
        ("fail", "harbor01", "resolves to 127.0.1.1, not 10.0.0.5", "/etc/hosts:2"),
        ("pass", "n1", "resolves to 10.0.0.1", None),  # from DNS: no /etc/hosts line
        ("pass", "n2", "resolves to 10.0.0.2", "/etc/hosts:6"),
        ("fail", "n3", "resolves to 10.0.0.9, not 10.0.0.3", "/etc/hosts:3"),
        ("fail", "n4", "does not resolve (add '10.0.0.4 n4' to /etc/hosts)", None),
        ("fail", "n5", "resolves to 10.0.0.99, not 10.0.0.6", "/etc/hosts:4"),
    ]
    assert out.findings[1] == Finding(
        Status.PASS, "n1", "resolves to 10.0.0.1", expected="10.0.0.1", actual="10.0.0.1"
    )
    assert out.findings[3] == Finding(
        Status.FAIL,
        "n3",
        "resolves to 10.0.0.9, not 10.0.0.3",
        expected="10.0.0.3",
        actual="10.0.0.9",
        location="/etc/hosts:3",
    )
    assert out.findings[4] == Finding(
        Status.FAIL, "n4", "does not resolve (add '10.0.0.4 n4' to /etc/hosts)", expected="10.0.0.4"
    )


@pytest.mark.parametrize(("count", "message"), [(1, "1 node resolve"), (2, "2 nodes resolve")])
def test_nodes_ok_message_counts(count: int, message: str) -> None:
    answers = {"n1": ("10.0.0.1",), "n2": ("10.0.0.2",)}
    profile = nodes(**dict(list({"n1": "10.0.0.1", "n2": "10.0.0.2"}.items())[:count]))
    c = CheckContext(host=host("n1", None, answers), profile=profile)
    out = run_check(NodesResolve, c)
    assert (out.status, out.message) == (Status.PASS, message)
    assert out.findings[0].actual == "10.0.0.1"
    assert NodesResolve().plan(c, out) == []


@pytest.mark.parametrize(
    ("answer", "row", "actual"),
    [
        (("10.0.0.5", "fd00::5"), ("pass", "h1", "resolves to 10.0.0.5, fd00::5", None),
         "10.0.0.5, fd00::5"),
        (("127.0.1.1", "::1"), ("warn", "h1", "resolves only to loopback 127.0.1.1, ::1: other "
         "nodes cannot use this name", None), "127.0.1.1, ::1"),
        ((), ("fail", "h1", "does not resolve", None), None),
    ],
)  # fmt: skip
def test_own_name_on_a_snapshot(
    answer: tuple[str, ...], row: tuple[str, str, str, None], actual: str | None
) -> None:
    c = CheckContext(host=host("h1", None, {"h1": answer}), profile={})
    out = run_check(HostnameResolves, c)
    assert rows(out.findings) == [row]
    assert out.findings[0].actual == actual
    assert out.findings[0].expected == (None if answer else "an address")
    if answer:
        assert out.message == f"h1: {row[2]}"
    # not among the nodes: the plan can only say what to do
    short = "h1"
    assert HostnameResolves().plan(c, out) == [
        ManualStep(
            ("network.hostname",),
            f"give h1 this host's cluster address in /etc/hosts (name it in the profile's "
            f"nodes, or --node {short}=ADDRESS, and harborkit fix writes it)",
        )
    ]


def test_manual_step_names_the_short_name() -> None:
    c = CheckContext(host=host("h1.example.com", None, {"h1.example.com": ()}), profile={})
    assert HostnameResolves().plan(c, run_check(HostnameResolves, c)) == [
        ManualStep(
            ("network.hostname",),
            "give h1.example.com this host's cluster address in /etc/hosts (name it in the "
            "profile's nodes, or --node h1=ADDRESS, and harborkit fix writes it)",
        )
    ]


@pytest.mark.parametrize(
    ("answer", "wanted"),
    [
        (("10.0.0.8",), {}),  # resolves to another real address: not ours to change
        (("127.0.1.1",), {"h1": "10.0.0.5"}),
        (("127.0.1.1", "10.0.0.8"), {}),
        ((), {"h1": "10.0.0.5"}),
    ],
)
def test_own_name_is_wanted_only_when_loopback_or_unresolved(
    answer: tuple[str, ...], wanted: dict[str, str]
) -> None:
    # the node h1 resolves (by DNS); this host's full name is looked up on its own
    answers = {"h1": ("10.0.0.5",), "h1.example.com": answer}
    c = CheckContext(host=host("h1.example.com", None, answers), profile=nodes(h1="10.0.0.5"))
    assert hosts_wanted(c) == {n.replace("h1", "h1.example.com"): a for n, a in wanted.items()}


def test_new_hosts_file_and_a_sysroot_without_hostname(tmp_path: Path) -> None:
    c = CheckContext(host=host("h1", None, {"h1": ()}), profile=nodes(h1="10.0.0.5"))
    assert plan_hosts(c, "network.nodes") == [
        FileChange(("network.nodes",), "/etc/hosts", b"10.0.0.5\th1\n", None, REASON, owned=True)
    ]
    # a sysroot without /etc/hostname: only the nodes are wanted
    root = write(tmp_path, {"etc/hosts": "10.0.0.1 n1\n"})
    c = CheckContext(host=SysrootHost(root), profile=nodes(n1="10.0.0.1", n2="10.0.0.2"))
    assert hosts_wanted(c) == {"n2": "10.0.0.2"}
    # nothing wanted: no change
    c = CheckContext(host=SysrootHost(root), profile=nodes(n1="10.0.0.1"))
    assert plan_hosts(c, "network.nodes") == []


def test_hosts_entries_and_lines(tmp_path: Path) -> None:
    root = write(tmp_path, {"etc/hosts": "# c\n10.0.0.1 a b\n\n10.0.0.2 b\n"})
    c = CheckContext(host=SysrootHost(root), profile={})
    assert hosts_entries(c) == [(2, "10.0.0.1", ["a", "b"]), (4, "10.0.0.2", ["b"])]
    assert _hosts_line(c, "b") == "/etc/hosts:2"
    assert _hosts_line(c, "b", "10.0.0.2") == "/etc/hosts:4"
    assert _hosts_line(c, "b", "10.0.0.3") is None
    assert _hosts_line(c, "c") is None
    (tmp_path / "empty").mkdir()
    assert hosts_entries(CheckContext(host=SysrootHost(tmp_path / "empty"), profile={})) == []


@pytest.mark.parametrize(
    ("addr", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("::1%lo", True),
        ("127.0.0.1%lo", True),  # a zone suffix is cut before the address is read
        ("127.0.0.1%a%b", True),  # at the first '%'
        ("10.0.0.1%eth0", False),
        ("fe80::1%eth0", False),
        ("10.0.0.1", False),
        ("localhost", False),
        ("", False),
    ],
)
def test_is_loopback(addr: str, loopback: bool) -> None:
    assert _is_loopback(addr) is loopback


def test_plan_keeps_the_other_names_and_whole_comments_of_a_line() -> None:
    hosts = (
        "127.0.0.1 localhost # loop\n"
        "10.0.0.9 n3 other alias\n"  # after a commented line, itself without a comment
        "10.0.0.8 n4 more # old # really\n"
        "# caf\xe9\n"
    )
    answers = {"h": ("10.0.0.7",), "n3": ("10.0.0.9",), "n4": ("10.0.0.8",)}
    snap_host = host("h", None, answers)
    # a Latin-1 byte in a comment: kept byte for byte (a snapshot's exact bytes), not refused
    snap_host.snapshot.files["/etc/hosts"] = hosts.encode("latin-1")
    c = CheckContext(host=snap_host, profile=nodes(n3="10.0.0.3", n4="10.0.0.4"))
    (change,) = plan_hosts(c, "network.nodes")
    assert isinstance(change, FileChange)
    assert change.new == (
        "127.0.0.1 localhost # loop\n"
        "10.0.0.9\tother alias\n"
        "10.0.0.8\tmore  # old # really\n"
        "# caf\xe9\n"
        "10.0.0.3\tn3\n"
        "10.0.0.4\tn4\n"
    ).encode("latin-1")


def test_plan_changes_nothing_when_the_file_already_says_it() -> None:
    # the resolver answers from DNS first (nsswitch "dns files"): /etc/hosts is
    # already right, there is nothing to write
    hosts = "10.0.0.6 n5\n"
    c = CheckContext(host=host("n5", hosts, {"n5": ("10.0.0.99",)}), profile=nodes(n5="10.0.0.6"))
    assert hosts_wanted(c) == {"n5": "10.0.0.6"}
    assert plan_hosts(c, "network.nodes") == []


def test_own_name_on_a_sysroot_with_etc_hostname(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "etc/hostname": "h1.example.com\n",
            "etc/hosts": "127.0.1.1 h1.example.com\n10.0.0.5 h1\n",
        },
    )
    c = CheckContext(host=SysrootHost(root), profile=nodes(h1="10.0.0.5"))
    assert hosts_wanted(c) == {"h1.example.com": "10.0.0.5"}


def test_own_full_name_among_the_nodes_beats_its_short_name() -> None:
    answers = {"h1": ("10.0.0.6",), "h1.example.com": ("127.0.1.1",)}
    profile = nodes(**{"h1.example.com": "10.0.0.5", "h1": "10.0.0.6"})
    c = CheckContext(host=host("h1.example.com", None, answers), profile=profile)
    assert hosts_wanted(c) == {"h1.example.com": "10.0.0.5"}


def test_plan_reads_a_latin1_hosts_file_byte_for_byte(tmp_path: Path) -> None:
    # a sysroot gives the file's own bytes: a Latin-1 comment stays byte for byte
    write(tmp_path, {"etc/hostname": "n1\n"})
    (tmp_path / "etc/hosts").write_bytes(b"# caf\xe9\n10.0.0.9 n1\n")
    c = CheckContext(host=SysrootHost(tmp_path), profile=nodes(n1="10.0.0.1"))
    (change,) = plan_hosts(c, "network.nodes")
    assert isinstance(change, FileChange)
    assert change.new == b"# caf\xe9\n# 10.0.0.9 n1  # harborkit: n1 moved below\n10.0.0.1\tn1\n"


def test_nodes_with_several_addresses() -> None:
    hosts = "10.0.0.66 n6\n10.0.0.6 n6\n10.0.0.77 n7\n10.0.0.78 n7\n"
    answers = {
        "h": ("10.0.0.1",),
        "n6": ("10.0.0.66", "10.0.0.6"),
        "n7": ("10.0.0.77", "10.0.0.78"),
    }
    c = CheckContext(host=host("h", hosts, answers), profile=nodes(n6="10.0.0.6", n7="10.0.0.7"))
    out = run_check(NodesResolve, c)
    assert out.findings == (
        # the line giving the node's own address, not the first line naming it
        Finding(
            Status.PASS,
            "n6",
            "resolves to 10.0.0.6",
            expected="10.0.0.6",
            actual="10.0.0.66, 10.0.0.6",
            location="/etc/hosts:2",
        ),
        Finding(
            Status.FAIL,
            "n7",
            "resolves to 10.0.0.77, 10.0.0.78, not 10.0.0.7",
            expected="10.0.0.7",
            actual="10.0.0.77, 10.0.0.78",
            location="/etc/hosts:3",
        ),
    )
