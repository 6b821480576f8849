"""limits of the running dockerd (/proc/<pid>/limits from a carried snapshot): the verdicts,
the rows the kernel prints, and the systemd drop-in that fix plans for them."""

from __future__ import annotations

import math

from harborkit.checks.limits import (
    DOCKER_LIMITS_DROPIN,
    DockerdLimits,
    parse_proc_limits,
)
from harborkit.collect.snapshot import Snapshot
from harborkit.engine.runner import run_check
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.change import Command, FileChange
from harborkit.model.check import CheckContext, Finding, Status
from tests.support.sysroot import rows

PROC_LIMITS = (
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max stack size            8388608              unlimited            bytes     \n"
    "Max core file size        0                    unlimited            bytes     \n"
    "Max processes             96365                96365                processes \n"
    "Max open files            20000                20000                files     \n"
    "Max locked memory         8388608              8388608              bytes     \n"
    "Max pending signals       96365                96365                signals   \n"
    "Max nice priority         0                    0                    \n"
)


def test_parse_proc_limits_rows() -> None:
    inf = math.inf
    assert parse_proc_limits(PROC_LIMITS) == {
        "Max cpu time": (inf, inf),
        "Max stack size": (8388608, inf),
        "Max core file size": (0, inf),
        "Max processes": (96365, 96365),
        "Max open files": (20000, 20000),
        "Max locked memory": (8388608, 8388608),
        "Max pending signals": (96365, 96365),
        "Max nice priority": (0, 0),
    }
    # the header is never a row, even without its usual words; odd rows are left out
    assert parse_proc_limits("Max open files  1  2\nMax open files  3  4\n") == {
        "Max open files": (3, 4)
    }
    assert parse_proc_limits("h\n Max x  1  2\nMax y  a  2\nMax z  1  b\nMax w 1 2\n") == {}


def _dockerd_host(limits: dict[int, str | None]) -> SnapshotHost:
    snap = Snapshot(source="h1")
    snap.processes = [(1, "systemd"), *((pid, "dockerd") for pid in limits)]
    snap.kinds["/etc/systemd/system/docker.service.d/90-harbor-limits.conf"] = "n"
    for pid, text in limits.items():
        snap.facts[f"exe:{pid}"] = "/usr/bin/dockerd\n"
        if text is None:
            snap.errors[f"/proc/{pid}/limits"] = f"cat: /proc/{pid}/limits: Permission denied"
        else:
            snap.files[f"/proc/{pid}/limits"] = text.encode()
    return SnapshotHost(snap)


DOCKERD = {
    "limits": {
        "dockerd": {
            "nofile": {"op": "ge", "value": 655350},
            "nproc": {"op": "ge", "value": "unlimited"},
            "stack": {"op": "le", "value": "unlimited"},
            "core": {"op": "eq", "value": 0},
            "cpu": {"op": "ge", "value": 1},  # no directive / row known for it
        }
    }
}


def test_dockerd_limits_from_a_snapshot() -> None:
    c = CheckContext(host=_dockerd_host({812: PROC_LIMITS, 913: None}), profile=DOCKERD)
    out = run_check(DockerdLimits, c)
    where = "/proc/812/limits"
    hint = "in a docker.service drop-in"
    assert rows(out.findings) == [
        ("fail", "dockerd[812] soft nofile", f"20000, expected >= 655350: set LimitNOFILE= {hint}",
         where),
        ("fail", "dockerd[812] hard nofile", f"20000, expected >= 655350: set LimitNOFILE= {hint}",
         where),
        ("fail", "dockerd[812] soft nproc",
         f"96365, expected >= unlimited: set LimitNPROC= {hint}", where),
        ("fail", "dockerd[812] hard nproc",
         f"96365, expected >= unlimited: set LimitNPROC= {hint}", where),
        ("pass", "dockerd[812] soft stack", "8388608 (expected <= unlimited)", where),
        ("pass", "dockerd[812] hard stack", "unlimited (expected <= unlimited)", where),
        ("pass", "dockerd[812] soft core", "0 (expected = 0)", where),
        ("fail", "dockerd[812] hard core", f"unlimited, expected = 0: set LimitCORE= {hint}",
         where),
        ("warn", "dockerd[812] cpu", "no 'cpu' limit known in /proc/812/limits", None),
        ("warn", "dockerd[913]",
         "cannot read /proc/913/limits: [Errno 13] Permission denied: '/proc/913/limits'", None),
    ]  # fmt: skip
    assert out.findings[5] == Finding(
        Status.PASS,
        "dockerd[812] hard stack",
        "unlimited (expected <= unlimited)",
        expected="<= unlimited",
        actual="unlimited",
        location=where,
    )
    changes = DockerdLimits().plan(c, out)
    assert changes == [
        FileChange(
            ("limits.dockerd",),
            DOCKER_LIMITS_DROPIN,
            b"# Limits for dockerd and its containers (written by harborkit fix)\n"
            b"[Service]\n"
            b"LimitCORE=0\n"
            b"LimitNOFILE=655350\n"
            b"LimitNPROC=infinity\n",
            None,
            "containers inherit dockerd's limits from its unit, not from limits.conf",
            owned=True,
        ),
        Command(
            ("limits.dockerd",),
            ("systemctl", "daemon-reload"),
            "read the changed docker.service drop-ins",
        ),
        Command(
            ("limits.dockerd",),
            ("systemctl", "restart", "docker"),
            "dockerd reads daemon.json and its unit only at start",
            restarts_docker=True,
        ),
    ]


def test_dockerd_limits_pass_and_plan_nothing() -> None:
    profile = {"limits": {"dockerd": {"nofile": {"op": "ge", "value": 1024}}}}
    c = CheckContext(host=_dockerd_host({812: PROC_LIMITS}), profile=profile)
    out = run_check(DockerdLimits, c)
    assert (out.status, out.message) == (Status.PASS, "dockerd limits as expected")
    assert DockerdLimits().plan(c, out) == ()
    # a failing item that has no systemd directive cannot be planned either
    profile = {"limits": {"dockerd": {"cpu": {"op": "ge", "value": 1}}}}
    c = CheckContext(
        host=_dockerd_host({812: "Limit\nMax cpu time  0  0  seconds\n"}), profile=profile
    )
    out = run_check(DockerdLimits, c)
    assert rows(out.findings) == [
        ("warn", "dockerd[812] cpu", "no 'cpu' limit known in /proc/812/limits", None)
    ]
    assert DockerdLimits().plan(c, out) == ()


def test_dockerd_not_running_in_the_snapshot_skips() -> None:
    c = CheckContext(host=_dockerd_host({}), profile=DOCKERD)
    out = run_check(DockerdLimits, c)
    assert (out.status, out.message) == (Status.SKIP, "dockerd is not running")
    c = CheckContext(host=_dockerd_host({}), profile={"limits": {}})
    out = run_check(DockerdLimits, c)
    assert (out.status, out.message) == (Status.SKIP, "the profile sets no limits.dockerd items")


def test_dockerd_plan_rewrites_its_own_drop_in_or_leaves_it() -> None:
    profile = {"limits": {"dockerd": {"nofile": {"op": "ge", "value": 655350}}}}
    want = (
        b"# Limits for dockerd and its containers (written by harborkit fix)\n"
        b"[Service]\n"
        b"LimitNOFILE=655350\n"
    )
    h = _dockerd_host({812: PROC_LIMITS})
    h.snapshot.files[DOCKER_LIMITS_DROPIN] = b"[Service]\nLimitNOFILE=1024\n"
    c = CheckContext(host=h, profile=profile)
    changes = DockerdLimits().plan(c, run_check(DockerdLimits, c))
    assert changes[0] == FileChange(
        ("limits.dockerd",),
        DOCKER_LIMITS_DROPIN,
        want,
        b"[Service]\nLimitNOFILE=1024\n",
        "containers inherit dockerd's limits from its unit, not from limits.conf",
        owned=True,  # harborkit's own file: rewritten whole
    )
    assert len(changes) == 3
    # the drop-in already says so (dockerd not restarted since): no change, no restart
    h.snapshot.files[DOCKER_LIMITS_DROPIN] = want
    assert DockerdLimits().plan(c, run_check(DockerdLimits, c)) == []


def test_every_limit_read_from_proc_has_its_systemd_directive() -> None:
    from harborkit.checks.limits import PROC_LIMIT_NAMES, SYSTEMD_DIRECTIVE

    assert PROC_LIMIT_NAMES.keys() == SYSTEMD_DIRECTIVE.keys()


def test_dockerd_unreadable_first_and_a_row_the_kernel_does_not_print() -> None:
    # the first dockerd's limits cannot be read: the next one is still judged;
    # a kernel without the "Max pending signals" row leaves that item unknown
    text = "Limit  Soft Limit  Hard Limit  Units\nMax open files  1024  4096  files\n"
    profile = {
        "limits": {
            "dockerd": {
                "nofile": {"op": "ge", "value": 1024},
                "sigpending": {"op": "ge", "value": 1},
            }
        }
    }
    c = CheckContext(host=_dockerd_host({700: None, 812: text}), profile=profile)
    assert rows(run_check(DockerdLimits, c).findings) == [
        ("warn", "dockerd[700]",
         "cannot read /proc/700/limits: [Errno 13] Permission denied: '/proc/700/limits'", None),
        ("pass", "dockerd[812] soft nofile", "1024 (expected >= 1024)", "/proc/812/limits"),
        ("pass", "dockerd[812] hard nofile", "4096 (expected >= 1024)", "/proc/812/limits"),
        ("warn", "dockerd[812] sigpending", "no 'sigpending' limit known in /proc/812/limits",
         None),
    ]  # fmt: skip
