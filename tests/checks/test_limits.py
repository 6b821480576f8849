"""limits.pam on the fixture sysroots and small sysroots; limits.dockerd against a real dockerd.

limits at the edges a mutation pass found unjudged: the fix plans, values as
pam_limits reads them, precedence, and dockerd's limits from a carried snapshot."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.limits import (
    LIMITS_DROPIN,
    DockerdLimits,
    Entry,
    PamLimits,
    PamLimitsCheck,
    _limit_value,
    _systemd_value,
    _value,
    _why_unset,
    effective,
    limits_files,
    parse_limits,
    parse_proc_limits,
)
from harborkit.collect.snapshot import Snapshot
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.change import FileChange
from harborkit.model.check import CheckContext, Finding, Status
from tests.support.checks import ctx
from tests.support.sysroot import rows, write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


PROFILE = load_profile().data


NOT_SET = "not set by any line pam_limits accepts (the inherited default applies)"


ULIMIT_MSG = (
    "only login shells run this: services such as dockerd (and so containers) do not get it"
)


CENTOS = 'ID="centos"\nID_LIKE="rhel fedora"\n'


DEBIAN = "ID=debian\n"


def expect(*entries: tuple[str, str, str, str, object]) -> dict:
    return {
        "limits": {
            "expected": [
                {"domain": d, "type": t, "item": i, "op": o, "value": v}
                for d, t, i, o, v in entries
            ]
        }
    }


def test_compliant_passes() -> None:
    out = run_check(PamLimitsCheck, ctx(SYSROOTS / "centos7-compliant"))
    assert (out.status, out.message) == (Status.PASS, "7 limits as expected")
    assert rows(out.findings) == [
        ("pass", "* soft nofile", "655350 (expected >= 655350)", "/etc/security/limits.conf:12"),
        ("pass", "* hard nofile", "655350 (expected >= 655350)", "/etc/security/limits.conf:13"),
        # limits.d is read after limits.conf: 20-nproc.conf's line wins
        (
            "pass",
            "* soft nproc",
            "655350 (expected >= 655350)",
            "/etc/security/limits.d/20-nproc.conf:5",
        ),
        ("pass", "* hard nproc", "655350 (expected >= 655350)", "/etc/security/limits.conf:14"),
        (
            "pass",
            "* soft stack",
            "unlimited (expected = unlimited)",
            "/etc/security/limits.conf:17",
        ),
        (
            "pass",
            "* hard stack",
            "unlimited (expected = unlimited)",
            "/etc/security/limits.conf:16",
        ),
        (
            "pass",
            "root soft nproc",
            "unlimited (expected = unlimited)",
            "/etc/security/limits.d/20-nproc.conf:6",
        ),
    ]


def test_guide_as_written_stact_typo_and_profile_ulimit() -> None:
    out = run_check(PamLimitsCheck, ctx(SYSROOTS / "guide-as-written"))
    assert out.status is Status.FAIL
    assert out.message == (
        "* soft stack: "
        + NOT_SET
        + "; the line at /etc/security/limits.conf:17 ('* soft stact unlimited') is dropped: "
        "unknown item 'stact'"
    )
    r = rows(out.findings)
    assert r[:2] == [
        (
            "warn",
            "* soft stact unlimited",
            "unknown item 'stact': pam_limits ignores this line",
            "/etc/security/limits.conf:17",
        ),
        (
            "warn",
            "* soft stact unlimited",
            "unknown item 'stact': pam_limits ignores this line",
            "/etc/security/limits.d/20-nproc.conf:7",
        ),
    ]
    assert r[-1] == ("warn", "ulimit -n 655350", ULIMIT_MSG, "/etc/profile:31")
    judged = {f.subject: f for f in out.findings[2:-1]}
    assert judged["* soft stack"].status is Status.FAIL
    assert judged["* hard stack"].location == "/etc/security/limits.d/20-nproc.conf:6"
    assert judged["root soft nproc"].location == "/etc/security/limits.d/20-nproc.conf:1"
    assert [f.status for f in judged.values()].count(Status.PASS) == 6


def test_debian12_wildcard_not_for_root_and_bad_lines() -> None:
    out = run_check(PamLimitsCheck, ctx(SYSROOTS / "debian12"))
    assert out.status is Status.FAIL
    r = rows(out.findings)
    assert r[:2] == [
        (
            "warn",
            "* sfot core 0",
            "unknown type 'sfot' (soft, hard or -): pam_limits ignores this line",
            "/etc/security/limits.d/90-harbor.conf:5",
        ),
        (
            "warn",
            "* hard memlock lots",
            "bad value 'lots': not a number or unlimited: pam_limits ignores this line",
            "/etc/security/limits.d/90-harbor.conf:6",
        ),
    ]
    # '-' sets soft and hard from one line
    assert r[2][1:] == (
        "* soft nofile",
        "655350 (expected >= 655350)",
        "/etc/security/limits.d/90-harbor.conf:2",
    )
    assert r[3][1:] == (
        "* hard nofile",
        "655350 (expected >= 655350)",
        "/etc/security/limits.d/90-harbor.conf:2",
    )
    assert r[-1] == (
        "fail",
        "root soft nproc",
        NOT_SET + "; on the Debian family '*' lines do not apply to root (limits.conf(5)), "
        "so /etc/security/limits.d/90-harbor.conf:3 does not count",
        None,
    )


def test_precedence_and_order(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "etc/os-release": CENTOS,
            "etc/security/limits.conf": (
                "root hard nofile 4096\n"  # user line: beats every '*' line after it
                "* soft nofile 1024\n"
                "*\t-\tnproc\t2048 # trailing comment\n"
            ),
            # C-locale order: "10-a.conf" < "9-b.conf" < "a.conf"
            "etc/security/limits.d/9-b.conf": "* soft nofile 3000\n* hard nofile 8192\n",
            "etc/security/limits.d/10-a.conf": "* soft nofile 2000\n* hard nofile 9999k\n",
            "etc/security/limits.d/a.conf": "* hard nproc infinity\nroot soft\n",
            "etc/security/limits.d/skip.txt": "* soft nofile 1\n",
        },
    )
    c = ctx(
        root,
        expect(
            ("*", "soft", "nofile", "eq", 3000),
            ("*", "hard", "nofile", "eq", 8192),
            ("*", "soft", "nproc", "eq", 2048),
            ("*", "hard", "nproc", "eq", "unlimited"),
            ("root", "hard", "nofile", "eq", 4096),
            ("root", "soft", "nofile", "eq", 3000),  # '*' applies to root off Debian
        ),
    )
    assert limits_files(c) == [
        "/etc/security/limits.conf",
        "/etc/security/limits.d/10-a.conf",
        "/etc/security/limits.d/9-b.conf",
        "/etc/security/limits.d/a.conf",
    ]
    out = run_check(PamLimitsCheck, c)
    assert rows(out.findings) == [
        (
            "warn",
            "* hard nofile 9999k",
            "value '9999k' is read as 9999 (the rest is ignored)",
            "/etc/security/limits.d/10-a.conf:2",
        ),
        (
            "warn",
            "root soft",
            "2 fields, pam_limits needs 4: invalid line: pam_limits ignores this line",
            "/etc/security/limits.d/a.conf:2",
        ),
        ("pass", "* soft nofile", "3000 (expected = 3000)", "/etc/security/limits.d/9-b.conf:1"),
        ("pass", "* hard nofile", "8192 (expected = 8192)", "/etc/security/limits.d/9-b.conf:2"),
        ("pass", "* soft nproc", "2048 (expected = 2048)", "/etc/security/limits.conf:3"),
        (
            "pass",
            "* hard nproc",
            "unlimited (expected = unlimited)",
            "/etc/security/limits.d/a.conf:1",
        ),
        ("pass", "root hard nofile", "4096 (expected = 4096)", "/etc/security/limits.conf:1"),
        ("pass", "root soft nofile", "3000 (expected = 3000)", "/etc/security/limits.d/9-b.conf:1"),
    ]
    # the same files on Debian: '*' no longer covers root
    write(root, {"etc/os-release": DEBIAN})
    out = run_check(PamLimitsCheck, ctx(root, expect(("root", "soft", "nofile", "eq", 3000))))
    assert out.findings[-1].status is Status.FAIL


def test_no_limits_files(tmp_path: Path) -> None:
    write(tmp_path, {"etc/os-release": DEBIAN})
    out = run_check(PamLimitsCheck, ctx(tmp_path, expect(("*", "-", "nofile", "ge", 1024))))
    assert rows(out.findings) == [
        ("fail", "* soft nofile", NOT_SET, None),
        ("fail", "* hard nofile", NOT_SET, None),
    ]


PROC_LIMITS = """\
Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             63475                63475                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
"""


def test_parse_proc_limits() -> None:
    rows_ = parse_proc_limits(PROC_LIMITS)
    assert rows_["Max open files"] == (1024, 524288)
    assert rows_["Max processes"] == (63475, 63475)
    assert rows_["Max cpu time"] == (float("inf"), float("inf"))


def test_dockerd_skips_on_sysroot() -> None:
    out = run_check(DockerdLimits, ctx(SYSROOTS / "centos7-compliant"))
    assert out.status is Status.SKIP
    assert out.message.startswith("processes: auditing the sysroot")


def test_dockerd_not_running_skips() -> None:
    """Run the check on the live host inside a new PID namespace (its own
    /proc), where certainly no dockerd runs, whatever else this machine runs."""
    code = (
        "from harborkit.checks.limits import DockerdLimits\n"
        "from harborkit.model.check import CheckContext\n"
        "from harborkit.engine.profile import load_profile\n"
        "from harborkit.engine.runner import run_check\n"
        "from harborkit.host import LocalHost\n"
        "o = run_check(DockerdLimits, CheckContext(LocalHost(), load_profile().data))\n"
        "print(o.status.value, o.message, sep='|')\n"
    )
    r = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert r.stdout == "skip|dockerd is not running\n"


def _prlimit(pid: int) -> dict[str, tuple[str, str]]:
    r = subprocess.run(
        ["prlimit", "--pid", str(pid), "--noheadings", "--raw", "--output", "RESOURCE,SOFT,HARD"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = {}
    for line in r.stdout.splitlines():
        res, soft, hard = line.split()
        out[res] = (soft, hard)
    return out


@contextlib.contextmanager
def dockerd_with_limits(nofile: str, nproc: str) -> Iterator[int]:
    """A private dockerd started under ``prlimit`` (as systemd's LimitNOFILE=
    would start it), named by DOCKER_HOST while it runs; yields its pid."""
    from tests.support.dockerd import ping

    root = Path(tempfile.mkdtemp(prefix="hkl-", dir="/tmp"))
    sock = root / "d.sock"
    argv = [
        "prlimit", f"--nofile={nofile}", f"--nproc={nproc}", "--",
        shutil.which("dockerd") or "dockerd",
        "--iptables=false", "--ip6tables=false", "--bridge=none",
        "--storage-driver", "vfs",
        "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "d.pid"), "-H", f"unix://{sock}",
    ]  # fmt: skip
    with open(root / "log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not ping(sock):
            time.sleep(0.1)
        if not ping(sock):
            pytest.fail(f"dockerd did not start: {(root / 'log').read_text()[-2000:]}")
        before = os.environ.get("DOCKER_HOST")
        os.environ["DOCKER_HOST"] = f"unix://{sock}"
        try:
            yield proc.pid  # prlimit execs dockerd: same pid
        finally:
            if before is None:
                del os.environ["DOCKER_HOST"]
            else:
                os.environ["DOCKER_HOST"] = before
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _mine(pid: int, profile: dict | None = None) -> tuple[Finding, ...]:
    out = run_check(DockerdLimits, ctx(None, profile))
    assert out.status in (Status.PASS, Status.FAIL), out.message
    # the daemon DOCKER_HOST names and no other (this machine runs more)
    assert all(f.subject.startswith(f"dockerd[{pid}] ") for f in out.findings), out.findings
    return out.findings


def test_dockerd_low_limits_fail_like_prlimit_says() -> None:
    # the limits a docker.service without LimitNOFILE=/LimitNPROC= may get
    with dockerd_with_limits("1024:4096", "1000:2000") as pid:
        real = _prlimit(pid)
        # dockerd (Go >= 1.19) raises its soft nofile to the hard limit itself
        assert (real["NOFILE"], real["NPROC"]) == (("4096", "4096"), ("1000", "2000"))
        where = f"/proc/{pid}/limits"
        nofile = "expected >= 655350: set LimitNOFILE= in a docker.service drop-in"
        nproc = "expected >= 655350: set LimitNPROC= in a docker.service drop-in"
        assert rows(_mine(pid)) == [
            ("fail", f"dockerd[{pid}] soft nofile", f"4096, {nofile}", where),
            ("fail", f"dockerd[{pid}] hard nofile", f"4096, {nofile}", where),
            ("fail", f"dockerd[{pid}] soft nproc", f"1000, {nproc}", where),
            ("fail", f"dockerd[{pid}] hard nproc", f"2000, {nproc}", where),
        ]
        # the fix hint: a docker.service drop-in with exactly the failing limits
        from harborkit.model.change import hint

        c = ctx(None)
        assert hint(DockerdLimits().plan(c, run_check(DockerdLimits, c))) == (
            "create /etc/systemd/system/docker.service.d/90-harbor-limits.conf as:\n"
            "    # Limits for dockerd and its containers (written by harborkit fix)\n"
            "    [Service]\n"
            "    LimitNOFILE=655350\n"
            "    LimitNPROC=655350\n"
            "  (containers inherit dockerd's limits from its unit, not from limits.conf)\n"
            "run: systemctl daemon-reload\n"
            "run: systemctl restart docker"
        )


def test_dockerd_limits_pass_like_prlimit_says() -> None:
    # this sandbox caps hard limits below 655350: judge against a lower profile
    profile = dict(PROFILE)
    profile["limits"] = {
        "dockerd": {"nofile": {"op": "ge", "value": 4096}, "nproc": {"op": "le", "value": 4000}}
    }
    with dockerd_with_limits("4096:8192", "3000:4000") as pid:
        real = _prlimit(pid)
        mine = _mine(pid, profile)
        assert [f.status for f in mine] == [Status.PASS] * 4
        assert [f.actual for f in mine] == [*real["NOFILE"], *real["NPROC"]]
        assert [f.message for f in mine] == [
            "8192 (expected >= 4096)",
            "8192 (expected >= 4096)",
            "3000 (expected <= 4000)",
            "4000 (expected <= 4000)",
        ]


ULIMIT = "only login shells run this: services such as dockerd (and so containers) do not get it"


IGNORED = ": pam_limits ignores this line"


CONF = "/etc/security/limits.conf"


X_CONF = "/etc/security/limits.d/50-x.conf"


MARKED = "the lines pam_limits or services ignore are marked"


DROPIN_REASON = "pam_limits reads it after limits.conf and the files sorted before it"


SEE = "# harborkit: services never see this; see /etc/security/limits.d/90-harbor.conf"


FILES = {
    "etc/os-release": 'ID="centos"\n',
    "etc/security/limits.conf": (
        "# head\n"
        "*  soft  nofiel  1024  # typo\n"
        "* soft nofile 1024\n"
        "* hard zzzz 5\n"
        "@g soft nproc lots\n"
        "* soft nproc 10k\n"
    ),
    "etc/security/limits.d/50-x.conf": "* bogus core 0\n* hard nproc 1 2 3\n",
    "etc/profile": "export A=1\n  ulimit -n 65535 # raise\n",
    "etc/profile.d/x.sh": "true && ulimit -u 4096\n",
    "etc/profile.d/x.txt": "ulimit -u 1\n",  # not *.sh: not read
    "etc/bashrc": "# ulimit -c 0\nmyulimit -c 0\n",  # a comment, another command
    "etc/bash.bashrc": "a;ulimit -s unlimited\n",
}


PROFILE_limits = expect(
    ("*", "-", "nofile", "ge", 655350),
    ("*", "soft", "nproc", "ge", 655350),
    ("*", "hard", "stack", "eq", "unlimited"),
    ("root", "hard", "core", "eq", -1),
)


def test_findings_of_dropped_lines_profile_ulimits_and_unset_limits(tmp_path: Path) -> None:
    out = run_check(PamLimitsCheck, ctx(write(tmp_path, FILES), PROFILE_limits))
    zzzz = f"{NOT_SET}; the line at {CONF}:4 ('* hard zzzz 5') is dropped: unknown item 'zzzz'"
    assert rows(out.findings) == [
        ("warn", "* soft nofiel 1024", f"unknown item 'nofiel'{IGNORED}", f"{CONF}:2"),
        ("warn", "* hard zzzz 5", f"unknown item 'zzzz'{IGNORED}", f"{CONF}:4"),
        (
            "warn",
            "@g soft nproc lots",
            f"bad value 'lots': not a number or unlimited{IGNORED}",
            f"{CONF}:5",
        ),
        ("warn", "* soft nproc 10k", "value '10k' is read as 10 (the rest is ignored)", f"{CONF}:6"),
        ("warn", "* bogus core 0", f"unknown type 'bogus' (soft, hard or -){IGNORED}", f"{X_CONF}:1"),
        ("fail", "* soft nofile", "1024, expected >= 655350", f"{CONF}:3"),
        ("fail", "* hard nofile", zzzz, None),
        ("fail", "* soft nproc", "10, expected >= 655350", f"{CONF}:6"),
        ("fail", "* hard stack", zzzz, None),
        ("fail", "root hard core", NOT_SET, None),
        ("warn", "ulimit -n 65535", ULIMIT, "/etc/profile:2"),
        ("warn", "true && ulimit -u 4096", ULIMIT, "/etc/profile.d/x.sh:1"),
        ("warn", "a;ulimit -s unlimited", ULIMIT, "/etc/bash.bashrc:1"),
    ]  # fmt: skip
    assert out.findings[5] == Finding(
        Status.FAIL,
        "* soft nofile",
        "1024, expected >= 655350",
        expected=">= 655350",
        actual="1024",
        location=f"{CONF}:3",
    )
    assert out.findings[6].expected == ">= 655350"
    assert out.message == "5 of 13 fail: * soft nofile, * hard nofile, * soft nproc and 2 more"


def test_plan_marks_dropped_lines_and_ulimits_and_writes_the_drop_in(tmp_path: Path) -> None:
    c = ctx(write(tmp_path, FILES), PROFILE_limits)
    changes = PamLimitsCheck().plan(c, run_check(PamLimitsCheck, c))
    assert all(isinstance(ch, FileChange) for ch in changes)
    got = [
        (ch.path, ch.new.decode(), ch.reason, ch.owned, ch.check_ids)
        for ch in changes
        if isinstance(ch, FileChange)
    ]
    assert got == [
        (
            CONF,
            "# head\n"
            "# *  soft  nofiel  1024  # typo  # harborkit: unknown item 'nofiel' "
            "(a typo of 'nofile'?)\n"
            "* soft nofile 1024\n"
            "# * hard zzzz 5  # harborkit: unknown item 'zzzz'\n"  # nothing close to it
            "# @g soft nproc lots  # harborkit: bad value 'lots': not a number or unlimited\n"
            "* soft nproc 10k\n",  # read as 10: a number, left for the drop-in to beat
            MARKED,
            False,
            ("limits.pam",),
        ),
        (
            X_CONF,
            "# * bogus core 0  # harborkit: unknown type 'bogus' (soft, hard or -)\n"
            "* hard nproc 1 2 3\n",
            MARKED,
            False,
            ("limits.pam",),
        ),
        ("/etc/profile", f"export A=1\n# ulimit -n 65535 # raise  {SEE}\n", MARKED, False,
         ("limits.pam",)),
        ("/etc/profile.d/x.sh", f"# true && ulimit -u 4096  {SEE}\n", MARKED, False,
         ("limits.pam",)),
        ("/etc/bash.bashrc", f"# a;ulimit -s unlimited  {SEE}\n", MARKED, False, ("limits.pam",)),
        (
            LIMITS_DROPIN,
            "# Login limits for Harbor (written by harborkit fix)\n"
            "* soft nofile 655350\n"
            "* hard nofile 655350\n"
            "* soft nproc 655350\n"
            "* hard stack unlimited\n"
            "root hard core unlimited\n",
            DROPIN_REASON,
            True,
            ("limits.pam",),
        ),
    ]  # fmt: skip


def test_plan_edits_a_dropped_line_of_its_own_drop_in(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "etc/os-release": 'ID="centos"\n',
            "etc/security/limits.d/90-harbor.conf": "# ours\n* soft stact unlimited\n",
        },
    )
    c = ctx(root, expect(("*", "soft", "stack", "eq", "unlimited")))
    changes = PamLimitsCheck().plan(c, run_check(PamLimitsCheck, c))
    assert [(ch.path, ch.new.decode(), ch.reason, ch.owned) for ch in changes] == [  # type: ignore[union-attr]
        (
            LIMITS_DROPIN,
            "# ours\n"
            "# * soft stact unlimited  # harborkit: unknown item 'stact' (a typo of 'stack'?)\n"
            "* soft stack unlimited\n",
            DROPIN_REASON,
            True,
        )
    ]
    # a dropped line alone (nothing expected): only the line is marked
    c = ctx(root, expect())
    changes = PamLimitsCheck().plan(c, run_check(PamLimitsCheck, c))
    assert [ch.new.decode() for ch in changes] == [  # type: ignore[union-attr]
        "# ours\n# * soft stact unlimited  # harborkit: unknown item 'stact' (a typo of 'stack'?)\n"
    ]


def test_plan_is_empty_when_all_is_well(tmp_path: Path) -> None:
    root = write(tmp_path, {"etc/security/limits.conf": "* - nofile 655350\n"})
    c = ctx(root, expect(("*", "-", "nofile", "ge", 655350)))
    out = run_check(PamLimitsCheck, c)
    assert (out.status, out.message) == (Status.PASS, "1 limits as expected")
    assert PamLimitsCheck().plan(c, out) == []


def _snapshot(files: dict[str, bytes], errors: dict[str, str] | None = None) -> SnapshotHost:
    snap = Snapshot(source="h1")
    snap.files.update(files)
    snap.errors.update(errors or {})
    names = [*files, *(errors or {})]
    snap.kinds.update({p: "f" for p in names})
    for d in ("/etc/security/limits.d", "/etc/profile.d"):
        snap.listings[d] = [p.rsplit("/", 1)[1] for p in names if p.startswith(d + "/")]
    for p in ("/etc/security/limits.conf", "/etc/profile", "/etc/bashrc", "/etc/bash.bashrc"):
        snap.kinds.setdefault(p, "n")
    return SnapshotHost(snap)


def test_unreadable_limits_file_fails_and_is_not_edited() -> None:
    host = _snapshot(
        {"/etc/os-release": b"ID=centos\n", X_CONF: b"* soft nofile 1\n"},
        {CONF: "cat: /etc/security/limits.conf: Permission denied"},
    )
    c = CheckContext(host=host, profile=expect(("*", "soft", "nofile", "eq", 1)))
    out = run_check(PamLimitsCheck, c)
    assert rows(out.findings) == [
        ("fail", CONF, f"cannot read: Permission denied{IGNORED}", CONF),
        ("pass", "* soft nofile", "1 (expected = 1)", f"{X_CONF}:1"),  # read on after it
    ]
    assert PamLimitsCheck().plan(c, out) == []
    # an unreadable shell profile is passed over
    host = _snapshot(
        {"/etc/os-release": b"ID=centos\n", "/etc/profile.d/a.sh": b"ulimit -n 1\n"},
        {"/etc/profile": "cat: /etc/profile: Permission denied"},
    )
    c = CheckContext(host=host, profile=expect())
    assert rows(run_check(PamLimitsCheck, c).findings) == [
        ("warn", "ulimit -n 1", ULIMIT, "/etc/profile.d/a.sh:1")
    ]


@pytest.mark.parametrize(
    ("item", "value", "parsed"),
    [
        ("nonewprivs", "0", (0, None, False)),
        ("nonewprivs", "1", (1, None, False)),
        ("nonewprivs", "2", (0, "not 0 or 1", True)),
        ("nonewprivs", "unlimited", (0, "not 0 or 1", True)),
        ("chroot", "/srv/jail", ("/srv/jail", None, False)),
        ("nofile", "-1", (math.inf, None, False)),
        ("nofile", "-", (math.inf, None, False)),
        ("nofile", "unlimited", (math.inf, None, False)),
        ("nofile", "infinity", (math.inf, None, False)),
        ("maxlogins", "unlimited", (math.inf, None, False)),
        # nice and priority have no infinity: strtol reads no digit
        ("nice", "unlimited", (None, "bad value 'unlimited': not a number or unlimited", True)),
        ("priority", "-", (None, "bad value '-': not a number or unlimited", True)),
        ("nice", "-5", (-5, None, False)),  # a negative nice is a number, no wrap
        ("maxlogins", "4x", (4, "value '4x' is read as 4 (the rest is ignored)", False)),
        ("maxlogins", "99999999999999999999", (2**63 - 1, None, False)),  # strtol saturates
        ("nofile", "18446744073709551615",
         (math.inf, "value '18446744073709551615' is beyond 2^64-1: read as unlimited", False)),
        ("nofile", "18446744073709551614", (2**64 - 2, None, False)),
        ("nofile", "-2",
         (2**64 - 2, "value '-2' is read as 18446744073709551614 (a negative number wraps)", False)),
        ("nofile", "-0", (0, "value '-0' is read as 0 (a negative number wraps)", False)),
        ("nofile", "10k", (10, "value '10k' is read as 10 (the rest is ignored)", False)),
        ("nofile", "1024", (1024, None, False)),
        ("nofile", "lots", (None, "bad value 'lots': not a number or unlimited", True)),
    ],
)  # fmt: skip
def test_value_as_pam_limits_reads_it(item: str, value: str, parsed: tuple[Any, ...]) -> None:
    assert _value(item, value) == parsed


def test_lines_pam_limits_parses(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "etc/security/limits.conf": (
                "1000:2000 soft nofile 10\n"  # a uid range is a domain
                "@:5 hard nofile 11\n"
                "%:1 - maxlogins 3\n"
                "1000:x soft nofile 12\n"  # not a range
                "a:b:c soft nofile 13\n"
                "baduser -\n"  # '<domain> -': no limits at all
                "other -x\n"
                "three fields only\n"
                "* SOFT NOFILE 14\n"  # type and item are case-insensitive
                "* sOFT nofile -\n"
                "* x maxlogins 5\n"  # the type of maxlogins and the like is not read
                "* x nonewprivs 1\n"
                "* x chroot /jail\n"
                "* x maxsyslogins 2\n"
                "* x nofile 1\n"
                "* - nonewprivs 7\n"
                "%grp soft nofile 5\n"
                "* soft nofile 5 extra words\n"  # pam_limits reads four fields
                "* soft NoFile UNLIMITED\n"
            )
        },
    )
    pam = parse_limits(ctx(root, expect()))
    assert pam.files == (CONF,)
    assert [(e.domain, e.type, e.item, e.value, e.location) for e in pam.entries] == [
        ("1000:2000", "soft", "nofile", 10, f"{CONF}:1"),
        ("@:5", "hard", "nofile", 11, f"{CONF}:2"),
        ("%:1", "-", "maxlogins", 3, f"{CONF}:3"),
        ("*", "soft", "nofile", 14, f"{CONF}:9"),
        ("*", "soft", "nofile", math.inf, f"{CONF}:10"),
        ("*", "x", "maxlogins", 5, f"{CONF}:11"),
        ("*", "x", "nonewprivs", 1, f"{CONF}:12"),
        ("*", "x", "chroot", "/jail", f"{CONF}:13"),
        ("*", "x", "maxsyslogins", 2, f"{CONF}:14"),
        ("*", "soft", "nofile", 5, f"{CONF}:18"),
        ("*", "soft", "nofile", math.inf, f"{CONF}:19"),
    ]
    assert [(d.text, d.reason, d.location, d.status) for d in pam.dropped] == [
        ("1000:x soft nofile 12", "invalid uid range '1000:x'", f"{CONF}:4", Status.WARN),
        ("a:b:c soft nofile 13", "invalid uid range 'a:b:c'", f"{CONF}:5", Status.WARN),
        ("three fields only", "3 fields, pam_limits needs 4: invalid line", f"{CONF}:8",
         Status.WARN),
        ("* x nofile 1", "unknown type 'x' (soft, hard or -)", f"{CONF}:15", Status.WARN),
        ("* - nonewprivs 7", "not 0 or 1", f"{CONF}:16", Status.WARN),
        ("%grp soft nofile 5", "the '%' domain is valid for maxlogins only", f"{CONF}:17",
         Status.WARN),
    ]  # fmt: skip
    assert pam.no_limits == (("baduser", f"{CONF}:6"), ("other", f"{CONF}:7"))


def _pam(*lines: tuple[str, str, str, Any]) -> PamLimits:
    return PamLimits(
        (), tuple(Entry(d, t, i, v, f"f:{n}") for n, (d, t, i, v) in enumerate(lines, 1)), (), ()
    )


@pytest.mark.parametrize(
    ("lines", "domain", "root_wild", "soft", "hard"),
    [
        # the later line of the same rank wins
        ([("*", "soft", "nofile", 1), ("*", "soft", "nofile", 2)], "*", True, "f:2", None),
        ([("*", "hard", "nofile", 1), ("*", "hard", "nofile", 2)], "*", True, None, "f:2"),
        ([("*", "-", "nproc", 1)], "*", True, None, None),  # another item
        ([("*", "-", "nofile", 1)], "*", True, "f:1", "f:1"),  # '-' sets both
        ([("root", "soft", "nofile", 1)], "*", True, None, None),  # '*' is no user
        # a user's line beats '*' lines before and after it
        ([("bob", "soft", "nofile", 1), ("*", "soft", "nofile", 2)], "bob", True, "f:1", None),
        ([("*", "soft", "nofile", 1), ("bob", "soft", "nofile", 2)], "bob", True, "f:2", None),
        # a '-' line that loses on soft sets neither (pam_limits returns)
        ([("bob", "soft", "nofile", 1), ("*", "-", "nofile", 2)], "bob", True, "f:1", None),
        ([("*", "soft", "nofile", 1)], "bob", False, "f:1", None),  # root only
        ([("@root", "soft", "nofile", 1), ("*", "soft", "nofile", 2)], "root", True, "f:1", None),
        ([("@root", "soft", "nofile", 1), ("root", "soft", "nofile", 2)], "root", True, "f:2",
         None),
        ([("@root", "soft", "nofile", 1)], "bob", True, None, None),
        ([("*", "soft", "nofile", 1)], "root", True, "f:1", None),
        ([("*", "soft", "nofile", 1)], "root", False, None, None),  # Debian
        ([("root", "-", "nofile", 1)], "root", False, "f:1", "f:1"),
    ],
)  # fmt: skip
def test_effective(
    lines: list[tuple[str, str, str, Any]],
    domain: str,
    root_wild: bool,
    soft: str | None,
    hard: str | None,
) -> None:
    got = effective(_pam(*lines), domain, "nofile", wildcard_for_root=root_wild)
    assert {t: (e.location if e else None) for t, e in got.items()} == {"soft": soft, "hard": hard}


def _dropped(text: str, reason: str) -> PamLimits:
    from harborkit.checks.limits import Dropped

    return PamLimits((), (), (Dropped(text, reason, "f:9"),), ())


@pytest.mark.parametrize(
    ("text", "reason", "ltype", "why"),
    [
        ("* soft stact 1", "unknown item 'stact'", "soft", "('* soft stact 1') is dropped"),
        ("* - stact 1", "unknown item 'stact'", "hard", "('* - stact 1') is dropped"),
        ("* SOFT stact 1", "unknown item 'stact'", "soft", "('* SOFT stact 1') is dropped"),
        ("* hard stact 1", "unknown item 'stact'", "soft", None),  # another type
        ("bob soft stact 1", "unknown item 'stact'", "soft", None),  # another domain
        ("* soft stack lots", "bad value 'lots'", "soft", None),  # not an unknown item
        ("* soft stact 1 2", "unknown item 'stact'", "soft", None),  # five fields
        ("* soft stact", "unknown item 'stact'", "soft", None),
    ],
)
def test_why_unset_names_a_dropped_line(
    text: str, reason: str, ltype: str, why: str | None
) -> None:
    got = _why_unset(_dropped(text, reason), "*", ltype, "stack", root_wild=True)
    assert got == (NOT_SET if why is None else f"{NOT_SET}; the line at f:9 {why}: {reason}")


def test_why_unset_for_root_on_debian() -> None:
    star = _pam(("*", "hard", "stack", 1))
    debian = (
        f"{NOT_SET}; on the Debian family '*' lines do not apply to root (limits.conf(5)), "
        "so f:1 does not count"
    )
    assert _why_unset(star, "root", "hard", "stack", root_wild=False) == debian
    assert _why_unset(star, "root", "soft", "stack", root_wild=False) == NOT_SET
    assert _why_unset(star, "root", "hard", "stack", root_wild=True) == NOT_SET
    assert _why_unset(star, "bob", "hard", "stack", root_wild=False) == NOT_SET


@pytest.mark.parametrize(
    ("value", "systemd", "pam"),
    [
        (655350, "655350", "655350"),
        ("unlimited", "infinity", "unlimited"),
        ("infinity", "infinity", "unlimited"),
        (-1, "infinity", "unlimited"),
        ("-", "infinity", "unlimited"),
        ("0", "0", "0"),
    ],
)
def test_limit_values_as_written(value: object, systemd: str, pam: str) -> None:
    assert _systemd_value({"value": value}) == systemd
    assert _limit_value({"value": value}) == pam


# /proc/<pid>/limits as Linux 6.x prints it (cat /proc/self/limits), trailing blanks kept


def _text(new: bytes) -> str:
    """Planned bytes as text, a byte that is not UTF-8 as its surrogate escape."""
    return new.decode("utf-8", "surrogateescape")


def test_plan_of_files_with_colons_latin1_and_distant_typos(tmp_path: Path) -> None:
    d = tmp_path / "etc/security/limits.d"
    d.mkdir(parents=True)
    # a colon in a file name comes before the line number in a location;
    # a Latin-1 comment is kept byte for byte, not refused
    (d / "a:b.conf").write_bytes(b"# r\xe9glages\n* soft msgq 1\n* soft corr 0\n")
    write(tmp_path, {"etc/os-release": "ID=centos\n", "etc/profile.d/x:y.sh": "ulimit -n 9\n"})
    c = ctx(tmp_path, expect())
    changes = PamLimitsCheck().plan(c, run_check(PamLimitsCheck, c))
    assert [(ch.path, _text(ch.new)) for ch in changes if isinstance(ch, FileChange)] == [
        (
            "/etc/security/limits.d/a:b.conf",
            "# r\udce9glages\n"
            # 'msgq' is too far from 'msgqueue' to name it (similarity 0.67 < 0.75)
            "# * soft msgq 1  # harborkit: unknown item 'msgq'\n"
            "# * soft corr 0  # harborkit: unknown item 'corr' (a typo of 'core'?)\n",
        ),
        ("/etc/profile.d/x:y.sh", f"# ulimit -n 9  {SEE}\n"),
    ]


def test_plan_appends_each_failing_type_once_to_a_latin1_drop_in(tmp_path: Path) -> None:
    d = tmp_path / "etc/security/limits.d"
    d.mkdir(parents=True)
    (d / "90-harbor.conf").write_bytes(b"# r\xe9glages\n* soft nofile 1024\n")
    write(tmp_path, {"etc/os-release": "ID=centos\n"})
    profile = expect(("*", "soft", "nofile", "ge", 4096), ("*", "hard", "nofile", "ge", 8192))
    c = ctx(tmp_path, profile)
    changes = PamLimitsCheck().plan(c, run_check(PamLimitsCheck, c))
    assert [(ch.path, _text(ch.new)) for ch in changes if isinstance(ch, FileChange)] == [
        (
            LIMITS_DROPIN,
            "# r\udce9glages\n* soft nofile 1024\n* soft nofile 4096\n* hard nofile 8192\n",
        )
    ]


def test_root_line_then_a_dash_wildcard_leaves_root_hard_unset(tmp_path: Path) -> None:
    # pam_limits: the '*' '-' line loses on soft to root's own line and then sets
    # neither type, so root's hard limit stays unset even where '*' covers root
    root = write(
        tmp_path,
        {
            "etc/os-release": "ID=centos\n",
            "etc/security/limits.conf": "root soft nofile 1\n* - nofile 2\n",
        },
    )
    out = run_check(PamLimitsCheck, ctx(root, expect(("root", "hard", "nofile", "ge", 1))))
    assert rows(out.findings) == [("fail", "root hard nofile", NOT_SET, None)]


def test_files_sorted_by_whole_name_and_unreadable_profiles_passed_over(tmp_path: Path) -> None:
    host = _snapshot(
        {
            "/etc/os-release": b"ID=centos\n",
            "/etc/security/limits.d/a z.conf": b"* soft nofile 1\n",
            "/etc/security/limits.d/b.conf": b"* soft nofile 2\n",
            "/etc/profile.d/b.sh": b"ulimit -n 5 # a # b\n",
        },
        {"/etc/profile.d/a.sh": "cat: /etc/profile.d/a.sh: Permission denied"},
    )
    c = CheckContext(host=host, profile=expect(("*", "soft", "nofile", "eq", 2)))
    out = run_check(PamLimitsCheck, c)
    assert rows(out.findings) == [
        ("pass", "* soft nofile", "2 (expected = 2)", "/etc/security/limits.d/b.conf:1"),
        # the first '#' starts the comment; the unreadable a.sh before it is passed over
        ("warn", "ulimit -n 5", ULIMIT, "/etc/profile.d/b.sh:1"),
    ]
