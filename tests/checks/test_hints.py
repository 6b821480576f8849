"""Remediation hints speak about the host in front of them (issue 12, item 3).

Each hint is rendered from the check's planned changes (harborkit.model.change),
so the text names this host's files, lines and values; a hint never names a
problem its host does not have.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harborkit.engine.profile import load_profile, with_nodes
from harborkit.engine.registry import discover
from harborkit.engine.runner import Selection, run_checks
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, CheckOptions
from harborkit.model.result import Report

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


def report(name: str, nodes: list[str] | None = None, time: dict | None = None) -> Report:
    loaded, _ = discover()
    prof = with_nodes(load_profile(None), nodes or [])
    data = dict(prof.data)
    if time:
        data["time"] = {**data["time"], **time}
    ctx = CheckContext(SysrootHost(SYSROOTS / name), data, CheckOptions(None, "/opt/harbor"))
    return run_checks(loaded, ctx, profile_name="t", profile_path="t", selection=Selection())


def hints(rep: Report) -> dict[str, str]:
    """The hint of every check that failed or warned."""
    return {
        r.check.id: r.check.remediation for r in rep.results if r.status.value in ("fail", "warn")
    }


GUIDE_LIMITS = (
    "in /etc/security/limits.conf, line 17: change '* soft stact unlimited' to "
    "'# * soft stact unlimited  # harborkit: unknown item 'stact' (a typo of 'stack'?)'\n"
    "  (the lines pam_limits or services ignore are marked)\n"
    "in /etc/security/limits.d/20-nproc.conf, line 7: change '* soft stact unlimited' to "
    "'# * soft stact unlimited  # harborkit: unknown item 'stact' (a typo of 'stack'?)'\n"
    "  (the lines pam_limits or services ignore are marked)\n"
    "in /etc/profile, line 31: change 'ulimit -n 655350' to '# ulimit -n 655350  "
    "# harborkit: services never see this; see /etc/security/limits.d/90-harbor.conf'\n"
    "  (the lines pam_limits or services ignore are marked)\n"
    "create /etc/security/limits.d/90-harbor.conf as:\n"
    "    # Login limits for Harbor (written by harborkit fix)\n"
    "    * soft stack unlimited\n"
    "  (pam_limits reads it after limits.conf and the files sorted before it)"
)

GUIDE_DAEMON_JSON = (
    "rewrite /etc/docker/daemon.json as:\n"
    "    {\n"
    '      "insecure-registries": [\n'
    '        "192.168.3.60:8888"\n'
    "      ]\n"
    "    }\n"
    "  (valid JSON, every other key kept)\n"
    "create /etc/systemd/system/docker.service.d/90-harbor-environmentfile.conf as:\n"
    "    # written by harborkit fix: daemon.json is not an environment file\n"
    "    [Service]\n"
    "    EnvironmentFile=\n"
    "  (clears the EnvironmentFile= list of /usr/lib/systemd/system/docker.service "
    "without editing it)\n"
    "run: systemctl daemon-reload\n"
    "run: systemctl restart docker"
)


def test_guide_as_written_hints_are_the_exact_changes() -> None:
    h = hints(report("guide-as-written"))
    assert h["limits.pam"] == GUIDE_LIMITS
    assert h["docker.daemon_json"] == GUIDE_DAEMON_JSON
    assert h["selinux.mode"] == (
        "run: setenforce 0\n"
        "reboot to make SELINUX=disabled take effect (the running kernel is enforcing)"
    )
    assert set(h) == {"selinux.mode", "limits.pam", "docker.daemon_json", "harbor.config"}


def test_debian12_hints_are_the_exact_changes() -> None:
    h = hints(report("debian12"))
    assert h["sysctl.persisted"] == (
        "in /etc/sysctl.d/90-harbor.conf, line 17: change 'net.ipv4.tcp_tw_recycle = 1' to "
        "'# net.ipv4.tcp_tw_recycle = 1  # harborkit: this kernel has no such key'; "
        "add at the end:\n"
        "    vm.max_map_count = 655360\n"
        "  (sysctl --system and every boot apply it)"
    )
    # vm.swappiness is persisted as 10 already: only sysctl --system is missing
    assert h["sysctl.runtime"] == h["sysctl.persisted"] + "\nrun: sysctl --system"
    assert h["limits.pam"] == (
        "in /etc/security/limits.d/90-harbor.conf, line 5: change '*    sfot  core     0' to "
        "'# *    sfot  core     0  # harborkit: unknown type 'sfot' (soft, hard or -)'; "
        "line 6: change '*    hard  memlock  lots' to '# *    hard  memlock  lots  "
        "# harborkit: bad value 'lots': not a number or unlimited'; add at the end:\n"
        "    root soft nproc unlimited\n"
        "  (pam_limits reads it after limits.conf and the files sorted before it)"
    )
    assert h["firewall.ufw"] == (
        "in /etc/ufw/ufw.conf, line 6: change 'ENABLED=yes' to 'ENABLED=no'\n"
        "  (ufw loads no rules at boot)"
    )
    assert h["time.sync"] == (
        "systemd-timesyncd is the time service here: set NTP=<site NTP server> in "
        "/etc/systemd/timesyncd.conf.d/90-harbor.conf; name the server in the profile "
        "(time.servers, or time.master for the guide's roles) and harborkit fix writes it"
    )
    assert h["network.hostname"] == (
        "give harbor01 this host's cluster address in /etc/hosts (name it in the profile's "
        "nodes, or --node harbor01=ADDRESS, and harborkit fix writes it)"
    )


def test_debian12_time_servers_and_nodes_from_the_profile() -> None:
    rep = report(
        "debian12",
        nodes=["server59=192.168.3.59", "harbor01=192.168.3.61"],
        time={"servers": ["192.168.3.58"]},
    )
    h = hints(rep)
    assert h["time.sync"] == (
        "create /etc/systemd/timesyncd.conf.d/90-harbor.conf as:\n"
        "    # Time servers for Harbor (written by harborkit fix)\n"
        "    [Time]\n"
        "    NTP=192.168.3.58\n"
        "  (the profile's time.servers)\n"
        "run: systemctl restart systemd-timesyncd"
    )
    hosts = (
        "in /etc/hosts, line 2: change '127.0.1.1\tharbor01.example.lan\tharbor01' to "
        "'127.0.1.1\tharbor01.example.lan'; line 10: change '192.168.3.60 server59' to "
        "'# 192.168.3.60 server59  # harborkit: server59 moved below'; add at the end:\n"
        "    192.168.3.59\tserver59\n"
        "    192.168.3.61\tharbor01\n"
        "  (the addresses of the profile's nodes)"
    )
    assert h["network.nodes"] == hosts
    assert h["network.hostname"] == hosts


def test_guide_roles_client_must_use_the_master() -> None:
    # centos7-compliant syncs from 192.168.3.58; a master named elsewhere fails it
    h = hints(report("centos7-compliant", time={"master": "192.168.3.70"}))
    assert h["time.sync"] == (
        "in /etc/ntp.conf, add at the end:\n"
        "    server 192.168.3.70 iburst\n"
        "  (the time master 192.168.3.70)\n"
        "run: systemctl restart ntpd"
    )
    # and the guide's own master (server58 is this host, local clock) passes
    rep = report("guide-as-written", nodes=["server58=192.168.3.58"], time={"master": "server58"})
    assert {r.check.id: r.status.value for r in rep.results}["time.sync"] == "pass"


def test_compliant_host_has_no_hints() -> None:
    assert hints(report("centos7-compliant")) == {}


@pytest.mark.parametrize(
    ("name", "absent"),
    [
        ("centos7-compliant", ("stact", "EnvironmentFile", "typographic", "setenforce", "ufw")),
        ("guide-as-written", ("sysctl", "ntp.conf", "timesyncd", "ufw", "chrony")),
        (
            "debian12",
            ("stact", "EnvironmentFile", "ntp.conf", "chrony", "SELINUX", "firewalld", "curl"),
        ),
    ],
)
def test_no_hint_names_a_problem_the_host_lacks(name: str, absent: tuple[str, ...]) -> None:
    for check_id, text in hints(report(name)).items():
        for word in absent:
            assert word not in text, f"{name}: {check_id} hint mentions {word!r}: {text}"
