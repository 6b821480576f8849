"""sysctl.runtime and sysctl.persisted on the fixture sysroots, on small sysroots, and live."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harborkit.checks.sysctl import SysctlPersisted, SysctlRuntime, proc_path, sysctl_files
from harborkit.engine.interface import CheckContext, Finding, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost
from tests.support.sysroot import write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
PROFILE = load_profile().data
TW_RECYCLE_NA = (
    "not applicable: this kernel has no net.ipv4.tcp_tw_recycle "
    "(removed in Linux 4.12; absent is not applicable)"
)
DROP_CACHES = "a one-shot trigger that drops the page cache, not a setting"


def ctx(root: Path | str | None, profile: dict | None = None) -> CheckContext:
    host = LocalHost() if root is None else SysrootHost(root)
    return CheckContext(host=host, profile=profile or PROFILE)


def by_subject(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {f.subject: f for f in findings}


def test_compliant_runtime_and_persisted_pass() -> None:
    c = ctx(SYSROOTS / "centos7-compliant")
    rt = run_check(SysctlRuntime, c)
    assert (rt.status, rt.message) == (Status.PASS, "26 keys as expected")
    f = by_subject(rt.findings)
    assert len(f) == 27
    assert f["kernel.sem"] == Finding(
        Status.PASS,
        "kernel.sem",
        "250 32000 100 128 (expected >= 250 32000 100 128)",
        expected=">= 250 32000 100 128",
        actual="250 32000 100 128",
        location="/proc/sys/kernel/sem",
    )
    # CentOS 7 runs Linux 3.10: tcp_tw_recycle still exists and is judged
    assert f["net.ipv4.tcp_tw_recycle"].status is Status.PASS
    assert (f["vm.drop_caches"].status, f["vm.drop_caches"].message) == (Status.SKIP, DROP_CACHES)

    pe = run_check(SysctlPersisted, c)
    assert (pe.status, pe.message) == (Status.PASS, "26 keys persisted as expected")
    p = by_subject(pe.findings)
    # /etc/sysctl.d/90-harbor.conf hides /usr/lib/sysctl.d/90-harbor.conf (swappiness 60)
    assert p["vm.swappiness"].location == "/etc/sysctl.d/90-harbor.conf:27"
    assert p["vm.swappiness"].message == "10 (expected <= 10)"
    assert p["fs.file-max"].location == "/etc/sysctl.d/90-harbor.conf:3"


def test_guide_as_written_persisted_in_sysctl_conf() -> None:
    pe = run_check(SysctlPersisted, ctx(SYSROOTS / "guide-as-written"))
    assert pe.status is Status.PASS
    p = by_subject(pe.findings)
    assert p["fs.aio-max-nr"].location == "/etc/sysctl.conf:12"
    assert p["vm.swappiness"].location == "/etc/sysctl.conf:40"
    assert p["vm.drop_caches"] == Finding(
        Status.SKIP,
        "vm.drop_caches",
        DROP_CACHES + " (persisted as 1)",
        location="/etc/sysctl.conf:31",
    )


def test_debian12_runtime_not_applicable_and_failures() -> None:
    rt = run_check(SysctlRuntime, ctx(SYSROOTS / "debian12"))
    assert rt.status is Status.FAIL
    assert rt.message == "2 of 27 fail: vm.max_map_count, vm.swappiness"
    f = by_subject(rt.findings)
    assert f["net.ipv4.tcp_tw_recycle"] == Finding(
        Status.SKIP, "net.ipv4.tcp_tw_recycle", TW_RECYCLE_NA
    )
    assert f["vm.max_map_count"].message == "65530, expected >= 655360"
    assert f["vm.swappiness"].message == "60, expected <= 10"
    assert f["net.ipv4.tcp_tw_reuse"].message == "2 (expected one of 1, 2)"


def test_debian12_persisted_not_persisted_and_not_applicable() -> None:
    pe = run_check(SysctlPersisted, ctx(SYSROOTS / "debian12"))
    assert (pe.status, pe.message) == (
        Status.FAIL,
        "vm.max_map_count: not persisted (lost at reboot)",
    )
    p = by_subject(pe.findings)
    assert p["net.ipv4.tcp_tw_recycle"] == Finding(
        Status.SKIP,
        "net.ipv4.tcp_tw_recycle",
        TW_RECYCLE_NA,
        location="/etc/sysctl.d/90-harbor.conf:17",
    )
    assert p["vm.swappiness"].status is Status.PASS  # persisted 10, runtime still 60
    # 99-sysctl.conf -> ../sysctl.conf, and /etc/sysctl.conf itself last
    assert sysctl_files(ctx(SYSROOTS / "debian12")) == [
        "/usr/lib/sysctl.d/50-pid-max.conf",
        "/etc/sysctl.d/90-harbor.conf",
        "/etc/sysctl.d/99-sysctl.conf",
        "/etc/sysctl.conf",
    ]


def test_order_override_and_syntax(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "proc/sys/vm/swappiness": "10\n",
            "proc/sys/kernel/sem": "250\t32000\t100\t128\n",
            "proc/sys/net/core/somaxconn": "4096\n",
            "usr/lib/sysctl.d/10-a.conf": "vm.swappiness = 1\n",
            "usr/lib/sysctl.d/20-b.conf": "vm.swappiness = 30\n",  # hidden by /etc's 20-b
            "run/sysctl.d/15-run.conf": "; comment\nvm/swappiness=5\n",
            "etc/sysctl.d/20-b.conf": "# ours\n-vm.swappiness = 7\nkernel.sem = 250  32000 100   64\n",
            "etc/sysctl.d/README": "vm.swappiness = 99\n",  # not *.conf
            "etc/sysctl.conf": "net.core.somaxconn=1024\n",
        },
    )
    profile = {
        "sysctl": {
            "vm.swappiness": {"op": "le", "value": 10},
            "kernel.sem": {"op": "ge", "value": [250, 32000, 100, 128]},
            "net.core.somaxconn": {"op": "ge", "value": 2048},
        }
    }
    c = ctx(root, profile)
    assert sysctl_files(c) == [
        "/usr/lib/sysctl.d/10-a.conf",
        "/run/sysctl.d/15-run.conf",
        "/etc/sysctl.d/20-b.conf",
        "/etc/sysctl.conf",
    ]
    pe = run_check(SysctlPersisted, c)
    p = by_subject(pe.findings)
    assert p["vm.swappiness"] == Finding(
        Status.PASS,
        "vm.swappiness",
        "7 (expected <= 10)",
        expected="<= 10",
        actual="7",
        location="/etc/sysctl.d/20-b.conf:2",
    )
    assert p["kernel.sem"].message == "250 32000 100 64, expected >= 250 32000 100 128"
    assert p["kernel.sem"].status is Status.FAIL
    assert p["net.core.somaxconn"].location == "/etc/sysctl.conf:1"
    assert p["net.core.somaxconn"].status is Status.FAIL
    rt = run_check(SysctlRuntime, c)
    assert [f.status for f in rt.findings] == [Status.PASS, Status.PASS, Status.PASS]
    assert by_subject(rt.findings)["kernel.sem"].actual == "250 32000 100 128"


def test_sysroot_without_proc_sys_skips_runtime(tmp_path: Path) -> None:
    write(tmp_path, {"etc/sysctl.conf": "vm.swappiness = 10\n"})
    out = run_check(SysctlRuntime, ctx(tmp_path))
    assert (out.status, out.message) == (
        Status.SKIP,
        "kernel parameters need /proc/sys; the sysroot has none",
    )
    # without /proc/sys the kernel's keys are unknown: every key is judged
    pe = run_check(SysctlPersisted, ctx(tmp_path))
    p = by_subject(pe.findings)
    assert p["vm.swappiness"].status is Status.PASS
    assert p["net.ipv4.tcp_tw_recycle"].message == "not persisted (lost at reboot)"


def _sysctl_n(key: str) -> str | None:
    r = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, check=False)
    return " ".join(r.stdout.split()) if r.returncode == 0 else None


def test_live_runtime_matches_sysctl_n() -> None:
    out = run_check(SysctlRuntime, ctx(None))
    assert out.status in (Status.PASS, Status.FAIL)
    for f in out.findings:
        spec = PROFILE["sysctl"][f.subject]
        real = _sysctl_n(f.subject)
        if spec["op"] == "ignore":
            assert f.status is Status.SKIP
        elif real is None:
            assert f.status is Status.SKIP
            assert f.message.startswith(f"not applicable: this kernel has no {f.subject}")
            assert not Path(proc_path(f.subject)).exists()
        else:
            assert f.actual == real, f.subject
            assert f.location == proc_path(f.subject)


# Persisted values on a live host: tests/checks/test_live_state.py builds the files.
