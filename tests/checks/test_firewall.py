"""firewall.firewalld, firewall.iptables and firewall.ufw on fixtures, small sysroots and live.

firewall.* on a running system, answered from recorded command output through
the snapshot backend (what a carried snapshot or an SSH host gives the checks):
firewall-cmd --state without systemd as init, systemctl where systemd runs,
``ufw status``, and the fixes planned from those verdicts.

The command output is real: firewalld 1.3.3 prints ``running`` on stdout (exit
0) and ``not running`` on stderr (exit 252, NOT_RUNNING) for ``--state``
(firewall-cmd and firewall/command.py ``print_and_exit``); ufw 0.36.2 prints
``Status: inactive`` or ``Status: active`` followed by its rules table
(ufw/backend_iptables.py ``get_status``; the rows are the ufw(8) example), and
``ERROR: You need to be root to run this script`` (exit 1) when not root."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from harborkit.checks.firewall import FirewalldOff, IptablesOff, UfwOff
from harborkit.collect.snapshot import CommandOutput, Snapshot
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.change import Command, FileChange
from harborkit.model.check import Finding, Outcome, Status
from tests.support.checks import ctx
from tests.support.sysroot import rows

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


PROFILE = load_profile().data


SYSROOT_ACTIVE = "whether it runs needs a running system; auditing a sysroot"


def test_centos_firewalld_installed_but_disabled() -> None:
    out = run_check(FirewalldOff, ctx(SYSROOTS / "guide-as-written"))
    # a sysroot cannot show whether it runs: the summary must not claim "stopped"
    assert (out.status, out.message) == (
        Status.PASS,
        f"firewalld is disabled; stopped not judged ({SYSROOT_ACTIVE})",
    )
    assert rows(out.findings) == [
        ("skip", "firewalld stopped", SYSROOT_ACTIVE, None),
        (
            "pass",
            "firewalld disabled",
            "does not start at boot (no link to firewalld.service under "
            "/etc/systemd/system/*.wants or rc?.d)",
            None,
        ),
    ]


def test_iptables_not_installed_passes() -> None:
    out = run_check(IptablesOff, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.PASS,
        "the iptables service is not installed (no iptables.service unit or init script)",
    )
    assert rows(out.findings) == [
        ("pass", "iptables", "not installed (no iptables.service unit or init script)", None)
    ]


def test_iptables_command_without_the_service_says_what_is_judged(tmp_path: Path) -> None:
    binary = tmp_path / "usr/sbin/iptables"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    out = run_check(IptablesOff, ctx(tmp_path))
    detail = (
        "no iptables.service unit or init script; the iptables command (/usr/sbin/iptables) "
        "is not a service, not judged"
    )
    assert (out.status, out.message) == (
        Status.PASS,
        f"the iptables service is not installed ({detail})",
    )
    assert rows(out.findings) == [("pass", "iptables", f"not installed ({detail})", None)]


def test_enabled_by_wants_link_and_by_sysv_link(tmp_path: Path) -> None:
    unit = tmp_path / "usr/lib/systemd/system/firewalld.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/sbin/firewalld\n")
    wants = tmp_path / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    # an absolute link, dangling outside the real root, as systemctl enable makes it
    os.symlink("/usr/lib/systemd/system/firewalld.service", wants / "firewalld.service")
    init = tmp_path / "etc/rc.d/init.d/iptables"
    init.parent.mkdir(parents=True)
    init.write_text("#!/bin/sh\n")
    rc3 = tmp_path / "etc/rc.d/rc3.d"
    rc3.mkdir(parents=True)
    os.symlink("../init.d/iptables", rc3 / "S08iptables")

    out = run_check(FirewalldOff, ctx(tmp_path))
    link = "/etc/systemd/system/multi-user.target.wants/firewalld.service"
    assert (out.status, out.message) == (
        Status.FAIL,
        f"firewalld disabled: starts at boot (enabled: {link})",
    )
    assert rows(out.findings)[1] == (
        "fail",
        "firewalld disabled",
        f"starts at boot (enabled: {link})",
        link,
    )
    out = run_check(IptablesOff, ctx(tmp_path))
    assert rows(out.findings)[1] == (
        "fail",
        "iptables disabled",
        "starts at boot (enabled (SysV): /etc/rc.d/rc3.d/S08iptables)",
        "/etc/rc.d/rc3.d/S08iptables",
    )


def test_ufw_enabled_on_debian() -> None:
    out = run_check(UfwOff, ctx(SYSROOTS / "debian12"))
    assert (out.status, out.message) == (
        Status.FAIL,
        "ufw disabled: ENABLED=yes: ufw loads its rules at boot",
    )
    assert rows(out.findings) == [
        ("skip", "ufw stopped", SYSROOT_ACTIVE, None),
        ("fail", "ufw disabled", "ENABLED=yes: ufw loads its rules at boot", "/etc/ufw/ufw.conf:6"),
    ]


def test_ufw_skips_off_debian_and_rhel_services_absent_on_debian() -> None:
    out = run_check(UfwOff, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.SKIP,
        "ufw is the Debian/Ubuntu firewall; this host is CentOS Linux 7 (Core)",
    )
    for check in (FirewalldOff, IptablesOff):
        out = run_check(check, ctx(SYSROOTS / "debian12"))
        assert out.status is Status.PASS
        assert " is not installed (no " in out.message


def test_ufw_disabled_in_conf(tmp_path: Path) -> None:
    (tmp_path / "etc/ufw").mkdir(parents=True)
    (tmp_path / "etc/ufw/ufw.conf").write_text("# ufw\nENABLED=no\nLOGLEVEL=low\n")
    (tmp_path / "etc/os-release").write_text('ID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu"\n')
    out = run_check(UfwOff, ctx(tmp_path))
    assert out.status is Status.PASS
    assert rows(out.findings)[1] == (
        "pass",
        "ufw disabled",
        "ENABLED=no: ufw loads no rules at boot",
        "/etc/ufw/ufw.conf:2",
    )


DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'


CENTOS = 'NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\nPRETTY_NAME="CentOS Linux 7"\n'


#: /etc/ufw/ufw.conf as the ufw 0.36.2 package ships it (usr/share/ufw/ufw.conf),
#: after ``ufw enable`` set line 6 to yes
UFW_CONF = """\
# /etc/ufw/ufw.conf
#

# Set to yes to start on boot. If setting this remotely, be sure to add a rule
# to allow your remote connection before starting ufw. Eg: 'ufw allow 22/tcp'
ENABLED=yes

# Please use the 'ufw' command to set the loglevel. Eg: 'ufw logging medium'.
# See 'man ufw' for details.
LOGLEVEL=low
"""


UFW_ACTIVE = (
    "Status: active\n"
    "\n"
    "To                         Action      From\n"
    "--                         ------      ----\n"
    "Anywhere on eth0           ALLOW       192.168.0.0/16\n"
    "Anywhere                   LIMIT       Anywhere                   # SSH port\n"
)


NOT_ROOT = "ERROR: You need to be root to run this script\n"


#: systemd's unit folders, where a snapshot recorded them
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)


def snapshot_host(
    *,
    os_release: str = CENTOS,
    units: dict[str, list[str]] | None = None,
    systemd_init: bool = False,
    which: dict[str, str] | None = None,
    commands: dict[str, tuple[int, str, str]] | None = None,
    processes: list[tuple[int, str]] | None = None,
    files: dict[str, str] | None = None,
) -> SnapshotHost:
    """A recorded running host: ``units`` lists unit folders (the others are
    absent), ``systemd_init`` whether /run/systemd/system exists."""
    snap = Snapshot(source="fw01")
    snap.files = {"/etc/os-release": os_release.encode()}
    snap.files.update({p: t.encode() for p, t in (files or {}).items()})
    snap.kinds = {"/etc/rc.d": "n", "/etc/init.d": "n", "/usr/local/lib/systemd": "n"}
    for n in (2, 3, 4, 5):
        snap.kinds[f"/etc/rc{n}.d"] = "n"
    listings = {"/etc/systemd/system": [], **(units or {})}
    if systemd_init:
        listings.setdefault("/run/systemd/system", [])
    for d in UNIT_DIRS:
        if d in listings:
            snap.listings[d] = listings[d]
        elif d != "/usr/local/lib/systemd/system":
            snap.kinds[d] = "n"
    for d, entries in listings.items():
        snap.listings[d] = entries
    snap.which = {"firewalld": "", "iptables": "", "ufw": "", **(which or {})}
    snap.commands = {
        k: CommandOutput(rc, out.encode(), err.encode())
        for k, (rc, out, err) in (commands or {}).items()
    }
    snap.processes = processes if processes is not None else [(1, "sh")]
    snap.facts = {f"exe:{pid}": f"/usr/bin/{comm}" for pid, comm in snap.processes}
    return SnapshotHost(snap)


def full(findings: tuple[Finding, ...] | list[Finding]) -> list[tuple[object, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location) for f in findings
    ]


def cmd(*argv: str) -> str:
    return shlex.join(argv)


FIREWALLD_UNIT = {"/usr/lib/systemd/system": ["firewalld.service"]}


WANTS = "/etc/systemd/system/multi-user.target.wants"


ENABLED_FIREWALLD = {
    **FIREWALLD_UNIT,
    "/etc/systemd/system": ["multi-user.target.wants"],
    WANTS: ["firewalld.service"],
}


@pytest.mark.parametrize(
    ("state", "units", "status", "message", "stopped", "disabled"),
    [
        pytest.param(
            (0, "running\n", ""),
            ENABLED_FIREWALLD,
            Status.FAIL,
            "2 of 2 fail: firewalld stopped, firewalld disabled",
            ("fail", "firewalld stopped", "running (firewall-cmd --state: running)", "stopped"),
            (
                "fail",
                "firewalld disabled",
                f"starts at boot (enabled: {WANTS}/firewalld.service)",
                "disabled",
                None,
                f"{WANTS}/firewalld.service",
            ),
            id="running-and-enabled",
        ),
        pytest.param(
            (252, "", "not running\n"),
            FIREWALLD_UNIT,
            Status.PASS,
            "firewalld is stopped and disabled",
            ("pass", "firewalld stopped", "not running (firewall-cmd --state: 252)", None),
            (
                "pass",
                "firewalld disabled",
                "does not start at boot (no link to firewalld.service under "
                "/etc/systemd/system/*.wants or rc?.d)",
                None,
                None,
                None,
            ),
            id="not-running-says-so-on-stderr-with-252",
        ),
        pytest.param(
            (0, "running\n", ""),
            FIREWALLD_UNIT,
            Status.FAIL,
            "firewalld stopped: running (firewall-cmd --state: running)",
            ("fail", "firewalld stopped", "running (firewall-cmd --state: running)", "stopped"),
            (
                "pass",
                "firewalld disabled",
                "does not start at boot (no link to firewalld.service under "
                "/etc/systemd/system/*.wants or rc?.d)",
                None,
                None,
                None,
            ),
            id="running-though-not-enabled",
        ),
    ],
)
def test_firewalld_state_from_firewall_cmd_without_systemd(
    state: tuple[int, str, str],
    units: dict[str, list[str]],
    status: Status,
    message: str,
    stopped: tuple[object, ...],
    disabled: tuple[object, ...],
) -> None:
    # no firewalld process in the table: only firewall-cmd knows it runs
    host = snapshot_host(
        units=units,
        which={"firewall-cmd": "/usr/bin/firewall-cmd", "systemctl": ""},
        commands={cmd("firewall-cmd", "--state"): state},
    )
    out = run_check(FirewalldOff, ctx(host))
    assert (out.status, out.message) == (status, message)
    assert full(out.findings) == [(*stopped, None, None), disabled]


def test_firewalld_where_systemd_runs_asks_systemctl_not_firewall_cmd() -> None:
    # firewall-cmd --state is not recorded: asking it would skip the check
    host = snapshot_host(
        units=FIREWALLD_UNIT,
        systemd_init=True,
        which={"firewall-cmd": "/usr/bin/firewall-cmd", "systemctl": "/usr/bin/systemctl"},
        commands={
            cmd("systemctl", "is-active", "firewalld.service"): (0, "active\n", ""),
            cmd("systemctl", "is-enabled", "firewalld.service"): (0, "enabled\n", ""),
        },
    )
    out = run_check(FirewalldOff, ctx(host))
    assert (out.status, out.message) == (
        Status.FAIL,
        "2 of 2 fail: firewalld stopped, firewalld disabled",
    )
    assert full(out.findings) == [
        (
            "fail",
            "firewalld stopped",
            "running (systemctl is-active: active)",
            "stopped",
            None,
            None,
        ),
        (
            "fail",
            "firewalld disabled",
            "starts at boot (systemctl is-enabled: enabled)",
            "disabled",
            None,
            None,
        ),
    ]
    assert FirewalldOff().plan(ctx(host), out) == [
        Command(
            ("firewall.firewalld",),
            ("systemctl", "stop", "firewalld"),
            "firewalld runs now",
            irreversible="firewalld stays stopped (systemctl start firewalld to undo)",
        ),
        Command(
            ("firewall.firewalld",),
            ("systemctl", "disable", "firewalld"),
            "firewalld starts at boot",
            irreversible="firewalld stays disabled (systemctl enable firewalld to undo)",
        ),
    ]


def test_firewalld_without_firewall_cmd_or_systemd_reads_the_process_table() -> None:
    host = snapshot_host(
        units=FIREWALLD_UNIT,
        which={"firewall-cmd": "", "systemctl": ""},
        processes=[(1, "sh"), (812, "firewalld")],
    )
    out = run_check(FirewalldOff, ctx(host))
    assert (out.status, out.message) == (
        Status.FAIL,
        "firewalld stopped: running (process firewalld running (pid 812))",
    )


def test_firewalld_not_installed_with_firewall_cmd_on_path_stays_not_installed() -> None:
    # the firewall-cmd client alone (no unit, no init script) is no service
    host = snapshot_host(which={"firewall-cmd": "/usr/bin/firewall-cmd", "systemctl": ""})
    out = run_check(FirewalldOff, ctx(host))
    detail = "no firewalld.service unit or init script"
    assert (out.status, out.message) == (Status.PASS, f"firewalld is not installed ({detail})")
    assert full(out.findings) == [
        ("pass", "firewalld", f"not installed ({detail})", None, None, None)
    ]


@pytest.mark.parametrize(
    ("active", "enabled", "status", "message"),
    [
        ("inactive", "disabled", Status.PASS, "the iptables service is stopped and disabled"),
        ("active", "enabled", Status.FAIL, "2 of 2 fail: iptables stopped, iptables disabled"),
        (
            "activating",
            "masked",
            Status.FAIL,
            "iptables stopped: running (systemctl is-active: activating)",
        ),
    ],
)
def test_iptables_service_judged_by_systemctl(
    active: str, enabled: str, status: Status, message: str
) -> None:
    host = snapshot_host(
        units={"/usr/lib/systemd/system": ["iptables.service"]},
        systemd_init=True,
        which={"systemctl": "/usr/bin/systemctl", "iptables": "/usr/sbin/iptables"},
        commands={
            cmd("systemctl", "is-active", "iptables.service"): (
                0 if active != "inactive" else 3,
                f"{active}\n",
                "",
            ),
            cmd("systemctl", "is-enabled", "iptables.service"): (
                0 if enabled == "enabled" else 1,
                f"{enabled}\n",
                "",
            ),
        },
    )
    out = run_check(IptablesOff, ctx(host))
    assert (out.status, out.message) == (status, message)
    plan = IptablesOff().plan(ctx(host), out)
    assert [(c.check_ids, c.argv) for c in plan] == [  # type: ignore[union-attr]
        (("firewall.iptables",), ("systemctl", verb, "iptables"))
        for verb, bad in (("stop", active != "inactive"), ("disable", enabled == "enabled"))
        if bad
    ]


def ufw_host(
    status: tuple[int, str, str] | None,
    *,
    conf: str | None = UFW_CONF,
    ufw: str = "/usr/sbin/ufw",
    is_active: str = "inactive",
) -> SnapshotHost:
    commands = {cmd("systemctl", "is-active", "ufw.service"): (0, f"{is_active}\n", "")}
    if status is not None:
        commands[cmd("ufw", "status")] = status
    host = snapshot_host(
        os_release=DEBIAN,
        units={"/lib/systemd/system": ["ufw.service"]},
        systemd_init=True,
        which={"ufw": ufw, "systemctl": "/usr/bin/systemctl"},
        commands=commands,
        files={"/etc/ufw/ufw.conf": conf} if conf is not None else {},
    )
    if conf is None:
        host.snapshot.kinds["/etc/ufw/ufw.conf"] = "n"
    return host


CONF_FAIL = (
    "fail",
    "ufw disabled",
    "ENABLED=yes: ufw loads its rules at boot",
    "ENABLED=no",
    "ENABLED=yes",
    "/etc/ufw/ufw.conf:6",
)


@pytest.mark.parametrize(
    ("status", "is_active", "stopped"),
    [
        pytest.param(
            (0, UFW_ACTIVE, ""),
            "inactive",
            ("fail", "ufw stopped", "running (ufw status: active)", "stopped"),
            id="active-with-rules",
        ),
        pytest.param(
            (0, "Status: active\n", ""),
            "inactive",
            ("fail", "ufw stopped", "running (ufw status: active)", "stopped"),
            id="active-without-rules",
        ),
        pytest.param(
            (0, "Status: inactive\n", ""),
            "active",
            ("pass", "ufw stopped", "not running (ufw status: inactive)", None),
            id="inactive-though-the-oneshot-unit-is-active",
        ),
        pytest.param(
            (0, "Last login: Sat Nov 28 09:00:00 2026\nStatus: active\n", ""),
            "inactive",
            ("fail", "ufw stopped", "running (ufw status: active)", "stopped"),
            id="a-line-before-the-status",
        ),
        pytest.param(
            (1, "", NOT_ROOT),
            "active",
            ("fail", "ufw stopped", "running (systemctl is-active: active)", "stopped"),
            id="not-root-falls-back-to-systemctl",
        ),
        pytest.param(
            (0, "Status:\n", ""),
            "inactive",
            ("pass", "ufw stopped", "not running (systemctl is-active: inactive)", None),
            id="no-state-word-falls-back",
        ),
    ],
)
def test_ufw_stopped_from_ufw_status(
    status: tuple[int, str, str], is_active: str, stopped: tuple[object, ...]
) -> None:
    out = run_check(UfwOff, ctx(ufw_host(status, is_active=is_active)))
    assert full(out.findings) == [(*stopped, None, None), CONF_FAIL]


def test_ufw_not_on_path_asks_systemctl() -> None:
    # ufw status is not recorded: running it would skip the check
    host = ufw_host(None, ufw="", is_active="active")
    out = run_check(UfwOff, ctx(host))
    assert (out.status, out.message) == (Status.FAIL, "2 of 2 fail: ufw stopped, ufw disabled")
    assert full(out.findings)[0] == (
        "fail",
        "ufw stopped",
        "running (systemctl is-active: active)",
        "stopped",
        None,
        None,
    )


def test_ufw_inactive_and_disabled_passes() -> None:
    conf = UFW_CONF.replace("ENABLED=yes", "ENABLED=no")
    out = run_check(UfwOff, ctx(ufw_host((0, "Status: inactive\n", ""), conf=conf)))
    assert (out.status, out.message) == (Status.PASS, "ufw is stopped and disabled")
    assert UfwOff().plan(ctx(ufw_host(None, conf=conf)), out) == []


def test_ufw_off_debian_is_skipped_before_anything_is_asked() -> None:
    out = run_check(UfwOff, ctx(snapshot_host(os_release=CENTOS)))
    assert (out.status, out.message) == (
        Status.SKIP,
        "ufw is the Debian/Ubuntu firewall; this host is CentOS Linux 7",
    )


def test_ufw_plan_edits_the_enabled_line_and_disables_now() -> None:
    host = ufw_host((0, UFW_ACTIVE, ""))
    out = run_check(UfwOff, ctx(host))
    assert out.status is Status.FAIL
    assert UfwOff().plan(ctx(host), out) == [
        FileChange(
            ("firewall.ufw",),
            "/etc/ufw/ufw.conf",
            UFW_CONF.replace("ENABLED=yes", "ENABLED=no").encode(),
            UFW_CONF.encode(),
            "ufw loads no rules at boot",
        ),
        Command(
            ("firewall.ufw",),
            ("ufw", "disable"),
            "unload ufw's rules now",
            irreversible="ufw's rules stay unloaded (ufw enable to undo)",
        ),
    ]


def test_ufw_plan_only_unloads_when_only_running() -> None:
    conf = UFW_CONF.replace("ENABLED=yes", "ENABLED=no")
    host = ufw_host((0, UFW_ACTIVE, ""), conf=conf)
    out = run_check(UfwOff, ctx(host))
    assert out.message == "ufw stopped: running (ufw status: active)"
    assert UfwOff().plan(ctx(host), out) == [
        Command(
            ("firewall.ufw",),
            ("ufw", "disable"),
            "unload ufw's rules now",
            irreversible="ufw's rules stay unloaded (ufw enable to undo)",
        )
    ]


def test_ufw_plan_only_edits_when_only_enabled_at_boot() -> None:
    host = ufw_host((0, "Status: inactive\n", ""))
    out = run_check(UfwOff, ctx(host))
    plan = UfwOff().plan(ctx(host), out)
    assert [type(c).__name__ for c in plan] == ["FileChange"]
    assert plan[0].new == UFW_CONF.replace("ENABLED=yes", "ENABLED=no").encode()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("finding", "expected"),
    [
        pytest.param(
            Finding(Status.FAIL, "ufw disabled", "x", location="/etc/ufw/ufw.conf:6"),
            UFW_CONF.replace("ENABLED=yes", "ENABLED=no"),
            id="the-line-named",
        ),
        pytest.param(
            Finding(Status.FAIL, "ufw disabled", "x", location="/etc/ufw/ufw.conf:10"),
            UFW_CONF.replace("LOGLEVEL=low", "ENABLED=no"),
            id="only-that-line",
        ),
        pytest.param(
            Finding(Status.FAIL, "ufw disabled", "x", location="/etc/ufw/ufw.conf"),
            None,
            id="no-line-number-no-edit",
        ),
        pytest.param(Finding(Status.FAIL, "ufw disabled", "x"), None, id="no-location-no-edit"),
        pytest.param(
            Finding(Status.WARN, "ufw disabled", "x", location="/etc/ufw/ufw.conf:6"),
            None,
            id="not-failed",
        ),
    ],
)
def test_ufw_plan_follows_the_finding(finding: Finding, expected: str | None) -> None:
    host = ufw_host(None)
    plan = UfwOff().plan(ctx(host), Outcome.from_findings([finding]))
    assert [c.new for c in plan] == ([] if expected is None else [expected.encode()])  # type: ignore[union-attr]


def test_ufw_plan_without_the_conf_writes_it() -> None:
    # the conf went away since the audit: the change creates it with the one line
    host = ufw_host(None, conf=None)
    finding = Finding(Status.FAIL, "ufw disabled", "x", location="/etc/ufw/ufw.conf:6")
    (change,) = UfwOff().plan(ctx(host), Outcome.from_findings([finding]))
    assert change == FileChange(
        ("firewall.ufw",),
        "/etc/ufw/ufw.conf",
        b"",
        None,
        "ufw loads no rules at boot",
        owned=True,
    )


@pytest.mark.parametrize(
    ("line", "status", "actual"),
    [
        ("ENABLED=Xyes", "pass", "ENABLED=xyes"),
        ("ENABLED=yesX", "pass", "ENABLED=yesx"),
        ("ENABLED='Yes'", "fail", "ENABLED=yes"),
    ],
)
def test_ufw_enabled_only_when_the_value_is_yes(line: str, status: str, actual: str) -> None:
    host = ufw_host((0, "Status: inactive\n", ""), conf=UFW_CONF.replace("ENABLED=yes", line))
    finding = run_check(UfwOff, ctx(host)).findings[1]
    assert (finding.status.value, finding.actual, finding.location) == (
        status,
        actual,
        "/etc/ufw/ufw.conf:6",
    )


def test_iptables_state_unknown_without_systemd_names_the_service_once() -> None:
    # the iptables service has no daemon process to look for
    host = snapshot_host(
        units={"/usr/lib/systemd/system": ["iptables.service"]},
        which={"systemctl": ""},
    )
    out = run_check(IptablesOff, ctx(host))
    unknown = "systemd is not the init here, so the state of iptables.service is unknown"
    assert (out.status, out.message) == (
        Status.PASS,
        f"the iptables service is disabled; stopped not judged ({unknown})",
    )
    assert full(out.findings)[0] == ("skip", "iptables stopped", unknown, None, None, None)


def test_ufw_plan_on_a_conf_with_a_latin1_comment(tmp_path: Path) -> None:
    # an undecodable byte does not stop the fix, and stays byte for byte: only
    # the ENABLED= line changes (a sysroot gives the file's bytes)
    conf = UFW_CONF.replace("# /etc/ufw/ufw.conf", "# /etc/ufw/ufw.conf (r\xe9seau)")
    (tmp_path / "etc/ufw").mkdir(parents=True)
    (tmp_path / "etc/ufw/ufw.conf").write_bytes(conf.encode("latin-1"))
    (tmp_path / "etc/os-release").write_text(DEBIAN)
    host = SysrootHost(tmp_path)
    out = run_check(UfwOff, ctx(host))
    (change,) = UfwOff().plan(ctx(host), out)
    assert (change.old, change.new) == (  # type: ignore[union-attr]
        conf.encode("latin-1"),
        conf.replace("ENABLED=yes", "ENABLED=no").encode("latin-1"),
    )
