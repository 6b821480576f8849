"""harbor.config and harbor.storage on the fixture sysroots, variants of harbor.yml, and live.

harbor.config and harbor.storage rule by rule: the profile's defaults, and
the live-only storage branches (writability, free space) answered by the
snapshot backend from recorded ``test -w`` and ``df -Pk`` output."""

from __future__ import annotations

import copy
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks.harbor_config import HarborConfigCheck, HarborStorage
from harborkit.collect.snapshot import CommandOutput, Snapshot
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import CheckContext, CheckOptions, Finding, Status
from tests.support.checks import ctx
from tests.support.sysroot import write

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


COMPLIANT = (SYSROOTS / "centos7-compliant" / "opt/harbor/harbor.yml").read_text()


YML = "/opt/harbor/harbor.yml"


NOTE_HTTP = (
    "off: Harbor serves plain HTTP (docker clients need it in insecure-registries; "
    "Notary, --with-notary, needs HTTPS)"
)


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


#: ``df -Pk`` header as GNU coreutils prints it (recorded on the development machine)
DF_HEAD = "Filesystem     1024-blocks     Used Available Capacity Mounted on"


GIB_KIB = 1024 * 1024


def full(findings: tuple[Finding, ...]) -> list[tuple[Any, ...]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location) for f in findings
    ]


def df(existing: str, avail_kib: int) -> str:
    """What the collector records for ``df:PATH``: the nearest existing folder, then df -Pk."""
    return f"{existing}\n{DF_HEAD}\n/dev/vda         264212084 26993288 {avail_kib:9d}      26% /\n"


def storage_ctx(
    *,
    dirs: tuple[str, ...] = ("/data", "/var/log/harbor"),
    files: dict[str, bytes] | None = None,
    commands: dict[str, int] | None = None,
    facts: dict[str, str] | None = None,
    yml: str = COMPLIANT,
) -> CheckContext:
    snap = Snapshot(source="harbor01")
    snap.files[YML] = yml.encode()
    snap.files.update(files or {})
    for d in dirs:
        snap.kinds[d] = "d"
    for key, rc in (commands or {}).items():
        snap.commands[shlex.join(["test", "-w", key])] = CommandOutput(rc, b"", b"")
    snap.facts.update(facts or {})
    prof: dict[str, Any] = copy.deepcopy(dict(load_profile().data))
    return CheckContext(
        host=SnapshotHost(snap), profile=prof, options=CheckOptions(harbor_config=YML)
    )


def _free(subject: str, kib: int, mount: str) -> tuple[Any, ...]:
    text = f"{kib * 1024 / 1024**3:.1f} GiB free on {mount}"
    low = kib < GIB_KIB
    return (
        "warn" if low else "pass",
        f"{subject} free space",
        text + (": nearly full" if low else ""),
        ">= 1 GiB",
        text,
        None,
    )


def test_storage_free_space_at_the_one_gib_boundary() -> None:
    ctx = storage_ctx(
        facts={"df:/data": df("/data", GIB_KIB), "df:/var/log/harbor": df("/", GIB_KIB - 1)}
    )
    out = run_check(HarborStorage, ctx)
    assert full(out.findings) == [
        ("pass", "data_volume", "/data exists", None, "/data", f"{YML}:35"),
        (
            "pass",
            "data_volume free space",
            "1.0 GiB free on /data",
            ">= 1 GiB",
            "1.0 GiB free on /data",
            None,
        ),
        ("pass", "log.location", "/var/log/harbor exists", None, "/var/log/harbor", f"{YML}:79"),
        (
            "warn",
            "log.location free space",
            "1.0 GiB free on /: nearly full",
            ">= 1 GiB",
            "1.0 GiB free on /",
            None,
        ),
    ]
    assert (out.status, out.message) == (
        Status.WARN,
        "log.location free space: 1.0 GiB free on /: nearly full",
    )


def test_storage_plenty_of_space_passes() -> None:
    kib = 79397624  # the Available column of the recorded df -Pk line
    ctx = storage_ctx(facts={"df:/data": df("/data", kib), "df:/var/log/harbor": df("/", kib)})
    out = run_check(HarborStorage, ctx)
    assert (out.status, out.message) == (Status.PASS, "data and log folders usable")
    assert full(out.findings)[1] == _free("data_volume", kib, "/data")
    assert out.findings[1].message == "75.7 GiB free on /data"


def test_storage_creatable_and_writable_on_a_live_host() -> None:
    ctx = storage_ctx(
        dirs=("/data", "/var/log"),
        files={"/var/log/messages": b""},
        commands={"/var/log": 0},
        facts={"df:/data": df("/data", 2 * GIB_KIB), "df:/var/log/harbor": df("/var/log", 0)},
    )
    ctx.host.snapshot.listings["/var/log"] = ["messages"]  # type: ignore[attr-defined]
    out = run_check(HarborStorage, ctx)
    assert full(out.findings)[2:] == [
        (
            "pass",
            "log.location",
            "/var/log/harbor does not exist yet; creatable under /var/log",
            None,
            None,
            f"{YML}:79",
        ),
        _free("log.location", 0, "/var/log"),
    ]
    assert out.findings[3].message == "0.0 GiB free on /var/log: nearly full"


def test_storage_parent_not_writable_fails() -> None:
    ctx = storage_ctx(dirs=("/data", "/var/log"), commands={"/var/log": 1})
    ctx.host.snapshot.listings["/var/log"] = []  # type: ignore[attr-defined]
    ctx.host.snapshot.facts["df:/data"] = df("/data", 2 * GIB_KIB)  # type: ignore[attr-defined]
    out = run_check(HarborStorage, ctx)
    assert full(out.findings)[2:] == [
        (
            "fail",
            "log.location",
            "/var/log/harbor cannot be created: /var/log is not writable",
            None,
            None,
            f"{YML}:79",
        )
    ]
    assert (out.status, out.message) == (
        Status.FAIL,
        "log.location: /var/log/harbor cannot be created: /var/log is not writable",
    )


def test_storage_without_the_writability_answer_notes_it() -> None:
    ctx = storage_ctx(dirs=("/data", "/var/log"), facts={"df:/data": df("/data", GIB_KIB)})
    ctx.host.snapshot.listings["/var/log"] = []  # type: ignore[attr-defined]
    out = run_check(HarborStorage, ctx)
    got = full(out.findings)
    assert got[2] == (
        "pass",
        "log.location",
        "/var/log/harbor does not exist yet; creatable under /var/log "
        "(writability not checked on a sysroot)",
        None,
        None,
        f"{YML}:79",
    )
    assert got[3][:2] == ("skip", "log.location free space")


def test_storage_df_failed() -> None:
    failed = "/data\ndf: /data: Input/output error\n"
    ctx = storage_ctx(facts={"df:/data": failed, "df:/var/log/harbor": df("/", GIB_KIB)})
    out = run_check(HarborStorage, ctx)
    assert full(out.findings)[1] == (
        "skip",
        "data_volume free space",
        "df on harbor01 failed for /data: /data\ndf: /data: Input/output error",
        None,
        None,
        None,
    )


def test_storage_with_an_unusable_harbor_yml_skips(tmp_path: Path) -> None:
    root = write(tmp_path, {YML: "- a list\n"})
    ctx = CheckContext(
        host=SysrootHost(root),
        profile=copy.deepcopy(dict(load_profile().data)),
        options=CheckOptions(harbor_config=YML),
    )
    out = run_check(HarborStorage, ctx)
    assert (out.status, out.message, out.findings) == (
        Status.SKIP,
        f"harbor.yml unusable: {YML}: not a mapping of settings",
        (),
    )


def config_ctx(tmp_path: Path, text: str, harbor: dict[str, Any]) -> CheckContext:
    root = write(tmp_path, {YML: text})
    prof: dict[str, Any] = copy.deepcopy(dict(load_profile().data))
    prof["harbor"] = harbor
    return CheckContext(
        host=SysrootHost(root), profile=prof, options=CheckOptions(harbor_config=YML)
    )


def test_a_profile_without_lists_uses_the_defaults(tmp_path: Path) -> None:
    text = COMPLIANT.replace("hostname: 192.168.3.60", "hostname: localhost")
    out = run_check(HarborConfigCheck, config_ctx(tmp_path, text, {}))
    # no forbidden hostnames, no log levels: both pass; _version 1.8.0 is the default
    assert [f for f in full(out.findings) if f[1] in ("hostname", "log.level", "_version")] == [
        ("pass", "hostname", "localhost", None, "localhost", f"{YML}:5")
    ]
    assert (out.status, out.message) == (Status.PASS, f"{YML} is valid for Harbor v1.8.0")


@pytest.mark.parametrize(
    ("harbor", "found"),
    [
        pytest.param({"log_levels": []}, [], id="empty-list"),
        pytest.param({}, [], id="no-list"),
        pytest.param(
            {"log_levels": ["debug", "error"]},
            [
                (
                    "fail",
                    "log.level",
                    "info is not one of debug, error",
                    "one of debug, error",
                    "info",
                    f"{YML}:71",
                )
            ],
            id="not-in-the-list",
        ),
    ],
)
def test_log_level_against_the_profile(
    tmp_path: Path, harbor: dict[str, Any], found: list[tuple[Any, ...]]
) -> None:
    out = run_check(HarborConfigCheck, config_ctx(tmp_path, COMPLIANT, harbor))
    assert [f for f in full(out.findings) if f[1] == "log.level"] == found


@pytest.mark.parametrize(
    ("version", "found"),
    [
        pytest.param("1.8.0", [], id="same"),
        pytest.param(
            "1.9.0",
            [
                (
                    "warn",
                    "_version",
                    "the file is for Harbor 1.8.0, not 1.9.0: start from the 1.9.0 harbor.yml",
                    "1.9.0",
                    "1.8.0",
                    f"{YML}:82",
                )
            ],
            id="other",
        ),
    ],
)
def test_version_against_the_profile(
    tmp_path: Path, version: str, found: list[tuple[Any, ...]]
) -> None:
    out = run_check(HarborConfigCheck, config_ctx(tmp_path, COMPLIANT, {"version": version}))
    assert [f for f in full(out.findings) if f[1] == "_version"] == found


HTTPS = "https:\n  port: 443\n  certificate: /etc/harbor/tls\n  private_key: /etc/harbor/tls.key\n"


def test_https_certificate_that_is_a_folder_fails(tmp_path: Path) -> None:
    text = COMPLIANT.replace("# https:\n", HTTPS + "# https:\n", 1)
    root = write(tmp_path, {YML: text, "/etc/harbor/tls/x": "", "/etc/harbor/tls.key": "k"})
    ctx = CheckContext(
        host=SysrootHost(root),
        profile=copy.deepcopy(dict(load_profile().data)),
        options=CheckOptions(harbor_config=YML),
    )
    out = run_check(HarborConfigCheck, ctx)
    assert [f for f in full(out.findings) if f[1].startswith("https")] == [
        (
            "fail",
            "https.certificate",
            "/etc/harbor/tls: no such file (prepare fails with HTTPS on)",
            None,
            None,
            f"{YML}:15",
        ),
        ("pass", "https.private_key", "/etc/harbor/tls.key present", None, None, f"{YML}:16"),
    ]


def test_unusable_harbor_yml_is_one_located_failure(tmp_path: Path) -> None:
    root = write(tmp_path, {YML: "hostname: [\n"})
    ctx = CheckContext(
        host=SysrootHost(root),
        profile=copy.deepcopy(dict(load_profile().data)),
        options=CheckOptions(harbor_config=YML),
    )
    out = run_check(HarborConfigCheck, ctx)
    assert out.status is Status.FAIL
    assert [(f.status.value, f.subject, f.location) for f in out.findings] == [
        ("fail", "harbor.yml", f"{YML}:2:1")
    ]
    assert out.message == out.findings[0].message


def test_unknown_key_is_located_and_a_bad_hostname_judged_once(tmp_path: Path) -> None:
    text = COMPLIANT.replace("hostname: 192.168.3.60", "hostname: [a]") + "\nhostnme: x\n"
    out = run_check(HarborConfigCheck, config_ctx(tmp_path, text, {}))
    got = full(out.findings)
    assert [f for f in got if f[1] == "hostnme"] == [
        (
            "warn",
            "hostnme",
            "not a Harbor v1.8.0 setting: prepare ignores it (a typo?)",
            None,
            None,
            f"{YML}:99",
        )
    ]
    assert [f[0] for f in got if f[1] == "hostname"] == ["fail"]


def test_hostname_is_located_on_its_own_line_not_the_first_key(tmp_path: Path) -> None:
    # hostname is the first key of the guide's harbor.yml; moved last, its finding must
    # still point at its own line (a lookup of another key falls back to the first key)
    lines = [ln for ln in COMPLIANT.splitlines() if not ln.startswith("hostname:")]
    text = "\n".join([*lines, "hostname: reg.example.com"]) + "\n"
    out = run_check(HarborConfigCheck, config_ctx(tmp_path, text, {}))
    assert [f for f in full(out.findings) if f[1] == "hostname"] == [
        ("pass", "hostname", "reg.example.com", None, "reg.example.com", f"{YML}:{len(lines) + 1}")
    ]


def https_ctx(tmp_path: Path, https: str, files: dict[str, str]) -> CheckContext:
    text = COMPLIANT.replace("# https:\n", https + "# https:\n", 1)
    return CheckContext(
        host=SysrootHost(write(tmp_path, {YML: text, **files})),
        profile=copy.deepcopy(dict(load_profile().data)),
        options=CheckOptions(harbor_config=YML),
    )


def https_findings(out: Any) -> list[tuple[Any, ...]]:
    return [f[:3] for f in full(out.findings) if f[1].startswith("https")]


def test_https_private_key_judged_after_a_certificate_the_schema_refused(tmp_path: Path) -> None:
    https = "https:\n  port: 443\n  certificate: [1]\n  private_key: /etc/harbor/tls.key\n"
    out = run_check(HarborConfigCheck, https_ctx(tmp_path, https, {}))
    found = https_findings(out)
    assert found[0][:2] == ("fail", "https.certificate")  # the schema's finding, judged once
    assert found[1:] == [
        (
            "fail",
            "https.private_key",
            "/etc/harbor/tls.key: no such file (prepare fails with HTTPS on)",
        )
    ]


def test_https_private_key_judged_when_the_certificate_is_not_set(tmp_path: Path) -> None:
    https = "https:\n  port: 443\n  private_key: /etc/harbor/tls.key\n"
    out = run_check(HarborConfigCheck, https_ctx(tmp_path, https, {"/etc/harbor/tls.key": "k"}))
    assert [f for f in https_findings(out) if f[1] == "https.private_key"] == [
        ("pass", "https.private_key", "/etc/harbor/tls.key present")
    ]


def test_https_certificate_behind_a_folder_it_cannot_read_is_missing() -> None:
    # run as an unprivileged user (root reads every folder): stat() under a 0700 folder
    # raises PermissionError, and the certificate counts as not there
    import os
    import tempfile

    https = "https:\n  port: 443\n  certificate: /etc/harbor/tls.crt\n  private_key: /k\n"
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        root.chmod(0o755)  # the rest of the sysroot stays readable to the user
        ctx = https_ctx(root, https, {"/etc/harbor/tls.crt": "c", "/k": "k"})
        (root / "etc" / "harbor").chmod(0o700)
        os.seteuid(65534)
        try:
            out = run_check(HarborConfigCheck, ctx)
        finally:
            os.seteuid(0)
    assert https_findings(out) == [
        (
            "fail",
            "https.certificate",
            "/etc/harbor/tls.crt: no such file (prepare fails with HTTPS on)",
        ),
        ("pass", "https.private_key", "/k present"),
    ]


def test_storage_judges_the_log_folder_after_a_data_volume_it_cannot_use() -> None:
    kib = 79397624
    ctx = storage_ctx(
        yml=COMPLIANT.replace("data_volume: /data", "data_volume: data"),
        facts={"df:/var/log/harbor": df("/", kib)},
    )
    out = run_check(HarborStorage, ctx)
    assert [(f.status.value, f.subject, f.message) for f in out.findings] == [
        ("skip", "data_volume", "not set to an absolute path (see harbor.config)"),
        ("pass", "log.location", "/var/log/harbor exists"),
        ("pass", "log.location free space", "75.7 GiB free on /"),
    ]
