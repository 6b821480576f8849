"""Every bad input gets its exit code, a one-line message naming the thing, and no leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.bundle.format import BLOB_DIR, METADATA_NAME, SUMS_NAME, installer_member
from harborkit.errors import ExitCode
from tests.bundle.conftest import (
    INSTALLER_NAME,
    RANDOM_IMAGE,
    REPO,
    BuildHost,
    HttpServer,
    image_list,
    run_cli,
)
from tests.bundle.helpers import hostile_tgz, member_info, rewrite_bundle
from tests.support.dockerd import Daemon


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("harborkit: error: "), stderr
    return lines[0]


def _manifest(tmp_path: Path, images: list[str], url: str, sha256: str | None = None) -> Path:
    p = tmp_path / "manifest.yaml"
    lines = ["harbor_version: v1.8.0", "images:", *[f"  - {i}" for i in images], "installer:"]
    lines += [f"  name: {INSTALLER_NAME}", f"  url: {url}"]
    if sha256:
        lines.append(f'  sha256: "{sha256}"')
    p.write_text("\n".join(lines) + "\n")
    return p


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ------------------------------------------------------------------ build


def test_daemon_unreachable(tmp_path: Path, built_bundle: Path) -> None:
    env = dict(os.environ, DOCKER_HOST="unix:///tmp/hk-nowhere/d.sock")
    out = tmp_path / "b.tar"
    r = run_cli("bundle", "build", "--no-pull", "-o", str(out), env=env)
    assert r.returncode == ExitCode.ENVIRONMENT
    assert "unix:///tmp/hk-nowhere/d.sock" in _one_line_error(r.stderr)
    assert not out.exists()
    r = run_cli("bundle", "load", str(built_bundle), env=env)
    assert r.returncode == ExitCode.ENVIRONMENT
    assert "unix:///tmp/hk-nowhere/d.sock" in _one_line_error(r.stderr)


def test_no_pull_names_missing_images(
    tmp_path: Path, build_host: BuildHost, http_server: HttpServer
) -> None:
    m = _manifest(
        tmp_path,
        ["goharbor/prepare:v1.8.0", "goharbor/nothere:v9", "goharbor/alsomissing:v1"],
        f"{http_server.url}/{INSTALLER_NAME}",
    )
    out = tmp_path / "out" / "b.tar"
    out.parent.mkdir()
    r = run_cli(
        "bundle", "build", "--no-pull", "-m", str(m), "-o", str(out), env=build_host.daemon.env()
    )
    assert r.returncode == ExitCode.IMAGE_MISSING
    msg = _one_line_error(r.stderr)
    assert "goharbor/nothere:v9" in msg and "goharbor/alsomissing:v1" in msg
    assert "goharbor/prepare" not in msg
    assert _leftovers(out.parent) == []


def test_pull_failure_is_image_missing(
    tmp_path: Path, build_host: BuildHost, http_server: HttpServer
) -> None:
    # a registry on a closed loopback port: the pull fails without leaving the machine
    m = _manifest(tmp_path, ["127.0.0.1:1/hk/nothere:v1"], f"{http_server.url}/{INSTALLER_NAME}")
    out = tmp_path / "b.tar"
    r = run_cli("bundle", "build", "-m", str(m), "-o", str(out), env=build_host.daemon.env())
    assert r.returncode == ExitCode.IMAGE_MISSING
    assert "127.0.0.1:1/hk/nothere:v1" in _one_line_error(r.stderr)
    assert not out.exists()


def test_installer_404(tmp_path: Path, build_host: BuildHost, http_server: HttpServer) -> None:
    url = f"{http_server.url}/no-such-installer.tgz"
    out = tmp_path / "out" / "b.tar"
    out.parent.mkdir()
    r = run_cli(
        "bundle",
        "build",
        "--no-pull",
        "--installer",
        url,
        "-o",
        str(out),
        env=build_host.daemon.env(),
    )
    assert r.returncode == ExitCode.DOWNLOAD
    msg = _one_line_error(r.stderr)
    assert url in msg and "404" in msg
    assert _leftovers(out.parent) == []


def test_installer_sha256_mismatch(
    tmp_path: Path, build_host: BuildHost, http_server: HttpServer
) -> None:
    url = f"{http_server.url}/{INSTALLER_NAME}"
    m = _manifest(tmp_path, ["goharbor/prepare:v1.8.0"], url, sha256="0" * 64)
    out = tmp_path / "out" / "b.tar"
    out.parent.mkdir()
    r = run_cli(
        "bundle", "build", "--no-pull", "-m", str(m), "-o", str(out), env=build_host.daemon.env()
    )
    assert r.returncode == ExitCode.DOWNLOAD
    msg = _one_line_error(r.stderr)
    assert url in msg and "sha256" in msg and "0" * 64 in msg
    assert _leftovers(out.parent) == []


def test_installer_sha256_match_is_accepted(
    tmp_path: Path, build_host: BuildHost, http_server: HttpServer, installer_bytes: bytes
) -> None:
    import hashlib

    url = f"{http_server.url}/{INSTALLER_NAME}"
    m = _manifest(
        tmp_path,
        ["goharbor/prepare:v1.8.0"],
        url,
        sha256=hashlib.sha256(installer_bytes).hexdigest(),
    )
    out = tmp_path / "b.tar"
    r = run_cli(
        "bundle", "build", "--no-pull", "-m", str(m), "-o", str(out), env=build_host.daemon.env()
    )
    assert r.returncode == 0, r.stderr
    assert run_cli("bundle", "verify", str(out)).returncode == 0


def test_bad_manifest_schema(tmp_path: Path, build_host: BuildHost) -> None:
    m = tmp_path / "bad.yaml"
    m.write_text("harbor_version: v1.8.0\nimages: []\ninstaller: {name: x.tgz, url: ftp://x}\n")
    r = run_cli(
        "bundle", "build", "-m", str(m), "-o", str(tmp_path / "b.tar"), env=build_host.daemon.env()
    )
    assert r.returncode == ExitCode.USAGE
    assert str(m) in _one_line_error(r.stderr)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[callable]:
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        d = tmp_path / f"tmpfs{len(mounted)}"
        d.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", str(d)], check=False)


def test_full_disk_before_writing(
    tmp_path: Path, build_host: BuildHost, http_server: HttpServer, tmpfs
) -> None:
    d = tmpfs("512k")
    out = d / "harbor.bundle.tar"
    r = run_cli(
        "bundle",
        "build",
        "--no-pull",
        "--installer",
        f"{http_server.url}/{INSTALLER_NAME}",
        "-o",
        str(out),
        env=build_host.daemon.env(),
    )
    assert r.returncode == ExitCode.NO_SPACE
    assert str(d) in _one_line_error(r.stderr)
    assert _leftovers(d) == []


def test_full_disk_while_writing(
    tmp_path: Path, build_host: BuildHost, http_server: HttpServer, tmpfs
) -> None:
    """Incompressible layers outgrow the free-space estimate: ENOSPC mid-write, nothing left."""
    m = _manifest(tmp_path, [RANDOM_IMAGE], f"{http_server.url}/{INSTALLER_NAME}")
    d = tmpfs("8m")
    out = d / "random.bundle.tar"
    r = run_cli(
        "bundle", "build", "--no-pull", "-m", str(m), "-o", str(out), env=build_host.daemon.env()
    )
    assert r.returncode == ExitCode.NO_SPACE, r.stderr
    msg = _one_line_error(r.stderr)
    assert "no space left" in msg and str(d) in msg
    assert _leftovers(d) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_build_leaves_nothing_at_final_path(
    tmp_path: Path, build_host: BuildHost, http_server: HttpServer, sig: signal.Signals
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "harbor.bundle.tar"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harborkit",
            "bundle",
            "build",
            "--no-pull",
            "--installer",
            f"{http_server.url}/slow/{INSTALLER_NAME}",
            "-o",
            str(out),
        ],
        env=build_host.daemon.env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not any(out_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    partial = list(out_dir.iterdir())
    assert partial and partial[0].name.startswith(".harbor.bundle.tar.partial-")
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert not out.exists()
    if sig == signal.SIGINT:
        assert proc.returncode == ExitCode.INTERRUPTED, err
        assert _leftovers(out_dir) == []
    else:
        assert proc.returncode == -signal.SIGKILL


# ------------------------------------------------------------------ verify / load


def _blob_members(bundle: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(bundle) as tf:
        return [ti for ti in tf if ti.name.startswith(BLOB_DIR)]


def test_flipped_byte_names_member_and_loads_nothing(
    tmp_path: Path, built_bundle: Path, target_daemon: Daemon
) -> None:
    before = image_list(target_daemon)
    victim = max(_blob_members(built_bundle), key=lambda ti: ti.size)
    raw = bytearray(built_bundle.read_bytes())
    raw[victim.offset_data + victim.size // 2] ^= 0x01
    bad = tmp_path / "flipped.tar"
    bad.write_bytes(bytes(raw))
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    msg = _one_line_error(r.stderr)
    assert f"altered member {victim.name}" in msg
    r = run_cli("bundle", "load", str(bad), env=target_daemon.env())
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert victim.name in _one_line_error(r.stderr)
    assert image_list(target_daemon) == before


def test_truncated_bundle(tmp_path: Path, built_bundle: Path, target_daemon: Daemon) -> None:
    before = image_list(target_daemon)
    victim = max(_blob_members(built_bundle), key=lambda ti: ti.size)
    bad = tmp_path / "truncated.tar"
    bad.write_bytes(built_bundle.read_bytes()[: victim.offset_data + victim.size // 2])
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert f"truncated member {victim.name}" in _one_line_error(r.stderr)
    r = run_cli("bundle", "load", str(bad), env=target_daemon.env())
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert image_list(target_daemon) == before


def test_bundle_cut_before_sums(tmp_path: Path, built_bundle: Path) -> None:
    with tarfile.open(built_bundle) as tf:
        sums = tf.getmember(SUMS_NAME)
    bad = tmp_path / "cut.tar"
    bad.write_bytes(built_bundle.read_bytes()[: sums.offset])
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert f"missing member {SUMS_NAME}" in _one_line_error(r.stderr)


def test_missing_and_extra_members(tmp_path: Path, built_bundle: Path) -> None:
    """Members added or dropped behind SHA256SUMS' back are each named."""
    victim = min(_blob_members(built_bundle), key=lambda ti: ti.size).name
    bad = tmp_path / "edited.tar"
    with (
        tarfile.open(built_bundle) as src,
        tarfile.open(bad, "w", format=tarfile.GNU_FORMAT) as out,
    ):
        for ti in src:
            if ti.name == victim:
                continue
            out.addfile(ti, src.extractfile(ti))
        out.addfile(tarfile.TarInfo("images/blobs/sha256/extra"), None)
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    msg = _one_line_error(r.stderr)
    assert f"missing member {victim}" in msg and "extra member images/blobs/sha256/extra" in msg


HOSTILE_MEMBERS = {
    "dotdot": (member_info("../x"), b"x"),
    "absolute": (member_info("/etc/x"), b"x"),
    "symlink": (member_info("images/blobs/sha256/link", tarfile.SYMTYPE, "/etc/passwd"), b""),
    "hardlink": (member_info("images/hard", tarfile.LNKTYPE, "etc/passwd"), b""),
    "device": (member_info("images/null", tarfile.CHRTYPE), b""),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_MEMBERS))
def test_hostile_outer_member(
    tmp_path: Path, built_bundle: Path, target_daemon: Daemon, kind: str
) -> None:
    before = image_list(target_daemon)
    ti, data = HOSTILE_MEMBERS[kind]
    bad = tmp_path / f"{kind}.tar"
    rewrite_bundle(built_bundle, bad, extra=[(ti, data)])
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_HOSTILE, r.stderr
    assert repr(ti.name) in _one_line_error(r.stderr)
    r = run_cli(
        "bundle", "load", str(bad), "--install-dir", str(tmp_path / "opt"), env=target_daemon.env()
    )
    assert r.returncode == ExitCode.BUNDLE_HOSTILE
    assert image_list(target_daemon) == before
    assert not (tmp_path / "opt").exists()


def test_duplicate_outer_member(tmp_path: Path, built_bundle: Path) -> None:
    bad = tmp_path / "dup.tar"
    rewrite_bundle(built_bundle, bad, extra=[(member_info(METADATA_NAME), b"{}")])
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_HOSTILE
    assert "duplicate member" in _one_line_error(r.stderr)


def _with_installer(src: Path, dst: Path, tgz: bytes) -> None:
    import hashlib

    def edit(meta: dict) -> None:
        meta["installer"]["sha256"] = hashlib.sha256(tgz).hexdigest()
        meta["installer"]["size"] = len(tgz)

    rewrite_bundle(src, dst, replace={installer_member(INSTALLER_NAME): tgz}, edit_metadata=edit)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "device"])
def test_hostile_installer(
    tmp_path: Path, built_bundle: Path, target_daemon: Daemon, kind: str
) -> None:
    before = image_list(target_daemon)
    bad = tmp_path / f"inst-{kind}.tar"
    _with_installer(built_bundle, bad, hostile_tgz(kind))
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_HOSTILE, r.stderr
    assert installer_member(INSTALLER_NAME) in _one_line_error(r.stderr)
    install = tmp_path / "opt"
    r = run_cli("bundle", "load", str(bad), "--install-dir", str(install), env=target_daemon.env())
    assert r.returncode == ExitCode.BUNDLE_HOSTILE
    assert image_list(target_daemon) == before
    assert not install.exists()
    assert not (tmp_path / "x").exists()


def test_install_dir_never_overwrites(
    tmp_path: Path, built_bundle: Path, fresh_daemon: Daemon
) -> None:
    install = tmp_path / "opt"
    (install / "harbor").mkdir(parents=True)
    (install / "harbor" / "harbor.yml").write_text("hostname: mine\n")
    r = run_cli(
        "bundle", "load", str(built_bundle), "--install-dir", str(install), env=fresh_daemon.env()
    )
    assert r.returncode == ExitCode.USAGE
    assert "harbor.yml" in _one_line_error(r.stderr)
    assert (install / "harbor" / "harbor.yml").read_text() == "hostname: mine\n"
    assert image_list(fresh_daemon) == {}


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(format_version=99),
        lambda m: m.pop("images"),
        lambda m: m["images"][0].update(image_id="not-a-digest"),
    ],
    ids=["version", "no-images", "bad-id"],
)
def test_metadata_fails_schema(
    tmp_path: Path, built_bundle: Path, target_daemon: Daemon, edit
) -> None:
    before = image_list(target_daemon)
    bad = tmp_path / "meta.tar"
    rewrite_bundle(built_bundle, bad, edit_metadata=edit)
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.USAGE, r.stderr
    msg = _one_line_error(r.stderr)
    assert METADATA_NAME in msg and "schema" in msg
    assert run_cli("bundle", "load", str(bad), env=target_daemon.env()).returncode == ExitCode.USAGE
    assert run_cli("bundle", "inspect", str(bad)).returncode == ExitCode.USAGE
    assert image_list(target_daemon) == before


def test_metadata_inconsistent_with_members(tmp_path: Path, built_bundle: Path) -> None:
    bad = tmp_path / "meta.tar"
    rewrite_bundle(built_bundle, bad, edit_metadata=lambda m: m["layers"][0].update(size=1))
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert METADATA_NAME in _one_line_error(r.stderr)


def test_not_a_bundle(tmp_path: Path) -> None:
    r = run_cli("bundle", "verify", str(tmp_path / "nope.tar"))
    assert r.returncode == ExitCode.USAGE
    assert "nope.tar" in _one_line_error(r.stderr)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar" * 100)
    r = run_cli("bundle", "verify", str(junk))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert "junk.tar" in _one_line_error(r.stderr)


def test_blob_not_matching_its_name_is_altered(tmp_path: Path, built_bundle: Path) -> None:
    """Even with SHA256SUMS recomputed, a blob whose bytes differ from its digest name is caught."""
    victim = max(_blob_members(built_bundle), key=lambda ti: ti.size).name
    bad = tmp_path / "renamed.tar"
    rewrite_bundle(built_bundle, bad, replace={victim: b"\x1f\x8b not the layer"})
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert f"altered member {victim}" in _one_line_error(r.stderr)


def test_daemon_refusal_is_load_failed_and_rolled_back(
    tmp_path: Path, built_bundle: Path, fresh_daemon: Daemon
) -> None:
    """A config whose diff ids do not match its layers passes verify but docker load refuses it.

    The images the daemon accepted before the refusal are removed again.
    """
    import hashlib
    import json

    from harborkit.bundle.format import IMAGES_MANIFEST, blob_member

    with tarfile.open(built_bundle) as tf:
        data = {ti.name: tf.extractfile(ti).read() for ti in tf if ti.isreg()}  # type: ignore[union-attr]
    meta = json.loads(data[METADATA_NAME])
    last = meta["images"][-1]
    config = json.loads(data[blob_member(last["image_id"])])
    config["rootfs"]["diff_ids"][-1] = "sha256:" + "1" * 64
    new_config = json.dumps(config).encode()
    new_id = "sha256:" + hashlib.sha256(new_config).hexdigest()
    manifest = json.loads(data[IMAGES_MANIFEST])
    manifest[-1]["Config"] = "blobs/sha256/" + new_id[7:]

    def edit(m: dict) -> None:
        m["images"][-1]["image_id"] = new_id

    bad = tmp_path / "refused.tar"
    rewrite_bundle(
        built_bundle,
        bad,
        replace={IMAGES_MANIFEST: json.dumps(manifest).encode()},
        edit_metadata=edit,
        extra=[(member_info(blob_member(new_id)), new_config)],
    )
    assert run_cli("bundle", "verify", str(bad)).returncode == 0
    r = run_cli("bundle", "load", str(bad), env=fresh_daemon.env())
    assert r.returncode == ExitCode.LOAD_FAILED, r.stderr
    assert str(bad) in _one_line_error(r.stderr)
    assert image_list(fresh_daemon) == {}


def test_damaged_tar_header(tmp_path: Path, built_bundle: Path) -> None:
    """A flipped byte in a member header is reported, naming the member before it."""
    with tarfile.open(built_bundle) as tf:
        victim = tf.getmember(METADATA_NAME)
    raw = bytearray(built_bundle.read_bytes())
    raw[victim.offset + 3] ^= 0x20  # inside the name field; the header checksum no longer matches
    bad = tmp_path / "header.tar"
    bad.write_bytes(bytes(raw))
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    # the SBOM is the member before the metadata
    assert "unreadable tar header after member sbom.cdx.json" in _one_line_error(r.stderr)
