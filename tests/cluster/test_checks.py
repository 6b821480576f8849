"""The cross-node checks over several fixture sysroots (copied and modified)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.cluster import (
    ComposeVersionsMatch,
    DockerVersionsMatch,
    HostnamesUnique,
    NamesAgree,
)
from harborkit.checks.cluster_time import ClocksAgree, NtpMaster
from harborkit.engine.cluster import run_cluster_check
from harborkit.engine.profile import load_profile
from harborkit.host import LocalHost, SysrootHost
from harborkit.host.interface import Host
from harborkit.model.check import CheckContext, Outcome, Status
from harborkit.model.cluster import ClusterCheck, ClusterContext
from tests.cluster.hosts import (
    RunnableSysroot,
    compose_cli,
    copy_fixture,
    docker_cli,
    write_hosts,
)

PROFILE = load_profile().data


def judge(
    check: type[ClusterCheck], hosts: Sequence[Host], profile: Mapping[str, Any] | None = None
) -> Outcome:
    data = dict(PROFILE if profile is None else profile)
    ctx = ClusterContext([CheckContext(host=h, profile=data) for h in hosts], data)
    return run_cluster_check(check, ctx)


def rows(outcome: Outcome) -> list[tuple[str, str, str]]:
    return [(f.status.value, f.subject, f.message) for f in outcome.findings]


@pytest.fixture
def guide_cluster(tmp_path: Path) -> list[Path]:
    """The guide's two nodes (server58 the NTP master, server59 its client)
    plus a Debian Harbor host whose /etc/hosts has server59 wrong."""
    return [
        copy_fixture(tmp_path, "guide-as-written"),
        copy_fixture(tmp_path, "centos7-compliant", "server59"),
        copy_fixture(tmp_path, "debian12"),
    ]


# -- cluster.names -------------------------------------------------------------


def test_names_majority_address_and_the_node_that_disagrees(guide_cluster: list[Path]) -> None:
    s58, s59, harbor = guide_cluster
    for root in (s58, s59):
        write_hosts(root, "192.168.3.58 server58", "192.168.3.59 server59", "192.168.3.10 harbor01")
    # harbor01 keeps Debian's 127.0.1.1 line for itself; it has server59 at .60 (line 10)
    with (harbor / "etc/hosts").open("a") as f:
        f.write("192.168.3.10 harbor01.example.lan harbor01\n")
    out = judge(NamesAgree, [SysrootHost(p) for p in guide_cluster])
    assert out.status is Status.FAIL
    assert rows(out) == [
        ("pass", "server58", "resolves 3 node names like the cluster"),
        ("pass", "server59", "resolves 3 node names like the cluster"),
        ("fail", "harbor01", "server59 resolves to 192.168.3.60, the cluster uses 192.168.3.59"),
    ]
    assert out.findings[2].location == "/etc/hosts:10"
    assert out.findings[2].expected == "192.168.3.59"
    assert (
        out.message == "harbor01: server59 resolves to 192.168.3.60, the cluster uses 192.168.3.59"
    )

    # fixed: harbor01 resolves its own name to 127.0.1.1 first, which is fine for itself
    text = (
        (harbor / "etc/hosts").read_text().replace("192.168.3.60 server59", "192.168.3.59 server59")
    )
    (harbor / "etc/hosts").write_text(text)
    out = judge(NamesAgree, [SysrootHost(p) for p in guide_cluster])
    assert out.status is Status.PASS, rows(out)
    assert out.message == (
        "3 nodes agree: server58 192.168.3.58, server59 192.168.3.59, harbor01 192.168.3.10"
    )


def test_names_a_node_name_only_its_own_loopback_knows(guide_cluster: list[Path]) -> None:
    """The Debian default: harbor01 is 127.0.1.1 on itself and unknown elsewhere."""
    hosts = [SysrootHost(p) for p in guide_cluster[1:]]
    out = judge(NamesAgree, hosts)
    assert out.status is Status.FAIL
    tie = (
        "server59 resolves to {}; the nodes disagree with no majority "
        "(harbor01: 192.168.3.60; server59: 192.168.3.59)"
    )
    nowhere = (
        "harbor01 resolves to a node address on no node (here: {}); "
        "add '<its address> harbor01' to /etc/hosts on every node"
    )
    assert rows(out) == [
        ("fail", "server59", tie.format("192.168.3.59")),
        ("fail", "server59", nowhere.format("nothing")),
        ("fail", "harbor01", tie.format("192.168.3.60")),
        ("fail", "harbor01", nowhere.format("127.0.1.1")),
    ]
    assert out.findings[2].location == "/etc/hosts:10"
    # two nodes, two answers for server59: the profile's node address decides
    prof = {**PROFILE, "nodes": [{"name": "server59", "address": "192.168.3.60"}]}
    out = judge(NamesAgree, hosts, prof)
    bad = [r for r in rows(out) if "server59 resolves" in r[2]]
    assert bad == [
        ("fail", "server59", "server59 resolves to 192.168.3.59, the cluster uses 192.168.3.60")
    ]


def test_names_tie_without_profile_address_fails_everywhere(tmp_path: Path) -> None:
    a = copy_fixture(tmp_path, "centos7-compliant", "n1")
    b = copy_fixture(tmp_path, "centos7-compliant", "n2")
    write_hosts(a, "10.0.0.1 n1", "10.0.0.2 n2", "10.0.0.9 db")
    write_hosts(b, "10.0.0.1 n1", "10.0.0.2 n2", "10.0.0.8 db")
    prof = {**PROFILE, "nodes": [{"name": "db", "address": "10.0.0.9"}]}
    out = judge(NamesAgree, [SysrootHost(a), SysrootHost(b)], prof)
    assert rows(out) == [
        ("pass", "n1", "resolves 3 node names like the cluster"),
        ("fail", "n2", "db resolves to 10.0.0.8, the cluster uses 10.0.0.9"),
    ]
    write_hosts(b, "10.0.0.1 n1", "10.0.0.3 n2")
    out = judge(NamesAgree, [SysrootHost(a), SysrootHost(b)])
    assert rows(out) == [
        (
            "fail",
            "n1",
            "n2 resolves to 10.0.0.2; the nodes disagree with no majority "
            "(n1: 10.0.0.2; n2: 10.0.0.3)",
        ),
        (
            "fail",
            "n2",
            "n2 resolves to 10.0.0.3; the nodes disagree with no majority "
            "(n1: 10.0.0.2; n2: 10.0.0.3)",
        ),
    ]
    assert out.message.startswith("2 problems on n1, n2; first: n1: n2 resolves to 10.0.0.2")


def test_names_resolved_second_is_a_warning(tmp_path: Path) -> None:
    a = copy_fixture(tmp_path, "centos7-compliant", "n1")
    b = copy_fixture(tmp_path, "centos7-compliant", "n2")
    c = copy_fixture(tmp_path, "centos7-compliant", "n3")
    for root in (a, b):
        write_hosts(root, "10.0.0.1 n1", "10.0.0.2 n2", "10.0.0.3 n3")
    write_hosts(c, "10.0.0.1 n1", "10.0.0.99 n2", "10.0.0.2 n2", "10.0.0.3 n3")
    out = judge(NamesAgree, [SysrootHost(p) for p in (a, b, c)])
    assert out.status is Status.WARN
    assert rows(out)[2] == (
        "warn",
        "n3",
        "n2 resolves to 10.0.0.99 first, the cluster uses 10.0.0.2",
    )
    assert out.findings[2].location == "/etc/hosts:3"


# -- cluster.hostnames ---------------------------------------------------------


def test_hostnames_duplicates_localhost_and_shared_short_names(tmp_path: Path) -> None:
    a = copy_fixture(tmp_path, "centos7-compliant", "server58")
    b = copy_fixture(tmp_path / "b", "guide-as-written")  # also server58
    c = copy_fixture(tmp_path, "debian12", "localhost")
    out = judge(HostnamesUnique, [SysrootHost(p) for p in (a, b, c)])
    assert out.status is Status.FAIL
    # the report names hosts by their name; a sysroot's name is its hostname
    assert rows(out) == [
        ("fail", "server58", "hostname server58 is also the name of 1 other node"),
        ("fail", "server58", "hostname server58 is also the name of 1 other node"),
        ("fail", "localhost", "hostname localhost is every machine's name"),
    ]
    (c / "etc/hostname").write_text("Server58.example.lan\n")
    (b / "etc/hostname").write_text("server58.other.lan\n")
    out = judge(HostnamesUnique, [SysrootHost(p) for p in (a, b, c)])
    assert rows(out) == [
        (
            "warn",
            "server58",
            "short name server58 is shared with server58.other.lan, Server58.example.lan",
        ),
        (
            "warn",
            "server58.other.lan",
            "short name server58 is shared with server58, Server58.example.lan",
        ),
        (
            "warn",
            "Server58.example.lan",
            "short name server58 is shared with server58, server58.other.lan",
        ),
    ]
    (c / "etc/hostname").write_text("SERVER58.other.lan\n")
    out = judge(HostnamesUnique, [SysrootHost(p) for p in (a, b, c)])
    assert rows(out)[1] == (
        "fail",
        "server58.other.lan",
        "hostname server58.other.lan is also the name of 1 other node",
    )
    (c / "etc/hostname").write_text("harbor01\n")
    (b / "etc/hostname").write_text("server59\n")
    out = judge(HostnamesUnique, [SysrootHost(p) for p in (a, b, c)])
    assert (out.status, out.message) == (Status.PASS, "3 hostnames, all different")


# -- cluster.clock -------------------------------------------------------------


def test_clocks_within_tolerance_and_the_node_that_is_off(tmp_path: Path) -> None:
    roots = [copy_fixture(tmp_path, "centos7-compliant", f"n{i}") for i in range(4)]
    hosts = [
        RunnableSysroot(roots[0], offset=0.0),
        RunnableSysroot(roots[1], offset=0.2),
        RunnableSysroot(roots[2], offset=-0.1),
        SysrootHost(roots[3]),  # a plain sysroot: no clock to read now
    ]
    out = judge(ClocksAgree, hosts)
    assert out.status is Status.PASS
    assert out.message.startswith("3 clocks within 0.3") and out.message.endswith(
        " s of each other (tolerance 1 s)"
    )
    assert [f.status for f in out.findings] == [Status.SKIP] + [Status.PASS] * 3
    assert (
        out.findings[0].message
        == f"the clock: auditing the sysroot {roots[3]}, not a running system"
    )

    hosts[2] = RunnableSysroot(roots[2], offset=7.5)
    out = judge(ClocksAgree, hosts)
    assert out.status is Status.FAIL
    assert [(f.subject, f.status) for f in out.findings[1:]] == [
        ("n0", Status.PASS),
        ("n1", Status.PASS),
        ("n2", Status.FAIL),
    ]
    f = out.findings[3]
    assert f.message.startswith("+7.3") and f.message.endswith(" s from the cluster's median clock")
    assert f.expected == "within ±0.5 s"
    assert out.message.startswith("clocks differ by 7.5")
    assert "(tolerance 1 s): n2: +7.3" in out.message

    # a tighter profile tolerance; two nodes that disagree both fail
    prof = {**PROFILE, "time": {**PROFILE["time"], "max_offset_seconds": 0.1}}
    out = judge(ClocksAgree, hosts[:2], prof)
    assert [(f.subject, f.status) for f in out.findings] == [
        ("n0", Status.FAIL),
        ("n1", Status.FAIL),
    ]
    # ... unless the reads were too uncertain to tell
    out = judge(
        ClocksAgree,
        [RunnableSysroot(roots[0], uncertainty=0.15), hosts[1]],
        prof,
    )
    assert out.status is Status.PASS


def test_clocks_of_this_machine_agree_and_one_clock_is_not_judged(tmp_path: Path) -> None:
    out = judge(ClocksAgree, [LocalHost(), LocalHost()])
    assert out.status is Status.PASS
    assert out.message == "2 clocks within 0.000 s of each other (tolerance 1 s)"
    root = copy_fixture(tmp_path, "debian12")
    out = judge(ClocksAgree, [LocalHost(), SysrootHost(root)])
    assert out.status is Status.SKIP
    assert out.message == (
        "fewer than two clocks could be read (harbor01: the clock: auditing the sysroot "
        f"{root}, not a running system)"
    )
    assert [(f.subject, f.status) for f in out.findings] == [("harbor01", Status.SKIP)]


# -- cluster.ntp ---------------------------------------------------------------


def test_ntp_guide_master_and_client(guide_cluster: list[Path]) -> None:
    s58, s59, _ = guide_cluster
    out = judge(NtpMaster, [SysrootHost(s58), SysrootHost(s59)])
    assert out.status is Status.PASS
    assert rows(out) == [
        (
            "pass",
            "server58",
            "the master (inferred: the only node serving its local clock): "
            "ntpd uses local clock 127.127.1.0, fudge stratum 11",
        ),
        ("pass", "server59", "ntpd uses the master 192.168.3.58"),
    ]
    assert [f.location for f in out.findings] == ["/etc/ntp.conf:18", "/etc/ntp.conf:18"]
    assert out.message == (
        "master server58 (inferred: the only node serving its local clock); 1 client use it"
    )


def test_ntp_profile_master_by_name_and_clients_that_do_not_use_it(
    guide_cluster: list[Path],
) -> None:
    s58, s59, harbor = guide_cluster
    prof = {**PROFILE, "time": {**PROFILE["time"], "master": "server58"}}
    # a client naming the master by name, resolved through its own /etc/hosts
    (s59 / "etc/ntp.conf").write_text("driftfile /var/lib/ntp/drift\nserver server58 iburst\n")
    out = judge(NtpMaster, [SysrootHost(p) for p in guide_cluster], prof)
    assert out.status is Status.FAIL
    assert rows(out) == [
        ("pass", "server58", "the master: ntpd uses local clock 127.127.1.0, fudge stratum 11"),
        ("pass", "server59", "ntpd uses the master server58"),
        (
            "fail",
            "harbor01",
            "systemd-timesyncd uses the distribution's built-in fallback servers, "
            "not the master server58",
        ),
    ]
    assert out.findings[1].location == "/etc/ntp.conf:2"
    # the guide's client left on the pool servers
    (s59 / "etc/ntp.conf").write_text(
        "server 0.centos.pool.ntp.org iburst\nserver 1.centos.pool.ntp.org iburst\n"
    )
    out = judge(NtpMaster, [SysrootHost(s58), SysrootHost(s59)], prof)
    assert rows(out)[1] == (
        "fail",
        "server59",
        "ntpd uses 0.centos.pool.ntp.org, 1.centos.pool.ntp.org, not the master server58",
    )
    assert out.findings[1].location == "/etc/ntp.conf:1"
    # a master with no source at all
    (s58 / "etc/ntp.conf").write_text("driftfile /var/lib/ntp/drift\n")
    out = judge(NtpMaster, [SysrootHost(s58), SysrootHost(s59)], prof)
    assert rows(out)[0] == (
        "fail",
        "server58",
        "the master has no time source (ntpd); serve the local clock: "
        "server 127.127.1.0 + fudge 127.127.1.0 stratum 11",
    )


def test_ntp_master_by_address_outside_the_audited_nodes(guide_cluster: list[Path]) -> None:
    _, s59, _ = guide_cluster
    prof = {**PROFILE, "time": {**PROFILE["time"], "master": "192.168.3.58"}}
    out = judge(NtpMaster, [SysrootHost(s59), SysrootHost(s59)], prof)
    assert out.status is Status.PASS
    assert out.message == "master 192.168.3.58 (not among the audited nodes); 2 clients use it"


def test_ntp_without_a_master_is_not_judged(guide_cluster: list[Path]) -> None:
    s58, s59, _ = guide_cluster
    out = judge(NtpMaster, [SysrootHost(s59), SysrootHost(s59)])
    assert (out.status, out.message) == (
        Status.SKIP,
        "no NTP master in the profile (time.master) and no node serves its local clock",
    )
    out = judge(NtpMaster, [SysrootHost(s58), SysrootHost(s58)])
    assert out.message == (
        "no NTP master in the profile (time.master) and 2 nodes serve their local clock: "
        "server58, server58"
    )


# -- cluster.docker_version / cluster.compose_version ---------------------------


def test_docker_and_compose_versions(guide_cluster: list[Path]) -> None:
    s58, s59, harbor = guide_cluster
    docker_cli(s58, "18.09.9")
    docker_cli(s59, "18.09.9")
    docker_cli(harbor, "19.03.1")
    hosts = [RunnableSysroot(p) for p in guide_cluster]
    out = judge(DockerVersionsMatch, hosts)
    assert out.status is Status.FAIL
    assert (
        out.message == "Docker versions differ: 18.09.9 on server58, server59; 19.03.1 on harbor01"
    )
    assert rows(out)[2] == (
        "fail",
        "harbor01",
        "Docker 19.03.1, other nodes run 18.09.9 on server58, server59",
    )
    assert [f.status for f in out.findings] == [Status.PASS, Status.PASS, Status.FAIL]
    assert out.findings[2].expected == "18.09.9"

    docker_cli(harbor, None)  # the daemon does not answer: not judged here
    out = judge(DockerVersionsMatch, hosts)
    assert out.status is Status.PASS
    assert out.message == "2 nodes run Docker 18.09.9"
    assert rows(out)[0] == (
        "skip",
        "harbor01",
        "version unknown: the Docker daemon did not report its version: "
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
    )

    # compose: guide's nodes have 1.24.0; the Debian host has only the v2 plugin
    out = judge(ComposeVersionsMatch, hosts)
    assert (out.status, out.message) == (Status.PASS, "2 nodes run docker-compose 1.24.0")
    assert rows(out)[0] == ("skip", "harbor01", "docker-compose not found")
    compose_cli(harbor, "1.18.0")
    out = judge(ComposeVersionsMatch, hosts)
    assert out.message == (
        "docker-compose versions differ: 1.24.0 on server58, server59; 1.18.0 on harbor01"
    )
    # a plain sysroot runs nothing: the versions are not judged
    out = judge(DockerVersionsMatch, [SysrootHost(p) for p in guide_cluster])
    assert out.status is Status.SKIP
    assert out.message == (
        "fewer than two nodes report a Docker version (server58: version unknown: cannot run "
        f"docker: auditing the sysroot {s58}, not a running system; and 2 more)"
    )
    assert [f.subject for f in out.findings] == ["server58", "server59", "harbor01"]


def test_every_cross_node_check_needs_two_hosts(guide_cluster: list[Path]) -> None:
    for check in (NamesAgree, HostnamesUnique, ClocksAgree, NtpMaster, DockerVersionsMatch):
        out = judge(check, [SysrootHost(guide_cluster[0])])
        assert (out.status, out.message) == (
            Status.SKIP,
            "needs at least 2 reachable hosts, 1 was audited",
        )
        assert check.group == "cluster" and check.doc()


def test_a_hosts_file_harborkit_will_not_read_fails_at_that_file(guide_cluster: list[Path]) -> None:
    import os

    s58, s59, _ = guide_cluster
    (s59 / "etc/hosts").unlink()
    os.mkfifo(s59 / "etc/hosts")  # reading it would block forever
    out = judge(NamesAgree, [SysrootHost(s58), SysrootHost(s59)])
    assert out.status is Status.FAIL
    (f,) = out.findings
    assert (f.subject, f.location) == ("file", "/etc/hosts")
    assert out.message.startswith("/etc/hosts: ")


# --- one truth: cluster.ntp never passes a master whose sources time.sync refuses


def _time_sync(host, profile):  # type: ignore[no-untyped-def]
    """time.sync's verdict on a node's configured sources (its first finding)."""
    from harborkit.checks import timesync

    ctx = CheckContext(host=host, profile=profile)
    _, chosen = timesync.chosen_daemon(ctx)
    return timesync.judge_sources(chosen, timesync.expectation(ctx))


@pytest.mark.parametrize(
    ("master_conf", "profile", "why"),
    [
        (
            # the master relies on public servers only; the site is air-gapped
            "server 0.pool.ntp.org iburst\nserver time.google.com\n",
            {"time": {"master": "n1", "air_gapped": True}},
            "this host is the time master (n1) but serves no local clock (0.pool.ntp.org, "
            "time.google.com)",
        ),
        (
            # the profile names the master, which serves no local clock
            "server 10.0.0.9 iburst\n",
            {"time": {"master": "n1"}},
            "this host is the time master (n1) but serves no local clock (10.0.0.9)",
        ),
    ],
    ids=["public-only-air-gapped", "named-master-without-local-clock"],
)
def test_ntp_master_refused_by_time_sync_fails_cluster_ntp(
    master_conf: str, profile: dict, why: str
) -> None:
    from tests.cluster.nodes import judge
    from tests.cluster.test_checks_verdicts import ON, client, time_node

    n1 = time_node("n1", ntp=(master_conf, *ON))
    n2 = client("n2", "n1")
    sync = _time_sync(n1, profile)
    assert (sync.status, sync.message) == (Status.FAIL, why)
    out = judge(NtpMaster, [n1, n2], profile)
    assert out.status is Status.FAIL
    first = out.findings[0]
    assert (first.status, first.subject) == (Status.FAIL, "n1")
    assert first.message == f"the master: {why} (as time.sync judges it)"
    # the same node with the guide's local clock passes both
    ok = time_node("n1", ntp=("server 127.127.1.0\nfudge 127.127.1.0 stratum 11\n", *ON))
    assert _time_sync(ok, profile).status is Status.PASS
    assert judge(NtpMaster, [ok, client("n2", "n1")], profile).status is Status.PASS
