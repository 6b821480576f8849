"""Every bad input gets its exit code, a one-line message naming the thing, and no leftovers."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from harborkit.bundle.format import BLOB_DIR, IMAGES_MANIFEST, METADATA_NAME, installer_member
from harborkit.errors import ExitCode, HarborkitError
from tests.bundle.conftest import (
    INSTALLER_NAME,
    RANDOM_IMAGE,
    REPO,
    BuildHost,
    HttpServer,
    image_list,
    run_cli,
)
from tests.bundle.test_hostile_bundles import HOSTILE_MEMBERS, SCHEMA_EDITS
from tests.support.bundles import (
    CRAFTED_REFS,
    bundle_members,
    craft_bundle,
    hostile_tgz,
    installer_tgz,
    member_info,
    rewrite_bundle,
    write_members,
)
from tests.support.dockerd import Daemon
from tests.support.images import busybox_layer, harbor_test_images, load_images, make_image


def _one_line_error(stderr: str) -> str:
    """The message of the one ``harborkit: error: ...`` line on stderr."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("harborkit: error: "), stderr
    return lines[0].removeprefix("harborkit: error: ")


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
    unreachable = "cannot reach the Docker daemon at unix:///tmp/hk-nowhere/d.sock: "
    assert _one_line_error(r.stderr).startswith(unreachable)
    assert not out.exists()
    r = run_cli("bundle", "load", str(built_bundle), env=env)
    assert r.returncode == ExitCode.ENVIRONMENT
    assert _one_line_error(r.stderr).startswith(unreachable)


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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
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
    if sig != signal.SIGKILL:  # SIGTERM cleans up exactly like SIGINT
        assert proc.returncode == ExitCode.INTERRUPTED, err
        assert err.decode().strip() == f"harborkit: interrupted; removed {partial[0]}"
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
    corrupt = f"bundle {bad} is corrupt: altered member {victim.name}"
    assert _one_line_error(r.stderr) == corrupt
    r = run_cli("bundle", "load", str(bad), env=target_daemon.env())
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert _one_line_error(r.stderr) == corrupt
    assert image_list(target_daemon) == before


def test_truncated_bundle(tmp_path: Path, built_bundle: Path, target_daemon: Daemon) -> None:
    before = image_list(target_daemon)
    victim = max(_blob_members(built_bundle), key=lambda ti: ti.size)
    bad = tmp_path / "truncated.tar"
    bad.write_bytes(built_bundle.read_bytes()[: victim.offset_data + victim.size // 2])
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    truncated = f"bundle {bad} is corrupt: truncated member {victim.name}"
    assert _one_line_error(r.stderr) == truncated
    r = run_cli("bundle", "load", str(bad), env=target_daemon.env())
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert _one_line_error(r.stderr) == truncated
    assert image_list(target_daemon) == before


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
    hostile = _one_line_error(r.stderr)
    assert hostile.startswith(f"{bad}: unsafe member {ti.name!r}: ")
    r = run_cli(
        "bundle", "load", str(bad), "--install-dir", str(tmp_path / "opt"), env=target_daemon.env()
    )
    assert r.returncode == ExitCode.BUNDLE_HOSTILE
    assert _one_line_error(r.stderr) == hostile
    assert image_list(target_daemon) == before
    assert not (tmp_path / "opt").exists()


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
    hostile = _one_line_error(r.stderr)
    assert hostile.startswith(f"{bad}: {installer_member(INSTALLER_NAME)}: unsafe member ")
    install = tmp_path / "opt"
    r = run_cli("bundle", "load", str(bad), "--install-dir", str(install), env=target_daemon.env())
    assert r.returncode == ExitCode.BUNDLE_HOSTILE
    assert _one_line_error(r.stderr) == hostile
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
    assert _one_line_error(r.stderr) == (
        f"{(install / 'harbor' / 'harbor.yml').resolve()} already exists; not overwriting it: "
        f"the installer was unpacked into {install} before; to load only the images (and "
        f"tools), run harborkit bundle load {built_bundle} without --install-dir"
    )
    assert (install / "harbor" / "harbor.yml").read_text() == "hostname: mine\n"
    assert image_list(fresh_daemon) == {}


@SCHEMA_EDITS
def test_metadata_fails_schema(
    tmp_path: Path, built_bundle: Path, target_daemon: Daemon, edit
) -> None:
    before = image_list(target_daemon)
    bad = tmp_path / "meta.tar"
    rewrite_bundle(built_bundle, bad, edit_metadata=edit)
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.USAGE, r.stderr
    msg = _one_line_error(r.stderr)
    assert msg.startswith(f"{bad}: {METADATA_NAME} fails its schema at ")
    r = run_cli("bundle", "load", str(bad), env=target_daemon.env())
    assert (r.returncode, _one_line_error(r.stderr)) == (ExitCode.USAGE, msg)
    r = run_cli("bundle", "inspect", str(bad))
    assert r.returncode == ExitCode.USAGE
    assert f"{METADATA_NAME} fails its schema at " in _one_line_error(r.stderr)
    assert image_list(target_daemon) == before


def test_daemon_refusal_is_load_failed_and_rolled_back(
    tmp_path: Path, built_bundle: Path, fresh_daemon: Daemon
) -> None:
    """A config (and metadata) whose diff id does not match its layer passes verify but docker
    load refuses it.

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
        # the metadata agrees with the config (verify checks that): only dockerd, which
        # hashes the layer itself, can tell
        for layer in m["layers"]:
            if layer["digest"] == last["layers"][-1]:
                layer["diff_id"] = "sha256:" + "1" * 64

    assert sum(last["layers"][-1] in i["layers"] for i in meta["images"]) == 1  # not shared
    bad = tmp_path / "refused.tar"
    rewrite_bundle(
        built_bundle,
        bad,
        replace={IMAGES_MANIFEST: json.dumps(manifest).encode()},
        edit_metadata=edit,
        extra=[(member_info(blob_member(new_id)), new_config)],
        drop=(blob_member(last["image_id"]),),  # no member the metadata does not name
    )
    assert run_cli("bundle", "verify", str(bad)).returncode == 0
    r = run_cli("bundle", "load", str(bad), env=fresh_daemon.env())
    assert r.returncode == ExitCode.LOAD_FAILED, r.stderr
    msg = _one_line_error(r.stderr)
    assert str(bad) in msg and "; rolled back: removed image " in msg
    assert image_list(fresh_daemon) == {}


# ------------------------------------------------------------------ issue 7 items 6-7


def _build(
    out: Path, installer: str, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "bundle", "build", "--no-pull", "--installer", installer, "-o", str(out), *extra, env=env
    )


def test_build_refuses_an_installer_verify_would_refuse(
    tmp_path: Path, build_host: BuildHost
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    plain = tmp_path / INSTALLER_NAME
    plain.write_bytes(gzip.decompress(installer_tgz()))  # a tar, but not gzip
    r = _build(out_dir / "b.tar", str(plain), build_host.daemon.env())
    assert r.returncode == ExitCode.USAGE, r.stderr
    msg = _one_line_error(r.stderr)
    assert f"installer {plain} is not a complete gzip stream" in msg
    assert "a bundle must carry a safe, complete gzip tar" in msg
    hostile = tmp_path / "hostile" / INSTALLER_NAME
    hostile.parent.mkdir()
    hostile.write_bytes(hostile_tgz("symlink"))
    r = _build(out_dir / "b.tar", str(hostile), build_host.daemon.env())
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "unsafe member 'harbor/link': is a symlink" in _one_line_error(r.stderr)
    zipped = tmp_path / "harbor-online-installer-v1.8.0.zip"
    zipped.write_bytes(installer_tgz())
    r = _build(out_dir / "b.tar", str(zipped), build_host.daemon.env())
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "installer name 'harbor-online-installer-v1.8.0.zip' is not a gzip tar" in (
        _one_line_error(r.stderr)
    )
    assert _leftovers(out_dir) == []


def test_stalled_installer_download_has_a_deadline(
    tmp_path: Path, build_host: BuildHost, http_server: HttpServer
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    url = f"{http_server.url}/stall/{INSTALLER_NAME}"
    env = dict(build_host.daemon.env(), HARBORKIT_DOWNLOAD_STALL="1")
    started = time.monotonic()
    r = _build(out_dir / "b.tar", url, env)
    assert r.returncode == ExitCode.DOWNLOAD, r.stderr
    assert f"download of installer {url} stalled" in _one_line_error(r.stderr)
    assert time.monotonic() - started < 25  # the server would stall for 30 s
    assert _leftovers(out_dir) == []


def test_next_build_removes_a_dead_process_partial(
    tmp_path: Path, build_host: BuildHost, installer_bytes: bytes
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out_dir / f".b.tar.partial-{dead.pid}"
    stale.write_bytes(b"left by a build that was killed")
    alive = out_dir / f".b.tar.partial-{os.getpid()}"  # a build still running: kept
    alive.write_bytes(b"in progress")
    inst = tmp_path / INSTALLER_NAME
    inst.write_bytes(installer_bytes)
    m = _manifest(tmp_path, ["goharbor/prepare:v1.8.0"], "http://127.0.0.1:1/x.tgz")
    r = _build(out_dir / "b.tar", str(inst), build_host.daemon.env(), "-m", str(m))
    assert r.returncode == 0, r.stderr
    assert _leftovers(out_dir) == sorted(["b.tar", alive.name])


def _crafted_with_images(tmp_path: Path, **kw: object) -> Path:
    path = tmp_path / "crafted.tar"
    craft_bundle(path, images=harbor_test_images(CRAFTED_REFS), **kw)  # type: ignore[arg-type]
    return path


def test_load_refuses_a_retag_of_an_undeclared_image(tmp_path: Path, fresh_daemon: Daemon) -> None:
    """The target has busybox:latest; a bundle whose manifest.json would retag it loads nothing."""
    images = harbor_test_images(CRAFTED_REFS)
    victim = make_image(["busybox:latest"], [busybox_layer()])
    client = fresh_daemon.client()
    load_images(client, [victim])
    client.close()
    before = image_list(fresh_daemon)
    members, _ = bundle_members(images, installer_tgz())
    doc = json.loads(dict(members)[IMAGES_MANIFEST])
    doc[0]["RepoTags"].append("busybox:latest")
    bad = tmp_path / "retag.tar"
    write_members(
        bad, [(n, json.dumps(doc).encode() if n == IMAGES_MANIFEST else d) for n, d in members]
    )
    r = run_cli("bundle", "load", str(bad), env=fresh_daemon.env())
    assert r.returncode == ExitCode.BUNDLE_HOSTILE, r.stderr
    assert "tags busybox:latest, which harbor-bundle.json does not declare" in _one_line_error(
        r.stderr
    )
    assert image_list(fresh_daemon) == before


def test_load_finds_a_file_where_a_folder_must_go_before_loading(
    tmp_path: Path, fresh_daemon: Daemon
) -> None:
    bundle = _crafted_with_images(tmp_path)
    install = tmp_path / "opt"
    install.mkdir()
    (install / "harbor").write_text("a file, not the installer folder\n")
    r = run_cli(
        "bundle", "load", str(bundle), "--install-dir", str(install), env=fresh_daemon.env()
    )
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert f"{install / 'harbor'} is a file where the installer needs a folder" in (
        _one_line_error(r.stderr)
    )
    assert image_list(fresh_daemon) == {}
    assert _leftovers(install) == ["harbor"]


def test_load_checks_the_installer_against_free_space_first(tmp_path: Path, tmpfs) -> None:
    """Known before the daemon is even asked: the unpacked installer does not fit."""
    big = installer_tgz([("harbor/blob.bin", os.urandom(3 << 20), 0o644)])
    bundle = _crafted_with_images(tmp_path, installer=big)
    d = tmpfs("1m")
    env = dict(os.environ, DOCKER_HOST="unix:///tmp/hk-nowhere/d.sock")
    r = run_cli("bundle", "load", str(bundle), "--install-dir", str(d / "opt"), env=env)
    assert r.returncode == ExitCode.NO_SPACE, r.stderr
    assert f"not enough free space in {d} for the installer" in _one_line_error(r.stderr)
    assert _leftovers(d) == []


def test_disk_full_while_unpacking_rolls_back_images_and_files(
    tmp_path: Path, fresh_daemon: Daemon, tmpfs
) -> None:
    """Room for the bytes but not for the files (few inodes): ENOSPC mid-way, all undone."""
    many = [(f"harbor/file{n:02d}", b"x" * 100, 0o644) for n in range(40)]
    bundle = _crafted_with_images(tmp_path, installer=installer_tgz(many))
    d = tmpfs("16m,nr_inodes=20")
    r = run_cli(
        "bundle", "load", str(bundle), "--install-dir", str(d / "opt"), env=fresh_daemon.env()
    )
    assert r.returncode == ExitCode.NO_SPACE, r.stderr
    msg = _one_line_error(r.stderr)
    assert (
        f"no space left in {d / 'opt'} while unpacking the installer; rolled back: removed " in msg
    )
    assert "image goharbor/prepare:v1.8.0" in msg or "more" in msg
    assert image_list(fresh_daemon) == {}
    assert _leftovers(d) == []


class _InterruptAfterLoad:
    """Progress whose "load" bar raises KeyboardInterrupt when it ends: Ctrl-C right after
    the daemon took the images, before they are confirmed and the installer unpacked."""

    def task(self, description: str, total: int | None = None) -> object:
        from harborkit.bundle.progress import NullProgress

        inner = NullProgress().task(description, total)
        if description != "load":
            return inner

        class _Task:
            def advance(self, n: int) -> None:
                pass

            def set_total(self, total: int | None) -> None:
                pass

            def done(self) -> None:
                raise KeyboardInterrupt

        return _Task()


def test_interrupted_load_rolls_back_what_it_loaded_and_moved(
    tmp_path: Path, fresh_daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference that named another image gets it back; images the load added go."""
    from harborkit.bundle import cleanup
    from harborkit.bundle.load import load_bundle

    other = make_image(["goharbor/prepare:v1.8.0"], [busybox_layer()])
    client = fresh_daemon.client()
    load_images(client, [other])
    client.close()
    before = image_list(fresh_daemon)
    bundle = _crafted_with_images(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", fresh_daemon.env()["DOCKER_HOST"])
    cleanup.reset()
    with pytest.raises(KeyboardInterrupt):
        load_bundle(bundle, install_dir=tmp_path / "opt", progress=_InterruptAfterLoad())  # type: ignore[arg-type]
    assert image_list(fresh_daemon) == before == {"goharbor/prepare:v1.8.0": other.id}
    ours = harbor_test_images(CRAFTED_REFS)[0].id  # the bundle's prepare image
    assert cleanup.removed() == [
        f"tag goharbor/prepare:v1.8.0 (back on {other.id[:19]})",
        "image goharbor/harbor-core:v1.8.0",
        "image goharbor/nginx-photon:v1.8.0",
        f"image {ours[:19]}",
    ]
    client = fresh_daemon.client()
    try:
        assert {img.id for img in client.images.list(all=True)} == {other.id}
    finally:
        client.close()
    assert not (tmp_path / "opt").exists()


def test_a_daemon_that_dies_during_load_is_one_line_and_nothing_unpacked(
    tmp_path: Path, fresh_daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dockerd is killed (SIGKILL) as the first layer bytes go out: exit 3 naming it."""
    from harborkit.bundle.load import load_bundle
    from harborkit.bundle.progress import NullProgress

    class _KillOnFirstByte:
        def task(self, description: str, total: int | None = None) -> object:
            inner = NullProgress().task(description, total)
            if description != "load":
                return inner

            class _Task:
                killed = False

                def advance(self, n: int) -> None:
                    if not self.killed:
                        self.killed = True
                        os.kill(fresh_daemon.pid, signal.SIGKILL)
                        time.sleep(0.5)

                def set_total(self, total: int | None) -> None:
                    pass

                def done(self) -> None:
                    pass

            return _Task()

    bundle = _crafted_with_images(tmp_path)
    url = fresh_daemon.env()["DOCKER_HOST"]
    monkeypatch.setenv("DOCKER_HOST", url)
    with pytest.raises(HarborkitError) as err:
        load_bundle(bundle, install_dir=tmp_path / "opt", progress=_KillOnFirstByte())  # type: ignore[arg-type]
    assert err.value.exit_code == ExitCode.ENVIRONMENT
    assert err.value.message.startswith(
        f"the Docker daemon at {url} failed while loading images from {bundle}: "
    )
    assert "\n" not in err.value.message
    assert not (tmp_path / "opt").exists()


# ------------------------------------------------------------------ FIFOs and devices as arguments (issue 19, class 5)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


def _quick(*args: str) -> subprocess.CompletedProcess[str]:
    """A command that must answer at once (a FIFO nobody writes must not hang it)."""
    return run_cli(*args, timeout=60)


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "/dev/null", "dir"])
@pytest.mark.parametrize("command", ["verify", "load"])
def test_key_that_is_no_regular_file(tmp_path: Path, fifo: Path, target: str, command: str) -> None:
    bundle = tmp_path / "b.tar"
    craft_bundle(bundle)
    key = {"fifo": str(fifo), "dir": str(tmp_path)}.get(target, target)
    start = time.monotonic()
    r = _quick("bundle", command, str(bundle), "--key", key)
    assert time.monotonic() - start < 30
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert _one_line_error(r.stderr) == f"public key {key} is not a regular file"


def test_key_file_too_large_is_refused_unread(tmp_path: Path) -> None:
    bundle = tmp_path / "b.tar"
    craft_bundle(bundle)
    big = tmp_path / "big.pub"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # a sparse GiB: refused by its size, not read
    r = _quick("bundle", "verify", str(bundle), "--key", str(big))
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert _one_line_error(r.stderr) == (
        f"public key {big} has {1 << 30} bytes, more than 65536 allowed"
    )


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "dir"])
def test_sign_key_that_is_no_regular_file(tmp_path: Path, fifo: Path, target: str) -> None:
    key = {"fifo": str(fifo), "dir": str(tmp_path)}.get(target, target)
    out = tmp_path / "out"
    out.mkdir()
    r = _quick("bundle", "build", "--no-pull", "--sign", key, "-o", str(out / "b.tar"))
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert _one_line_error(r.stderr) == f"secret key {key} is not a regular file"
    assert _leftovers(out) == []


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "dir"])
def test_file_option_that_is_no_regular_file(tmp_path: Path, fifo: Path, target: str) -> None:
    path = {"fifo": str(fifo), "dir": str(tmp_path)}.get(target, target)
    out = tmp_path / "out"
    out.mkdir()
    r = _quick(
        "bundle", "build", "--no-pull", "--file", f"docker-compose={path}", "-o", str(out / "b.tar")
    )
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert _one_line_error(r.stderr) == f"--file docker-compose: {path} is not a regular file"
    assert _leftovers(out) == []
