"""time.sync on small sysroots: every way a configuration names its sources,
the guide's roles (time master, clients, time.servers) and which daemon is judged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harborkit.checks import timesync
from harborkit.checks.timesync import BUILTIN_FALLBACK, TimeConfig, TimeSync
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.model.check import CheckContext, Status
from tests.support.checks import ctx, profile_with
from tests.support.sysroot import rows, write

PROFILE = load_profile().data
NTPD_UNIT = "/usr/lib/systemd/system/ntpd.service"
CHRONY_UNIT = "/usr/lib/systemd/system/chronyd.service"
TIMESYNCD_UNIT = "/usr/lib/systemd/system/systemd-timesyncd.service"


def time_ctx(root: Path, **time: Any) -> CheckContext:
    return ctx(root, profile_with("time", **time))


def enable(root: Path, unit: str, target: str = "multi-user.target") -> str:
    wants = root / f"etc/systemd/system/{target}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    os.symlink(f"/usr/lib/systemd/system/{unit}", wants / unit)
    return f"/etc/systemd/system/{target}.wants/{unit}"


def first(root: Path, **time: Any) -> tuple[str, str, str, str | None]:
    return rows(run_check(TimeSync, time_ctx(root, **time)).findings)[0]


# --- ntp.conf ---------------------------------------------------------------


def test_ntp_pool_peer_and_comments(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/ntp.conf": (
                "driftfile /var/lib/ntp/drift\n"
                "server\n"
                "server 10.0.0.1 iburst # the site server\n"
                "   # server 10.9.9.9\n"
                "pool ntp.example.lan\n"
                "peer 10.0.0.2\n"
                "restrict default nomodify\n"
            ),
            NTPD_UNIT: "[Service]\n",
        },
    )
    cfg = timesync.ntp_config(time_ctx(tmp_path))
    assert cfg.sources == [
        ("10.0.0.1", "/etc/ntp.conf:3"),
        ("ntp.example.lan", "/etc/ntp.conf:5"),
        ("10.0.0.2", "/etc/ntp.conf:6"),
    ]
    assert cfg.pools == {"ntp.example.lan"}
    assert cfg.local == set()
    assert cfg.files == ["/etc/ntp.conf"]
    assert first(tmp_path) == (
        "pass",
        "ntpd configured",
        "time source 10.0.0.1, ntp.example.lan, 10.0.0.2",
        "/etc/ntp.conf:3",
    )


def test_ntpsec_configuration_is_read_when_ntp_conf_is_absent(tmp_path: Path) -> None:
    write(tmp_path, {"etc/ntpsec/ntp.conf": "server 10.1.1.1\n"})
    cfg = timesync.ntp_config(time_ctx(tmp_path))
    assert cfg.files == ["/etc/ntpsec/ntp.conf"]
    assert cfg.sources == [("10.1.1.1", "/etc/ntpsec/ntp.conf:1")]
    # no unit, no binary: the configuration alone says ntpd is installed
    out = run_check(TimeSync, time_ctx(tmp_path))
    assert rows(out.findings)[0] == (
        "pass",
        "ntpd configured",
        "time source 10.1.1.1",
        "/etc/ntpsec/ntp.conf:1",
    )


def test_ntp_local_clock_without_fudge_or_stratum_value(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/ntp.conf": (
                "server 127.127.1.0\n"
                "server 127.127.1.1\n"
                "fudge 127.127.1.1 stratum\n"
                "pool 127.127.1.2\n"
                "fudge 127.127.1.2 refid LOCL stratum 8\n"
                "server 127.127.10.0\n"
            )
        },
    )
    cfg = timesync.ntp_config(time_ctx(tmp_path))
    assert cfg.sources == [
        ("local clock 127.127.1.0", "/etc/ntp.conf:1"),
        ("local clock 127.127.1.1", "/etc/ntp.conf:2"),
        ("local clock 127.127.1.2, fudge stratum 8", "/etc/ntp.conf:4"),
        ("127.127.10.0", "/etc/ntp.conf:6"),
    ]
    assert cfg.local == {
        "local clock 127.127.1.0",
        "local clock 127.127.1.1",
        "local clock 127.127.1.2, fudge stratum 8",
    }
    assert cfg.pools == {"local clock 127.127.1.2, fudge stratum 8"}


# --- chrony.conf ------------------------------------------------------------


def test_chrony_local_stratum_sourcedir_and_debian_path(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/chrony/chrony.conf": (
                "server\n"
                "local stratum 10 orphan\n"
                "peer 10.0.0.7\n"
                "sourcedir /run/chrony-dhcp /etc/chrony/sources.d\n"
                "confdir\n"
                "sourcedir\n"
            ),
            "etc/chrony/sources.d/site.sources": "pool pool.site.lan iburst\nserver\npeer 10.0.0.8\n",
            "etc/chrony/sources.d/ignored.conf": "server 10.6.6.6\n",
            "run/chrony-dhcp/dhcp.sources": "server 10.0.0.9\n",
        },
    )
    cfg = timesync.chrony_config(time_ctx(tmp_path))
    assert cfg.files == ["/etc/chrony/chrony.conf"]
    assert cfg.sources == [
        ("local clock (stratum 10 orphan)", "/etc/chrony/chrony.conf:2"),
        ("10.0.0.7", "/etc/chrony/chrony.conf:3"),
        ("10.0.0.9", "/run/chrony-dhcp/dhcp.sources:1"),
        ("pool.site.lan", "/etc/chrony/sources.d/site.sources:1"),
        ("10.0.0.8", "/etc/chrony/sources.d/site.sources:3"),
    ]
    assert cfg.local == {"local clock (stratum 10 orphan)"}
    assert cfg.pools == {"pool.site.lan"}


def test_chrony_conf_first_and_pools_of_the_main_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/chrony.conf": "pool 2.rocky.pool.ntp.org iburst\nserver 10.0.0.1\n",
            "etc/chrony/chrony.conf": "server 10.9.9.9\n",
        },
    )
    cfg = timesync.chrony_config(time_ctx(tmp_path))
    assert cfg.files == ["/etc/chrony.conf"]
    assert cfg.sources == [
        ("2.rocky.pool.ntp.org", "/etc/chrony.conf:1"),
        ("10.0.0.1", "/etc/chrony.conf:2"),
    ]
    assert cfg.pools == {"2.rocky.pool.ntp.org"}


# --- timesyncd.conf ---------------------------------------------------------


def test_timesyncd_dropins_sorted_by_name_across_folders(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/systemd/timesyncd.conf": "[Time]\n#NTP=10.9.9.9\n;NTP=10.8.8.8\nNTP=10.0.0.1\n",
            "usr/lib/systemd/timesyncd.conf.d/90-vendor.conf": "[Time]\nNTP=10.0.0.3\n",
            "etc/systemd/timesyncd.conf.d/20-site.conf": "[Time]\nNTP = 10.0.0.2 10.0.0.4\n",
            "run/systemd/timesyncd.conf.d/10-x.conf": "[Time]\nFallbackNTP=10.7.7.7\n",
        },
    )
    cfg = timesync.timesyncd_config(time_ctx(tmp_path))
    assert cfg.files == [
        "/etc/systemd/timesyncd.conf",
        "/run/systemd/timesyncd.conf.d/10-x.conf",
        "/etc/systemd/timesyncd.conf.d/20-site.conf",
        "/usr/lib/systemd/timesyncd.conf.d/90-vendor.conf",
    ]
    # the last assignment of NTP= wins; FallbackNTP= is not used when NTP= names servers
    assert cfg.sources == [("10.0.0.3", "/usr/lib/systemd/timesyncd.conf.d/90-vendor.conf:2")]
    assert cfg.fallback == set()
    assert cfg.note == ""


def test_timesyncd_fallback_only(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            TIMESYNCD_UNIT: "[Service]\n",
            "etc/systemd/timesyncd.conf": "[Time]\nNTP=\nFallbackNTP=10.5.5.5 10.5.5.6\n",
        },
    )
    cfg = timesync.timesyncd_config(time_ctx(tmp_path))
    assert cfg.sources == [
        ("10.5.5.5", "/etc/systemd/timesyncd.conf:3"),
        ("10.5.5.6", "/etc/systemd/timesyncd.conf:3"),
    ]
    assert cfg.fallback == {"10.5.5.5", "10.5.5.6"}
    assert first(tmp_path) == (
        "pass",
        "systemd-timesyncd configured",
        "time source 10.5.5.5, 10.5.5.6",
        "/etc/systemd/timesyncd.conf:3",
    )


def test_timesyncd_without_any_file_uses_builtin_fallback(tmp_path: Path) -> None:
    write(tmp_path, {"lib/systemd/systemd-timesyncd": "#!/bin/sh\n"})
    cfg = timesync.timesyncd_config(time_ctx(tmp_path))
    assert cfg.files == []
    assert cfg.sources == [(BUILTIN_FALLBACK, "/etc/systemd/timesyncd.conf")]
    assert cfg.fallback == {BUILTIN_FALLBACK}
    assert cfg.location == "/etc/systemd/timesyncd.conf"
    # installed by its binary alone; not air-gapped: the built-in fallback is fine
    assert first(tmp_path, air_gapped=False) == (
        "pass",
        "systemd-timesyncd configured",
        f"no NTP= or FallbackNTP= set: systemd-timesyncd uses {BUILTIN_FALLBACK}",
        "/etc/systemd/timesyncd.conf",
    )


def test_time_config_location() -> None:
    assert TimeConfig().location is None
    assert TimeConfig(files=["/a", "/b"]).location == "/a"
    assert TimeConfig(sources=[("s", "/c:3")], files=["/a"]).location == "/c:3"


# --- air gap ----------------------------------------------------------------


def test_public_servers_and_pools_fail_an_air_gapped_site(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/chrony.conf": "pool 2.centos.POOL.ntp.org iburst\nserver time.google.com.\n",
            CHRONY_UNIT: "[Service]\n",
        },
    )
    assert first(tmp_path) == (
        "fail",
        "chronyd configured",
        "time source 2.centos.POOL.ntp.org (public pool), time.google.com. (public server), "
        "which an air-gapped site cannot reach: not configured",
        "/etc/chrony.conf:1",
    )
    assert first(tmp_path, air_gapped=False) == (
        "pass",
        "chronyd configured",
        "time source 2.centos.POOL.ntp.org, time.google.com.",
        "/etc/chrony.conf:1",
    )
    # one reachable server is enough
    write(tmp_path, {"etc/chrony.conf": "pool pool.ntp.org\nserver notpool.ntp.org.example\n"})
    assert first(tmp_path)[0] == "pass"


def test_unreachable_reasons() -> None:
    assert timesync._unreachable(BUILTIN_FALLBACK) == "built-in fallback"
    assert timesync._unreachable("0.debian.pool.ntp.org") == "public pool"
    assert timesync._unreachable("ntp.ubuntu.com") == "public server"
    assert timesync._unreachable("TIME.Cloudflare.com.") == "public server"
    assert timesync._unreachable("time.windows.com") == "public server"
    assert timesync._unreachable("time.apple.com") == "public server"
    assert timesync._unreachable("time.nist.gov") == "public server"
    assert timesync._unreachable("mytime.google.com") is None
    assert timesync._unreachable("pool.ntp.org.lan") is None
    assert timesync._unreachable("10.0.0.1") is None


# --- the guide's roles ------------------------------------------------------


def test_expectation_roles(tmp_path: Path) -> None:
    write(tmp_path, {"etc/hostname": "node1\n", "etc/hosts": "10.0.0.5 master1\n10.0.0.6 node1\n"})
    assert timesync.expectation(time_ctx(tmp_path)) == timesync.Expectation("any", (), True, "")
    assert timesync.expectation(time_ctx(tmp_path, air_gapped=False, servers=["a", 1])) == (
        timesync.Expectation("servers", ("a", "1"), False, "the profile's time.servers")
    )
    assert timesync.expectation(time_ctx(tmp_path, master="master1", servers=["a"])) == (
        timesync.Expectation("client", ("master1",), True, "the time master master1")
    )
    # the master named by address, this host by name: /etc/hosts joins them
    assert timesync.expectation(time_ctx(tmp_path, master="10.0.0.6")) == (
        timesync.Expectation("master", (), True, "this host is the time master (10.0.0.6)")
    )
    assert timesync.expectation(time_ctx(tmp_path, master="node1")).role == "master"


def test_master_must_serve_its_local_clock(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"etc/hostname": "tm\n", "etc/ntp.conf": "server 10.0.0.1\n", NTPD_UNIT: "[Service]\n"},
    )
    out = run_check(TimeSync, time_ctx(tmp_path, master="tm"))
    f = out.findings[0]
    assert (f.status, f.message, f.expected, f.actual, f.location) == (
        Status.FAIL,
        "this host is the time master (tm) but serves no local clock (10.0.0.1)",
        "local clock",
        "10.0.0.1",
        "/etc/ntp.conf:1",
    )
    write(tmp_path, {"etc/ntp.conf": "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n"})
    assert first(tmp_path, master="tm") == (
        "pass",
        "ntpd configured",
        "time source local clock 127.127.1.0, fudge stratum 10",
        "/etc/ntp.conf:1",
    )


def test_client_must_use_the_master_and_servers_one_of_them(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"etc/hostname": "n1\n", "etc/ntp.conf": "server 10.0.0.1\n", NTPD_UNIT: "[Service]\n"},
    )
    f = run_check(TimeSync, time_ctx(tmp_path, master="tm.lan")).findings[0]
    assert (f.status, f.message, f.expected, f.actual) == (
        Status.FAIL,
        "does not use tm.lan (the time master tm.lan); sources: 10.0.0.1",
        "tm.lan",
        "10.0.0.1",
    )
    f = run_check(TimeSync, time_ctx(tmp_path, servers=["10.0.0.8", "10.0.0.9"])).findings[0]
    assert (f.status, f.message, f.expected) == (
        Status.FAIL,
        "does not use 10.0.0.8 or 10.0.0.9 (the profile's time.servers); sources: 10.0.0.1",
        "10.0.0.8, 10.0.0.9",
    )
    assert first(tmp_path, servers=["10.0.0.9", "10.0.0.1"]) == (
        "pass",
        "ntpd configured",
        "time source 10.0.0.1",
        "/etc/ntp.conf:1",
    )


def test_no_server_names_the_expected_ones(tmp_path: Path) -> None:
    write(tmp_path, {"etc/ntp.conf": "driftfile /x\n", NTPD_UNIT: "[Service]\n"})
    f = run_check(TimeSync, time_ctx(tmp_path, servers=["10.0.0.8", "10.0.0.9"])).findings[0]
    assert (f.status, f.message, f.expected, f.location) == (
        Status.FAIL,
        "no server configured (/etc/ntp.conf)",
        "10.0.0.8, 10.0.0.9",
        "/etc/ntp.conf",
    )
    f = run_check(TimeSync, time_ctx(tmp_path)).findings[0]
    assert f.expected == "a server"


def test_air_gap_failure_expects_a_reachable_server(tmp_path: Path) -> None:
    write(tmp_path, {"etc/ntp.conf": "server 0.pool.ntp.org\n", NTPD_UNIT: "[Service]\n"})
    f = run_check(TimeSync, time_ctx(tmp_path)).findings[0]
    assert (f.status, f.expected, f.actual, f.location) == (
        Status.FAIL,
        "a server the site can reach",
        "0.pool.ntp.org",
        "/etc/ntp.conf:1",
    )


# --- which daemon is judged -------------------------------------------------


def test_enabled_and_configured_daemon_is_judged_over_the_first_configured(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "etc/ntp.conf": "server 10.0.0.1\n",
            NTPD_UNIT: "[Service]\n",
            "etc/chrony.conf": "server 10.0.0.2\n",
            CHRONY_UNIT: "[Service]\n",
            TIMESYNCD_UNIT: "[Service]\n",
        },
    )
    # nothing enabled: the first configured (ntpd)
    out = run_check(TimeSync, time_ctx(tmp_path))
    assert rows(out.findings)[0] == (
        "pass",
        "ntpd configured",
        "time source 10.0.0.1",
        "/etc/ntp.conf:1",
    )
    assert out.status is Status.WARN
    link = enable(tmp_path, "systemd-timesyncd.service", "sysinit.target")
    # timesyncd is enabled and has (built-in) sources: judged, though ntpd comes first
    out = run_check(TimeSync, time_ctx(tmp_path))
    assert rows(out.findings)[1] == (
        "pass",
        "systemd-timesyncd enabled",
        f"enabled: {link}",
        link,
    )
    # only the listed services count
    out = run_check(TimeSync, time_ctx(tmp_path, services=["chronyd", "openntpd"]))
    assert rows(out.findings)[0] == (
        "pass",
        "chronyd configured",
        "time source 10.0.0.2",
        "/etc/chrony.conf:1",
    )


def test_enabled_daemon_without_source_is_not_judged(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/ntp.conf": "driftfile /x\n",
            NTPD_UNIT: "[Service]\n",
            "etc/chrony.conf": "server 10.0.0.2\n",
        },
    )
    enable(tmp_path, "ntpd.service")
    out = run_check(TimeSync, time_ctx(tmp_path, services=["ntpd", "chronyd"]))
    assert rows(out.findings)[0] == (
        "pass",
        "chronyd configured",
        "time source 10.0.0.2",
        "/etc/chrony.conf:1",
    )
    # no daemon with a source: the first installed, failing
    write(tmp_path, {"etc/chrony.conf": "# none\n"})
    out = run_check(TimeSync, time_ctx(tmp_path, services=["ntpd", "chronyd"]))
    assert (out.status, rows(out.findings)[:2]) == (
        Status.FAIL,
        [
            ("fail", "ntpd configured", "no server configured (/etc/ntp.conf)", "/etc/ntp.conf"),
            (
                "pass",
                "ntpd enabled",
                "enabled: /etc/systemd/system/multi-user.target.wants/ntpd.service",
                "/etc/systemd/system/multi-user.target.wants/ntpd.service",
            ),
        ],
    )


def test_second_unit_name_enables_the_daemon(tmp_path: Path) -> None:
    # Debian names the unit chrony.service; chronyd.service is an alias
    write(
        tmp_path,
        {
            "etc/chrony/chrony.conf": "server 10.0.0.2\n",
            "lib/systemd/system/chrony.service": "[Service]\n",
            "usr/sbin/chronyd": "",
        },
    )
    link = enable(tmp_path, "chrony.service")
    out = run_check(TimeSync, time_ctx(tmp_path, services=["chronyd"]))
    assert rows(out.findings)[1] == ("pass", "chronyd enabled", f"enabled: {link}", link)
    d = timesync._daemon(time_ctx(tmp_path), "chronyd")
    assert (d.unit, d.installed) == ("chrony", True)


def test_installed_by_binary_only(tmp_path: Path) -> None:
    write(tmp_path, {"usr/sbin/ntpd": "#!/bin/sh\n"})
    (tmp_path / "usr/sbin/ntpd").chmod(0o755)
    d = timesync._daemon(time_ctx(tmp_path), "ntpd")
    assert (d.installed, d.unit, d.config.files) == (True, "ntpd", [])
    # a timesyncd configuration without unit or binary is not an installation
    write(tmp_path, {"etc/systemd/timesyncd.conf": "[Time]\nNTP=10.0.0.1\n"})
    assert timesync._daemon(time_ctx(tmp_path), "systemd-timesyncd").installed is False
    out = run_check(TimeSync, time_ctx(tmp_path, services=["systemd-timesyncd"]))
    assert out.message == "time service: none of systemd-timesyncd is installed"


def test_a_client_may_name_the_master_by_its_profile_address(tmp_path: Path) -> None:
    """The guide's server59 writes ``server 192.168.3.58`` for the master server58:
    time.sync accepts the master under the name or the address the profile's nodes
    give it (as cluster.ntp does), and only those; its fix adds the master once."""
    write(
        tmp_path,
        {"etc/hostname": "server59\n", "etc/ntp.conf": "server 192.168.3.58 iburst\n"},
    )
    write(tmp_path, {NTPD_UNIT: "[Service]\n"})
    nodes = [
        {"name": "server58", "address": "192.168.3.58"},
        {"name": "server59", "address": "192.168.3.59"},
    ]
    profile = profile_with("time", master="server58")
    profile["nodes"] = nodes
    c = ctx(tmp_path, profile)
    assert timesync.expectation(c) == timesync.Expectation(
        "client", ("server58", "192.168.3.58"), True, "the time master server58"
    )
    f = run_check(TimeSync, c).findings[0]
    assert (f.status, f.message) == (Status.PASS, "time source 192.168.3.58")
    # another address is not the master, whatever it resolves to
    write(tmp_path, {"etc/ntp.conf": "server 192.168.3.59 iburst\n"})
    out = run_check(TimeSync, c)
    assert (out.findings[0].status, out.findings[0].message) == (
        Status.FAIL,
        "does not use server58 or 192.168.3.58 (the time master server58); sources: 192.168.3.59",
    )
    (change,) = [x for x in timesync.plan_time(c, "time.sync", out) if hasattr(x, "new")]
    assert change.new.decode().splitlines() == [
        "server 192.168.3.59 iburst",
        "server server58 iburst",
    ]
