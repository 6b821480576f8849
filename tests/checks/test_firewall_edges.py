"""firewall.* judged from small sysroots and from the service facts directly:
the findings' fields, the summary line, and ufw.conf's ENABLED= forms."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harborkit.checks import firewall
from harborkit.checks._services import Fact
from harborkit.checks.firewall import FirewalldOff, IptablesOff, UfwOff
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.model.check import Finding, Outcome, Status
from tests.support.checks import ctx
from tests.support.sysroot import write

PROFILE = load_profile().data
NOT_LIVE = "whether it runs needs a running system; auditing a sysroot"
DEBIAN = 'ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
UFW = "/etc/ufw/ufw.conf"


def full(findings: tuple[Finding, ...] | list[Finding]) -> list[tuple[object, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location) for f in findings
    ]


def test_stopped_and_disabled_findings() -> None:
    assert full([firewall._stopped("x", Fact(None, "why"))]) == [
        ("skip", "x stopped", "why", None, None, None)
    ]
    assert full([firewall._stopped("x", Fact(True, "pid 1", "/loc"))]) == [
        ("fail", "x stopped", "running (pid 1)", "stopped", None, None)
    ]
    assert full([firewall._stopped("x", Fact(False, "inactive"))]) == [
        ("pass", "x stopped", "not running (inactive)", None, None, None)
    ]
    assert full([firewall._disabled("x", Fact(True, "enabled: /l", "/l"))]) == [
        ("fail", "x disabled", "starts at boot (enabled: /l)", "disabled", None, "/l")
    ]
    assert full([firewall._disabled("x", Fact(False, "no link", "/l"))]) == [
        ("pass", "x disabled", "does not start at boot (no link)", None, None, None)
    ]
    # unknown counts as not enabled
    assert firewall._disabled("x", Fact(None, "?")).status is Status.PASS


def test_ok_message_claims_only_what_was_judged() -> None:
    stopped = Finding(Status.PASS, "x stopped", "not running (inactive)")
    disabled = Finding(Status.PASS, "x disabled", "does not start at boot")
    assert firewall._ok_message("x", [stopped, disabled]) == "x is stopped and disabled"
    skipped = Finding(Status.SKIP, "x stopped", "cannot tell")
    assert firewall._ok_message("x", [skipped, disabled]) == (
        "x is disabled; stopped not judged (cannot tell)"
    )
    both = Finding(Status.SKIP, "x disabled", "neither")
    assert firewall._ok_message("x", [skipped, both]) == (
        "x is disabled; stopped, disabled not judged (cannot tell)"
    )


def test_iptables_installed_disabled_names_the_service(tmp_path: Path) -> None:
    write(tmp_path, {"usr/lib/systemd/system/iptables.service": "[Service]\n"})
    out = run_check(IptablesOff, ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.PASS,
        f"the iptables service is disabled; stopped not judged ({NOT_LIVE})",
    )
    assert full(out.findings) == [
        ("skip", "iptables stopped", NOT_LIVE, None, None, None),
        (
            "pass",
            "iptables disabled",
            "does not start at boot (no link to iptables.service under "
            "/etc/systemd/system/*.wants or rc?.d)",
            None,
            None,
            None,
        ),
    ]


def test_firewalld_not_installed_with_its_command(tmp_path: Path) -> None:
    write(tmp_path, {"usr/bin/firewalld": "#!/bin/sh\n"})
    (tmp_path / "usr/bin/firewalld").chmod(0o755)
    out = run_check(FirewalldOff, ctx(tmp_path))
    detail = (
        "no firewalld.service unit or init script; the firewalld command (/usr/bin/firewalld) "
        "is not a service, not judged"
    )
    assert (out.status, out.message) == (Status.PASS, f"firewalld is not installed ({detail})")
    assert full(out.findings) == [
        ("pass", "firewalld", f"not installed ({detail})", None, None, None)
    ]


def test_firewalld_sysv_script_enabled(tmp_path: Path) -> None:
    write(tmp_path, {"etc/init.d/firewalld": "#!/bin/sh\n"})
    (tmp_path / "etc/rc2.d").mkdir(parents=True)
    os.symlink("../init.d/firewalld", tmp_path / "etc/rc2.d/S20firewalld")
    out = run_check(FirewalldOff, ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.FAIL,
        "firewalld disabled: starts at boot (enabled (SysV): /etc/rc2.d/S20firewalld)",
    )


def test_plan_service_off_follows_the_failed_findings() -> None:
    from harborkit.model.change import Command

    out = Outcome.from_findings(
        [
            Finding(Status.FAIL, "iptables stopped", "running"),
            Finding(Status.FAIL, "iptables disabled", "starts at boot"),
        ]
    )
    plan = firewall._plan_service_off("firewall.iptables", "iptables", out)
    assert plan == [
        Command(
            ("firewall.iptables",),
            ("systemctl", "stop", "iptables"),
            "iptables runs now",
            irreversible="iptables stays stopped (systemctl start iptables to undo)",
        ),
        Command(
            ("firewall.iptables",),
            ("systemctl", "disable", "iptables"),
            "iptables starts at boot",
            irreversible="iptables stays disabled (systemctl enable iptables to undo)",
        ),
    ]
    only = Outcome.from_findings(
        [
            Finding(Status.SKIP, "iptables stopped", "?"),
            Finding(Status.FAIL, "iptables disabled", "starts at boot"),
        ]
    )
    assert [c.argv for c in firewall._plan_service_off("i", "iptables", only)] == [  # type: ignore[union-attr]
        ("systemctl", "disable", "iptables")
    ]
    ok = Outcome.from_findings([Finding(Status.WARN, "iptables stopped", "?")])
    assert firewall._plan_service_off("i", "iptables", ok) == []


# --- ufw ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "status", "message", "actual", "location"),
    [
        ('ENABLED="yes"\n', "fail", "ENABLED=yes: ufw loads its rules at boot", "ENABLED=yes", 1),
        (
            "# ENABLED=yes\n  ENABLED = YES\n",
            "fail",
            "ENABLED=yes: ufw loads its rules at boot",
            "ENABLED=yes",
            2,
        ),
        (
            "ENABLED=yes\nENABLED='no'\n",
            "pass",
            "ENABLED=no: ufw loads no rules at boot",
            "ENABLED=no",
            2,
        ),
        ("ENABLED=\n", "pass", "ENABLED=: ufw loads no rules at boot", "ENABLED=", 1),
        ("LOGLEVEL=low\n", "pass", "ENABLED=no: ufw loads no rules at boot", "ENABLED=no", None),
        ("XENABLED=yes\n", "pass", "ENABLED=no: ufw loads no rules at boot", "ENABLED=no", None),
    ],
)
def test_ufw_conf_forms(
    tmp_path: Path, conf: str, status: str, message: str, actual: str, location: int | None
) -> None:
    write(tmp_path, {"etc/os-release": DEBIAN, "etc/ufw/ufw.conf": conf})
    out = run_check(UfwOff, ctx(tmp_path))
    where = f"{UFW}:{location}" if location else UFW
    expected = "ENABLED=no" if status == "fail" else None
    assert full(out.findings) == [
        ("skip", "ufw stopped", NOT_LIVE, None, None, None),
        ("fail" if status == "fail" else "pass", "ufw disabled", message, expected, actual, where),
    ]
    if status == "pass":
        assert (out.status, out.message) == (
            Status.PASS,
            f"ufw is disabled; stopped not judged ({NOT_LIVE})",
        )


def test_ufw_installed_without_its_conf(tmp_path: Path) -> None:
    write(tmp_path, {"etc/os-release": DEBIAN, "lib/systemd/system/ufw.service": "[Unit]\n"})
    out = run_check(UfwOff, ctx(tmp_path))
    assert full(out.findings) == [
        ("skip", "ufw stopped", NOT_LIVE, None, None, None),
        ("pass", "ufw disabled", f"no {UFW}: ufw loads no rules at boot", None, None, None),
    ]
    (tmp_path / "lib/systemd/system/ufw.service").unlink()
    write(tmp_path, {"usr/sbin/ufw": "#!/bin/sh\n"})
    (tmp_path / "usr/sbin/ufw").chmod(0o755)
    assert run_check(UfwOff, ctx(tmp_path)).findings[1].message == (
        f"no {UFW}: ufw loads no rules at boot"
    )


def test_ufw_not_installed_on_debian(tmp_path: Path) -> None:
    write(tmp_path, {"etc/os-release": "ID=ubuntu\n"})
    out = run_check(UfwOff, ctx(tmp_path))
    assert (out.status, out.message) == (Status.PASS, "ufw is not installed")
    assert full(out.findings) == [("pass", "ufw", "not installed", None, None, None)]


def test_ufw_skips_without_os_release(tmp_path: Path) -> None:
    write(tmp_path, {"etc/ufw/ufw.conf": "ENABLED=yes\n"})
    out = run_check(UfwOff, ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.SKIP,
        "ufw is the Debian/Ubuntu firewall; this host is an unknown OS (no /etc/os-release)",
    )
