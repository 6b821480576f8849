"""sysctl.runtime and sysctl.persisted on the fixture sysroots, on small sysroots, and live.

sysctl at the edges a mutation pass found unjudged: the fix plan (which file,
which line, which value), key spelling, runtime reads that fail, and values
the kernel would refuse."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks._compare import describe
from harborkit.checks.sysctl import (
    DROPIN,
    SysctlPersisted,
    SysctlRuntime,
    _judge,
    _na,
    _wanted_value,
    normalize_key,
    persisted,
    plan_persist,
    proc_path,
    sysctl_files,
)
from harborkit.collect.snapshot import Snapshot
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.change import Command, FileChange
from harborkit.model.check import CheckContext, Finding, Status
from tests.support.checks import ctx
from tests.support.sysroot import rows, write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


PROFILE = load_profile().data


TW_RECYCLE_NA = (
    "not applicable: this kernel has no net.ipv4.tcp_tw_recycle "
    "(removed in Linux 4.12; absent is not applicable)"
)


DROP_CACHES = "a one-shot trigger that drops the page cache, not a setting"


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


HEADER = "# Kernel parameters for Harbor (written by harborkit fix)\n"


LATE = "/etc/sysctl.d/99-late:b.conf"  # a colon in the name, before the line number


# every way a key can need persisting, on a kernel with /proc/sys
SYSCTL_PROFILE: dict[str, Any] = {
    "sysctl": {
        "vm.drop_caches": {"op": "ignore", "note": "trigger"},
        "vm.overcommit_memory": {"op": "eq", "value": 1},  # persisted as wanted
        "net.ipv4.tcp_tw_recycle": {"op": "eq", "value": 0},  # absent, persisted in the drop-in
        "net.ipv4.tcp_timestamps": {"op": "eq", "value": 1},  # absent, never persisted
        "kernel.sem": {"op": "ge", "value": [250, 32000, 100, 128]},  # not persisted
        "vm.swappiness": {"op": "le", "value": 10},  # wrong in the drop-in; runtime better
        "vm.max_map_count": {"op": "ge", "value": 655360},  # wrong in /etc/sysctl.conf
        "fs.file-max": {"op": "ge", "value": 1000},  # wrong in a file read before the drop-in
        "net.core.somaxconn": {"op": "ge", "value": 1024},  # wrong in a file read after it
        "net.ipv4.tcp_tw_reuse": {"op": "in", "value": [1, 2]},  # not persisted
    }
}


FILES = {
    "proc/sys/kernel/sem": "250 16000 100 200\n",
    "proc/sys/vm/swappiness": "5\n",
    "proc/sys/vm/max_map_count": "65530\n",
    "proc/sys/vm/overcommit_memory": "1\n",
    "proc/sys/fs/file-max": "100\n",
    "proc/sys/net/core/somaxconn": "4096\n",
    "proc/sys/net/ipv4/tcp_tw_reuse": "0\n",
    "proc/sys/vm/drop_caches": "0\n",
    "etc/sysctl.d/90-early.conf": "fs.file-max = 50\nvm.overcommit_memory = 1\n",
    "etc/sysctl.d/90-harbor.conf": "# mine\nnet.ipv4.tcp_tw_recycle = 0\nvm.swappiness = 30\n",
    "etc/sysctl.d/99-late:b.conf": "# late\nnet.core.somaxconn = 128\n",
    "etc/sysctl.conf": "vm.max_map_count=1\n",
}


def sysctl_ctx(root: Path, profile: dict[str, Any] | None = None) -> CheckContext:
    return ctx(root, profile or SYSCTL_PROFILE)


def test_plan_edits_late_files_and_appends_the_rest(tmp_path: Path) -> None:
    c = sysctl_ctx(write(tmp_path, FILES))
    applied_after = " is applied after /etc/sysctl.d/90-harbor.conf"
    assert plan_persist(c) == {
        "/etc/sysctl.conf": ("vm.max_map_count = 655360\n", "/etc/sysctl.conf" + applied_after),
        LATE: ("# late\nnet.core.somaxconn = 4096\n", LATE + applied_after),
        DROPIN: (
            "# mine\n"
            "# net.ipv4.tcp_tw_recycle = 0  # harborkit: this kernel has no such key\n"
            "vm.swappiness = 5\n"  # the kernel's 5 is already below the maximum 10
            "# net.ipv4.tcp_timestamps left out: this kernel has no such key\n"
            "kernel.sem = 250 32000 100 200\n"  # the better of each field
            "fs.file-max = 1000\n"
            "net.ipv4.tcp_tw_reuse = 1\n",
            "sysctl --system and every boot apply it",
        ),
    }
    # the same plan as changes of each check; only the drop-in is harborkit's own
    changes = SysctlPersisted().plan(c, run_check(SysctlPersisted, c))
    assert [
        (ch.path, ch.owned, ch.check_ids, ch.reason) for ch in changes if isinstance(ch, FileChange)
    ] == [
        ("/etc/sysctl.conf", False, ("sysctl.persisted",), "/etc/sysctl.conf" + applied_after),
        (LATE, False, ("sysctl.persisted",), LATE + applied_after),
        (DROPIN, True, ("sysctl.persisted",), "sysctl --system and every boot apply it"),
    ]
    assert len(changes) == 3


def test_runtime_plan_adds_sysctl_system_only_when_a_value_fails(tmp_path: Path) -> None:
    c = sysctl_ctx(write(tmp_path, FILES))
    out = run_check(SysctlRuntime, c)
    changes = list(SysctlRuntime().plan(c, out))
    assert {ch.check_ids for ch in changes} == {("sysctl.runtime",)}
    assert [ch.path for ch in changes[:-1] if isinstance(ch, FileChange)] == [
        "/etc/sysctl.conf",
        LATE,
        DROPIN,
    ]
    assert changes[-1] == Command(
        ("sysctl.runtime",),
        ("sysctl", "--system"),
        "apply the persisted values now",
        irreversible="the kernel values set by sysctl --system stay until reboot",
    )
    profile = {"sysctl": {"vm.swappiness": {"op": "le", "value": 10}}}
    ok = {"proc/sys/kernel/ostype": "Linux\n", "proc/sys/vm/swappiness": "5\n"}
    c2 = sysctl_ctx(write(tmp_path / "ok", ok), profile)
    assert run_check(SysctlRuntime, c2).status is Status.PASS
    assert tuple(SysctlRuntime().plan(c2, run_check(SysctlRuntime, c2))) == ()


def test_plan_writes_a_new_drop_in_and_does_not_repeat_notes(tmp_path: Path) -> None:
    files = {
        "proc/sys/kernel/ostype": "Linux\n",
        "proc/sys/vm/swappiness": "60\n",
        "etc/sysctl.d/50-x.conf": "vm.swappiness = 60\n",
    }
    profile = {
        "sysctl": {
            "vm.swappiness": {"op": "le", "value": 10},
            "net.ipv4.tcp_tw_recycle": {"op": "eq", "value": 0},
        }
    }
    c = sysctl_ctx(write(tmp_path, files), profile)
    assert plan_persist(c) == {
        DROPIN: (
            HEADER
            + "# net.ipv4.tcp_tw_recycle left out: this kernel has no such key\n"
            + "vm.swappiness = 10\n",
            "sysctl --system and every boot apply it",
        )
    }
    # a drop-in that already says so does not get the note twice
    again = tmp_path / "again"
    write(again, {**files, "etc/sysctl.d/90-harbor.conf": HEADER + "# net.ipv4.tcp_tw_recycle "
                  "left out: this kernel has no such key\n"})  # fmt: skip
    c = sysctl_ctx(again, profile)
    assert plan_persist(c)[DROPIN][0] == (
        HEADER
        + "# net.ipv4.tcp_tw_recycle left out: this kernel has no such key\n"
        + "vm.swappiness = 10\n"
    )


def test_plan_without_proc_sys_persists_the_profile_values(tmp_path: Path) -> None:
    # a sysroot with no /proc/sys: no key is known absent, no runtime value is kept
    profile = {
        "sysctl": {
            "vm.swappiness": {"op": "le", "value": 10},
            "kernel.sem": {"op": "ge", "value": [250, 32000, 100, 128]},
            "vm.drop_caches": {"op": "ignore"},
        }
    }
    c = sysctl_ctx(write(tmp_path, {"etc/sysctl.conf": "vm.swappiness = 60\n"}), profile)
    assert plan_persist(c) == {
        "/etc/sysctl.conf": (
            "vm.swappiness = 10\n",
            "/etc/sysctl.conf is applied after /etc/sysctl.d/90-harbor.conf",
        ),
        DROPIN: (
            HEADER + "kernel.sem = 250 32000 100 128\n",
            "sysctl --system and every boot apply it",
        ),
    }


@pytest.mark.parametrize(
    ("spec", "current", "wanted"),
    [
        ({"op": "eq", "value": 1}, "0", "1"),
        ({"op": "eq", "value": 1}, None, "1"),
        ({"op": "ge", "value": 100}, "200", "200"),  # already above the minimum: kept
        ({"op": "ge", "value": 100}, "100", "100"),
        ({"op": "ge", "value": 100}, "50", "100"),
        ({"op": "le", "value": 10}, "5", "5"),
        ({"op": "le", "value": 10}, "60", "10"),
        ({"op": "eq", "value": 5}, "3", "5"),  # eq never keeps the current value
        ({"op": "in", "value": [1, 2]}, "0", "1"),  # the first allowed value
        ({"op": "in", "value": [1, 2]}, None, "1"),
        ({"op": "ge", "value": [250, 32000, 100, 128]}, "300 100 100 64", "300 32000 100 128"),
        ({"op": "le", "value": [10, 20]}, "5 30", "5 20"),
        ({"op": "le", "value": [10, 20]}, "-1 30", "-1 20"),  # a negative field is kept
        ({"op": "le", "value": [10, 20]}, "X1 30", "10 20"),  # only a '-' is taken off
        ({"op": "ge", "value": [250, 32000]}, "-1 5", "250 32000"),  # negative read as a number
        ({"op": "ge", "value": [250, 32000]}, "1 2 3", "250 32000"),  # field count differs
        ({"op": "ge", "value": [250, 32000]}, "x 5", "250 32000"),  # not numbers
        ({"op": "ge", "value": [250, 32000]}, None, "250 32000"),
        ({"op": "eq", "value": [1, 2]}, "3 4", "1 2"),  # eq: the profile's list as is
    ],
)
def test_wanted_value(spec: dict[str, Any], current: str | None, wanted: str) -> None:
    assert _wanted_value(spec, current) == wanted


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("vm.swappiness", "vm.swappiness"),
        ("  vm.swappiness\t", "vm.swappiness"),
        ("vm/swappiness", "vm.swappiness"),
        ("/net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0.100.rp_filter"),
        ("net.ipv4.conf.eth0/100.rp_filter", "net.ipv4.conf.eth0/100.rp_filter"),  # dot first
        ("kernel/", "kernel"),
        ("vm/X", "vm.X"),
    ],
)
def test_normalize_key(raw: str, key: str) -> None:
    assert normalize_key(raw) == key


def test_not_applicable_note() -> None:
    assert _na("a.b", {}) == "not applicable: this kernel has no a.b"
    assert _na("a.b", {"note": "gone"}) == "not applicable: this kernel has no a.b (gone)"


@pytest.mark.parametrize(
    ("spec", "actual", "row"),
    [
        # a value the kernel refuses fails even where text would compare equal
        (
            {"op": "in", "value": [[1, 2], [3, 4]]},
            "1 x",
            ("fail", "'1 x' is not a number the kernel reads (the write fails), expected "
             "one of 1 2, 3 4"),
        ),
        ({"op": "in", "value": [1, 2]}, "0x2", ("pass", "0x2 (expected one of 1, 2)")),
        ({"op": "in", "value": [1, 2]}, "3", ("fail", "3, expected one of 1, 2")),
        ({"op": "in", "value": []}, "1", ("fail", "1, expected one of ")),
        ({"op": "eq", "value": "cubic"}, "cubic", ("pass", "cubic (expected = cubic)")),
        ({"op": "in", "value": ["cubic", "bbr"]}, "bbr", ("pass", "bbr (expected one of cubic, bbr)")),
        ({"op": "eq", "value": True}, "1", ("pass", "1 (expected = True)")),  # not a number list
        ({"op": "eq", "value": []}, "1", ("fail", "1, expected = ")),
        ({"op": "ge", "value": 10}, "012", ("pass", "012 (expected >= 10)")),  # octal 10
    ],
)  # fmt: skip
def test_judge(spec: dict[str, Any], actual: str, row: tuple[str, str]) -> None:
    f = _judge("k", spec, actual, "/x:1")
    want = describe(spec["op"], spec["value"])
    assert f == Finding(Status(row[0]), "k", row[1], expected=want, actual=actual, location="/x:1")


def test_persisted_lines_the_parser_skips_or_reads(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "etc/sysctl.conf": (
                "\n"
                "   \n"
                "# vm.a = 1\n"
                "; vm.b = 2\n"
                "vm.c\n"  # no '=': skipped
                "  vm.d   =   1   2  \n"
                "-vm.e=3\n"
                "vm/f/g = 4\n"
                "X.y = 5\n"  # a key is whatever stands before the first '='
                "vm.h = a=b\n"
            )
        },
    )
    saved = persisted(sysctl_ctx(root))
    assert {k: (a.key, a.value, a.location) for k, a in saved.items()} == {
        "vm.d": ("vm.d", "1 2", "/etc/sysctl.conf:6"),
        "vm.e": ("vm.e", "3", "/etc/sysctl.conf:7"),
        "vm.f.g": ("vm.f.g", "4", "/etc/sysctl.conf:8"),
        "X.y": ("X.y", "5", "/etc/sysctl.conf:9"),
        "vm.h": ("vm.h", "a=b", "/etc/sysctl.conf:10"),
    }


def _snapshot_host(files: dict[str, bytes], errors: dict[str, str]) -> SnapshotHost:
    snap = Snapshot(source="h1")
    snap.files.update(files)
    snap.errors.update(errors)
    snap.kinds.update({"/proc/sys/kernel": "d", "/etc/sysctl.conf": "f"})
    snap.kinds.update({p: "f" for p in [*files, *errors]})
    for d in ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
              "/lib/sysctl.d"):  # fmt: skip
        snap.listings[d] = [p.rsplit("/", 1)[1] for p in [*files, *errors] if p.startswith(d + "/")]
    return SnapshotHost(snap)


def test_runtime_value_the_collector_could_not_read_warns() -> None:
    # a collector not run as root cannot read some /proc/sys files (e.g. kernel.cad_pid)
    host = _snapshot_host(
        {"/proc/sys/vm/swappiness": b"60\n", "/etc/sysctl.conf": b"vm.swappiness = 60\n"},
        {
            "/proc/sys/kernel/sem": "cat: /proc/sys/kernel/sem: Permission denied",
            # an unreadable sysctl.d file is passed over (systemd-sysctl warns and goes on)
            "/etc/sysctl.d/50-x.conf": "cat: /etc/sysctl.d/50-x.conf: Permission denied",
        },
    )
    profile = {
        "sysctl": {
            "kernel.sem": {"op": "ge", "value": [250, 32000, 100, 128]},
            "vm.swappiness": {"op": "le", "value": 10},
        }
    }
    c = CheckContext(host=host, profile=profile)
    out = run_check(SysctlRuntime, c)
    assert rows(out.findings) == [
        (
            "warn",
            "kernel.sem",
            "cannot read /proc/sys/kernel/sem: permission denied (run as root)",
            "/proc/sys/kernel/sem",
        ),
        ("fail", "vm.swappiness", "60, expected <= 10", "/proc/sys/vm/swappiness"),
    ]
    assert out.message == "vm.swappiness: 60, expected <= 10"
    assert {k: a.location for k, a in persisted(c).items()} == {
        "vm.swappiness": "/etc/sysctl.conf:1"
    }
    # the plan then cannot keep a better runtime value: the profile's value is written
    assert plan_persist(c) == {
        "/etc/sysctl.conf": (
            "vm.swappiness = 10\n",
            "/etc/sysctl.conf is applied after /etc/sysctl.d/90-harbor.conf",
        ),
        DROPIN: (
            HEADER + "kernel.sem = 250 32000 100 128\n",
            "sysctl --system and every boot apply it",
        ),
    }


def test_ok_messages_count_judged_keys_only(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "proc/sys/kernel/ostype": "Linux\n",
            "proc/sys/vm/swappiness": "5\n",
            "proc/sys/vm/drop_caches": "0\n",
            "etc/sysctl.conf": "vm.swappiness = 5\nvm.drop_caches = 3\n",
        },
    )
    profile = {
        "sysctl": {
            "vm.swappiness": {"op": "le", "value": 10},
            "vm.drop_caches": {"op": "ignore"},
            "net.ipv4.tcp_tw_recycle": {"op": "eq", "value": 0},
        }
    }
    c = sysctl_ctx(root, profile)
    rt = run_check(SysctlRuntime, c)
    assert (rt.status, rt.message) == (Status.PASS, "1 keys as expected")
    assert rows(rt.findings)[1:] == [
        ("skip", "vm.drop_caches", "ignored", None),
        ("skip", "net.ipv4.tcp_tw_recycle", "not applicable: this kernel has no "
         "net.ipv4.tcp_tw_recycle", None),
    ]  # fmt: skip
    pe = run_check(SysctlPersisted, c)
    assert (pe.status, pe.message) == (Status.PASS, "1 keys persisted as expected")
    assert rows(pe.findings)[1] == (
        "skip",
        "vm.drop_caches",
        "ignored (persisted as 3)",
        "/etc/sysctl.conf:2",
    )
    assert pe.findings[0] == Finding(
        Status.PASS,
        "vm.swappiness",
        "5 (expected <= 10)",
        expected="<= 10",
        actual="5",
        location="/etc/sysctl.conf:1",
    )


def test_plan_keeps_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    # a Latin-1 comment (an old installer's) is kept byte for byte (surrogate-escaped
    # in the planned text, encoded back as it was), not refused nor replaced by U+FFFD
    write(tmp_path, {"proc/sys/kernel/ostype": "Linux\n", "proc/sys/vm/swappiness": "60\n"})
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    (tmp_path / "etc/sysctl.d/90-harbor.conf").write_bytes(
        b"# r\xe9glages\nnet.ipv4.tcp_tw_recycle = 0\nvm.swappiness = 60\n"
    )
    (tmp_path / "etc/sysctl.conf").write_bytes(b"# caf\xe9\nvm.max_map_count = 1\n")
    write(tmp_path, {"proc/sys/vm/max_map_count": "65530\n"})
    profile = {
        "sysctl": {
            "net.ipv4.tcp_tw_recycle": {"op": "eq", "value": 0},
            "vm.swappiness": {"op": "le", "value": 10},
            "vm.max_map_count": {"op": "ge", "value": 655360},
            "fs.file-max": {"op": "ge", "value": 1000},
        }
    }
    # only a line of the drop-in changes: it is still the drop-in's own plan
    # (its notes kept, its own reason), not "applied after" itself
    assert plan_persist(sysctl_ctx(tmp_path, profile)) == {
        "/etc/sysctl.conf": (
            "# caf\udce9\nvm.max_map_count = 655360\n",
            "/etc/sysctl.conf is applied after /etc/sysctl.d/90-harbor.conf",
        ),
        DROPIN: (
            "# r\udce9glages\n"
            "# net.ipv4.tcp_tw_recycle = 0  # harborkit: this kernel has no such key\n"
            "vm.swappiness = 10\n"
            "# fs.file-max left out: this kernel has no such key\n",
            "sysctl --system and every boot apply it",
        ),
    }


def test_plan_with_proc_sys_values_but_no_kernel_folder(tmp_path: Path) -> None:
    # /proc/sys/kernel is what tells a sysroot's recorded /proc/sys apart: without
    # it no runtime value is read, even one that is there
    root = write(tmp_path, {"proc/sys/vm/swappiness": "5\n"})
    profile = {"sysctl": {"vm.swappiness": {"op": "le", "value": 10}}}
    assert plan_persist(sysctl_ctx(root, profile)) == {
        DROPIN: (HEADER + "vm.swappiness = 10\n", "sysctl --system and every boot apply it")
    }


def test_plan_copies_a_vendor_file_the_new_drop_in_would_hide(tmp_path: Path) -> None:
    # /etc/sysctl.d/90-harbor.conf hides /usr/lib/sysctl.d/90-harbor.conf: written from
    # scratch it would drop the vendor file's other settings, so it starts as its copy;
    # the vendor file itself is never edited
    vendor = "/usr/lib/sysctl.d/90-harbor.conf"
    files = {
        "proc/sys/kernel/ostype": "Linux\n",
        "proc/sys/vm/swappiness": "60\n",
        "proc/sys/kernel/pid_max": "65536\n",
        vendor.lstrip("/"): "# vendor\nkernel.pid_max = 65536\nvm.swappiness = 60\n",
    }
    profile = {
        "sysctl": {
            "vm.swappiness": {"op": "le", "value": 10},
            "net.ipv4.tcp_tw_recycle": {"op": "eq", "value": 0},
        }
    }
    c = sysctl_ctx(write(tmp_path, files), profile)
    assert plan_persist(c) == {
        DROPIN: (
            "# vendor\nkernel.pid_max = 65536\nvm.swappiness = 10\n"
            "# net.ipv4.tcp_tw_recycle left out: this kernel has no such key\n",
            f"sysctl --system and every boot apply it; it hides {vendor}, so it starts "
            "as a copy of that file",
        )
    }
