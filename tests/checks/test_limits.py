"""limits.pam on the fixture sysroots and small sysroots; limits.dockerd against a real dockerd."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.checks.limits import DockerdLimits, PamLimitsCheck, limits_files, parse_proc_limits
from harborkit.engine.interface import CheckContext, Finding, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost
from tests.support.sysroot import rows, write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
PROFILE = load_profile().data
NOT_SET = "not set by any line pam_limits accepts (the inherited default applies)"
ULIMIT_MSG = (
    "only login shells run this: services such as dockerd (and so containers) do not get it"
)
CENTOS = 'ID="centos"\nID_LIKE="rhel fedora"\n'
DEBIAN = "ID=debian\n"


def ctx(root: Path | str | None, profile: dict | None = None) -> CheckContext:
    host = LocalHost() if root is None else SysrootHost(root)
    return CheckContext(host=host, profile=profile or PROFILE)


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


# limits.pam on a live host: tests/checks/test_live_state.py builds the files.


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
        "from harborkit.engine.interface import CheckContext\n"
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
    would start it); yields its pid."""
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
        yield proc.pid  # prlimit execs dockerd: same pid
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
    return tuple(f for f in out.findings if f.subject.startswith(f"dockerd[{pid}] "))


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
        from harborkit.fix.plan import hint

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
