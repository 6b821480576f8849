"""hardware.cpu, hardware.memory, hardware.disk: live figures against nproc, /proc/meminfo, df."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.hardware import HardwareCpu, HardwareDisk, HardwareMemory
from harborkit.engine.interface import Check, CheckContext, CheckOptions, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
GIB = 1024**3


def ctx(profile: dict[str, Any] | None = None, **options: str) -> CheckContext:
    return CheckContext(
        host=LocalHost(), profile=profile or load_profile().data, options=CheckOptions(**options)
    )


def hardware(**figures: dict[str, float]) -> dict[str, Any]:
    data = copy.deepcopy(dict(load_profile().data))
    data["hardware"] = {**data["hardware"], **figures}
    return data


def nproc() -> int:
    return int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)


def mem_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def df_avail(path: str) -> int:
    out = subprocess.run(
        ["df", "-B1", "--output=avail", path], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1])


@pytest.mark.parametrize("check", [HardwareCpu, HardwareMemory, HardwareDisk])
def test_sysroot_skips(check: type[Check]) -> None:
    root = SYSROOTS / "centos7-compliant"
    c = CheckContext(host=SysrootHost(root), profile=load_profile().data)
    out = run_check(check, c)
    assert out.status is Status.SKIP
    assert out.message.endswith(f": auditing the sysroot {root}, not a running system")


def test_cpu_matches_nproc() -> None:
    n = nproc()
    out = run_check(HardwareCpu, ctx())
    expected = Status.FAIL if n < 2 else Status.WARN if n < 4 else Status.PASS
    assert out.status is expected
    assert out.findings[0].actual == f"{n} CPUs"
    assert out.findings[0].expected == ">= 2 (preferred 4)"


def test_cpu_thresholds() -> None:
    n = nproc()
    out = run_check(HardwareCpu, ctx(hardware(cpu={"min": n + 1, "preferred": n + 2})))
    assert (out.status, out.message) == (
        Status.FAIL,
        f"{n} CPUs: below Harbor's minimum of {n + 1}",
    )
    out = run_check(HardwareCpu, ctx(hardware(cpu={"min": n, "preferred": n + 1})))
    assert (out.status, out.message) == (
        Status.WARN,
        f"{n} CPUs: meets the minimum, below the preferred {n + 1}",
    )
    out = run_check(HardwareCpu, ctx(hardware(cpu={"min": n, "preferred": n})))
    assert (out.status, out.message) == (Status.PASS, f"{n} CPUs")


def test_memory_matches_meminfo() -> None:
    gib = mem_total() / GIB
    out = run_check(HardwareMemory, ctx())
    assert out.findings[0].actual == f"{gib:.1f} GiB"
    expected = Status.FAIL if gib < 3.8 else Status.WARN if gib < 7.6 else Status.PASS
    assert out.status is expected


def test_memory_within_five_percent_counts_as_the_figure() -> None:
    gib = mem_total() / GIB
    figure = round(gib / 0.97, 3)  # actual is 3% below the figure
    out = run_check(HardwareMemory, ctx(hardware(memory_gib={"min": figure, "preferred": figure})))
    assert out.status is Status.PASS
    assert out.message == f"{gib:.1f} GiB (counted as {figure:g} GiB: within 5% of it)"
    figure = round(gib / 0.9, 3)  # 10% below: not enough
    out = run_check(HardwareMemory, ctx(hardware(memory_gib={"min": figure, "preferred": figure})))
    assert (out.status, out.message) == (
        Status.FAIL,
        f"{gib:.1f} GiB: below Harbor's minimum of {figure:g} GiB",
    )
    out = run_check(
        HardwareMemory, ctx(hardware(memory_gib={"min": 1, "preferred": round(gib / 0.9, 3)}))
    )
    assert out.status is Status.WARN


def test_disk_matches_df_for_the_data_volume(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = tmp_path / "harbor.yml"
    cfg.write_text(f"hostname: 10.0.0.5\ndata_volume: {data}\n")
    out = run_check(HardwareDisk, ctx(harbor_config=str(cfg)))
    free = df_avail(str(data)) / GIB
    shown = float(out.findings[0].actual.split()[0])
    assert abs(shown - free) < 0.2
    assert out.findings[0].actual.endswith(f"GiB free under {data}")
    expected = Status.FAIL if shown < 40 else Status.WARN if shown < 160 else Status.PASS
    assert out.status is expected


# /data present or absent: tests/checks/test_live_state.py builds both states.


def test_disk_thresholds(tmp_path: Path) -> None:
    free = df_avail(str(tmp_path)) / GIB
    cfg = tmp_path / "harbor.yml"
    cfg.write_text(f"data_volume: {tmp_path}\n")
    big = round(free * 2 + 1)
    out = run_check(
        HardwareDisk,
        ctx(hardware(disk_gib={"min": big, "preferred": big}), harbor_config=str(cfg)),
    )
    assert out.status is Status.FAIL
    assert out.message.endswith(f"GiB free under {tmp_path}: below Harbor's minimum of {big} GiB")
