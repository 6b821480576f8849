"""time.sync on a running host, answered from recorded output of timedatectl,
chronyc, ntpstat, ntpq and systemctl (the snapshot backend, as for a carried
snapshot): whether the clock is synchronised, which daemon is judged, and
what ``harborkit fix`` plans for it.

Where the outputs come from:
- chronyc: chrony 4.3 (Debian 12), ``chronyd -x`` with ``local stratum 10``
  (synchronised) and with an unreachable ``server 192.0.2.1`` (not), and
  chronyc with no chronyd running.
- ntpstat 0.0.0.1 (Debian 12) with no ntpd running; its other lines are the
  program's own format strings (``strings /usr/bin/ntpstat``).
- ntpq: ntpsec 1.2.2 (Debian 12) with no ntpd, and with an ntpd that does not
  answer; the peer tables are in the format of ntp 4.2.6 (CentOS 7).
- timedatectl: systemd 252 in a container without systemd as init; systemd
  219 (CentOS 7) has no ``show`` verb nor ``-p`` (getopt's message).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harborkit.checks import timesync
from harborkit.checks.timesync import TimeSync, plan_time
from harborkit.engine.profile import load_profile
from harborkit.host.local import SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.change import Command, FileChange, ManualStep
from harborkit.model.check import CheckContext, Finding, Outcome, Status
from tests.support.checks import ctx, profile_with
from tests.support.recorded_host import recorded_host
from tests.support.sysroot import rows, write

PROFILE = load_profile().data
TD = "timedatectl show -p NTPSynchronized --value"
TOOLS = {
    "timedatectl": "/usr/bin/timedatectl",
    "chronyc": "/usr/bin/chronyc",
    "ntpstat": "/usr/bin/ntpstat",
    "ntpq": "/usr/sbin/ntpq",
}
NOT_BOOTED = (
    "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
    "Failed to connect to bus: Host is down\n"
)
TD_219 = "timedatectl: invalid option -- 'p'\n"
TRACKING_LOCAL = """\
Reference ID    : 7F7F0101 ()
Stratum         : 10
Ref time (UTC)  : Sat Nov 28 22:50:54 2026
System time     : 0.000000000 seconds fast of NTP time
Last offset     : +0.000000000 seconds
RMS offset      : 0.000000000 seconds
Frequency       : 0.000 ppm slow
Residual freq   : +0.000 ppm
Skew            : 0.000 ppm
Root delay      : 0.000000000 seconds
Root dispersion : 0.000000000 seconds
Update interval : 0.0 seconds
Leap status     : Normal
"""
TRACKING_UNSYNCED = """\
Reference ID    : 00000000 ()
Stratum         : 0
Ref time (UTC)  : Thu Jan 01 00:00:00 1970
System time     : 0.000000000 seconds fast of NTP time
Last offset     : +0.000000000 seconds
RMS offset      : 0.000000000 seconds
Frequency       : 0.000 ppm slow
Residual freq   : +0.000 ppm
Skew            : 0.000 ppm
Root delay      : 1.000000000 seconds
Root dispersion : 1.000000000 seconds
Update interval : 0.0 seconds
Leap status     : Not synchronised
"""
NO_CHRONYD = "506 Cannot talk to daemon\n"
NTPSTAT_SYNCED = (
    "synchronised to NTP server (192.168.3.58) at stratum 12 \n"
    "   time correct to within 18 ms\n"
    "   polling server every 64 s\n"
)
NTPSTAT_UNSYNCED = "unsynchronised\n  time server re-starting\n   polling server every 8 s\n"
NTPSTAT_NO_NTPD = "Unable to talk to NTP daemon. Is it running?\n"
NTPQ_HEAD = (
    "     remote           refid      st t when poll reach   delay   offset  jitter\n"
    "==============================================================================\n"
)
NTPQ_SYNCED = NTPQ_HEAD + (
    "+10.0.0.2        .GPS.            1 u   12   64  377    1.104   -0.301   0.212\n"
    "*192.168.3.58    LOCAL(0)        11 u   37   64  377    0.245    0.032   0.018\n"
)
NTPQ_STARTING = NTPQ_HEAD + (
    " 192.168.3.58    .INIT.          16 u    -   64    0    0.000    0.000   0.000\n"
)
NTPQ_NO_NTPD = "***Socket error; probably ntpd is not running\n"
NTPQ_NO_ANSWER = "***Request timed out\n"


def time_ctx(host: SnapshotHost, **time: Any) -> CheckContext:
    return ctx(host, profile_with("time", **time))


# --- _synchronised ------------------------------------------------------------

SYNC_CASES = {
    "timedatectl yes": (
        "chronyd",
        {TD: (0, "yes\n", "")},
        (True, "timedatectl: NTPSynchronized=yes"),
    ),
    "timedatectl no": ("ntpd", {TD: (0, "no\n", "")}, (False, "timedatectl: NTPSynchronized=no")),
    "centos7 timedatectl, ntpstat synchronised": (
        "ntpd",
        {TD: (1, "", TD_219), "ntpstat": (0, NTPSTAT_SYNCED, "")},
        (True, "ntpstat: synchronised to NTP server (192.168.3.58) at stratum 12"),
    ),
    "container timedatectl, chronyc local clock": (
        "chronyd",
        {TD: (1, "", NOT_BOOTED), "chronyc tracking": (0, TRACKING_LOCAL, "")},
        (True, "chronyc tracking: Leap status Normal"),
    ),
    "chronyc not synchronised": (
        "chronyd",
        {TD: (1, "", NOT_BOOTED), "chronyc tracking": (0, TRACKING_UNSYNCED, "")},
        (False, "chronyc tracking: Leap status Not synchronised"),
    ),
    "chronyc without chronyd": (
        "chronyd",
        {TD: (1, "", NOT_BOOTED), "chronyc tracking": (1, NO_CHRONYD, "")},
        (None, "timedatectl: Failed to connect to bus: Host is down; chronyc tracking: rc 1"),
    ),
    # chronyc before chrony 2.2 exits 0 even when it cannot reach chronyd
    "old chronyc without chronyd": (
        "chronyd",
        {TD: (1, "", TD_219), "chronyc tracking": (0, NO_CHRONYD, "")},
        (None, "timedatectl: timedatectl: invalid option -- 'p'; chronyc tracking: rc 0"),
    ),
    "chronyc failing with a tracking report is not trusted": (
        "chronyd",
        {TD: (1, "", ""), "chronyc tracking": (1, TRACKING_LOCAL, "")},
        (None, "timedatectl: no answer; chronyc tracking: rc 1"),
    ),
    "timedatectl answers nothing": (
        "chronyd",
        {TD: (0, "\n", "")},
        (None, "timedatectl: no answer"),
    ),
    "timedatectl fails with its answer": (
        "ntpd",
        {TD: (1, "yes\n", "")},
        (None, "timedatectl: no answer"),
    ),
    "ntpstat unsynchronised": (
        "ntpd",
        {TD: (1, "", TD_219), "ntpstat": (1, NTPSTAT_UNSYNCED, "")},
        (False, "ntpstat: unsynchronised"),
    ),
    "ntpstat without ntpd, ntpq has a system peer": (
        "ntpd",
        {
            TD: (1, "", TD_219),
            "ntpstat": (2, "", NTPSTAT_NO_NTPD),
            "ntpq -pn": (0, NTPQ_SYNCED, ""),
        },
        (True, "ntpq -p: system peer 192.168.3.58"),
    ),
    "ntpq while ntpd starts": (
        "ntpd",
        {
            TD: (1, "", TD_219),
            "ntpstat": (2, "", NTPSTAT_NO_NTPD),
            "ntpq -pn": (0, NTPQ_STARTING, ""),
        },
        (False, "ntpq -p: no system peer (no line marked '*')"),
    ),
    "ntpq without ntpd says so with rc 0": (
        "ntpd",
        {
            TD: (1, "", TD_219),
            "ntpstat": (2, "", NTPSTAT_NO_NTPD),
            "ntpq -pn": (0, NTPQ_NO_NTPD, ""),
        },
        (
            None,
            "timedatectl: timedatectl: invalid option -- 'p'; ntpstat: rc 2; "
            "ntpq -p: Socket error; probably ntpd is not running",
        ),
    ),
    "ntpq with an ntpd that does not answer": (
        "ntpd",
        {TD: (1, "", ""), "ntpstat": (2, "timeout\n", ""), "ntpq -pn": (0, NTPQ_NO_ANSWER, "")},
        (None, "timedatectl: no answer; ntpstat: rc 2; ntpq -p: Request timed out"),
    ),
    "ntpq failing on stderr": (
        "ntpd",
        {
            TD: (1, "", ""),
            "ntpstat": (2, "", ""),
            "ntpq -pn": (1, NTPQ_SYNCED, "ntpq: read: Connection refused\n"),
        },
        (None, "timedatectl: no answer; ntpstat: rc 2; ntpq -p: ntpq: read: Connection refused"),
    ),
    "ntpq failing without a word": (
        "ntpd",
        {TD: (1, "", ""), "ntpstat": (2, "", ""), "ntpq -pn": (1, "", "")},
        (None, "timedatectl: no answer; ntpstat: rc 2; ntpq -p: rc 1"),
    ),
}


@pytest.mark.parametrize("case", list(SYNC_CASES))
def test_synchronised(case: str) -> None:
    daemon, commands, expected = SYNC_CASES[case]
    # the tools installed are those with recorded output
    which = {k: v for k, v in TOOLS.items() if any(c.split()[0] == k for c in commands)}
    host = recorded_host(commands=commands, which=which)
    assert timesync._synchronised(time_ctx(host), daemon) == expected


@pytest.mark.parametrize(
    ("daemon", "which", "commands"),
    [
        # nothing to ask at all
        ("ntpd", {}, {}),
        ("chronyd", {}, {}),
        # each daemon's own tool only: chronyc is not asked about ntpd, nor ntpq about chronyd
        ("ntpd", {"chronyc": "/usr/bin/chronyc"}, {"chronyc tracking": (0, TRACKING_LOCAL, "")}),
        (
            "chronyd",
            {"ntpstat": "/usr/bin/ntpstat", "ntpq": "/usr/sbin/ntpq"},
            {"ntpstat": (0, NTPSTAT_SYNCED, ""), "ntpq -pn": (0, NTPQ_SYNCED, "")},
        ),
        (
            "systemd-timesyncd",
            {
                "chronyc": "/usr/bin/chronyc",
                "ntpstat": "/usr/bin/ntpstat",
                "ntpq": "/usr/sbin/ntpq",
            },
            {
                "chronyc tracking": (0, TRACKING_LOCAL, ""),
                "ntpstat": (0, NTPSTAT_SYNCED, ""),
                "ntpq -pn": (0, NTPQ_SYNCED, ""),
            },
        ),
    ],
)
def test_no_tool_to_ask(daemon: str, which: dict[str, str], commands: dict[str, Any]) -> None:
    host = recorded_host(commands=commands, which=which)
    assert timesync._synchronised(time_ctx(host), daemon) == (
        None,
        "no tool to ask (timedatectl, chronyc, ntpstat, ntpq)",
    )


# --- TimeSync.run on a running host ----------------------------------------------

NTP_UNIT = "/usr/lib/systemd/system/ntpd.service"
CHRONY_UNIT = "/usr/lib/systemd/system/chronyd.service"
NO_UNIT = "Failed to get unit file state for {}: No such file or directory\n"
UNITS = ("ntpd.service", "chronyd.service", "systemd-timesyncd.service")


def live_host(
    files: dict[str, str],
    states: dict[str, tuple[str, str]],
    sync: dict[str, tuple[int, str, str]] | None = None,
    **kw: Any,
) -> SnapshotHost:
    """``states``: unit -> (is-enabled answer, is-active answer); units not
    named are unknown to systemctl (as systemd 252 says) and inactive."""
    commands: dict[str, tuple[int, str, str]] = {}
    for unit in UNITS:
        commands[f"systemctl is-enabled {unit}"] = (1, "", NO_UNIT.format(unit))
        commands[f"systemctl is-active {unit}"] = (3, "inactive\n", "")
    for unit, (en, act) in states.items():
        commands[f"systemctl is-enabled {unit}"] = (0, en + "\n", "")
        commands[f"systemctl is-active {unit}"] = (0, act + "\n", "")
    commands.update(sync if sync is not None else {TD: (0, "yes\n", "")})
    which = {"systemctl": "/usr/bin/systemctl", "timedatectl": "/usr/bin/timedatectl"}
    which.update(kw.pop("which", {}))
    return recorded_host(files, commands=commands, which=which, **kw)


def run(host: SnapshotHost, **time: Any) -> Outcome:
    return TimeSync().run(time_ctx(host, **time))


BOTH = {
    NTP_UNIT: "[Service]\n",
    CHRONY_UNIT: "[Service]\n",
    "/etc/ntp.conf": "driftfile /var/lib/ntp/drift\nserver 192.168.3.58 iburst\n",
    "/etc/chrony.conf": "server 192.168.3.59 iburst\n",
}


def test_everything_in_order_passes() -> None:
    host = live_host(BOTH, {"ntpd.service": ("enabled", "active")})
    out = run(host)
    assert (out.status, out.message) == (Status.PASS, "ntpd: time source 192.168.3.58")
    assert rows(out.findings) == [
        ("pass", "ntpd configured", "time source 192.168.3.58", "/etc/ntp.conf:2"),
        ("pass", "ntpd enabled", "systemctl is-enabled: enabled", None),
        ("pass", "ntpd running", "systemctl is-active: active", None),
        ("pass", "clock synchronised", "timedatectl: NTPSynchronized=yes", None),
    ]


def test_the_running_daemon_is_judged_over_the_enabled_one() -> None:
    states = {"ntpd.service": ("enabled", "inactive"), "chronyd.service": ("disabled", "active")}
    out = run(live_host(BOTH, states, {TD: (0, "no\n", "")}))
    assert (out.status, out.message) == (
        Status.WARN,
        "2 of 4 warn: chronyd enabled, clock synchronised",
    )
    assert rows(out.findings) == [
        ("pass", "chronyd configured", "time source 192.168.3.59", "/etc/chrony.conf:1"),
        ("warn", "chronyd enabled", "not enabled at boot (systemctl is-enabled: disabled)", None),
        ("pass", "chronyd running", "systemctl is-active: active", None),
        ("warn", "clock synchronised", "not synchronised (timedatectl: NTPSynchronized=no)", None),
    ]


def test_a_running_daemon_without_a_source_is_not_judged() -> None:
    files = {**BOTH, "/etc/chrony.conf": "# server 192.168.3.59 iburst\n"}
    # chronyd runs unconfigured; ntpd is configured: the enabled one wins, else the configured one
    for ntpd_enabled in ("enabled", "disabled"):
        states = {
            "ntpd.service": (ntpd_enabled, "inactive"),
            "chronyd.service": ("enabled", "active"),
        }
        out = run(live_host(files, states))
        assert out.status is Status.FAIL
        assert rows(out.findings)[0] == (
            "pass",
            "ntpd configured",
            "time source 192.168.3.58",
            "/etc/ntp.conf:2",
        )
        assert rows(out.findings)[2] == (
            "fail",
            "ntpd running",
            "not running (systemctl is-active: inactive)",
            None,
        )
        assert out.message == "ntpd running: not running (systemctl is-active: inactive)"
        assert out.findings[1].status is (Status.PASS if ntpd_enabled == "enabled" else Status.WARN)


def test_enabled_daemon_is_judged_over_the_first_configured() -> None:
    states = {"ntpd.service": ("disabled", "inactive"), "chronyd.service": ("enabled", "inactive")}
    out = run(live_host(BOTH, states))
    assert (out.status, out.message) == (
        Status.FAIL,
        "chronyd running: not running (systemctl is-active: inactive)",
    )
    assert [f.subject for f in out.findings] == [
        "chronyd configured",
        "chronyd enabled",
        "chronyd running",
        "clock synchronised",
    ]


def test_no_daemon_configured_judges_the_first_installed() -> None:
    files = {NTP_UNIT: "[Service]\n", CHRONY_UNIT: "[Service]\n", "/etc/chrony.conf": "\n"}
    states = {"chronyd.service": ("enabled", "active")}
    out = run(live_host(files, states))
    assert rows(out.findings)[:2] == [
        ("fail", "ntpd configured", "no server configured (no configuration file)", None),
        (
            "warn",
            "ntpd enabled",
            "not enabled at boot (no link to ntpd.service under /etc/systemd/system/*.wants "
            "or rc?.d)",
            None,
        ),
    ]


def test_in_a_container_the_processes_and_chronyc_answer() -> None:
    # Debian 12 in a container: systemctl reads unit files but cannot tell what runs
    host = live_host(
        {
            "/lib/systemd/system/chrony.service": "[Service]\n",
            "/etc/chrony/chrony.conf": "pool 10.0.0.1\n",
        },
        {"chrony.service": ("enabled", "")},
        {TD: (1, "", NOT_BOOTED), "chronyc tracking": (0, TRACKING_LOCAL, "")},
        which={"chronyc": "/usr/bin/chronyc"},
        booted=False,
        processes=[(1, "sh", "/bin/sh"), (812, "chronyd", "/usr/sbin/chronyd")],
    )
    out = run(host)
    assert (out.status, out.message) == (Status.PASS, "chronyd: time source 10.0.0.1")
    assert rows(out.findings) == [
        ("pass", "chronyd configured", "time source 10.0.0.1", "/etc/chrony/chrony.conf:1"),
        ("pass", "chronyd enabled", "systemctl is-enabled: enabled", None),
        ("pass", "chronyd running", "process chronyd running (pid 812)", None),
        ("pass", "clock synchronised", "chronyc tracking: Leap status Normal", None),
    ]


def test_synchronisation_unknown_warns() -> None:
    host = live_host(BOTH, {"ntpd.service": ("enabled", "active")}, {}, which={"timedatectl": ""})
    out = run(host)
    assert (out.status, out.message) == (
        Status.WARN,
        "clock synchronised: could not tell (no tool to ask (timedatectl, chronyc, ntpstat, ntpq))",
    )


def test_second_unit_name_enables_ntpd_and_the_first_wins_when_enabled() -> None:
    # Debian 12's ntpsec: ntpsec.service, and ntp.service
    files = {
        "/lib/systemd/system/ntp.service": "[Service]\n",
        "/lib/systemd/system/ntpsec.service": "[Service]\n",
        "/etc/ntpsec/ntp.conf": "server 192.168.3.58 iburst\n",
    }
    states = {"ntp.service": ("disabled", "active"), "ntpsec.service": ("enabled", "active")}
    out = run(live_host(files, states))
    assert rows(out.findings)[1:3] == [
        ("pass", "ntpd enabled", "systemctl is-enabled: enabled", None),
        ("pass", "ntpd running", "systemctl is-active: active", None),
    ]
    states = {"ntp.service": ("enabled", "active"), "ntpsec.service": ("disabled", "inactive")}
    out = run(live_host(files, states))
    assert rows(out.findings)[1] == ("pass", "ntpd enabled", "systemctl is-enabled: enabled", None)


def test_timesyncd_conf_alone_does_not_make_timesyncd_installed() -> None:
    files = {"/etc/systemd/timesyncd.conf": "[Time]\nNTP=192.168.3.58\n"}
    out = run(live_host(files, {}), services=["systemd-timesyncd"])
    assert (out.status, out.message) == (
        Status.FAIL,
        "time service: none of systemd-timesyncd is installed",
    )
    # its binary does
    host = live_host({**files, "/lib/systemd/systemd-timesyncd": ""}, {})
    out = run(host, services=["systemd-timesyncd", "nosuchd"])
    assert rows(out.findings)[0] == (
        "pass",
        "systemd-timesyncd configured",
        "time source 192.168.3.58",
        "/etc/systemd/timesyncd.conf:2",
    )


# --- plan_time ------------------------------------------------------------------

ID = ("time.sync",)
CENTOS_NTP_CONF = """\
driftfile /var/lib/ntp/drift
restrict default nomodify notrap nopeer noquery
server 0.centos.pool.ntp.org iburst
server 1.centos.pool.ntp.org iburst
#server 3.centos.pool.ntp.org iburst
"""
UNREACHABLE = "  # harborkit: unreachable from an air-gapped site"


def plan(host: SnapshotHost, outcome: Outcome | None = None, **time: Any) -> list[Any]:
    c = time_ctx(host, **time)
    return list(TimeSync().plan(c, outcome if outcome is not None else TimeSync().run(c)))


def outcome(*bad: str, name: str = "ntpd") -> Outcome:
    """An outcome of time.sync where the named findings failed."""
    subjects = [f"{name} configured", f"{name} enabled", f"{name} running", "clock synchronised"]
    return Outcome.from_findings(
        [Finding(Status.FAIL if s in bad else Status.PASS, s, "x") for s in subjects]
    )


def restart(unit: str, name: str) -> Command:
    return Command(ID, ("systemctl", "restart", unit), f"{name} reads its configuration at start")


def enable(unit: str, name: str) -> Command:
    return Command(ID, ("systemctl", "enable", unit), f"start {name} at boot")


def test_plan_without_a_time_daemon_asks_to_install_one() -> None:
    assert plan(live_host({}, {})) == [
        ManualStep(
            ID,
            "install one of ntpd, chronyd, systemd-timesyncd (chrony or ntp from the site's "
            "package mirror), then run harborkit fix again",
        )
    ]
    assert plan(live_host({}, {}), services=["chronyd"]) == [
        ManualStep(
            ID,
            "install one of chronyd (chrony or ntp from the site's package mirror), then run "
            "harborkit fix again",
        )
    ]


@pytest.mark.parametrize(
    ("files", "what"),
    [
        (
            {NTP_UNIT: "", "/etc/ntp.conf": CENTOS_NTP_CONF},
            "ntpd is the time service here: add 'server <site NTP server> iburst' to /etc/ntp.conf",
        ),
        (
            {CHRONY_UNIT: "", "/etc/chrony.conf": "pool 2.rhel.pool.ntp.org iburst\n"},
            "chronyd is the time service here: add 'server <site NTP server> iburst' to "
            "/etc/chrony.conf",
        ),
        (
            {"/lib/systemd/system/systemd-timesyncd.service": ""},
            "systemd-timesyncd is the time service here: set NTP=<site NTP server> in "
            "/etc/systemd/timesyncd.conf.d/90-harbor.conf",
        ),
    ],
)
def test_plan_without_a_named_server_is_a_manual_step(files: dict[str, str], what: str) -> None:
    states = {u: ("enabled", "active") for u in UNITS}
    assert plan(live_host(files, states)) == [
        ManualStep(
            ID,
            f"{what}; name the server in the profile (time.servers, or time.master for the "
            "guide's roles) and harborkit fix writes it",
        )
    ]


TIMESYNCD = {"/lib/systemd/system/systemd-timesyncd.service": "[Service]\n"}


def test_plan_timesyncd_cannot_be_the_master() -> None:
    host = live_host(TIMESYNCD, {"systemd-timesyncd.service": ("enabled", "active")})
    assert plan(host, master="node1") == [
        ManualStep(
            ID,
            "systemd-timesyncd cannot serve time to the other nodes: install chrony or ntp on "
            "the time master",
        )
    ]


def test_plan_timesyncd_dropin_enable_and_restart() -> None:
    host = live_host(TIMESYNCD, {"systemd-timesyncd.service": ("disabled", "inactive")})
    body = (
        "# Time servers for Harbor (written by harborkit fix)\n[Time]\n"
        "NTP=192.168.3.58 192.168.3.59\n"
    )
    assert plan(host, servers=["192.168.3.58", "192.168.3.59"]) == [
        FileChange(
            ID,
            "/etc/systemd/timesyncd.conf.d/90-harbor.conf",
            body.encode(),
            None,
            "the profile's time.servers",
            owned=True,
        ),
        enable("systemd-timesyncd", "systemd-timesyncd"),
        restart("systemd-timesyncd", "systemd-timesyncd"),
    ]
    # a drop-in that already holds them is not rewritten; only the restart is left
    host = live_host(
        {**TIMESYNCD, "/etc/systemd/timesyncd.conf.d/90-harbor.conf": body},
        {"systemd-timesyncd.service": ("enabled", "inactive")},
    )
    out = outcome("systemd-timesyncd configured", name="systemd-timesyncd")
    assert plan(host, out, servers=["192.168.3.58", "192.168.3.59"]) == []


def test_plan_ntp_client_comments_out_public_servers_and_adds_the_master() -> None:
    files = {NTP_UNIT: "", "/etc/ntp.conf": CENTOS_NTP_CONF}
    host = live_host(files, {"ntpd.service": ("enabled", "active")})
    new = (
        "driftfile /var/lib/ntp/drift\n"
        "restrict default nomodify notrap nopeer noquery\n"
        f"# server 0.centos.pool.ntp.org iburst{UNREACHABLE}\n"
        f"# server 1.centos.pool.ntp.org iburst{UNREACHABLE}\n"
        "#server 3.centos.pool.ntp.org iburst\n"
        "server server58 iburst\n"
    )
    assert plan(host, master="server58") == [
        FileChange(
            ID, "/etc/ntp.conf", new.encode(), CENTOS_NTP_CONF.encode(), "the time master server58"
        ),
        restart("ntpd", "ntpd"),
    ]


def test_plan_ntp_master_serves_its_local_clock() -> None:
    files = {NTP_UNIT: "", "/etc/ntp.conf": CENTOS_NTP_CONF}
    host = live_host(files, {"ntpd.service": ("disabled", "inactive")})
    new = (
        "driftfile /var/lib/ntp/drift\n"
        "restrict default nomodify notrap nopeer noquery\n"
        f"# server 0.centos.pool.ntp.org iburst{UNREACHABLE}\n"
        f"# server 1.centos.pool.ntp.org iburst{UNREACHABLE}\n"
        "#server 3.centos.pool.ntp.org iburst\n"
        "server 127.127.1.0\n"
        "fudge 127.127.1.0 stratum 10\n"
    )
    why = "this host is the time master (node1)"
    assert plan(host, master="node1") == [
        FileChange(ID, "/etc/ntp.conf", new.encode(), CENTOS_NTP_CONF.encode(), why),
        enable("ntpd", "ntpd"),
        restart("ntpd", "ntpd"),
    ]
    # a master that already serves its clock gets no second local clock
    text = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n"
    host = live_host({NTP_UNIT: "", "/etc/ntp.conf": text}, {"ntpd.service": ("enabled", "active")})
    assert plan(host, outcome("ntpd configured"), master="node1") == []


def test_plan_chrony_master_and_sources_of_other_files() -> None:
    conf = "pool 2.rhel.pool.ntp.org iburst\nconfdir /etc/chrony.d\n"
    files = {
        CHRONY_UNIT: "",
        "/etc/chrony.conf": conf,
        "/etc/chrony.d/site.conf": "server time.google.com\n",
    }
    host = live_host(files, {"chronyd.service": ("enabled", "active")})
    new = (
        f"# pool 2.rhel.pool.ntp.org iburst{UNREACHABLE}\n"
        "confdir /etc/chrony.d\n"
        "local stratum 10\n"
        "allow\n"
    )
    assert plan(host, master="node1") == [
        FileChange(
            ID,
            "/etc/chrony.conf",
            new.encode(),
            conf.encode(),
            "this host is the time master (node1)",
        ),
        restart("chronyd", "chronyd"),
    ]


def test_plan_writes_the_default_configuration_file_when_there_is_none() -> None:
    for unit, path in ((NTP_UNIT, "/etc/ntp.conf"), (CHRONY_UNIT, "/etc/chrony.conf")):
        name = unit.rsplit("/", 1)[1].removesuffix(".service")
        host = live_host({unit: ""}, {f"{name}.service": ("enabled", "active")})
        assert plan(host, servers=["10.0.0.1"]) == [
            FileChange(
                ID,
                path,
                b"server 10.0.0.1 iburst\n",
                None,
                "the profile's time.servers",
                owned=True,
            ),
            restart(name, name),
        ]


def test_plan_from_a_given_outcome() -> None:
    files = {NTP_UNIT: "", CHRONY_UNIT: "", "/etc/ntp.conf": "server 10.0.0.1 iburst\n"}
    host = live_host(files, {"ntpd.service": ("enabled", "active")})
    # only "running" failed: a restart
    assert plan(host, outcome("ntpd running")) == [restart("ntpd", "ntpd")]
    # only "enabled": enable, then restart
    assert plan(host, outcome("ntpd enabled")) == [enable("ntpd", "ntpd"), restart("ntpd", "ntpd")]
    # nothing failed, or only the synchronisation: nothing to change
    assert plan(host, outcome()) == []
    assert plan(host, outcome("clock synchronised")) == []
    # a configuration that already names the server is not edited, no server added twice
    assert plan(host, outcome("ntpd configured"), servers=["10.0.0.1"]) == []
    # an outcome naming a daemon not installed, or none: the first installed is planned for
    assert plan(host, outcome("chronyd running", name="chronyd")) == [restart("chronyd", "chronyd")]
    assert plan(host, outcome("x running", name="x")) == []
    only_ntpd = live_host({NTP_UNIT: ""}, {"ntpd.service": ("enabled", "active")})
    assert plan(only_ntpd, outcome("chronyd running", name="chronyd")) == []
    assert plan(only_ntpd, Outcome(Status.FAIL, "x"), servers=["10.0.0.1"]) == []
    warn = Outcome(Status.WARN, "x", (Finding(Status.WARN, "ntpd enabled", "x"),))
    assert plan(only_ntpd, warn) == [enable("ntpd", "ntpd"), restart("ntpd", "ntpd")]
    skip = Outcome(Status.SKIP, "x", (Finding(Status.SKIP, "ntpd running", "x"),))
    assert plan(only_ntpd, skip) == []
    assert plan_time(time_ctx(only_ntpd), "other.id", outcome("ntpd running")) == [
        Command(
            ("other.id",), ("systemctl", "restart", "ntpd"), "ntpd reads its configuration at start"
        )
    ]


# --- configuration readers, on recorded files ---------------------------------------

#: /etc/chrony/chrony.conf as chrony 4.3 installs it on Debian 12
DEBIAN12_CHRONY_CONF = (
    "# Welcome to the chrony configuration file. See chrony.conf(5) for more\n"
    "# information about usable directives.\n"
    "\n"
    "# Include configuration files found in /etc/chrony/conf.d.\n"
    "confdir /etc/chrony/conf.d\n"
    "\n"
    "# Use Debian vendor zone.\n"
    "pool 2.debian.pool.ntp.org iburst\n"
    "\n"
    "# Use time sources from DHCP.\n"
    "sourcedir /run/chrony-dhcp\n"
    "\n"
    "# Use NTP sources found in /etc/chrony/sources.d.\n"
    "sourcedir /etc/chrony/sources.d\n"
    "\n"
    "# This directive specify the location of the file containing ID/key pairs for\n"
    "# NTP authentication.\n"
    "keyfile /etc/chrony/chrony.keys\n"
    "\n"
    "# This directive specify the file into which chronyd will store the rate\n"
    "# information.\n"
    "driftfile /var/lib/chrony/chrony.drift\n"
    "\n"
    "# Save NTS keys and cookies.\n"
    "ntsdumpdir /var/lib/chrony\n"
    "\n"
    "# Uncomment the following line to turn logging on.\n"
    "#log tracking measurements statistics\n"
    "\n"
    "# Log files location.\n"
    "logdir /var/log/chrony\n"
    "\n"
    "# Stop bad estimates upsetting machine clock.\n"
    "maxupdateskew 100.0\n"
    "\n"
    "# This directive enables kernel synchronisation (every 11 minutes) of the\n"
    "# real-time clock. Note that it can't be used along with the 'rtcfile' directive.\n"
    "rtcsync\n"
    "\n"
    "# Step the system clock instead of slewing it if the adjustment is larger than\n"
    "# one second, but only in the first three clock updates.\n"
    "makestep 1 3\n"
    "\n"
    "# Get TAI-UTC offset and leap seconds from the system tz database.\n"
    "# This directive must be commented out when using time sources serving\n"
    "# leap-smeared time.\n"
    "leapsectz right/UTC\n"
)


def test_chrony_debian12_configuration_and_its_folders() -> None:
    host = recorded_host(
        {
            "/etc/chrony/chrony.conf": DEBIAN12_CHRONY_CONF,
            "/etc/chrony/conf.d/site.conf": "server 10.0.0.1 iburst\n",
            "/run/chrony-dhcp/eth0.sources": "server 10.0.0.2 iburst\n",
            "/etc/chrony/sources.d/site.sources": "# the site\nserver 10.0.0.3\n",
            "/etc/chrony/sources.d/old.sources.bak": "server 10.9.9.9\n",
        }
    )
    cfg = timesync.chrony_config(time_ctx(host))
    assert cfg.files == ["/etc/chrony/chrony.conf"]
    assert cfg.sources == [
        ("2.debian.pool.ntp.org", "/etc/chrony/chrony.conf:8"),
        ("10.0.0.1", "/etc/chrony/conf.d/site.conf:1"),
        ("10.0.0.2", "/run/chrony-dhcp/eth0.sources:1"),
        ("10.0.0.3", "/etc/chrony/sources.d/site.sources:2"),
    ]
    assert cfg.pools == {"2.debian.pool.ntp.org"}


def test_lines_drop_comments_and_blank_lines() -> None:
    text = "server 10.0.0.1 iburst # the site # server\n#server x\n\n  \t\ndriftfile /x#y\n"
    c = time_ctx(recorded_host({"/etc/ntp.conf": text}))
    assert timesync._lines(c, "/etc/ntp.conf") == [
        (1, ["server", "10.0.0.1", "iburst"]),
        (5, ["driftfile", "/x"]),
    ]
    assert timesync._lines(c, "/etc/ntpsec/ntp.conf") is None


def test_ntp_fudge_lines_without_a_stratum_keep_it() -> None:
    text = (
        "fudge\n"
        "fudge 127.127.1.0 stratum 10\n"
        "fudge 127.127.1.0 refid LOCL\n"
        "server 127.127.1.0\n"
        "server 127.127.1.1\n"
        "fudge 127.127.1.1 stratum 8\n"
        "fudge 127.127.1.1 stratum 9 refid X\n"
    )
    cfg = timesync.ntp_config(time_ctx(recorded_host({"/etc/ntp.conf": text})))
    assert cfg.sources == [
        ("local clock 127.127.1.0, fudge stratum 10", "/etc/ntp.conf:4"),
        ("local clock 127.127.1.1, fudge stratum 9", "/etc/ntp.conf:5"),
    ]


TIMESYNCD_DIR = "/etc/systemd/timesyncd.conf.d"


def test_timesyncd_dropins_without_the_main_file() -> None:
    c = time_ctx(recorded_host({f"{TIMESYNCD_DIR}/10-a.conf": "[Time]\nPollIntervalMaxSec=2048\n"}))
    cfg = timesync.timesyncd_config(c)
    assert (cfg.files, cfg.sources) == (
        [f"{TIMESYNCD_DIR}/10-a.conf"],
        [(timesync.BUILTIN_FALLBACK, f"{TIMESYNCD_DIR}/10-a.conf")],
    )
    c = time_ctx(
        recorded_host(
            {
                f"{TIMESYNCD_DIR}/10-a.conf": "[Time]\nPollIntervalMaxSec=2048\n",
                f"{TIMESYNCD_DIR}/20-b.conf": "[Time]\nNTP=a.lan b=c.lan\n",
            }
        )
    )
    # systemd splits KEY=VALUE at the first "="
    assert timesync.timesyncd_config(c).sources == [
        ("a.lan", f"{TIMESYNCD_DIR}/20-b.conf:2"),
        ("b=c.lan", f"{TIMESYNCD_DIR}/20-b.conf:2"),
    ]


def test_timesyncd_emptied_in_two_files_names_both() -> None:
    host = live_host(
        {
            "/lib/systemd/system/systemd-timesyncd.service": "",
            "/etc/systemd/timesyncd.conf": "[Time]\nNTP=\nFallbackNTP=\n",
            f"{TIMESYNCD_DIR}/50-site.conf": "[Time]\nNTP=\n",
        },
        {"systemd-timesyncd.service": ("enabled", "active")},
    )
    assert rows(run(host).findings)[0] == (
        "fail",
        "systemd-timesyncd configured",
        f"no server configured (/etc/systemd/timesyncd.conf, {TIMESYNCD_DIR}/50-site.conf)",
        "/etc/systemd/timesyncd.conf",
    )


def test_profile_defaults_every_daemon_and_an_air_gap() -> None:
    c = CheckContext(host=recorded_host(), profile={"time": {}})
    assert timesync.expectation(c) == timesync.Expectation("any", (), True, "")
    out = TimeSync().run(c)
    assert out.message == "time service: none of ntpd, chronyd, systemd-timesyncd is installed"
    assert TimeSync().plan(c, out) == [
        ManualStep(
            ID,
            "install one of ntpd, chronyd, systemd-timesyncd (chrony or ntp from the site's "
            "package mirror), then run harborkit fix again",
        )
    ]


def test_plan_rewrites_a_dropin_of_its_own() -> None:
    old = "# Time servers for Harbor (written by harborkit fix)\n[Time]\nNTP=10.9.9.9\n"
    host = live_host(
        {**TIMESYNCD, f"{TIMESYNCD_DIR}/90-harbor.conf": old},
        {"systemd-timesyncd.service": ("enabled", "active")},
    )
    new = old.replace("10.9.9.9", "192.168.3.58")
    assert plan(host, servers=["192.168.3.58"]) == [
        FileChange(
            ID,
            f"{TIMESYNCD_DIR}/90-harbor.conf",
            new.encode(),
            old.encode(),
            "the profile's time.servers",
            owned=True,
        ),
        restart("systemd-timesyncd", "systemd-timesyncd"),
    ]


@pytest.mark.parametrize(
    ("unit", "path", "text"),
    [
        (
            "/lib/systemd/system/ntpsec.service",
            "/etc/ntpsec/ntp.conf",
            "pool 0.debian.pool.ntp.org iburst\n",
        ),
        ("/lib/systemd/system/chrony.service", "/etc/chrony/chrony.conf", DEBIAN12_CHRONY_CONF),
    ],
)
def test_plan_edits_the_configuration_file_found(unit: str, path: str, text: str) -> None:
    name = "ntpd" if "ntp" in path else "chronyd"
    service = unit.rsplit("/", 1)[1]
    host = live_host({unit: "", path: text}, {service: ("enabled", "active")})
    changes = plan(host, servers=["10.0.0.1"])
    assert [type(c) for c in changes] == [FileChange, Command]
    assert changes[0].path == path
    assert changes[0].old == text.encode()
    assert changes[0].new.decode().splitlines()[-1] == "server 10.0.0.1 iburst"
    assert f"# pool {'0' if name == 'ntpd' else '2'}.debian.pool.ntp.org iburst{UNREACHABLE}" in (
        changes[0].new.decode().splitlines()
    )
    assert changes[1] == restart(service.removesuffix(".service"), name)


def test_plan_reads_a_configuration_that_is_not_utf8(tmp_path: Path) -> None:
    # a Latin-1 comment in ntp.conf: the file is still read and its server lines edited
    write(
        tmp_path,
        {"usr/lib/systemd/system/ntpd.service": "", "etc/hostname": "node1\n"},
    )
    (tmp_path / "etc/ntp.conf").write_bytes(b"# Zeitserver f\xfcr Harbor\nserver 0.pool.ntp.org\n")
    c = CheckContext(
        host=SysrootHost(tmp_path), profile=time_ctx(recorded_host(), servers=["10.0.0.1"]).profile
    )
    change = TimeSync().plan(c, TimeSync().run(c))[0]
    assert isinstance(change, FileChange)
    assert change.new.splitlines()[1:] == [
        f"# server 0.pool.ntp.org{UNREACHABLE}".encode(),
        b"server 10.0.0.1 iburst",
    ]


def test_chrony_confdir_after_a_sourcedir_adds_to_it() -> None:
    conf = "sourcedir /etc/chrony/sources.d\nconfdir /etc/chrony/conf.d\n"
    host = recorded_host(
        {
            "/etc/chrony.conf": conf,
            "/etc/chrony/sources.d/a.sources": "server 10.0.0.3\n",
            "/etc/chrony/conf.d/b.conf": "server 10.0.0.1\n",
        }
    )
    assert timesync.chrony_config(time_ctx(host)).sources == [
        ("10.0.0.3", "/etc/chrony/sources.d/a.sources:1"),
        ("10.0.0.1", "/etc/chrony/conf.d/b.conf:1"),
    ]
