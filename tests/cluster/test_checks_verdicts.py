"""The cross-node checks judged in-process over snapshot nodes: exact verdicts,
messages and boundaries of every branch (fast: no files, no programs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from harborkit.checks import _cluster as clh
from harborkit.checks import cluster as cl
from harborkit.checks import cluster_time as clt
from harborkit.checks.cluster import (
    HostnamesUnique,
    NamesAgree,
)
from harborkit.checks.cluster_time import ClocksAgree, NtpMaster
from harborkit.collect.snapshot import CommandOutput
from harborkit.host.interface import Host, NotAvailable
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import CheckContext, Finding, Outcome, SkipCheck, Status
from tests.cluster.nodes import (
    clocked,
    contexts,
    full,
    getent,
    hosts_file,
    judge,
    node,
    snapshot,
)

P, W, F, S = Status.PASS, Status.WARN, Status.FAIL, Status.SKIP


# -- small helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("addr", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("127.0.0.1%lo", True),  # a scope suffix is not part of the address
        ("127.0.0.1%lo%x", True),  # ... from the first % on
        ("10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("server58", False),  # not an address at all
    ],
)
def test_is_loopback(addr: str, loopback: bool) -> None:
    assert clh._is_loopback(addr) is loopback


def test_first_routable_majority_and_plural() -> None:
    assert cl._first_routable(["127.0.1.1", "::1", "10.0.0.1", "10.0.0.2"]) == "10.0.0.1"
    assert cl._first_routable(["127.0.1.1"]) is None
    assert cl._first_routable([]) is None
    assert cl._majority([]) is None
    assert cl._majority(["a"]) == "a"
    assert cl._majority(["a", "b"]) is None
    assert cl._majority(["b", "a", "b"]) == "b"
    assert cl._majority(["a", "b", "b", "a", "c"]) is None
    assert cl._majority(["a", "a", "b", "c"]) == "a"
    assert (cl._plural(0, "node"), cl._plural(1, "node"), cl._plural(2, "node")) == (
        "0 nodes",
        "1 node",
        "2 nodes",
    )


def test_serves_local_clock() -> None:
    assert clt._serves_local_clock([("local clock 127.127.1.0", "/etc/ntp.conf:3")])
    assert clt._serves_local_clock([("a", "x:1"), ("local clock (stratum 10)", "y:2")])
    assert not clt._serves_local_clock([("10.0.0.1", "x:1"), ("the local clock", "x:2")])
    assert not clt._serves_local_clock([])


def test_summary_names_the_hosts_with_the_worst_status() -> None:
    a = Finding(P, "a", "fine")
    w = Finding(W, "b", "meh")
    f1 = Finding(F, "c", "broken")
    f2 = Finding(F, "d", "also broken")
    f3 = Finding(F, "c", "broken again")
    assert cl._summary([a], ok="all good") == Outcome(P, "all good", (a,))
    skipped = Finding(S, "e", "unknown")
    assert cl._summary([skipped], ok="all good") == Outcome(S, "unknown", (skipped,))
    assert cl._summary([a, w], ok="x") == Outcome(W, "b: meh", (a, w))
    assert cl._summary([a, w, f1], ok="x") == Outcome(F, "c: broken", (a, w, f1))
    assert cl._summary([w, f1, f2, f3], ok="x") == Outcome(
        F, "3 problems on c, d; first: c: broken", (w, f1, f2, f3)
    )


def test_not_judged_quotes_the_first_reason() -> None:
    p = Finding(P, "a", "fine")
    s1 = Finding(S, "b", "no clock")
    s2 = Finding(S, "c", "no clock either")
    s3 = Finding(S, "d", "none")
    assert cl._not_judged("too few", [p]) == Outcome(S, "too few", (p,))
    assert cl._not_judged("too few", [p, s1]) == Outcome(S, "too few (b: no clock)", (p, s1))
    assert cl._not_judged("too few", [s1, p, s2, s3]) == Outcome(
        S, "too few (b: no clock; and 2 more)", (s1, p, s2, s3)
    )


def test_facts_are_remembered_per_host_and_per_name() -> None:
    calls: list[str] = []

    class Counting(SnapshotHost):
        def hostname(self) -> str:
            calls.append("hostname")
            return super().hostname()

        def resolve(self, name: str) -> list[str]:
            calls.append(name)
            return super().resolve(name)

    host = Counting(snapshot("n1", hosts=hosts_file("10.0.0.1 n1", "10.0.0.2 n2")))
    ctx = CheckContext(host=host, profile={})
    assert [cl._hostname(ctx), cl._hostname(ctx)] == ["n1", "n1"]
    assert cl._resolve(ctx, "n1") == ["10.0.0.1"]
    assert cl._resolve(ctx, "n2") == ["10.0.0.2"]
    assert cl._resolve(ctx, "n2") == ["10.0.0.2"]
    assert cl._resolve(ctx, "n3") == []
    assert calls == ["hostname", "n1", "n2", "n3"]
    unnamed = CheckContext(host=node(None), profile={})
    why = cl._hostname(unnamed)
    assert isinstance(why, NotAvailable)
    assert why.reason == (
        "the snapshot from unnamed.hksnap has no hostname (the collector did not gather it; make it again with harborkit collect --script and this run's --profile, --node, --install-dir and --harbor-config)"
    )


def test_resolve_of_a_name_the_host_cannot_look_up_is_nothing() -> None:
    # getent is installed, but the snapshot did not record this lookup
    host = node("n1", which={"getent": "/usr/bin/getent"})
    assert cl._resolve(CheckContext(host=host, profile={}), "n2") == []


def test_hosts_line() -> None:
    host = node("n1", hosts=hosts_file("10.0.0.1 n1 n1.lan", "10.0.0.2 n2", "10.0.0.9 n2"))
    ctx = CheckContext(host=host, profile={})
    assert cl._hosts_line(ctx, "n2") == "/etc/hosts:3"
    assert cl._hosts_line(ctx, "n1.lan") == "/etc/hosts:2"
    assert cl._hosts_line(ctx, "n3") is None

    class NoHostsFile(SnapshotHost):
        def read_text(self, path: str) -> str:
            raise NotAvailable("not gathered")

    assert cl._hosts_line(CheckContext(host=NoHostsFile(snapshot("n1")), profile={}), "n1") is None


# -- cluster.names -------------------------------------------------------------

THREE = hosts_file("10.0.0.1 n1", "10.0.0.2 n2", "10.0.0.3 n3")


def test_names_all_agree() -> None:
    out = judge(NamesAgree, [node("n1", hosts=THREE), node("n2", hosts=THREE)])
    assert (out.status, out.message) == (P, "2 nodes agree: n1 10.0.0.1, n2 10.0.0.2")
    assert full(out) == [
        ("pass", "n1", "resolves 2 node names like the cluster", None, None, None),
        ("pass", "n2", "resolves 2 node names like the cluster", None, None, None),
    ]


def test_names_one_profile_node_and_generic_or_unknown_hostnames() -> None:
    prof = {"nodes": [{"name": "db", "address": "10.0.0.9"}]}
    hosts = hosts_file("10.0.0.9 db")
    out = judge(NamesAgree, [node("LOCALHOST", hosts=hosts), node(None, hosts=hosts)], prof)
    assert (out.status, out.message) == (P, "2 nodes agree: db 10.0.0.9")
    assert [f.message for f in out.findings] == ["resolves 1 node name like the cluster"] * 2
    out = judge(NamesAgree, [node("localhost.localdomain"), node(None)], {"nodes": None})
    assert (out.status, out.message) == (
        S,
        "no node names: the hosts' names are unknown and the profile lists no nodes",
    )
    assert out.findings == ()


def test_names_profile_address_decides_and_each_failure_is_exact() -> None:
    prof = {"nodes": [{"name": "n2", "address": "10.0.0.2"}]}
    n1 = node("n1", hosts=hosts_file("10.0.0.1 n1", "10.0.0.7 n2"))
    n2 = node("n2", hosts=hosts_file("10.0.0.1 n1", "127.0.1.1 n2", "10.0.0.2 n2"))
    n3 = node("n3", hosts=hosts_file("10.0.0.1 n1", "10.0.0.3 n3"))
    n4 = node("n4", hosts=hosts_file("10.0.0.1 n1", "10.0.0.99 n2", "10.0.0.2 n2 n2.lan"))
    out = judge(NamesAgree, [n1, n2, n3, n4], prof)
    nowhere = (
        "n4 resolves to a node address on no node (here: nothing); "
        "add '<its address> n4' to /etc/hosts on every node"
    )
    no_n3 = "n3 does not resolve (add '10.0.0.3 n3' to /etc/hosts)"
    assert full(out) == [
        (
            "fail",
            "n1",
            "n2 resolves to 10.0.0.7, the cluster uses 10.0.0.2",
            "10.0.0.2",
            "10.0.0.7",
            "/etc/hosts:3",
        ),
        ("fail", "n1", no_n3, "10.0.0.3", "nothing", None),
        ("fail", "n1", nowhere, None, "nothing", None),
        # n2 resolves its own name to loopback first: fine on itself
        ("fail", "n2", no_n3, "10.0.0.3", "nothing", None),
        ("fail", "n2", nowhere, None, "nothing", None),
        (
            "fail",
            "n3",
            "n2 does not resolve (add '10.0.0.2 n2' to /etc/hosts)",
            "10.0.0.2",
            "nothing",
            None,
        ),
        ("fail", "n3", nowhere, None, "nothing", None),
        (
            "warn",
            "n4",
            "n2 resolves to 10.0.0.99 first, the cluster uses 10.0.0.2",
            "10.0.0.2",
            "10.0.0.99, 10.0.0.2",
            "/etc/hosts:3",
        ),
        ("fail", "n4", no_n3, "10.0.0.3", "nothing", None),
        ("fail", "n4", nowhere, None, "nothing", None),
    ]
    assert out.message == (
        "9 problems on n1, n2, n3, n4; first: n1: n2 resolves to 10.0.0.7, "
        "the cluster uses 10.0.0.2"
    )


def test_names_warn_when_another_node_resolves_a_name_second() -> None:
    good = hosts_file("10.0.0.1 n1", "10.0.0.2 n2", "10.0.0.3 n3")
    n3 = hosts_file(
        "10.0.0.1 n1", "10.0.0.99 n2", "10.0.0.2 n2 n2.lan", "127.0.1.1 n3", "10.0.0.3 n3"
    )
    hosts = [node("n1", hosts=good), node("n2", hosts=good), node("n3", hosts=n3)]
    out = judge(NamesAgree, hosts)
    assert (out.status, out.message) == (
        W,
        "n3: n2 resolves to 10.0.0.99 first, the cluster uses 10.0.0.2",
    )
    assert full(out) == [
        ("pass", "n1", "resolves 3 node names like the cluster", None, None, None),
        ("pass", "n2", "resolves 3 node names like the cluster", None, None, None),
        (
            "warn",
            "n3",
            "n2 resolves to 10.0.0.99 first, the cluster uses 10.0.0.2",
            "10.0.0.2",
            "10.0.0.99, 10.0.0.2",
            "/etc/hosts:3",
        ),
    ]
    # another node resolving n3 to loopback first is warned
    loop = hosts_file("10.0.0.1 n1", "10.0.0.2 n2", "127.0.1.1 n3", "10.0.0.3 n3")
    out = judge(NamesAgree, [node("n1", hosts=loop), node("n2", hosts=good), hosts[2]])
    assert full(out)[0] == (
        "warn",
        "n1",
        "n3 resolves to 127.0.1.1 first, the cluster uses 10.0.0.3",
        "10.0.0.3",
        "127.0.1.1, 10.0.0.3",
        "/etc/hosts:4",
    )
    assert out.message == (
        "2 problems on n1, n3; first: n1: n3 resolves to 127.0.1.1 first, the cluster uses 10.0.0.3"
    )


def test_names_resolved_through_getent_majority_and_tie() -> None:
    def answers(n2: CommandOutput) -> dict[str, CommandOutput]:
        return {
            "getent ahosts n1": getent("10.0.0.1", name="n1"),
            "getent ahosts n2": n2,
            "getent ahosts n3": getent("10.0.0.3", name="n3"),
        }

    gt = {"getent": "/usr/bin/getent"}
    usual = answers(getent("127.0.1.1", "10.0.0.2", name="n2"))
    a = node("n1", which=gt, commands=usual)
    b = node("n2", which=gt, commands=usual)
    c = node("n3", which=gt, commands=answers(getent("10.0.0.5", name="n2")))
    # n2's first routable address is 10.0.0.2 on two nodes, 10.0.0.5 on one
    out = judge(NamesAgree, [a, b, c])
    assert out.message == "n3: n2 resolves to 10.0.0.5, the cluster uses 10.0.0.2"
    assert full(out) == [
        (
            "warn",
            "n1",
            "n2 resolves to 127.0.1.1 first, the cluster uses 10.0.0.2",
            "10.0.0.2",
            "127.0.1.1, 10.0.0.2",
            None,
        ),
        ("pass", "n2", "resolves 3 node names like the cluster", None, None, None),
        (
            "fail",
            "n3",
            "n2 resolves to 10.0.0.5, the cluster uses 10.0.0.2",
            "10.0.0.2",
            "10.0.0.5",
            None,
        ),
    ]
    tie = judge(NamesAgree, [b, c])
    disagree = (
        "n2 resolves to {}; the nodes disagree with no majority "
        "(n2: 127.0.1.1, 10.0.0.2; n3: 10.0.0.5)"
    )
    assert full(tie) == [
        ("fail", "n2", disagree.format("127.0.1.1, 10.0.0.2"), None, "127.0.1.1, 10.0.0.2", None),
        ("fail", "n3", disagree.format("10.0.0.5"), None, "10.0.0.5", None),
    ]
    assert tie.message == "2 problems on n2, n3; first: n2: " + disagree.format(
        "127.0.1.1, 10.0.0.2"
    )


def test_names_nowhere_routable_points_at_the_hosts_line() -> None:
    a = node("n1", hosts=hosts_file("127.0.1.1 n1", "10.0.0.2 n2"))
    b = node("n2", hosts=hosts_file("127.0.1.1 n2", "10.0.0.2 n2"))
    out = judge(NamesAgree, [a, b])
    assert full(out) == [
        (
            "fail",
            "n1",
            "n1 resolves to a node address on no node (here: 127.0.1.1); "
            "add '<its address> n1' to /etc/hosts on every node",
            None,
            "127.0.1.1",
            "/etc/hosts:2",
        ),
        (
            "fail",
            "n2",
            "n1 resolves to a node address on no node (here: nothing); "
            "add '<its address> n1' to /etc/hosts on every node",
            None,
            "nothing",
            None,
        ),
    ]


# -- cluster.hostnames ---------------------------------------------------------


def test_hostnames_every_verdict() -> None:
    hosts = [
        node("web.a.lan"),
        node("WEB.a.lan"),
        node("web.b.lan"),
        node("Localhost"),
        node("db"),
        node(None),
    ]
    out = judge(HostnamesUnique, hosts)
    mine = "a name of its own"
    assert full(out) == [
        (
            "skip",
            "unnamed.hksnap",
            "hostname unknown: the snapshot from unnamed.hksnap has no hostname "
            "(the collector did not gather it; make it again with harborkit collect --script and this run's --profile, --node, --install-dir and --harbor-config)",
            None,
            None,
            None,
        ),
        (
            "fail",
            "web.a.lan",
            "hostname web.a.lan is also the name of 1 other node",
            mine,
            "web.a.lan",
            None,
        ),
        (
            "fail",
            "WEB.a.lan",
            "hostname WEB.a.lan is also the name of 1 other node",
            mine,
            "WEB.a.lan",
            None,
        ),
        (
            "warn",
            "web.b.lan",
            "short name web is shared with web.a.lan, WEB.a.lan",
            mine,
            "web.b.lan",
            None,
        ),
        (
            "fail",
            "Localhost",
            "hostname Localhost is every machine's name",
            mine,
            "Localhost",
            None,
        ),
        ("pass", "db", "hostname db", None, "db", None),
    ]
    assert out.message == (
        "3 problems on web.a.lan, WEB.a.lan, Localhost; "
        "first: web.a.lan: hostname web.a.lan is also the name of 1 other node"
    )
    three = judge(HostnamesUnique, [node("x"), node("X"), node("x")])
    assert [f.message for f in three.findings] == [
        "hostname x is also the name of 2 other nodes",
        "hostname X is also the name of 2 other nodes",
        "hostname x is also the name of 2 other nodes",
    ]


def test_hostnames_all_different_and_too_few_known() -> None:
    out = judge(HostnamesUnique, [node("n1.a"), node("n2.a"), node(None)])
    assert (out.status, out.message) == (P, "2 hostnames, all different")
    out = judge(HostnamesUnique, [node("n1"), node(None)])
    assert out.status is S
    assert out.message == (
        "fewer than two hostnames are known (unnamed.hksnap: hostname unknown: the snapshot "
        "from unnamed.hksnap has no hostname (the collector did not gather it; make it again with harborkit collect --script and this run's --profile, --node, --install-dir and --harbor-config))"
    )
    assert [(f.status, f.subject) for f in out.findings] == [(S, "unnamed.hksnap"), (P, "n1")]


# -- cluster.clock -------------------------------------------------------------

WHEN = "2023-11-14T22:13:20"  # the clocked nodes' local time, 1_700_000_000


def clock_row(host: str, status: str, delta: str, doubt: str = "", half: str = "0.5") -> tuple:
    return (
        status,
        host,
        f"{delta} s from the cluster's median clock{doubt}",
        f"within ±{half} s",
        None,
        None,
    )


def clock_rows(out: Outcome) -> list[tuple]:
    return [(*r[:4], None, None) for r in full(out)]


def test_clocks_spread_on_the_tolerance_passes() -> None:
    out = judge(ClocksAgree, [clocked("n1", 0.0), clocked("n2", 1.0)])
    assert (out.status, out.message) == (
        P,
        "2 clocks within 1.000 s of each other (tolerance 1 s)",
    )
    assert clock_rows(out) == [clock_row("n1", "pass", "-0.500"), clock_row("n2", "pass", "+0.500")]
    assert [f.actual for f in out.findings] == [
        f"{WHEN}.000Z (-0.500 s)",
        f"{WHEN[:-2]}21.000Z (+0.500 s)",
    ]


def test_clocks_one_node_off_against_the_median() -> None:
    out = judge(ClocksAgree, [clocked("n1", 0.0), clocked("n2", 0.5), clocked("n3", 2.0)])
    assert out.status is F
    assert clock_rows(out) == [
        clock_row("n1", "pass", "-0.500"),  # exactly half the tolerance: fine
        clock_row("n2", "pass", "+0.000"),
        clock_row("n3", "fail", "+1.500"),
    ]
    assert out.findings[2].actual == f"{WHEN[:-2]}22.000Z (+1.500 s)"
    assert out.message == (
        "clocks differ by 2.000 s (tolerance 1 s): n3: +1.500 s from the cluster's median clock"
    )


def test_clocks_profile_tolerance_and_two_that_disagree() -> None:
    prof = {"time": {"max_offset_seconds": 0.25}}
    out = judge(ClocksAgree, [clocked("n1", 0.0), clocked("n2", 0.375)], prof)
    assert clock_rows(out) == [
        clock_row("n1", "fail", "-0.188", half="0.125"),
        clock_row("n2", "fail", "+0.188", half="0.125"),
    ]
    assert out.message == (
        "clocks differ by 0.375 s (tolerance 0.25 s): 2 problems on n1, n2; "
        "first: n1: -0.188 s from the cluster's median clock"
    )
    # a time section without the key: the default tolerance
    out = judge(ClocksAgree, [clocked("n1", 0.0), clocked("n2", 0.375)], {"time": {}})
    assert out.message == "2 clocks within 0.375 s of each other (tolerance 1 s)"
    out = judge(ClocksAgree, [clocked("n1", 0.0), clocked("n2", 0.375)], {"time": None})
    assert out.status is P


def test_clocks_uncertain_reads_are_given_the_benefit_of_the_doubt() -> None:
    # spread 1.875; the two largest doubts (0.5 + 0.25) leave 1.125 > 1: off
    hosts = [clocked("n1", 0.0, 0.125), clocked("n2", 1.875, 0.5), clocked("n3", 0.75, 0.25)]
    out = judge(ClocksAgree, hosts)
    assert out.status is F
    assert clock_rows(out) == [
        clock_row("n1", "fail", "-0.750", " (± 0.125 s)"),
        clock_row("n2", "fail", "+1.125", " (± 0.500 s)"),
        clock_row("n3", "pass", "+0.000", " (± 0.250 s)"),
    ]
    # the same nodes with a doubt of 0.125 more on the third: 1.0, in tolerance
    hosts[2] = clocked("n3", 0.75, 0.375)
    out = judge(ClocksAgree, hosts)
    assert (out.status, out.message) == (
        P,
        "3 clocks within 1.875 s of each other (tolerance 1 s)",
    )
    # a node's own doubt can excuse it: |delta| - doubt exactly half the tolerance
    hosts = [
        clocked("n1", 0.0),
        clocked("n2", 0.5),
        clocked("n3", 0.5),
        clocked("n4", 3.0),
        clocked("n5", 1.5, 0.5),
    ]
    out = judge(ClocksAgree, hosts)
    assert [f.status for f in out.findings] == [P, P, P, F, P]
    assert out.message == (
        "clocks differ by 3.000 s (tolerance 1 s): n4: +2.500 s from the cluster's median clock"
    )
    hosts[4] = clocked("n5", 1.5, 0.25)
    out = judge(ClocksAgree, hosts)
    assert [f.status for f in out.findings] == [P, P, P, F, F]


def test_clocks_that_cannot_be_read_are_not_judged() -> None:
    carried = node("n9")
    out = judge(ClocksAgree, [clocked("n1", 0.0), carried, clocked("n2", 0.0)])
    assert (out.status, out.message) == (P, "2 clocks within 0.000 s of each other (tolerance 1 s)")
    why = (
        "the snapshot from n9.hksnap was taken at an unknown time: a carried snapshot's "
        "clock cannot be compared with this machine's now"
    )
    assert [(f.status, f.subject, f.message) for f in out.findings] == [
        (S, "n9", why),
        (P, "n1", "+0.000 s from the cluster's median clock"),
        (P, "n2", "+0.000 s from the cluster's median clock"),
    ]
    out = judge(ClocksAgree, [clocked("n1", 0.0), carried])
    assert (out.status, out.message) == (
        S,
        f"fewer than two clocks could be read (n9: {why})",
    )
    assert [f.subject for f in out.findings] == ["n9"]


# -- cluster.ntp: which daemon's sources ---------------------------------------

NTP_CLIENT = "driftfile /var/lib/ntp/drift\nserver 10.0.0.1 iburst\n"
NTP_MASTER = "server 127.127.1.0\nfudge 127.127.1.0 stratum 11\n"
CHRONY = "pool 2.debian.pool.ntp.org iburst\n"


def systemctl(unit: str, enabled: str, active: str) -> dict[str, CommandOutput]:
    """``systemctl is-enabled/is-active UNIT`` as systemd answers (rc 0 or 1/3)."""
    return {
        f"systemctl is-enabled {unit}": CommandOutput(
            0 if enabled == "enabled" else 1, f"{enabled}\n".encode(), b""
        ),
        f"systemctl is-active {unit}": CommandOutput(
            0 if active == "active" else 3, f"{active}\n".encode(), b""
        ),
    }


def time_node(
    name: str | None,
    *,
    ntp: tuple[str, str, str] | None = None,
    chrony: tuple[str, str, str] | None = None,
    hosts: str | None = None,
    **kw: Any,
) -> SnapshotHost:
    """A node with ntpd and/or chronyd: (config, is-enabled, is-active) each."""
    files: dict[str, str] = {}
    commands: dict[str, CommandOutput] = {}
    units = []
    which = {"systemctl": "/usr/bin/systemctl", "ntpd": "", "chronyd": ""}
    for daemon, unit, conf, spec in (
        ("ntpd", "ntpd.service", "/etc/ntp.conf", ntp),
        ("chronyd", "chronyd.service", "/etc/chrony.conf", chrony),
    ):
        if spec is None:
            continue
        text, enabled, active = spec
        if text:
            files[conf] = text
        units.append(unit)
        which[daemon] = f"/usr/sbin/{daemon}"
        commands.update(systemctl(unit, enabled, active))
    for unit in ("ntpd.service", "chronyd.service", "systemd-timesyncd.service"):
        if f"systemctl is-enabled {unit}" not in commands:
            # systemctl on a unit that is not installed (systemd 252)
            commands[f"systemctl is-enabled {unit}"] = CommandOutput(
                1,
                b"",
                f"Failed to get unit file state for {unit}: No such file or directory\n".encode(),
            )
            commands[f"systemctl is-active {unit}"] = CommandOutput(3, b"inactive\n", b"")
    return node(name, hosts=hosts, files=files, which=which, commands=commands, units=units, **kw)


def sources(host: Host, profile: Mapping[str, Any] | None = None) -> tuple[str, list]:
    return clt._time_sources(CheckContext(host=host, profile=dict(profile or {})))


def test_time_sources_prefers_the_running_then_the_enabled_daemon() -> None:
    ntp_at = [("10.0.0.1", "/etc/ntp.conf:2")]
    chrony_at = [("2.debian.pool.ntp.org", "/etc/chrony.conf:1")]
    both: dict[str, Any] = {
        "ntp": (NTP_CLIENT, "disabled", "inactive"),
        "chrony": (CHRONY, "enabled", "active"),
    }
    assert sources(time_node("n1", **both)) == ("chronyd", chrony_at)
    both = {"ntp": (NTP_CLIENT, "enabled", "inactive"), "chrony": (CHRONY, "enabled", "active")}
    assert sources(time_node("n1", **both)) == ("chronyd", chrony_at)
    both = {"ntp": (NTP_CLIENT, "disabled", "inactive"), "chrony": (CHRONY, "enabled", "inactive")}
    assert sources(time_node("n1", **both)) == ("chronyd", chrony_at)
    both = {"ntp": (NTP_CLIENT, "disabled", "active"), "chrony": (CHRONY, "enabled", "inactive")}
    assert sources(time_node("n1", **both)) == ("ntpd", ntp_at)
    # running but without a source: the enabled one with sources
    both = {"ntp": ("", "disabled", "active"), "chrony": (CHRONY, "enabled", "inactive")}
    assert sources(time_node("n1", **both)) == ("chronyd", chrony_at)
    # neither running nor enabled: the first with sources
    both = {"ntp": ("", "enabled", "active"), "chrony": (CHRONY, "disabled", "inactive")}
    assert sources(time_node("n1", **both)) == ("chronyd", chrony_at)
    # installed, no sources anywhere: the first installed
    both = {"ntp": ("", "disabled", "inactive"), "chrony": ("", "enabled", "active")}
    assert sources(time_node("n1", **both)) == ("ntpd", [])
    assert sources(time_node("n1")) == ("", [])
    # the profile's services, in its order; names harborkit does not know are ignored
    both = {"ntp": (NTP_CLIENT, "enabled", "active"), "chrony": (CHRONY, "enabled", "active")}
    prof = {"time": {"services": ["openntpd", "chronyd", "ntpd"]}}
    assert sources(time_node("n1", **both), prof) == ("chronyd", chrony_at)
    assert sources(time_node("n1", **both), {"time": None}) == ("ntpd", ntp_at)
    assert sources(time_node("n1", **both), {"time": {"services": ["openntpd"]}}) == ("", [])


# -- cluster.ntp ---------------------------------------------------------------

ON = ("enabled", "active")


def master(name: str | None = "n1", **kw: Any) -> SnapshotHost:
    return time_node(name, ntp=(NTP_MASTER, *ON), **kw)


def client(name: str, server: str = "10.0.0.1", **kw: Any) -> SnapshotHost:
    return time_node(name, ntp=(f"server {server} iburst\n", *ON), **kw)


LOCAL = "local clock 127.127.1.0, fudge stratum 11"


def test_ntp_inferred_master_and_its_clients() -> None:
    hosts = hosts_file("10.0.0.1 n1", "10.0.0.2 n2")
    out = judge(
        NtpMaster,
        [master(hosts=hosts), client("n2", hosts=hosts), client("n3", "n1", hosts=hosts)],
    )
    assert (out.status, out.message) == (
        P,
        "master n1 (inferred: the only node serving its local clock); 2 clients use it",
    )
    assert full(out) == [
        (
            "pass",
            "n1",
            f"the master (inferred: the only node serving its local clock): ntpd uses {LOCAL}",
            None,
            LOCAL,
            "/etc/ntp.conf:1",
        ),
        ("pass", "n2", "ntpd uses the master 10.0.0.1", "n1", "10.0.0.1", "/etc/ntp.conf:1"),
        ("pass", "n3", "ntpd uses the master n1", "n1", "n1", "/etc/ntp.conf:1"),
    ]


def test_ntp_master_without_a_hostname_is_named_as_the_report_names_it() -> None:
    out = judge(NtpMaster, [master(None), client("n2", "unnamed.hksnap")])
    assert out.message == (
        "master unnamed.hksnap (inferred: the only node serving its local clock); 1 client use it"
    )
    assert out.findings[1].message == "ntpd uses the master unnamed.hksnap"


def test_ntp_without_a_master() -> None:
    out = judge(NtpMaster, [client("n1"), client("n2")], {"time": None})
    assert (out.status, out.message) == (
        S,
        "no NTP master in the profile (time.master) and no node serves its local clock",
    )
    out = judge(NtpMaster, [master("n1"), client("n2"), master("n3")], {"time": {"master": ""}})
    assert out.message == (
        "no NTP master in the profile (time.master) and 2 nodes serve their local clock: n1, n3"
    )


def test_ntp_profile_master_by_name_address_and_resolution() -> None:
    prof = {
        "time": {"master": "n1"},
        "nodes": [{"name": "n1", "address": "10.0.0.1"}, {"name": "n2", "address": "10.0.0.2"}],
    }
    # the master is found by its hostname; clients use its profile address,
    # an address it resolves itself to, a name that resolves to it, or nothing
    m = master("n1", hosts=hosts_file("127.0.1.1 n1", "10.1.0.1 n1"))
    hosts = [
        m,
        client("n2", "10.0.0.1"),
        client("n3", "10.1.0.1"),
        client("n4", "timehost", hosts=hosts_file("10.1.0.1 timehost")),
        client("n5", "10.0.0.9"),
        time_node("n6", ntp=("", *ON)),
        time_node("n7"),
    ]
    out = judge(NtpMaster, hosts, prof)
    assert full(out) == [
        ("pass", "n1", f"the master: ntpd uses {LOCAL}", None, LOCAL, "/etc/ntp.conf:1"),
        ("pass", "n2", "ntpd uses the master 10.0.0.1", "n1", "10.0.0.1", "/etc/ntp.conf:1"),
        ("pass", "n3", "ntpd uses the master 10.1.0.1", "n1", "10.1.0.1", "/etc/ntp.conf:1"),
        ("pass", "n4", "ntpd uses the master timehost", "n1", "timehost", "/etc/ntp.conf:1"),
        (
            "fail",
            "n5",
            "ntpd uses 10.0.0.9, not the master n1",
            "n1",
            "10.0.0.9",
            "/etc/ntp.conf:1",
        ),
        ("fail", "n6", "no time source configured (ntpd)", "n1", None, None),
        ("fail", "n7", "no time source configured (no time daemon installed)", "n1", None, None),
    ]
    assert out.message == (
        "3 problems on n5, n6, n7; first: n5: ntpd uses 10.0.0.9, not the master n1"
    )
    # loopback is never the master's address: a client using 127.0.1.1 uses itself
    out = judge(NtpMaster, [m, client("n8", "127.0.1.1")], prof)
    assert out.findings[1].message == "ntpd uses 127.0.1.1, not the master n1"


def test_ntp_profile_master_by_address() -> None:
    prof = {
        "time": {"master": "10.0.0.1"},
        "nodes": [{"name": "n1", "address": "10.0.0.1"}, {"name": "n2", "address": "10.0.0.2"}],
    }
    out = judge(NtpMaster, [master("n1"), client("n2", "n1")], prof)
    assert (out.status, out.message) == (P, "master 10.0.0.1; 1 client use it")
    assert [f.message for f in out.findings] == [
        f"the master: ntpd uses {LOCAL}",
        "ntpd uses the master n1",
    ]
    # the master named as the report names its host (no hostname recorded)
    out = judge(
        NtpMaster,
        [master(None), client("n2", "unnamed.hksnap")],
        {"time": {"master": "unnamed.hksnap"}},
    )
    assert [f.status for f in out.findings] == [P, P]
    # the master is not audited: every node is a client
    out = judge(NtpMaster, [client("n2"), client("n3", "n1")], prof)
    assert (out.status, out.message) == (
        P,
        "master 10.0.0.1 (not among the audited nodes); 2 clients use it",
    )


def test_ntp_master_without_a_time_source() -> None:
    prof = {"time": {"master": "n1"}}
    out = judge(NtpMaster, [time_node("n1", ntp=("", *ON)), client("n2", "n1")], prof)
    assert full(out)[0] == (
        "fail",
        "n1",
        "the master has no time source (ntpd); serve the local clock: "
        "server 127.127.1.0 + fudge 127.127.1.0 stratum 11",
        "a time source",
        None,
        None,
    )
    out = judge(NtpMaster, [time_node("n1"), client("n2", "n1")], prof)
    assert out.message == (
        "n1: the master has no time source (no time daemon); serve the local clock: "
        "server 127.127.1.0 + fudge 127.127.1.0 stratum 11"
    )


# -- cluster.docker_version / cluster.compose_version ---------------------------


def test_the_checks_identity() -> None:
    assert [c.id for c in cl.CHECKS] == [
        "cluster.names",
        "cluster.hostnames",
        "cluster.clock",
        "cluster.ntp",
        "cluster.docker_version",
        "cluster.compose_version",
    ]
    for c in cl.CHECKS:
        assert c.group == "cluster"
        assert c.min_hosts == 2
    assert [c.severity.value for c in cl.CHECKS] == [
        "high",
        "high",
        "high",
        "high",
        "medium",
        "medium",
    ]


def test_a_check_run_directly_skips_without_names() -> None:
    with pytest.raises(SkipCheck):
        NamesAgree().run(contexts([node(None), node(None)], {}))


def test_names_tie_lists_the_nodes_that_resolve_nothing() -> None:
    a = node("n1", hosts=hosts_file("10.0.0.1 n1", "10.0.0.2 n2", "10.0.0.3 n3"))
    b = node("n2", hosts=hosts_file("10.0.0.1 n1", "10.0.0.2 n2", "10.0.0.33 n3"))
    c = node("n3", hosts=hosts_file("10.0.0.1 n1", "10.0.0.2 n2"))
    out = judge(NamesAgree, [a, b, c])
    tie = "n3 resolves to {}; the nodes disagree with no majority " + (
        "(n1: 10.0.0.3; n2: 10.0.0.33; n3: nothing)"
    )
    assert [(r[1], r[2]) for r in full(out)] == [
        ("n1", tie.format("10.0.0.3")),
        ("n2", tie.format("10.0.0.33")),
        ("n3", tie.format("nothing")),
    ]


def test_ntp_master_named_in_reports_otherwise_than_its_hostname() -> None:
    """Over SSH a host is reported under its inventory name; its hostname may
    differ, and either may name the master."""

    def named(report_name: str, host: SnapshotHost) -> SnapshotHost:
        return SnapshotHost(host.snapshot, name=report_name)

    m = named("ntp-master", master("n1"))
    c = named("ntp-client", client("n2", "n1"))
    out = judge(NtpMaster, [m, c])
    assert out.message == (
        "master n1 (inferred: the only node serving its local clock); 1 client use it"
    )
    assert [(f.subject, f.status) for f in out.findings] == [
        ("ntp-master", P),
        ("ntp-client", P),
    ]
    # the profile names the master by its hostname, or by its report name
    out = judge(NtpMaster, [m, c], {"time": {"master": "n1"}})
    assert [f.message for f in out.findings] == [
        f"the master: ntpd uses {LOCAL}",
        "ntpd uses the master n1",
    ]
    out = judge(NtpMaster, [m, c], {"time": {"master": "ntp-master"}})
    assert (out.status, out.message) == (P, "master ntp-master; 1 client use it")
    assert out.findings[1].message == "ntpd uses the master n1"
