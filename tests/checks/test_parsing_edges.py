"""Line parsing at its edges: limits.conf as pam_limits reads it, os-release."""

from __future__ import annotations

from pathlib import Path

import pytest

from harborkit.checks import _services
from harborkit.checks.limits import PamLimitsCheck, limits_files
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, Status
from tests.support.sysroot import write

LIMITS = """# comment
*  Soft  NOFILE  4096   # trailing comment
* - nproc
root -
@g hard
1000:2000 soft core 0
:bad soft core 0
1:2:3 soft core 0
* bogus core 0
* - nonewprivs 1
* - nonewprivs 2
* - chroot /srv/jail
* soft stack -1
maxlogins - maxlogins 3
"""


def test_limits_lines_pam_limits_drops_or_keeps(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "etc/os-release": 'ID="centos"\n',
            "etc/security/limits.conf": LIMITS,
            "etc/security/limits.d/10-a.conf": "* soft nproc infinity\n",
            "etc/security/limits.d/9-b.conf": "* soft nproc 5\n",  # after 10-a.conf in C order
            "etc/security/limits.d/README": "* soft nproc 6\n",
        },
    )
    profile = {
        "limits": {
            "expected": [
                {"domain": "*", "type": "soft", "item": "nofile", "op": "ge", "value": 4096},
                {"domain": "*", "type": "-", "item": "nproc", "op": "eq", "value": "unlimited"},
                {"domain": "*", "type": "soft", "item": "stack", "op": "eq", "value": "unlimited"},
            ]
        }
    }
    ctx = CheckContext(SysrootHost(root), profile)
    assert limits_files(ctx) == [
        "/etc/security/limits.conf",
        "/etc/security/limits.d/10-a.conf",
        "/etc/security/limits.d/9-b.conf",
    ]
    out = run_check(PamLimitsCheck, ctx)
    assert (out.status, out.message) == (Status.FAIL, "2 of 11 fail: * soft nproc, * hard nproc")
    conf = "/etc/security/limits.conf"
    ignored = ": pam_limits ignores this line"
    assert [(f.status.value, f.subject, f.message, f.location) for f in out.findings] == [
        ("warn", "* - nproc", f"3 fields, pam_limits needs 4: invalid line{ignored}", f"{conf}:3"),
        ("warn", "@g hard", f"2 fields, pam_limits needs 4: invalid line{ignored}", f"{conf}:5"),
        ("warn", ":bad soft core 0", f"invalid uid range ':bad'{ignored}", f"{conf}:7"),
        ("warn", "1:2:3 soft core 0", f"invalid uid range '1:2:3'{ignored}", f"{conf}:8"),
        ("warn", "* bogus core 0", f"unknown type 'bogus' (soft, hard or -){ignored}", f"{conf}:9"),
        ("warn", "* - nonewprivs 2", f"not 0 or 1{ignored}", f"{conf}:11"),
        ("warn", "root -", "no limits at all for root", f"{conf}:4"),
        ("pass", "* soft nofile", "4096 (expected >= 4096)", f"{conf}:2"),
        (
            "fail",
            "* soft nproc",
            "5, expected = unlimited",
            "/etc/security/limits.d/9-b.conf:1",
        ),
        (
            "fail",
            "* hard nproc",
            "not set by any line pam_limits accepts (the inherited default applies)",
            None,
        ),
        ("pass", "* soft stack", "unlimited (expected = unlimited)", f"{conf}:13"),
    ]


def test_unreadable_limits_file_fails(tmp_path: Path) -> None:
    root = write(tmp_path, {"etc/os-release": "ID=debian\n"})
    (root / "etc/security/limits.d").mkdir(parents=True)
    (root / "etc/security/limits.d/x.conf").mkdir()  # a folder where a file should be
    out = run_check(PamLimitsCheck, CheckContext(SysrootHost(root), {"limits": {"expected": []}}))
    assert out.status is Status.FAIL
    # the host refuses a non-regular file (UnreadableFile); the engine makes
    # it one fail finding at the file, so the check cannot read it as absent
    assert out.message == (
        "/etc/security/limits.d/x.conf: is a directory, not a regular file: not read"
    )
    (f,) = out.findings
    assert (f.status, f.subject, f.location) == (
        Status.FAIL,
        "file",
        "/etc/security/limits.d/x.conf",
    )
    assert f.message == "is a directory, not a regular file: not read"


@pytest.mark.parametrize(
    ("files", "family", "name"),
    [
        (
            {
                "etc/os-release": 'ID="centos"\nID_LIKE="rhel fedora"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n'
            },
            "rhel",
            "CentOS Linux 7 (Core)",
        ),
        ({"etc/os-release": "ID=ubuntu\nID_LIKE=debian\n"}, "debian", "ubuntu"),
        ({"etc/os-release": "ID=rocky\n"}, "rhel", "rocky"),
        ({"etc/os-release": "ID=linuxmint\nID_LIKE='ubuntu debian'\n"}, "debian", "linuxmint"),
        (
            {
                "usr/lib/os-release": '# vendor file\nID=Debian\n\nPRETTY_NAME="Debian GNU/Linux 12"\n'
            },
            "debian",
            "Debian GNU/Linux 12",
        ),
        (
            {"etc/os-release": "ID=alpine\nPRETTY_NAME='Alpine Linux v3.19'\n"},
            "other",
            "Alpine Linux v3.19",
        ),
        ({"etc/os-release": 'ID="arch\nPRETTY_NAME\n'}, "other", "arch"),
        ({}, "other", "an unknown OS (no /etc/os-release)"),
    ],
    ids=["centos", "ubuntu", "rocky", "mint", "usr-lib", "alpine", "bad-quote", "none"],
)
def test_os_family_and_name(tmp_path: Path, files: dict[str, str], family: str, name: str) -> None:
    root = write(tmp_path, files)
    (root / "etc").mkdir(exist_ok=True)
    ctx = CheckContext(SysrootHost(root), {})
    assert (_services.os_family(ctx), _services.os_name(ctx)) == (family, name)


def test_parse_os_release_keeps_values_and_skips_junk() -> None:
    text = '# c\nNAME="Cent OS"\nID=centos\n\nnot a pair\nVERSION_ID=""\nX = y z\n'
    assert _services.parse_os_release(text) == {
        "NAME": "Cent OS",
        "ID": "centos",
        "VERSION_ID": "",
        "X": "y",
    }


# --- ufw.conf ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "finding"),
    [
        (
            "# ufw\nENABLED='YES'\n",
            (
                "fail",
                "ENABLED=yes: ufw loads its rules at boot",
                "ENABLED=yes",
                "/etc/ufw/ufw.conf:2",
            ),
        ),
        (
            'ENABLED=yes\n  ENABLED = "no"\n',
            ("pass", "ENABLED=no: ufw loads no rules at boot", "ENABLED=no", "/etc/ufw/ufw.conf:2"),
        ),
        (
            "LOGLEVEL=low\n",
            ("pass", "ENABLED=no: ufw loads no rules at boot", "ENABLED=no", "/etc/ufw/ufw.conf"),
        ),
        (
            None,
            ("pass", "no /etc/ufw/ufw.conf: ufw loads no rules at boot", None, None),
        ),
    ],
    ids=["quoted-yes", "last-wins", "no-line", "no-file"],
)
def test_ufw_enabled_line(
    tmp_path: Path, conf: str | None, finding: tuple[str, str, str | None, str | None]
) -> None:
    from harborkit.checks.firewall import UfwOff

    files = {"etc/os-release": "ID=debian\n", "usr/lib/systemd/system/ufw.service": "[Unit]\n"}
    if conf is not None:
        files["etc/ufw/ufw.conf"] = conf
    out = run_check(UfwOff, CheckContext(SysrootHost(write(tmp_path, files)), {}))
    stopped, disabled = out.findings
    assert (stopped.status, stopped.subject, stopped.message) == (
        Status.SKIP,
        "ufw stopped",
        "whether it runs needs a running system; auditing a sysroot",
    )
    assert (disabled.status.value, disabled.message, disabled.actual, disabled.location) == finding
    assert disabled.subject == "ufw disabled"
    if finding[0] == "fail":
        assert (out.status, out.message, disabled.expected) == (
            Status.FAIL,
            "ufw disabled: ENABLED=yes: ufw loads its rules at boot",
            "ENABLED=no",
        )
    else:
        assert (out.status, out.message) == (
            Status.PASS,
            "ufw is disabled; stopped not judged (whether it runs needs a running system; "
            "auditing a sysroot)",
        )


# --- selinux: config, runtime and the profile's mode -----------------------------

SELINUX_CASES = [
    (
        "SELINUX=permissive\n",
        "0\n",
        "disabled",
        "warn",
        "2 of 2 warn: config, runtime",
        [
            (
                "warn",
                "config",
                "SELINUX=permissive",
                "SELINUX=disabled",
                "SELINUX=permissive",
                "/etc/selinux/config:1",
            ),
            (
                "warn",
                "runtime",
                "permissive (enforce = 0)",
                "disabled",
                "permissive",
                "/sys/fs/selinux/enforce",
            ),
        ],
    ),
    (
        "SELINUX=permissive\n",
        "0\n",
        "permissive",
        "pass",
        "SELinux permissive in config, permissive at runtime",
        [
            (
                "pass",
                "config",
                "SELINUX=permissive",
                "SELINUX=permissive",
                "SELINUX=permissive",
                "/etc/selinux/config:1",
            ),
            (
                "pass",
                "runtime",
                "permissive (enforce = 0)",
                "permissive",
                "permissive",
                "/sys/fs/selinux/enforce",
            ),
        ],
    ),
    (
        "SELINUX=enforcing\n",
        "1\n",
        "permissive",
        "fail",
        "2 of 2 fail: config, runtime",
        [
            (
                "fail",
                "config",
                "SELINUX=enforcing",
                "SELINUX=permissive",
                "SELINUX=enforcing",
                "/etc/selinux/config:1",
            ),
            (
                "fail",
                "runtime",
                "enforcing (enforce = 1)",
                "permissive",
                "enforcing",
                "/sys/fs/selinux/enforce",
            ),
        ],
    ),
    (
        "SELINUXTYPE=targeted\n",
        None,
        "disabled",
        "warn",
        "config: no SELINUX= line in /etc/selinux/config",
        [
            (
                "warn",
                "config",
                "no SELINUX= line in /etc/selinux/config",
                "SELINUX=disabled",
                None,
                "/etc/selinux/config",
            ),
            ("pass", "runtime", "off (no /sys/fs/selinux/enforce)", "disabled", "disabled", None),
        ],
    ),
    (
        None,
        "1\n",
        "disabled",
        "fail",
        "runtime: enforcing (enforce = 1)",
        [
            ("warn", "config", "no /etc/selinux/config", "disabled", None, None),
            (
                "fail",
                "runtime",
                "enforcing (enforce = 1)",
                "disabled",
                "enforcing",
                "/sys/fs/selinux/enforce",
            ),
        ],
    ),
    (
        None,
        "",
        "disabled",
        "pass",
        "SELinux not present",
        [("pass", "SELinux", "SELinux not present (no /etc/selinux/config)", None, None, None)],
    ),
    (
        "SELINUX=disabled\n",
        "garbage\n",
        "disabled",
        "fail",
        "disabled in config, enforcing until reboot",
        [
            (
                "pass",
                "config",
                "SELINUX=disabled",
                "SELINUX=disabled",
                "SELINUX=disabled",
                "/etc/selinux/config:1",
            ),
            (
                "fail",
                "runtime",
                "enforcing until reboot (disabled in config)",
                "disabled",
                "enforcing",
                "/sys/fs/selinux/enforce",
            ),
        ],
    ),
    (
        "SELINUX=disabled\n",
        "0\n",
        "disabled",
        "warn",
        "disabled in config, permissive until reboot",
        [
            (
                "pass",
                "config",
                "SELINUX=disabled",
                "SELINUX=disabled",
                "SELINUX=disabled",
                "/etc/selinux/config:1",
            ),
            (
                "warn",
                "runtime",
                "permissive until reboot (disabled in config)",
                "disabled",
                "permissive",
                "/sys/fs/selinux/enforce",
            ),
        ],
    ),
]


@pytest.mark.parametrize(
    ("conf", "enforce", "mode", "status", "message", "findings"), SELINUX_CASES
)
def test_selinux_config_runtime_and_mode(
    tmp_path: Path,
    conf: str | None,
    enforce: str | None,
    mode: str,
    status: str,
    message: str,
    findings: list[tuple[str, str, str, str | None, str | None, str | None]],
) -> None:
    from harborkit.checks.selinux import SelinuxMode

    (tmp_path / "sys/fs").mkdir(parents=True)
    files = {}
    if conf is not None:
        files["etc/selinux/config"] = conf
    if enforce:
        files["sys/fs/selinux/enforce"] = enforce
    root = write(tmp_path, files)
    out = run_check(SelinuxMode, CheckContext(SysrootHost(root), {"selinux": {"mode": mode}}))
    assert (out.status.value, out.message) == (status, message)
    assert [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location)
        for f in out.findings
    ] == findings
