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


UNIX_HEAD = "Num       RefCount Protocol Flags    Type St Inode Path\n"


def unix_row(inode: int, path: str, listening: bool = True) -> str:
    flags = "00010000" if listening else "00000000"
    return f"0000000000000000: 00000002 00000000 {flags} 0001 01 {inode} {path}\n"


def _dockerd_host(limits: dict[int, str | None], serving: int | None = None) -> SnapshotHost:
    """A snapshot whose dockerd processes have these limits; ``serving`` (the
    first one by default) holds the listening /var/run/docker.sock, pid 1
    (systemd's docker.socket) holds it too, the others hold sockets of their own."""
    snap = Snapshot(source="h1")
    snap.processes = [(1, "systemd"), *((pid, "dockerd") for pid in limits)]
    snap.kinds["/etc/systemd/system/docker.service.d/90-harbor-limits.conf"] = "n"
    serving = next(iter(limits), None) if serving is None else serving
    table, listing = UNIX_HEAD, "/proc/1/fd:\nlrwx------ 1 root root 64 3 -> socket:[5000]\n"
    table += unix_row(5000, "/var/run/docker.sock")
    for n, pid in enumerate(limits):
        inode = 5000 if pid == serving else 6000 + n
        table += unix_row(inode, f"/run/user/{pid}/docker.sock") if inode != 5000 else ""
        listing += f"/proc/{pid}/fd:\nlrwx------ 1 root root 64 4 -> socket:[{inode}]\n"
    snap.files["/proc/net/unix"] = table.encode()
    snap.facts["sockets"] = listing
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
    c = CheckContext(host=_dockerd_host({812: PROC_LIMITS, 913: PROC_LIMITS}), profile=DOCKERD)
    out = run_check(DockerdLimits, c)
    where = "/proc/812/limits"
    hint = "in a docker.service drop-in"
    assert rows(out.findings) == [
        (
            "fail",
            "dockerd[812] soft nofile",
            f"20000, expected >= 655350: set LimitNOFILE= {hint}",
            where,
        ),
        (
            "fail",
            "dockerd[812] hard nofile",
            f"20000, expected >= 655350: set LimitNOFILE= {hint}",
            where,
        ),
        (
            "fail",
            "dockerd[812] soft nproc",
            f"96365, expected >= unlimited: set LimitNPROC= {hint}",
            where,
        ),
        (
            "fail",
            "dockerd[812] hard nproc",
            f"96365, expected >= unlimited: set LimitNPROC= {hint}",
            where,
        ),
        ("pass", "dockerd[812] soft stack", "8388608 (expected <= unlimited)", where),
        ("pass", "dockerd[812] hard stack", "unlimited (expected <= unlimited)", where),
        ("pass", "dockerd[812] soft core", "0 (expected = 0)", where),
        (
            "fail",
            "dockerd[812] hard core",
            f"unlimited, expected = 0: set LimitCORE= {hint}",
            where,
        ),
        ("warn", "dockerd[812] cpu", "no 'cpu' limit known in /proc/812/limits", None),
    ]  # fmt: skip  (913, a dockerd of its own socket, is not Harbor's: not judged)
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
    c = CheckContext(host=_dockerd_host({700: None}), profile=profile)
    assert rows(run_check(DockerdLimits, c).findings) == [
        ("warn", "dockerd[700]",
         "cannot read /proc/700/limits: [Errno 13] Permission denied: '/proc/700/limits'", None),
    ]  # fmt: skip
    c = CheckContext(host=_dockerd_host({700: None, 812: text}, serving=812), profile=profile)
    assert rows(run_check(DockerdLimits, c).findings) == [
        ("pass", "dockerd[812] soft nofile", "1024 (expected >= 1024)", "/proc/812/limits"),
        ("pass", "dockerd[812] hard nofile", "4096 (expected >= 1024)", "/proc/812/limits"),
        ("warn", "dockerd[812] sigpending", "no 'sigpending' limit known in /proc/812/limits",
         None),
    ]  # fmt: skip


def _unknown(host: SnapshotHost) -> tuple[str, str]:
    out = run_check(DockerdLimits, CheckContext(host=host, profile=DOCKERD))
    return out.status.value, out.message


def test_only_the_dockerd_holding_the_docker_socket_is_judged() -> None:
    """Of three dockerd processes only the one holding the listening
    /var/run/docker.sock (or /run/docker.sock) is judged, wherever it is listed."""
    for serving in (812, 913, 1000):
        h = _dockerd_host({812: PROC_LIMITS, 913: PROC_LIMITS, 1000: PROC_LIMITS}, serving)
        out = run_check(DockerdLimits, CheckContext(host=h, profile=DOCKERD))
        assert {f.subject.split()[0] for f in out.findings} == {f"dockerd[{serving}]"}
    h = _dockerd_host({812: PROC_LIMITS, 913: PROC_LIMITS}, serving=913)
    table = h.snapshot.files["/proc/net/unix"].decode()
    h.snapshot.files["/proc/net/unix"] = table.replace(
        "/var/run/docker.sock", "/run/docker.sock"
    ).encode()
    out = run_check(DockerdLimits, CheckContext(host=h, profile=DOCKERD))
    assert {f.subject.split()[0] for f in out.findings} == {"dockerd[913]"}


def test_when_the_serving_dockerd_cannot_be_told_nothing_is_judged() -> None:
    both = {812: PROC_LIMITS, 913: PROC_LIMITS}
    # no socket listens at the path (a connected one only)
    h = _dockerd_host(both)
    h.snapshot.files["/proc/net/unix"] = (
        UNIX_HEAD + unix_row(5000, "/var/run/docker.sock", False)
    ).encode()
    assert _unknown(h) == (
        "skip",
        "nothing listens on /var/run/docker.sock or /run/docker.sock; "
        "the 2 dockerd processes running not judged",
    )
    # only systemd holds it (dockerd not started by the socket yet, or unseen)
    h = _dockerd_host(both, serving=1)
    assert _unknown(h) == (
        "skip",
        "no dockerd holds the socket listening on /var/run/docker.sock or /run/docker.sock "
        "(the collector may lack the rights to see it); the 2 dockerd processes running not judged",
    )
    # two dockerds hold it
    h = _dockerd_host(both)
    h.snapshot.facts["sockets"] += "/proc/913/fd:\nlrwx------ 1 root root 64 9 -> socket:[5000]\n"
    assert _unknown(h) == (
        "skip",
        "several dockerd processes (812, 913) hold /var/run/docker.sock or /run/docker.sock; "
        "none judged",
    )
    # an old snapshot without the socket owners
    h = _dockerd_host({812: PROC_LIMITS})
    del h.snapshot.facts["sockets"]
    assert _unknown(h) == (
        "skip",
        "the snapshot from h1 has no socket owners: which dockerd serves /var/run/docker.sock "
        "or /run/docker.sock cannot be told; the dockerd running not judged",
    )
    # a snapshot without /proc/net/unix: the check says what is missing
    h = _dockerd_host({812: PROC_LIMITS})
    del h.snapshot.files["/proc/net/unix"]
    status, message = _unknown(h)
    assert status == "skip" and message.startswith("the snapshot from h1 has no ")
    assert "/proc/net/unix" in message
