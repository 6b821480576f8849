"""selinux.mode: config and runtime judged apart, on fixtures, small sysroots and live.

selinux.mode exactly: /etc/selinux/config as written in the wild, the running
kernel's mode read from a recorded snapshot (a running system) or missing in a
sysroot, the profile's mode, and the changes the planner makes of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.selinux import CONFIG, ENFORCE, SelinuxMode
from harborkit.collect.snapshot import Snapshot
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.change import Command, FileChange, ManualStep
from harborkit.model.check import CheckContext, Finding, Outcome, Status
from tests.support.checks import ctx
from tests.support.sysroot import rows, write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


PROFILE = load_profile().data


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


# CentOS 7's /etc/selinux/config as the selinux-policy package installs it
CENTOS7 = """\
# This file controls the state of SELinux on the system.
# SELINUX= can take one of these three values:
#     enforcing - SELinux security policy is enforced.
#     permissive - SELinux prints warnings instead of enforcing.
#     disabled - No SELinux policy is loaded.
SELINUX=enforcing
# SELINUXTYPE= can take one of three values:
#     targeted - Targeted processes are protected,
#     minimum - Modification of targeted policy. Only selected processes are protected.
#     mls - Multi Level Security protection.
SELINUXTYPE=targeted
"""


IRREVERSIBLE = "setenforce 0 is not undone: the mode stays permissive until reboot (run setenforce 1 to go back)"


def live(config: str | None, enforce: str | None, **profile: Any) -> CheckContext:
    """A running system recorded in a snapshot: the config file and
    /sys/fs/selinux/enforce, each present or recorded as absent."""
    snap = Snapshot("server58")
    for path, text in ((CONFIG, config), (ENFORCE, enforce)):
        if text is None:
            snap.kinds[path] = "n"
        else:
            snap.files[path] = text.encode()
    return CheckContext(SnapshotHost(snap), profile)


def sysroot_selinux(
    tmp_path: Path, config: str | None, enforce: str | None, **profile: Any
) -> CheckContext:
    files = {}
    if config is not None:
        files[CONFIG] = config
    if enforce is not None:
        files[ENFORCE] = enforce
    return CheckContext(SysrootHost(write(tmp_path, files)), profile)


def rows_selinux(out: Outcome) -> list[tuple[str | None, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location)
        for f in out.findings
    ]


DISABLED = {"selinux": {"mode": "disabled"}}


PERMISSIVE = {"selinux": {"mode": "permissive"}}


ENFORCING = {"selinux": {"mode": "enforcing"}}


@pytest.mark.parametrize(
    ("config", "status", "finding"),
    [
        (CENTOS7, "fail", ("fail", "SELINUX=enforcing", "SELINUX=enforcing", f"{CONFIG}:6")),
        ('SELINUX="disabled"\n', "pass", ("pass", "SELINUX=disabled", "SELINUX=disabled", f"{CONFIG}:1")),
        ("SELINUX='Permissive'\n", "warn", ("warn", "SELINUX=permissive", "SELINUX=permissive", f"{CONFIG}:1")),
        ("\n  SELINUX = DISABLED  # set by hand\n", "pass", ("pass", "SELINUX=disabled", "SELINUX=disabled", f"{CONFIG}:2")),
        ("\tSELINUX=disabled\n", "pass", ("pass", "SELINUX=disabled", "SELINUX=disabled", f"{CONFIG}:1")),
        ("SELINUX=Xdisabled\n", "fail", ("fail", "SELINUX=xdisabled is not a mode (enforcing, permissive, disabled)", "SELINUX=xdisabled", f"{CONFIG}:1")),
        ("SELINUX=\n", "fail", ("fail", "SELINUX= is not a mode (enforcing, permissive, disabled)", "SELINUX=", f"{CONFIG}:1")),
        ("SELINUX=off\nSELINUXTYPE=targeted\n", "fail", ("fail", "SELINUX=off is not a mode (enforcing, permissive, disabled)", "SELINUX=off", f"{CONFIG}:1")),
        ("#SELINUX=enforcing\nSELINUX=disabled\nSELINUX=enforcing\n", "fail", ("fail", "SELINUX=enforcing", "SELINUX=enforcing", f"{CONFIG}:3")),
        ("selinux=disabled\nSELINUXTYPE=mls\n", "warn", ("warn", f"no SELINUX= line in {CONFIG}", None, CONFIG)),
        ("", "warn", ("warn", f"no SELINUX= line in {CONFIG}", None, CONFIG)),
    ],
    ids=[
        "centos7-default",
        "double-quoted",
        "single-quoted-capitalised",
        "spaces-and-comment",
        "tab",
        "only-quotes-stripped",
        "empty-value",
        "not-a-mode",
        "last-line-wins",
        "lower-case-key",
        "empty-file",
    ],
)  # fmt: skip
def test_config_line(tmp_path: Path, config: str, status: str, finding: tuple[Any, ...]) -> None:
    out = run_check(SelinuxMode, sysroot_selinux(tmp_path, config, None, **DISABLED))
    f = out.findings[0]
    assert (f.status.value, f.subject, f.message, f.actual, f.location) == (
        finding[0],
        "config",
        *finding[1:],
    )
    expected = "SELINUX=disabled"
    assert f.expected == expected
    assert out.status.value == status
    # no /sys/fs in the sysroot: the runtime mode is not judged
    assert rows_selinux(out)[1] == (
        "skip",
        "runtime",
        f"the runtime mode needs a running system; no {ENFORCE} in the sysroot",
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("config", "enforce", "profile", "status", "message", "findings"),
    [
        (
            CENTOS7, "1\n", DISABLED, "fail", "2 of 2 fail: config, runtime",
            [
                ("fail", "config", "SELINUX=enforcing", "SELINUX=disabled", "SELINUX=enforcing", f"{CONFIG}:6"),
                ("fail", "runtime", "enforcing (enforce = 1)", "disabled", "enforcing", ENFORCE),
            ],
        ),
        (
            CENTOS7, "0\n", DISABLED, "fail", "config: SELINUX=enforcing",
            [
                ("fail", "config", "SELINUX=enforcing", "SELINUX=disabled", "SELINUX=enforcing", f"{CONFIG}:6"),
                ("warn", "runtime", "permissive (enforce = 0)", "disabled", "permissive", ENFORCE),
            ],
        ),
        (
            "SELINUX=disabled\n", "0", PERMISSIVE, "pass",
            "SELinux disabled in config, permissive at runtime",
            [
                ("pass", "config", "SELINUX=disabled", "SELINUX=permissive", "SELINUX=disabled", f"{CONFIG}:1"),
                ("pass", "runtime", "permissive until reboot (disabled in config)", "permissive", "permissive", ENFORCE),
            ],
        ),
        (
            "SELINUX=permissive\n", "1\n", PERMISSIVE, "fail", "permissive in config, enforcing until reboot",
            [
                ("pass", "config", "SELINUX=permissive", "SELINUX=permissive", "SELINUX=permissive", f"{CONFIG}:1"),
                ("fail", "runtime", "enforcing until reboot (permissive in config)", "permissive", "enforcing", ENFORCE),
            ],
        ),
        (
            CENTOS7, "1\n", ENFORCING, "pass", "SELinux enforcing in config, enforcing at runtime",
            [
                ("pass", "config", "SELINUX=enforcing", "SELINUX=enforcing", "SELINUX=enforcing", f"{CONFIG}:6"),
                ("pass", "runtime", "enforcing (enforce = 1)", "enforcing", "enforcing", ENFORCE),
            ],
        ),
        (
            "SELINUX=disabled\n", None, DISABLED, "pass", "SELinux disabled in config, disabled at runtime",
            [
                ("pass", "config", "SELINUX=disabled", "SELINUX=disabled", "SELINUX=disabled", f"{CONFIG}:1"),
                ("pass", "runtime", "off (no /sys/fs/selinux/enforce)", "disabled", "disabled", None),
            ],
        ),
        (
            "SELINUX=enforcing\n", None, DISABLED, "fail", "config: SELINUX=enforcing",
            [
                ("fail", "config", "SELINUX=enforcing", "SELINUX=disabled", "SELINUX=enforcing", f"{CONFIG}:1"),
                ("pass", "runtime", "off (no /sys/fs/selinux/enforce)", "disabled", "disabled", None),
            ],
        ),
        (
            None, None, DISABLED, "pass", "SELinux not present",
            [("pass", "SELinux", f"SELinux not present (no {CONFIG})", None, None, None)],
        ),
        (
            None, "0\n", PERMISSIVE, "warn", f"config: no {CONFIG}",
            [
                ("warn", "config", f"no {CONFIG}", "permissive", None, None),
                ("pass", "runtime", "permissive (enforce = 0)", "permissive", "permissive", ENFORCE),
            ],
        ),
        (
            "SELINUX=disabled\n", "2\n", DISABLED, "fail", "disabled in config, enforcing until reboot",
            [
                ("pass", "config", "SELINUX=disabled", "SELINUX=disabled", "SELINUX=disabled", f"{CONFIG}:1"),
                ("fail", "runtime", "enforcing until reboot (disabled in config)", "disabled", "enforcing", ENFORCE),
            ],
        ),
    ],
    ids=[
        "enforcing-both",
        "enforcing-config-permissive-now",
        "disabled-config-permissive-now-allowed",
        "permissive-config-enforcing-now",
        "profile-allows-enforcing",
        "off",
        "enforcing-config-off-until-reboot",
        "no-selinux",
        "no-config-permissive-now",
        "unknown-enforce-value",
    ],
)  # fmt: skip
def test_live_config_and_runtime(
    config: str | None,
    enforce: str | None,
    profile: dict[str, Any],
    status: str,
    message: str,
    findings: list[tuple[Any, ...]],
) -> None:
    out = run_check(SelinuxMode, live(config, enforce, **profile))
    assert (out.status.value, out.message) == (status, message)
    assert rows_selinux(out) == findings


@pytest.mark.parametrize("profile", [{}, {"selinux": {}}], ids=["no-section", "no-mode"])
def test_profile_without_a_mode_asks_for_disabled(profile: dict[str, Any]) -> None:
    out = run_check(SelinuxMode, live("SELINUX=permissive\n", None, **profile))
    assert (out.status, out.message) == (Status.WARN, "config: SELINUX=permissive")
    assert out.findings[0].expected == "SELINUX=disabled"
    assert out.findings[1].expected == "disabled"


def test_a_fact_the_snapshot_lacks_skips_the_check() -> None:
    snap = Snapshot("server58")
    snap.files[CONFIG] = b"SELINUX=disabled\n"
    out = run_check(SelinuxMode, CheckContext(SnapshotHost(snap), DISABLED))
    assert (out.status, out.message) == (
        Status.SKIP,
        f"the snapshot from server58 has no entry for {ENFORCE} (the collector did not gather it; make it again with harborkit collect --script and this run's --profile, --node, --install-dir and --harbor-config)",
    )


def test_sysroot_with_sys_fs_but_no_enforce_file_is_off(tmp_path: Path) -> None:
    (tmp_path / "sys/fs").mkdir(parents=True)
    out = run_check(SelinuxMode, sysroot_selinux(tmp_path, CENTOS7, None, **DISABLED))
    assert rows_selinux(out)[1] == (
        "pass",
        "runtime",
        "off (no /sys/fs/selinux/enforce)",
        "disabled",
        "disabled",
        None,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run_check(SelinuxMode, sysroot_selinux(empty, None, None, **DISABLED))
    assert (out.status, out.message) == (Status.PASS, "SELinux not present")


def test_unreadable_config_counts_as_absent(tmp_path: Path) -> None:
    snap = Snapshot("server58")
    snap.errors[CONFIG] = "cat: /etc/selinux/config: Permission denied"
    snap.files[ENFORCE] = b"1\n"
    out = run_check(SelinuxMode, CheckContext(SnapshotHost(snap), DISABLED))
    assert (out.status, out.message) == (Status.FAIL, "runtime: enforcing (enforce = 1)")
    assert rows_selinux(out)[0] == ("warn", "config", f"no {CONFIG}", "disabled", None, None)


REBOOT = "reboot to make SELINUX={mode} take effect (the running kernel is {now})"


def _plan(ctx: CheckContext) -> list[object]:
    out = run_check(SelinuxMode, ctx)
    return list(SelinuxMode().plan(ctx, out))


def _setenforce() -> Command:
    return Command(
        ("selinux.mode",),
        ("setenforce", "0"),
        "permissive until the reboot",
        irreversible=IRREVERSIBLE,
    )


def _edit(old: str | None, new: str) -> FileChange:
    return FileChange(
        ("selinux.mode",),
        CONFIG,
        new.encode(),
        None if old is None else old.encode(),
        "the mode from the next boot on",
        owned=old is None,
    )


def test_plan_enforcing_everywhere() -> None:
    assert _plan(live(CENTOS7, "1\n", **DISABLED)) == [
        _edit(CENTOS7, CENTOS7.replace("SELINUX=enforcing", "SELINUX=disabled")),
        _setenforce(),
        ManualStep(("selinux.mode",), REBOOT.format(mode="disabled", now="enforcing")),
    ]


def test_plan_permissive_allowed_sets_permissive_now_and_needs_no_reboot() -> None:
    assert _plan(live(CENTOS7, "1\n", **PERMISSIVE)) == [
        _edit(CENTOS7, CENTOS7.replace("SELINUX=enforcing", "SELINUX=permissive")),
        _setenforce(),
    ]


def test_plan_permissive_now_needs_only_the_reboot() -> None:
    assert _plan(live("SELINUX=disabled\n", "0\n", **DISABLED)) == [
        ManualStep(("selinux.mode",), REBOOT.format(mode="disabled", now="permissive")),
    ]


def test_plan_enforcing_now_with_config_already_disabled() -> None:
    assert _plan(live("SELINUX=disabled\n", "1\n", **DISABLED)) == [
        _setenforce(),
        ManualStep(("selinux.mode",), REBOOT.format(mode="disabled", now="enforcing")),
    ]


def test_plan_adds_a_missing_line_or_file() -> None:
    text = "# managed by hand\nSELINUXTYPE=targeted\n"
    assert _plan(live(text, None, **DISABLED)) == [_edit(text, text + "SELINUX=disabled\n")]
    assert _plan(live(None, "0\n", **PERMISSIVE)) == [_edit(None, "SELINUX=permissive\n")]


def test_plan_replaces_a_value_that_is_not_a_mode() -> None:
    text = "SELINUX=off\nSELINUXTYPE=targeted\n"
    assert _plan(live(text, None, **DISABLED)) == [
        _edit(text, "SELINUX=disabled\nSELINUXTYPE=targeted\n")
    ]


def test_plan_on_a_sysroot_edits_the_config_only(tmp_path: Path) -> None:
    # no running kernel: no setenforce, no reboot step that names no mode
    assert _plan(sysroot_selinux(tmp_path, CENTOS7, None, **DISABLED)) == [
        _edit(CENTOS7, CENTOS7.replace("SELINUX=enforcing", "SELINUX=disabled"))
    ]


def test_plan_of_passing_findings_is_empty() -> None:
    ctx = live("SELINUX=disabled\n", None, **DISABLED)
    ok = Outcome(
        Status.PASS,
        "ok",
        (
            Finding(Status.PASS, "config", "SELINUX=disabled", location=f"{CONFIG}:1"),
            Finding(Status.PASS, "runtime", "off", actual="disabled"),
        ),
    )
    assert list(SelinuxMode().plan(ctx, ok)) == []
    assert list(SelinuxMode().plan(ctx, Outcome(Status.FAIL, "x"))) == []


def test_a_mode_the_check_does_not_know_asks_for_disabled() -> None:
    # profiles are validated against an enum; an in-process profile may say anything
    ctx = live("SELINUX=permissive\n", None, selinux={"mode": "strict"})
    out = run_check(SelinuxMode, ctx)
    assert (out.status, out.message) == (Status.WARN, "config: SELINUX=permissive")
    out = run_check(SelinuxMode, live("SELINUX=disabled\n", None, selinux={"mode": "strict"}))
    assert (out.status, out.message) == (
        Status.PASS,
        "SELinux disabled in config, disabled at runtime",
    )


@pytest.mark.parametrize("profile", [{}, {"selinux": {}}], ids=["no-section", "no-mode"])
def test_plan_without_a_profile_mode_asks_for_disabled(profile: dict[str, Any]) -> None:
    assert _plan(live(CENTOS7, "0\n", **profile)) == [
        _edit(CENTOS7, CENTOS7.replace("SELINUX=enforcing", "SELINUX=disabled")),
        ManualStep(("selinux.mode",), REBOOT.format(mode="disabled", now="permissive")),
    ]


def test_plan_keeps_a_config_that_is_not_utf8_editable(tmp_path: Path) -> None:
    # a comment saved in Latin-1 ("géré" = g \xe9 r \xe9): the file is still
    # edited; the bytes that are not UTF-8 stay as they were in the new content
    root = tmp_path / "root"
    (root / "etc/selinux").mkdir(parents=True)
    old = b"# g\xe9r\xe9 par l'exploitation\nSELINUX=enforcing\n"
    (root / "etc/selinux/config").write_bytes(old)
    ctx = CheckContext(SysrootHost(root), DISABLED)
    (change,) = _plan(ctx)
    assert change == FileChange(
        ("selinux.mode",),
        CONFIG,
        b"# g\xe9r\xe9 par l'exploitation\nSELINUX=disabled\n",
        old,
        "the mode from the next boot on",
    )
