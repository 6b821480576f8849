"""harbor.config and harbor.storage on small sysroots: forbidden hostnames in
any case, the profile's own lists, and every storage branch judged from files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.harbor_config import HarborConfigCheck, HarborStorage, _nearest_existing
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, Finding, Status
from tests.support.checks import ctx, profile_with

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
COMPLIANT = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()
YML = "/opt/harbor/harbor.yml"
HOST_EXPECTED = "this host's IP address or DNS name"


def harbor_ctx(root: Path, **harbor: Any) -> CheckContext:
    return ctx(root, profile_with("harbor", **harbor), harbor_config=YML)


def full(findings: tuple[Finding, ...]) -> list[tuple[object, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location) for f in findings
    ]


def sysroot(tmp_path: Path, text: str, extra: dict[str, str] | None = None) -> Path:
    root = tmp_path / "root"
    (root / "opt/harbor").mkdir(parents=True, exist_ok=True)
    (root / "opt/harbor/harbor.yml").write_text(text)
    for rel, content in (extra or {}).items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def hostname(name: str) -> str:
    return COMPLIANT.replace("hostname: 192.168.3.60", f"hostname: {name}")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("REG.MyDomain.com", "unchanged from the shipped default: install.sh refuses to run"),
        ("LocalHost", "clients outside this host cannot reach Harbor at localhost"),
    ],
)
def test_forbidden_hostnames_in_other_case(tmp_path: Path, name: str, why: str) -> None:
    root = sysroot(tmp_path, hostname(name))
    out = run_check(HarborConfigCheck, harbor_ctx(root))
    assert (out.status, out.message) == (Status.FAIL, f"hostname: {name}: {why}")
    assert [f for f in full(out.findings) if f[1] == "hostname"] == [
        ("fail", "hostname", f"{name}: {why}", HOST_EXPECTED, name, f"{YML}:5")
    ]


def test_profile_forbidden_hostname_and_a_good_one(tmp_path: Path) -> None:
    root = sysroot(tmp_path, hostname("harbor.test"))
    out = run_check(HarborConfigCheck, harbor_ctx(root, forbidden_hostnames=["Harbor.TEST"]))
    assert [f for f in full(out.findings) if f[1] == "hostname"] == [
        (
            "fail",
            "hostname",
            "harbor.test: not allowed by the profile",
            HOST_EXPECTED,
            "harbor.test",
            f"{YML}:5",
        )
    ]
    out = run_check(HarborConfigCheck, harbor_ctx(root, forbidden_hostnames=[]))
    assert out.status is Status.PASS
    assert [f for f in full(out.findings) if f[1] == "hostname"] == [
        ("pass", "hostname", "harbor.test", None, "harbor.test", f"{YML}:5")
    ]
    # the shipped default passes when the profile forbids nothing
    root = sysroot(tmp_path / "b", hostname("reg.mydomain.com"))
    assert (
        run_check(HarborConfigCheck, harbor_ctx(root, forbidden_hostnames=[])).status is Status.PASS
    )


def test_compliant_findings_in_full(tmp_path: Path) -> None:
    root = sysroot(tmp_path, COMPLIANT)
    out = run_check(HarborConfigCheck, harbor_ctx(root))
    assert (out.status, out.message) == (Status.PASS, f"{YML} is valid for Harbor v1.8.0")
    assert full(out.findings) == [
        ("pass", "hostname", "192.168.3.60", None, "192.168.3.60", f"{YML}:5"),
        (
            "pass",
            "https",
            "off: Harbor serves plain HTTP (docker clients need it in insecure-registries; "
            "Notary, --with-notary, needs HTTPS)",
            None,
            None,
            f"{YML}:8",
        ),
    ]


def test_log_level_against_the_profile_list(tmp_path: Path) -> None:
    root = sysroot(tmp_path, COMPLIANT.replace("  level: info", "  level: fatal"))
    out = run_check(HarborConfigCheck, harbor_ctx(root, log_levels=["info", "debug"]))
    assert [f for f in full(out.findings) if f[1] == "log.level"] == [
        (
            "fail",
            "log.level",
            "fatal is not one of info, debug",
            "one of info, debug",
            "fatal",
            f"{YML}:71",
        )
    ]
    # the schema's own list is checked first and reported once
    root2 = sysroot(tmp_path / "b", COMPLIANT.replace("  level: info", "  level: info2"))
    out = run_check(HarborConfigCheck, harbor_ctx(root2, log_levels=["info", "debug"]))
    assert [f[:3] for f in full(out.findings) if f[1] == "log.level"] == [
        (
            "fail",
            "log.level",
            "'info2' is not one of ['debug', 'info', 'warning', 'error', 'fatal']",
        )
    ]
    # without a list in the profile the level is not judged
    out = run_check(HarborConfigCheck, harbor_ctx(root, log_levels=[]))
    assert [f for f in out.findings if f.subject == "log.level"] == []


def test_version_and_passwords_in_full(tmp_path: Path) -> None:
    text = (
        COMPLIANT.replace("_version: 1.8.0", "_version: 1.7.0")
        .replace("harbor_admin_password: Xq7-harbor-Admin", "harbor_admin_password: Harbor12345")
        .replace("  password: Vk3-harbor-Db", "  password: root123")
    )
    out = run_check(HarborConfigCheck, harbor_ctx(sysroot(tmp_path, text)))
    assert out.status is Status.WARN
    got = [f for f in full(out.findings) if f[0] == "warn"]
    assert got == [
        (
            "warn",
            "_version",
            "the file is for Harbor 1.7.0, not 1.8.0: start from the 1.8.0 harbor.yml",
            "1.8.0",
            "1.7.0",
            f"{YML}:82",
        ),
        (
            "warn",
            "harbor_admin_password",
            "still the shipped admin password (Harbor12345): change it before the first install",
            None,
            None,
            f"{YML}:27",
        ),
        (
            "warn",
            "database.password",
            "still the shipped database password (root123): change it before the first install",
            None,
            None,
            f"{YML}:32",
        ),
    ]
    # the profile's version is the one compared
    out = run_check(HarborConfigCheck, harbor_ctx(sysroot(tmp_path, text), version="1.7.0"))
    assert [f.subject for f in out.findings if f.status is Status.WARN] == [
        "harbor_admin_password",
        "database.password",
    ]


# --- harbor.storage on a sysroot ----------------------------------------------


def storage(tmp_path: Path, data: str, log: str, extra: dict[str, str]) -> list[tuple[object, ...]]:
    text = COMPLIANT.replace("data_volume: /data", f"data_volume: {data}").replace(
        "  location: /var/log/harbor", f"  location: {log}"
    )
    root = sysroot(tmp_path, text, extra)
    return full(run_check(HarborStorage, harbor_ctx(root)).findings)


def test_storage_branches_on_a_sysroot(tmp_path: Path) -> None:
    got = storage(
        tmp_path,
        "/srv/data",
        "/srv/file/logs",
        {"srv/data": "a file\n", "srv/file": "also a file\n"},
    )
    assert got == [
        (
            "fail",
            "data_volume",
            "/srv/data exists but is not a directory",
            None,
            "/srv/data",
            f"{YML}:35",
        ),
        (
            "fail",
            "log.location",
            "/srv/file/logs cannot be created: /srv/file is not a directory",
            None,
            None,
            f"{YML}:79",
        ),
    ]


def test_storage_creatable_under_the_nearest_parent(tmp_path: Path) -> None:
    got = storage(
        tmp_path, "/srv/a/b/c", "/var/log/harbor", {"srv/keep": "", "var/log/harbor/x": ""}
    )
    sysroot_note = "auditing the sysroot"
    assert got[0][:3] == (
        "pass",
        "data_volume",
        "/srv/a/b/c does not exist yet; creatable under /srv "
        "(writability not checked on a sysroot)",
    )
    assert got[0][5] == f"{YML}:35"
    assert got[1][:2] == ("skip", "data_volume free space")
    assert sysroot_note in str(got[1][2])
    assert got[2] == (
        "pass",
        "log.location",
        "/var/log/harbor exists",
        None,
        "/var/log/harbor",
        f"{YML}:79",
    )


def test_storage_relative_path_is_skipped(tmp_path: Path) -> None:
    got = storage(tmp_path, "data", "/var/log/harbor", {"var/log/harbor/x": ""})
    assert got[0] == (
        "skip",
        "data_volume",
        "not set to an absolute path (see harbor.config)",
        None,
        None,
        None,
    )


def test_nearest_existing(tmp_path: Path) -> None:
    (tmp_path / "a/b").mkdir(parents=True)
    host = SysrootHost(tmp_path)
    assert _nearest_existing(host, "/a/b/c/d") == "/a/b"
    assert _nearest_existing(host, "/a") == "/a"
    assert _nearest_existing(host, "/x/y") == "/"
    assert _nearest_existing(host, "/") == "/"
