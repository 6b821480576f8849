"""firewall.firewalld, firewall.iptables and firewall.ufw on fixtures, small sysroots and live."""

from __future__ import annotations

import os
from pathlib import Path

from harborkit.checks.firewall import FirewalldOff, IptablesOff, UfwOff
from harborkit.engine.interface import CheckContext, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost
from tests.support.sysroot import rows

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
PROFILE = load_profile().data
SYSROOT_ACTIVE = "whether it runs needs a running system; auditing a sysroot"


def ctx(root: Path | None) -> CheckContext:
    return CheckContext(host=LocalHost() if root is None else SysrootHost(root), profile=PROFILE)


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


# Live verdicts (running, enabled, not installed, ufw off Debian) are built in a
# private namespace: tests/checks/test_live_state.py.
