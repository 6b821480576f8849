"""time.sync on the fixture sysroots, small sysroots and live."""

from __future__ import annotations

import os
from pathlib import Path

from harborkit.checks.timesync import TimeSync
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.model.check import Status
from tests.support.checks import ctx
from tests.support.sysroot import rows, write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
PROFILE = load_profile().data
RUNNING_SKIP = "whether it runs needs a running system; auditing a sysroot"
SYNC_SKIP = "synchronisation needs a running system; auditing a sysroot"
NTPD_LINK = "/etc/systemd/system/multi-user.target.wants/ntpd.service"


def test_ntp_client_of_the_guide() -> None:
    out = run_check(TimeSync, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (Status.PASS, "ntpd: time source 192.168.3.58")
    assert rows(out.findings) == [
        ("pass", "ntpd configured", "time source 192.168.3.58", "/etc/ntp.conf:18"),
        ("pass", "ntpd enabled", f"enabled: {NTPD_LINK}", NTPD_LINK),
        ("skip", "ntpd running", RUNNING_SKIP, None),
        ("skip", "clock synchronised", SYNC_SKIP, None),
    ]


def test_ntp_local_clock_master_of_the_guide() -> None:
    out = run_check(TimeSync, ctx(SYSROOTS / "guide-as-written"))
    assert out.status is Status.PASS
    assert rows(out.findings)[0] == (
        "pass",
        "ntpd configured",
        "time source local clock 127.127.1.0, fudge stratum 11",
        "/etc/ntp.conf:18",
    )


def test_timesyncd_distribution_defaults_are_not_configured_for_an_air_gap() -> None:
    out = run_check(TimeSync, ctx(SYSROOTS / "debian12"))
    assert out.status is Status.FAIL
    link = "/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service"
    assert rows(out.findings) == [
        (
            "fail",
            "systemd-timesyncd configured",
            "no NTP= or FallbackNTP= set: systemd-timesyncd uses the distribution's "
            "built-in fallback servers, which an air-gapped site cannot reach: not configured",
            "/etc/systemd/timesyncd.conf",
        ),
        ("pass", "systemd-timesyncd enabled", f"enabled: {link}", link),
        ("skip", "systemd-timesyncd running", RUNNING_SKIP, None),
        ("skip", "clock synchronised", SYNC_SKIP, None),
    ]


def test_all_servers_commented_out_fails(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/ntp.conf": "driftfile /var/lib/ntp/drift\n#server 0.centos.pool.ntp.org iburst\n",
            "usr/lib/systemd/system/ntpd.service": "[Service]\n",
        },
    )
    out = run_check(TimeSync, ctx(tmp_path))
    assert out.status is Status.FAIL
    assert rows(out.findings)[:2] == [
        ("fail", "ntpd configured", "no server configured (/etc/ntp.conf)", "/etc/ntp.conf"),
        (
            "warn",
            "ntpd enabled",
            "not enabled at boot (no link to ntpd.service under "
            "/etc/systemd/system/*.wants or rc?.d)",
            None,
        ),
    ]


def test_enabled_chrony_is_chosen_over_installed_ntpd(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "etc/ntp.conf": "server 10.0.0.1\n",
            "usr/lib/systemd/system/ntpd.service": "[Service]\n",
            "usr/lib/systemd/system/chronyd.service": "[Service]\n",
            "etc/chrony.conf": "# pool 2.centos.pool.ntp.org iburst\nconfdir /etc/chrony.d\n",
            "etc/chrony.d/site.conf": "server ntp1.example.lan iburst\npool pool.example.lan\n",
        },
    )
    wants = tmp_path / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    os.symlink("/usr/lib/systemd/system/chronyd.service", wants / "chronyd.service")
    out = run_check(TimeSync, ctx(tmp_path))
    assert rows(out.findings)[:2] == [
        (
            "pass",
            "chronyd configured",
            "time source ntp1.example.lan, pool.example.lan",
            "/etc/chrony.d/site.conf:1",
        ),
        (
            "pass",
            "chronyd enabled",
            "enabled: /etc/systemd/system/multi-user.target.wants/chronyd.service",
            "/etc/systemd/system/multi-user.target.wants/chronyd.service",
        ),
    ]


def test_timesyncd_dropin_and_empty_fallback(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "usr/lib/systemd/system/systemd-timesyncd.service": "[Service]\n",
            "etc/systemd/timesyncd.conf": "[Time]\nNTP=\nFallbackNTP=\n",
        },
    )
    out = run_check(TimeSync, ctx(tmp_path))
    assert rows(out.findings)[0] == (
        "fail",
        "systemd-timesyncd configured",
        "no server configured (/etc/systemd/timesyncd.conf)",
        "/etc/systemd/timesyncd.conf",
    )
    write(tmp_path, {"etc/systemd/timesyncd.conf.d/50-site.conf": "[Time]\nNTP=192.168.3.58\n"})
    out = run_check(TimeSync, ctx(tmp_path))
    assert rows(out.findings)[0] == (
        "pass",
        "systemd-timesyncd configured",
        "time source 192.168.3.58",
        "/etc/systemd/timesyncd.conf.d/50-site.conf:2",
    )


def test_nothing_installed_fails(tmp_path: Path) -> None:
    write(tmp_path, {"etc/hostname": "bare\n"})
    out = run_check(TimeSync, ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.FAIL,
        "time service: none of ntpd, chronyd, systemd-timesyncd is installed",
    )


# Live verdicts (running vs enabled, not running, nothing installed) are built in a
# private namespace: tests/checks/test_live_state.py.
