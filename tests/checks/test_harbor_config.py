"""harbor.config and harbor.storage on the fixture sysroots, variants of harbor.yml, and live."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harborkit.checks.harbor_config import HarborConfigCheck, HarborStorage
from harborkit.engine.interface import CheckContext, CheckOptions, Finding, Status
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import LocalHost, SysrootHost

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
COMPLIANT = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()
YML = "/opt/harbor/harbor.yml"
NOTE_HTTP = (
    "off: Harbor serves plain HTTP (docker clients need it in insecure-registries; "
    "Notary, --with-notary, needs HTTPS)"
)


def ctx(root: Path | str | None, **options: str) -> CheckContext:
    host = LocalHost() if root is None else SysrootHost(root)
    return CheckContext(host=host, profile=load_profile().data, options=CheckOptions(**options))


def rows(findings: tuple[Finding, ...]) -> list[tuple[str, str, str]]:
    return [(f.status.value, f.subject, f.message) for f in findings]


def sysroot_with(tmp_path: Path, text: str, extra: dict[str, str] | None = None) -> Path:
    root = tmp_path / "root"
    (root / "opt/harbor").mkdir(parents=True)
    (root / "opt/harbor/harbor.yml").write_text(text)
    for rel, content in (extra or {}).items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


# --- fixture sysroots -------------------------------------------------------


def test_compliant_host_passes() -> None:
    out = run_check(
        HarborConfigCheck, ctx(SYSROOTS / "centos7-compliant", install_dir="/opt/harbor")
    )
    assert out.status is Status.PASS
    assert out.message == "/opt/harbor/harbor.yml is valid for Harbor v1.8.0"
    assert rows(out.findings) == [
        ("pass", "hostname", "192.168.3.60"),
        ("pass", "https", NOTE_HTTP),
    ]
    assert out.findings[0].location == "/opt/harbor/harbor.yml:5"


def test_guide_as_written_keeps_the_shipped_passwords() -> None:
    out = run_check(HarborConfigCheck, ctx(SYSROOTS / "guide-as-written", harbor_config=YML))
    assert out.status is Status.WARN
    assert out.message == "2 of 4 warn: harbor_admin_password, database.password"
    assert rows(out.findings)[2:] == [
        (
            "warn",
            "harbor_admin_password",
            "still the shipped admin password (Harbor12345): change it before the first install",
        ),
        (
            "warn",
            "database.password",
            "still the shipped database password (root123): change it before the first install",
        ),
    ]
    assert [f.location for f in out.findings[2:]] == [f"{YML}:27", f"{YML}:32"]


def test_debian_https_certificate_and_key_present() -> None:
    out = run_check(HarborConfigCheck, ctx(SYSROOTS / "debian12", harbor_config=YML))
    assert out.status is Status.PASS
    assert rows(out.findings) == [
        ("pass", "hostname", "harbor.example.lan"),
        ("pass", "https.certificate", "/opt/harbor/certs/harbor.example.lan.crt present"),
        ("pass", "https.private_key", "/opt/harbor/certs/harbor.example.lan.key present"),
    ]


def test_storage_on_sysroot_is_judged_by_files_and_skips_free_space() -> None:
    root = SYSROOTS / "guide-as-written"
    out = run_check(HarborStorage, ctx(root, harbor_config=YML))
    assert out.status is Status.PASS
    why = f"free disk space: auditing the sysroot {root}, not a running system"
    assert rows(out.findings) == [
        (
            "pass",
            "data_volume",
            "/data/harbor does not exist yet; creatable under / "
            "(writability not checked on a sysroot)",
        ),
        ("skip", "data_volume free space", why),
        (
            "pass",
            "log.location",
            "/data/harbor/log does not exist yet; creatable under / "
            "(writability not checked on a sysroot)",
        ),
        ("skip", "log.location free space", why),
    ]


# --- locating the file ------------------------------------------------------


def test_no_harbor_yml_given_skips() -> None:
    for check in (HarborConfigCheck, HarborStorage):
        out = run_check(check, ctx(SYSROOTS / "centos7-compliant"))
        assert (out.status, out.message) == (
            Status.SKIP,
            "no harbor.yml given (--harbor-config or --install-dir)",
        )


def test_install_dir_without_harbor_yml_fails(tmp_path: Path) -> None:
    out = run_check(HarborConfigCheck, ctx(tmp_path, install_dir="/opt/harbor"))
    assert (out.status, out.message) == (Status.FAIL, "/opt/harbor/harbor.yml: no such file")
    storage = run_check(HarborStorage, ctx(tmp_path, install_dir="/opt/harbor"))
    assert (storage.status, storage.message) == (
        Status.SKIP,
        "harbor.yml unusable: /opt/harbor/harbor.yml: no such file",
    )


# --- variants ---------------------------------------------------------------


def test_default_hostname_fails(tmp_path: Path) -> None:
    root = sysroot_with(
        tmp_path, COMPLIANT.replace("hostname: 192.168.3.60", "hostname: reg.mydomain.com")
    )
    out = run_check(HarborConfigCheck, ctx(root, harbor_config=YML))
    assert out.status is Status.FAIL
    assert out.message == (
        "hostname: reg.mydomain.com: unchanged from the shipped default: install.sh refuses to run"
    )
    assert out.findings[0].location == f"{YML}:5"


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_loopback_hostname_fails(tmp_path: Path, name: str) -> None:
    root = sysroot_with(tmp_path, COMPLIANT.replace("hostname: 192.168.3.60", f"hostname: {name}"))
    out = run_check(HarborConfigCheck, ctx(root, harbor_config=YML))
    assert out.status is Status.FAIL
    assert out.message == (
        f"hostname: {name}: clients outside this host cannot reach Harbor at {name}"
    )


def test_https_without_certificate_files_fails(tmp_path: Path) -> None:
    text = COMPLIANT.replace(
        "# https:\n#   # https port for harbor, default is 443\n#   port: 443\n"
        "#   # The path of cert and key files for nginx\n"
        "#   certificate: /your/certificate/path\n#   private_key: /your/private/key/path\n",
        "https:\n  port: 443\n  certificate: /etc/harbor/tls.crt\n  private_key: /etc/harbor/tls.key\n",
    )
    assert "https:\n  port: 443" in text
    root = sysroot_with(tmp_path, text, {"/etc/harbor/tls.crt": "cert"})
    out = run_check(HarborConfigCheck, ctx(root, harbor_config=YML))
    assert out.status is Status.FAIL
    assert out.message == (
        "https.private_key: /etc/harbor/tls.key: no such file (prepare fails with HTTPS on)"
    )
    assert rows(out.findings)[1] == ("pass", "https.certificate", "/etc/harbor/tls.crt present")
    assert out.findings[2].location == f"{YML}:16"


def test_https_missing_key_setting_is_a_schema_error(tmp_path: Path) -> None:
    text = COMPLIANT.replace("# https:\n", "https:\n  certificate: /etc/harbor/tls.crt\n", 1)
    root = sysroot_with(tmp_path, text, {"/etc/harbor/tls.crt": "cert"})
    out = run_check(HarborConfigCheck, ctx(root, harbor_config=YML))
    assert out.status is Status.FAIL
    assert out.message == "https.private_key: 'private_key' is a required property"
    assert out.findings[0].location == f"{YML}:13"


def test_log_level_and_missing_keys_are_reported_with_lines(tmp_path: Path) -> None:
    text = (
        COMPLIANT.replace("level: info", "level: warn")
        .replace("  location: /var/log/harbor\n", "")
        .replace("data_volume: /data\n", "data_volume: data\n")
    )
    root = sysroot_with(tmp_path, text)
    out = run_check(HarborConfigCheck, ctx(root, harbor_config=YML))
    assert out.status is Status.FAIL
    assert out.message == "3 of 5 fail: data_volume, log.location, log.level"
    assert [(f.subject, f.message, f.location) for f in out.findings[:3]] == [
        ("data_volume", "'data' does not match '^/'", f"{YML}:35"),
        ("log.location", "'location' is a required property", f"{YML}:69"),
        (
            "log.level",
            "'warn' is not one of ['debug', 'info', 'warning', 'error', 'fatal']",
            f"{YML}:71",
        ),
    ]


def test_unknown_key_and_old_version_warn(tmp_path: Path) -> None:
    text = COMPLIANT.replace("_version: 1.8.0", "_version: 1.7.0") + "hostnmae: 10.0.0.5\n"
    root = sysroot_with(tmp_path, text)
    out = run_check(HarborConfigCheck, ctx(root, harbor_config=YML))
    assert out.status is Status.WARN
    assert rows(out.findings)[:2] == [
        ("warn", "hostnmae", "not a Harbor v1.8.0 setting: prepare ignores it (a typo?)"),
        (
            "warn",
            "_version",
            "the file is for Harbor 1.7.0, not 1.8.0: start from the 1.8.0 harbor.yml",
        ),
    ]


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    root = sysroot_with(tmp_path, "hostname: 10.0.0.5\nhttp:\n  port: 80\n bad: [\n")
    out = run_check(HarborConfigCheck, ctx(root, harbor_config=YML))
    assert out.status is Status.FAIL
    assert out.message.startswith(f"{YML}:4:2: invalid YAML: ")
    assert out.findings[0].location == f"{YML}:4:2"


def test_not_a_mapping_fails(tmp_path: Path) -> None:
    root = sysroot_with(tmp_path, "- just\n- a list\n")
    out = run_check(HarborConfigCheck, ctx(root, harbor_config=YML))
    assert (out.status, out.message) == (Status.FAIL, f"{YML}: not a mapping of settings")


# --- live storage -----------------------------------------------------------


def test_live_storage_reports_free_space_and_creatable_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    logs = tmp_path / "new" / "logs"
    text = COMPLIANT.replace("data_volume: /data", f"data_volume: {data}").replace(
        "location: /var/log/harbor", f"location: {logs}"
    )
    cfg = tmp_path / "harbor.yml"
    cfg.write_text(text)
    out = run_check(HarborStorage, ctx(None, harbor_config=str(cfg)))
    assert out.status is Status.PASS, out
    f = out.findings
    assert (f[0].status, f[0].message) == (Status.PASS, f"{data} exists")
    assert (f[2].status, f[2].message) == (
        Status.PASS,
        f"{logs} does not exist yet; creatable under {tmp_path}",
    )
    free_gib = shutil.disk_usage(tmp_path).free / 1024**3
    for item in (f[1], f[3]):
        assert item.subject.endswith("free space")
        shown = float(item.message.split(" GiB")[0])
        assert abs(shown - free_gib) < 0.2, (shown, free_gib)
    assert f[1].message.endswith(f"GiB free on {data}")
    assert f[3].message.endswith(f"GiB free on {tmp_path}")


def test_live_storage_under_a_file_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    text = COMPLIANT.replace("data_volume: /data", f"data_volume: {blocker}/data").replace(
        "location: /var/log/harbor", f"location: {blocker}"
    )
    cfg = tmp_path / "harbor.yml"
    cfg.write_text(text)
    out = run_check(HarborStorage, ctx(None, harbor_config=str(cfg)))
    assert out.status is Status.FAIL
    assert rows(out.findings) == [
        ("fail", "data_volume", f"{blocker}/data cannot be created: {blocker} is not a directory"),
        ("fail", "log.location", f"{blocker} exists but is not a directory"),
    ]


def test_relative_harbor_config_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "harbor.yml").write_text(COMPLIANT)
    monkeypatch.chdir(tmp_path)
    out = run_check(HarborConfigCheck, ctx(None, harbor_config="harbor.yml"))
    assert out.message == f"{os.path.join(tmp_path, 'harbor.yml')} is valid for Harbor v1.8.0"
