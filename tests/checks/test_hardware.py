"""hardware.cpu, hardware.memory, hardware.disk: live figures against nproc, /proc/meminfo, df.

hardware.cpu, hardware.memory, hardware.disk at their exact boundaries.

The figures come from a recorded snapshot of a running system (the product's
own carried-snapshot backend): ``nproc``, ``/proc/meminfo`` and ``df -Pk`` as
the collector records them, so no verdict depends on this machine."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.hardware import HardwareCpu, HardwareDisk, HardwareMemory
from harborkit.collect.snapshot import Snapshot
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import Check, CheckContext, CheckOptions, Finding, Outcome, Status
from tests.support.checks import ctx

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


GIB = 1024**3


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
    out = run_check(HardwareCpu, ctx(profile=hardware(cpu={"min": n + 1, "preferred": n + 2})))
    assert (out.status, out.message) == (
        Status.FAIL,
        f"{n} CPUs: below Harbor's minimum of {n + 1}",
    )
    out = run_check(HardwareCpu, ctx(profile=hardware(cpu={"min": n, "preferred": n + 1})))
    assert (out.status, out.message) == (
        Status.WARN,
        f"{n} CPUs: meets the minimum, below the preferred {n + 1}",
    )
    out = run_check(HardwareCpu, ctx(profile=hardware(cpu={"min": n, "preferred": n})))
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
    out = run_check(
        HardwareMemory, ctx(profile=hardware(memory_gib={"min": figure, "preferred": figure}))
    )
    assert out.status is Status.PASS
    assert out.message == f"{gib:.1f} GiB (counted as {figure:g} GiB: within 5% of it)"
    figure = round(gib / 0.9, 3)  # 10% below: not enough
    out = run_check(
        HardwareMemory, ctx(profile=hardware(memory_gib={"min": figure, "preferred": figure}))
    )
    assert (out.status, out.message) == (
        Status.FAIL,
        f"{gib:.1f} GiB: below Harbor's minimum of {figure:g} GiB",
    )
    out = run_check(
        HardwareMemory,
        ctx(profile=hardware(memory_gib={"min": 1, "preferred": round(gib / 0.9, 3)})),
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


def test_disk_thresholds(tmp_path: Path) -> None:
    free = df_avail(str(tmp_path)) / GIB
    cfg = tmp_path / "harbor.yml"
    cfg.write_text(f"data_volume: {tmp_path}\n")
    big = round(free * 2 + 1)
    out = run_check(
        HardwareDisk,
        ctx(profile=hardware(disk_gib={"min": big, "preferred": big}), harbor_config=str(cfg)),
    )
    assert out.status is Status.FAIL
    assert out.message.endswith(f"GiB free under {tmp_path}: below Harbor's minimum of {big} GiB")


KIB_PER_GIB = 1024 * 1024


PROFILE = load_profile().data  # cpu 2/4, memory_gib 4/8, disk_gib 40/160


# /proc/meminfo's first lines, as the kernel writes them (MemTotal in kB)
MEMINFO = "MemTotal:       {kb} kB\nMemFree:         1534788 kB\nMemAvailable:    2921264 kB\n"


# the collector's df record: the nearest existing folder, then `df -Pk` of it
DF = (
    "{folder}\n"
    "Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
    "/dev/vdb        264212084 27060308  {avail} 26% {folder}\n"
)


def host(**facts: Any) -> SnapshotHost:
    snap = Snapshot("server58")
    if "nproc" in facts:
        snap.facts["nproc"] = f"{facts['nproc']}\n"
    if "mem_kb" in facts:
        snap.files["/proc/meminfo"] = MEMINFO.format(kb=facts["mem_kb"]).encode()
    for path, (folder, avail) in facts.get("df", {}).items():
        snap.facts[f"df:{path}"] = DF.format(folder=folder, avail=avail)
    for path, text in facts.get("files", {}).items():
        snap.files[path] = text.encode()
    return SnapshotHost(snap)


def profile(**figures: dict[str, float]) -> dict[str, Any]:
    data = copy.deepcopy(dict(PROFILE))
    data["hardware"] = {**data["hardware"], **figures}
    return data


def one(out: Outcome) -> Finding:
    (f,) = out.findings
    assert (out.status, out.message) == (f.status, f.message)
    return f


@pytest.mark.parametrize(
    ("n", "status", "message"),
    [
        (1, Status.FAIL, "1 CPUs: below Harbor's minimum of 2"),
        (2, Status.WARN, "2 CPUs: meets the minimum, below the preferred 4"),
        (3, Status.WARN, "3 CPUs: meets the minimum, below the preferred 4"),
        (4, Status.PASS, "4 CPUs"),
        (64, Status.PASS, "64 CPUs"),
    ],
)
def test_cpu_boundaries(n: int, status: Status, message: str) -> None:
    f = one(run_check(HardwareCpu, CheckContext(host(nproc=n), PROFILE)))
    assert (f.status, f.subject, f.message, f.expected, f.actual, f.location) == (
        status,
        "cpu",
        message,
        ">= 2 (preferred 4)",
        f"{n} CPUs",
        None,
    )


def test_cpu_figures_with_fractions() -> None:
    ctx = CheckContext(host(nproc=3), profile(cpu={"min": 3.5, "preferred": 6}))
    f = one(run_check(HardwareCpu, ctx))
    assert (f.status, f.message, f.expected) == (
        Status.FAIL,
        "3 CPUs: below Harbor's minimum of 3.5",
        ">= 3.5 (preferred 6)",
    )


# min 10, preferred 20: 5% below is exactly 9.5 and 19 GiB
TEN_TWENTY = profile(memory_gib={"min": 10, "preferred": 20})


WARN = "meets the minimum, below the preferred 20 GiB"


@pytest.mark.parametrize(
    ("kb", "status", "message"),
    [
        (int(9.5 * KIB_PER_GIB) - 1, Status.FAIL, "9.5 GiB: below Harbor's minimum of 10 GiB"),
        (
            int(9.5 * KIB_PER_GIB),
            Status.WARN,
            f"9.5 GiB: {WARN} (counted as 10 GiB: within 5% of it)",
        ),
        (
            10 * KIB_PER_GIB - 1,
            Status.WARN,
            f"10.0 GiB: {WARN} (counted as 10 GiB: within 5% of it)",
        ),
        (10 * KIB_PER_GIB, Status.WARN, f"10.0 GiB: {WARN}"),
        (19 * KIB_PER_GIB - 1, Status.WARN, f"19.0 GiB: {WARN}"),
        (19 * KIB_PER_GIB, Status.PASS, "19.0 GiB (counted as 20 GiB: within 5% of it)"),
        (20 * KIB_PER_GIB - 1, Status.PASS, "20.0 GiB (counted as 20 GiB: within 5% of it)"),
        (20 * KIB_PER_GIB, Status.PASS, "20.0 GiB"),
        (2 * KIB_PER_GIB, Status.FAIL, "2.0 GiB: below Harbor's minimum of 10 GiB"),
    ],
    ids=[
        "just-below-tolerated-min",
        "tolerated-min",
        "just-below-min",
        "min",
        "just-below-tolerated-preferred",
        "tolerated-preferred",
        "just-below-preferred",
        "preferred",
        "far-below",
    ],
)
def test_memory_boundaries(kb: int, status: Status, message: str) -> None:
    f = one(run_check(HardwareMemory, CheckContext(host(mem_kb=kb), TEN_TWENTY)))
    assert (f.status, f.subject, f.message, f.expected, f.location) == (
        status,
        "memory",
        message,
        ">= 10 GiB (preferred 20 GiB)",
        None,
    )
    assert f.actual == f"{kb / KIB_PER_GIB:.1f} GiB"


@pytest.mark.parametrize(
    ("kb", "status", "message"),
    [
        # a "4 GB" virtual machine: MemTotal a little under 4 GiB
        (4015852, Status.WARN, "3.8 GiB: meets the minimum, below the preferred 8 GiB "
         "(counted as 4 GiB: within 5% of it)"),
        (8152276, Status.PASS, "7.8 GiB (counted as 8 GiB: within 5% of it)"),
        (3500000, Status.FAIL, "3.3 GiB: below Harbor's minimum of 4 GiB"),
        (16 * KIB_PER_GIB, Status.PASS, "16.0 GiB"),
    ],
)  # fmt: skip
def test_memory_default_profile(kb: int, status: Status, message: str) -> None:
    f = one(run_check(HardwareMemory, CheckContext(host(mem_kb=kb), PROFILE)))
    assert (f.status, f.message, f.expected) == (status, message, ">= 4 GiB (preferred 8 GiB)")


def test_memory_within_both_figures_is_said_once() -> None:
    ctx = CheckContext(
        host(mem_kb=int(9.75 * KIB_PER_GIB)), profile(memory_gib={"min": 10, "preferred": 10})
    )
    f = one(run_check(HardwareMemory, ctx))
    assert (f.status, f.message, f.expected) == (
        Status.PASS,
        "9.8 GiB (counted as 10 GiB: within 5% of it)",
        ">= 10 GiB (preferred 10 GiB)",
    )


def test_memory_fractional_figures() -> None:
    ctx = CheckContext(
        host(mem_kb=3 * KIB_PER_GIB), profile(memory_gib={"min": 3.5, "preferred": 7.5})
    )
    f = one(run_check(HardwareMemory, ctx))
    assert (f.status, f.message, f.expected) == (
        Status.FAIL,
        "3.0 GiB: below Harbor's minimum of 3.5 GiB",
        ">= 3.5 GiB (preferred 7.5 GiB)",
    )


@pytest.mark.parametrize(
    ("avail", "status", "message"),
    [
        (40 * KIB_PER_GIB - 1, Status.FAIL, "40.0 GiB free under /data: below Harbor's minimum of 40 GiB"),
        (40 * KIB_PER_GIB, Status.WARN, "40.0 GiB free under /data: meets the minimum, below the preferred 160 GiB"),
        (160 * KIB_PER_GIB - 1, Status.WARN, "160.0 GiB free under /data: meets the minimum, below the preferred 160 GiB"),
        (160 * KIB_PER_GIB, Status.PASS, "160.0 GiB free under /data"),
        (0, Status.FAIL, "0.0 GiB free under /data: below Harbor's minimum of 40 GiB"),
    ],
)  # fmt: skip
def test_disk_boundaries(avail: int, status: Status, message: str) -> None:
    ctx = CheckContext(host(df={"/data": ("/data", avail)}), PROFILE)
    f = one(run_check(HardwareDisk, ctx))
    assert (f.status, f.subject, f.message, f.expected, f.location) == (
        status,
        "disk",
        message,
        ">= 40 GiB (preferred 160 GiB)",
        None,
    )
    assert f.actual == message.partition(":")[0]


def test_disk_data_missing_is_judged_on_its_nearest_existing_folder() -> None:
    ctx = CheckContext(host(df={"/data": ("/", 200 * KIB_PER_GIB)}), PROFILE)
    f = one(run_check(HardwareDisk, ctx))
    assert (f.status, f.message) == (
        Status.PASS,
        "200.0 GiB free under /data (nearest existing folder: /)",
    )


HARBOR_YML = "/opt/harbor/harbor.yml"


@pytest.mark.parametrize(
    ("harbor_yml", "path", "folder"),
    [
        ("hostname: reg.example\ndata_volume: /srv/harbor\n", "/srv/harbor", "/srv/harbor"),
        ("hostname: reg.example\ndata_volume: /srv/new/harbor\n", "/srv/new/harbor", "/srv"),
        ("hostname: reg.example\ndata_volume: data\n", "/data", "/data"),
        ("hostname: reg.example\n", "/data", "/data"),
        ("hostname: [reg.example\n", "/data", "/data"),
    ],
    ids=["absolute", "not-yet-created", "relative-ignored", "not-set", "unusable-file"],
)
def test_disk_follows_harbor_yml_data_volume(harbor_yml: str, path: str, folder: str) -> None:
    h = host(files={HARBOR_YML: harbor_yml}, df={path: (folder, 50 * KIB_PER_GIB)})
    ctx = CheckContext(h, PROFILE, CheckOptions(harbor_config=HARBOR_YML))
    f = one(run_check(HardwareDisk, ctx))
    where = path if folder == path else f"{path} (nearest existing folder: {folder})"
    assert (f.status, f.message) == (
        Status.WARN,
        f"50.0 GiB free under {where}: meets the minimum, below the preferred 160 GiB",
    )


@pytest.mark.parametrize("check", [HardwareCpu, HardwareMemory, HardwareDisk])
def test_no_hardware_section_skips(check: type) -> None:
    h = host(nproc=4, mem_kb=16 * KIB_PER_GIB, df={"/data": ("/data", 1)})
    out = run_check(check, CheckContext(h, {}))
    assert (out.status, out.message) == (Status.SKIP, "the profile has no 'hardware' section")
