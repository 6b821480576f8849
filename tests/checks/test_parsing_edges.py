"""Line parsing at its edges: limits.conf as pam_limits reads it, os-release."""

from __future__ import annotations

from pathlib import Path

import pytest

from harborkit.checks import _services
from harborkit.checks.limits import PamLimitsCheck, limits_files
from harborkit.engine.interface import CheckContext, Status
from harborkit.engine.runner import _run_one
from harborkit.host.local import SysrootHost


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


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
    out = _run_one(PamLimitsCheck, ctx)
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
    out = _run_one(PamLimitsCheck, CheckContext(SysrootHost(root), {"limits": {"expected": []}}))
    assert out.status is Status.FAIL
    (f,) = out.findings
    assert (f.status, f.subject, f.location) == (
        Status.FAIL,
        "/etc/security/limits.d/x.conf",
        "/etc/security/limits.d/x.conf",
    )
    assert f.message == "cannot read: Is a directory: pam_limits ignores this line"


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
