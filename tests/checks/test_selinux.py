"""selinux.mode: config and runtime judged apart, on fixtures, small sysroots and live."""

from __future__ import annotations

from pathlib import Path

import pytest

from harborkit.checks.selinux import SelinuxMode
from harborkit.engine.interface import CheckContext, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost
from tests.support.sysroot import rows

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
PROFILE = load_profile().data


def ctx(root: Path | None) -> CheckContext:
    return CheckContext(host=LocalHost() if root is None else SysrootHost(root), profile=PROFILE)


def sysroot(tmp_path: Path, config: str | None, enforce: str | None, sys_fs: bool = True) -> Path:
    if config is not None:
        (tmp_path / "etc/selinux").mkdir(parents=True)
        (tmp_path / "etc/selinux/config").write_text(config)
    if sys_fs:
        (tmp_path / "sys/fs").mkdir(parents=True)
    if enforce is not None:
        (tmp_path / "sys/fs/selinux").mkdir(parents=True)
        (tmp_path / "sys/fs/selinux/enforce").write_text(enforce)
    return tmp_path


def test_guide_disabled_in_config_enforcing_until_reboot() -> None:
    out = run_check(SelinuxMode, ctx(SYSROOTS / "guide-as-written"))
    assert (out.status, out.message) == (Status.FAIL, "disabled in config, enforcing until reboot")
    assert rows(out.findings) == [
        ("pass", "config", "SELINUX=disabled", "/etc/selinux/config:6"),
        (
            "fail",
            "runtime",
            "enforcing until reboot (disabled in config)",
            "/sys/fs/selinux/enforce",
        ),
    ]


def test_compliant_config_runtime_unknown_on_sysroot() -> None:
    out = run_check(SelinuxMode, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (
        Status.PASS,
        "SELinux disabled in config, unknown at runtime",
    )
    assert rows(out.findings)[1] == (
        "skip",
        "runtime",
        "the runtime mode needs a running system; no /sys/fs/selinux/enforce in the sysroot",
        None,
    )


def test_debian_has_no_selinux() -> None:
    out = run_check(SelinuxMode, ctx(SYSROOTS / "debian12"))
    assert (out.status, out.message) == (Status.PASS, "SELinux not present")


@pytest.mark.parametrize(
    ("config", "enforce", "status", "message", "runtime"),
    [
        ("SELINUX=disabled\n", None, "pass", "SELinux disabled in config, disabled at runtime",
         "off (no /sys/fs/selinux/enforce)"),
        ("SELINUX=disabled\n", "0", "warn", "disabled in config, permissive until reboot",
         "permissive until reboot (disabled in config)"),
        ("SELINUX=enforcing\n", "1", "fail", "2 of 2 fail: config, runtime",
         "enforcing (enforce = 1)"),
        ("SELINUX=permissive\n", "0", "warn", "2 of 2 warn: config, runtime",
         "permissive (enforce = 0)"),
        ("# SELINUX=enforcing\nSELINUX=enforcing\nSELINUX=disabled\n", "1", "fail",
         "disabled in config, enforcing until reboot", "enforcing until reboot (disabled in config)"),
    ],
)  # fmt: skip
def test_config_and_runtime_combinations(
    tmp_path: Path, config: str, enforce: str | None, status: str, message: str, runtime: str
) -> None:
    out = run_check(SelinuxMode, ctx(sysroot(tmp_path, config, enforce)))
    assert (out.status.value, out.message) == (status, message)
    assert out.findings[1].message == runtime


def test_bad_config_value(tmp_path: Path) -> None:
    out = run_check(SelinuxMode, ctx(sysroot(tmp_path, "SELINUX=disable\n", None)))
    assert rows(out.findings)[0] == (
        "fail",
        "config",
        "SELINUX=disable is not a mode (enforcing, permissive, disabled)",
        "/etc/selinux/config:1",
    )


# The running kernel's mode is built in a private namespace: tests/checks/test_live_state.py.
