"""``bundle manifest show|init`` and what a failed or mismatched manifest file says.

The builds run from a real (loopback) registry with ``--from``, the files come
from the loopback HTTP server of conftest, or from a port nothing listens on.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harborkit.bundle.manifest import load_manifest
from harborkit.bundle.site_manifest import site_manifest
from harborkit.errors import ExitCode, InputError
from tests.bundle.conftest import HttpServer, run_cli

REPO = Path(__file__).resolve().parents[2]
BUILTIN = REPO / "bundles" / "harbor-v1.8.0.yaml"
COMPOSE = b"#!/bin/sh\necho docker-compose version 1.24.0-site\n"
WAYS_OUT = (
    " (offline: --file docker-compose=PATH carries a local copy, "
    "--no-tools carries none of the manifest's files)"
)


def pin_hint(path: str) -> str:
    return (
        " (to carry another docker-compose, pin it: harborkit bundle manifest init "
        f"--file docker-compose={path} -o site.yaml, then bundle build --manifest site.yaml)"
    )


def only_line(r: subprocess.CompletedProcess[str], code: int) -> str:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    from tests.support.hostile_registry import hostile_registry

    with hostile_registry("ok") as reg:
        yield reg.host


def write_manifest(tmp: Path, url: str, sha256: str = "0" * 64) -> Path:
    from tests.registry.conftest import INSTALLER

    m = tmp / "m.yaml"
    m.write_text(
        yaml.safe_dump(
            {
                "harbor_version": "v1.8.0",
                "images": ["hostile/app:v1"],
                "installer": {"name": INSTALLER, "url": f"https://example.invalid/{INSTALLER}"},
                "files": [
                    {
                        "name": "docker-compose",
                        "url": url,
                        "sha256": sha256,
                        "install_path": "/usr/local/bin/docker-compose",
                        "mode": "0755",
                    }
                ],
            },
            sort_keys=False,
        )
    )
    return m


def build(
    tmp: Path, registry: str, manifest: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    from tests.registry.conftest import write_installer

    out = tmp / "out"
    out.mkdir(exist_ok=True)
    return run_cli(
        "bundle", "build", "-q", "--from", f"registry://{registry}", "--insecure",
        "-m", str(manifest), "-o", str(out / "b.tar"), "--cache", str(tmp / "cache"),
        "--installer", str(write_installer(tmp)), *extra, timeout=120,
    )  # fmt: skip


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the block ends: nothing listens


# ------------------------------------------------------------------ show / init


def test_show_prints_the_packaged_manifest_exactly() -> None:
    r = run_cli("bundle", "manifest", "show")
    assert (r.returncode, r.stdout, r.stderr) == (0, BUILTIN.read_text(), "")


def test_init_pins_sha256_and_size_into_the_builtin_manifest(tmp_path: Path) -> None:
    local = tmp_path / "docker-compose"
    local.write_bytes(COMPOSE)
    site = tmp_path / "site.yaml"
    r = run_cli("bundle", "manifest", "init", "--file", f"docker-compose={local}", "-o", str(site))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", f"wrote {site}\n")
    got, base = yaml.safe_load(site.read_text()), yaml.safe_load(BUILTIN.read_text())
    base["files"][0].update(sha256=hashlib.sha256(COMPOSE).hexdigest(), size=len(COMPOSE))
    assert got == base
    for line in BUILTIN.read_text().splitlines():  # every comment and line kept but the pin
        if "sha256:" not in line:
            assert line in site.read_text().splitlines()
    spec = load_manifest(site).files[0]  # what bundle build --manifest reads
    assert (spec.sha256, spec.size) == (hashlib.sha256(COMPOSE).hexdigest(), len(COMPOSE))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"docker-composer": "/etc/hostname"},
            "--file docker-composer: {m} has no file of that name (docker-compose)",
        ),
        (
            {"docker-compose": "https://example.invalid/dc"},
            "--file docker-compose=https://example.invalid/dc: give a local file to pin, not a URL",
        ),
        (
            {"docker-compose": "/nonexistent/dc"},
            "cannot read file docker-compose /nonexistent/dc: No such file or directory",
        ),
        (
            {"docker-compose": "/dev/null"},
            "cannot read file docker-compose /dev/null: not a regular file",
        ),
        ({}, "bundle manifest init: give at least one --file NAME=PATH"),
    ],
)
def test_init_refuses_bad_files_in_one_line(files: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as e:
        site_manifest(files)
    assert e.value.message == message.format(m=BUILTIN)
    assert e.value.exit_code == ExitCode.USAGE


def test_a_hostile_path_never_reaches_the_manifest_text(tmp_path: Path) -> None:
    """The path is read, never written: newlines, '#' and YAML in it change nothing."""
    d = tmp_path / "x\nfiles: []\n# {a: b}"
    d.mkdir()
    local = d / "dc: 1"
    local.write_bytes(COMPOSE)
    text = site_manifest({"docker-compose": str(local)})
    assert "files: []" not in text and "dc: 1" not in text
    spec = load_manifest(_written(tmp_path, text)).files[0]
    assert (spec.name, spec.size) == ("docker-compose", len(COMPOSE))


def _written(tmp: Path, text: str) -> Path:
    p = tmp / "site.yaml"
    p.write_text(text)
    return p


def test_init_from_a_flow_style_manifest_dumps_it_whole(tmp_path: Path) -> None:
    local = tmp_path / "dc"
    local.write_bytes(COMPOSE)
    m = write_manifest(tmp_path, "https://example.invalid/dc")
    m.write_text(yaml.safe_dump(yaml.safe_load(m.read_text()), default_flow_style=True))
    got = yaml.safe_load(site_manifest({"docker-compose": str(local)}, m))
    assert got["files"][0]["sha256"] == hashlib.sha256(COMPOSE).hexdigest()
    assert got["images"] == ["hostile/app:v1"]


# ------------------------------------------------------------------ the build's messages


def test_a_failed_download_names_the_two_ways_out(
    tmp_path: Path, registry: str, http_server: HttpServer
) -> None:
    url = f"{http_server.url}/missing/docker-compose"
    r = build(tmp_path, registry, write_manifest(tmp_path, url))
    assert only_line(r, ExitCode.DOWNLOAD) == (
        f"harborkit: error: cannot download file docker-compose from {url}: HTTP 404 Not Found"
        + WAYS_OUT
    )
    url = f"http://127.0.0.1:{closed_port()}/docker-compose"
    r = build(tmp_path, registry, write_manifest(tmp_path, url))
    assert only_line(r, ExitCode.DOWNLOAD) == (
        f"harborkit: error: cannot download file docker-compose from {url}: "
        "[Errno 111] Connection refused" + WAYS_OUT
    )
    r = build(tmp_path, registry, write_manifest(tmp_path, url), "--no-tools")  # way out 2
    assert r.returncode == 0, r.stderr


def test_a_mismatched_file_says_how_to_pin_another_then_the_pin_builds(
    tmp_path: Path, registry: str, http_server: HttpServer
) -> None:
    local = tmp_path / "docker-compose"
    local.write_bytes(COMPOSE)
    digest = hashlib.sha256(COMPOSE).hexdigest()
    http_server.files["/site/docker-compose"] = COMPOSE
    url = f"{http_server.url}/site/docker-compose"
    m = write_manifest(tmp_path, f"http://127.0.0.1:{closed_port()}/dc")
    r = build(tmp_path, registry, m, "--file", f"docker-compose={local}")  # way out 1, other bytes
    assert only_line(r, ExitCode.DOWNLOAD) == (
        f"harborkit: error: file docker-compose from {local} has sha256 {digest}, "
        f"expected {'0' * 64}" + pin_hint(str(local))
    )
    r = build(tmp_path, registry, write_manifest(tmp_path, url))  # from the manifest's URL
    assert only_line(r, ExitCode.DOWNLOAD) == (
        f"harborkit: error: file docker-compose from {url} has sha256 {digest}, "
        f"expected {'0' * 64}" + pin_hint("PATH")
    )
    # the way the message names: pin it, then build with the site manifest
    site = tmp_path / "site.yaml"
    r = run_cli(
        "bundle", "manifest", "init", "-m", str(m), "--file", f"docker-compose={local}",
        "-o", str(site),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = build(tmp_path, registry, site, "--file", f"docker-compose={local}")
    assert r.returncode == 0, r.stderr
    r = run_cli("bundle", "inspect", str(tmp_path / "out" / "b.tar"), "-f", "json")
    assert r.returncode == 0, r.stderr
    assert digest in r.stdout
    # the SBOM of a registry build: schema-valid, the image's purl names the registry and digest
    r = run_cli("bundle", "inspect", str(tmp_path / "out" / "b.tar"), "-f", "cyclonedx")
    assert r.returncode == 0, r.stderr
    from harborkit.bundle.sbom import validate_sbom

    sbom = validate_sbom(r.stdout.encode())
    [image] = [c for c in sbom["components"] if c["type"] == "container"]
    props = {p["name"]: p["value"] for p in image["properties"]}
    assert image["purl"] == (
        f"pkg:docker/hostile/app@v1?digest={props['harborkit:manifest_digest']}"
        f"&repository_url={registry}"
    )


def test_a_pinned_size_refuses_another_file_before_reading_it(
    tmp_path: Path, registry: str
) -> None:
    local = tmp_path / "docker-compose"
    local.write_bytes(COMPOSE)
    site = _written(
        tmp_path,
        site_manifest(
            {"docker-compose": str(local)}, write_manifest(tmp_path, "https://x.invalid/d")
        ),
    )
    other = tmp_path / "other"
    other.write_bytes(COMPOSE + b"#")
    r = build(tmp_path, registry, site, "--file", f"docker-compose={other}")
    assert only_line(r, ExitCode.DOWNLOAD) == (
        f"harborkit: error: file docker-compose from {other} is {len(COMPOSE) + 1} bytes, "
        f"expected {len(COMPOSE)}" + pin_hint(str(other))
    )


def test_an_unreachable_checksum_file_names_the_way_out(tmp_path: Path, registry: str) -> None:
    """A manifest that pins by ``sha256_url``: offline, the checksum file fails first."""
    sums = f"http://127.0.0.1:{closed_port()}/docker-compose.sha256"
    m = write_manifest(tmp_path, f"http://127.0.0.1:{closed_port()}/docker-compose")
    m.write_text(m.read_text().replace(f"sha256: '{'0' * 64}'", f"sha256_url: {sums}"))
    assert "sha256_url" in m.read_text()
    why = (
        f"harborkit: error: cannot download checksum file of docker-compose from {sums}: "
        "[Errno 111] Connection refused"
    )
    assert only_line(build(tmp_path, registry, m), ExitCode.DOWNLOAD) == why + WAYS_OUT
    local = tmp_path / "dc"
    local.write_bytes(COMPOSE)
    r = build(tmp_path, registry, m, "--file", f"docker-compose={local}")  # a copy needs a pin
    assert only_line(r, ExitCode.DOWNLOAD) == why + pin_hint(str(local))
    site = _written(tmp_path, site_manifest({"docker-compose": str(local)}, m))
    r = build(tmp_path, registry, site, "--file", f"docker-compose={local}")
    assert r.returncode == 0, r.stderr
