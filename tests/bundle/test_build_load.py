"""Build on a private daemon, verify, load on another, and the plain-tools path."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from harborkit.bundle.build import EXPORTS
from harborkit.bundle.format import (
    BLOB_DIR,
    IMAGES_MANIFEST,
    METADATA_NAME,
    SUMS_NAME,
    metadata_from_json,
    parse_sums,
)
from harborkit.errors import ExitCode
from tests.bundle.conftest import INSTALLER_NAME, BuildHost, image_list, run_cli
from tests.support.dockerd import Daemon
from tests.support.images import HARBOR_V180_IMAGES


def _members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tf:
        return {ti.name: tf.extractfile(ti).read() for ti in tf if ti.isreg()}  # type: ignore[union-attr]


def test_layout_sums_last_and_every_member_summed(built_bundle: Path) -> None:
    with tarfile.open(built_bundle) as tf:
        names = tf.getnames()
    assert names[-1] == SUMS_NAME
    assert names[-2] == METADATA_NAME
    assert names[0] == f"installer/{INSTALLER_NAME}"
    assert IMAGES_MANIFEST in names
    data = _members(built_bundle)
    sums = parse_sums(data[SUMS_NAME])
    assert set(sums) == set(names) - {SUMS_NAME}
    for name, digest in sums.items():
        assert hashlib.sha256(data[name]).hexdigest() == digest, name


def test_metadata_names_every_image_with_its_build_id(
    built_bundle: Path, build_host: BuildHost
) -> None:
    meta = metadata_from_json(_members(built_bundle)[METADATA_NAME])
    assert meta.harbor_version == "v1.8.0"
    assert [i.reference for i in meta.images] == list(HARBOR_V180_IMAGES)
    expected = {img.tags[0]: img.id for img in build_host.images}
    assert {i.reference: i.image_id for i in meta.images} == expected
    by_id = {img.id: img for img in build_host.images}
    for rec in meta.images:
        diff_ids = [meta.layer(d).diff_id for d in rec.layers]
        assert diff_ids == [layer.diff_id for layer in by_id[rec.image_id].layers]
    assert meta.installer.name == INSTALLER_NAME
    assert meta.created.endswith("Z")


def test_each_layer_stored_once(built_bundle: Path, build_host: BuildHost) -> None:
    data = _members(built_bundle)
    blobs = [n for n in data if n.startswith(BLOB_DIR + "/")]
    unique_layers = {layer.diff_id for img in build_host.images for layer in img.layers}
    assert len(blobs) == len(unique_layers) + len(build_host.images)
    meta = metadata_from_json(data[METADATA_NAME])
    assert len(meta.layers) == len(unique_layers) == 17
    shared = meta.shared_layers()
    assert sorted(len(v) for v in shared.values()) == [14, 15]
    manifest = json.loads(data[IMAGES_MANIFEST])
    assert len(manifest) == 15
    # layers really are gzip
    for lr in meta.layers:
        assert data[f"{BLOB_DIR}/{lr.digest[7:]}"][:2] == b"\x1f\x8b"


def test_every_layer_is_plain_gzip_of_its_diff_id(built_bundle: Path, tmp_path: Path) -> None:
    """What the build's pipeline wrote (the save stream read in large pieces, blocks
    compressed on every core): each layer blob is a gzip file GNU gzip reads whole, whose
    bytes are the layer the image's diff id names, and whose name is its own sha256."""
    meta = metadata_from_json(_members(built_bundle)[METADATA_NAME])
    subprocess.run(["tar", "-xf", str(built_bundle), "-C", str(tmp_path)], check=True)
    assert len(meta.layers) == 17
    for lr in meta.layers:
        blob = tmp_path / BLOB_DIR / lr.digest[7:]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == lr.digest[7:]
        out = subprocess.run(["gzip", "-dc", str(blob)], capture_output=True, check=True).stdout
        assert (len(out), "sha256:" + hashlib.sha256(out).hexdigest()) == (
            lr.uncompressed_size,
            lr.diff_id,
        ), lr.digest
        assert subprocess.run(["gzip", "-t", str(blob)]).returncode == 0


def test_verify_ok(built_bundle: Path) -> None:
    r = run_cli("bundle", "verify", str(built_bundle))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout


def test_inspect_json_and_table(built_bundle: Path) -> None:
    r = run_cli("bundle", "inspect", "--format", "json", str(built_bundle))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["metadata"]["images"]) == 15
    assert sorted(len(s["images"]) for s in doc["shared_layers"]) == [14, 15]
    assert doc["metadata"]["installer"]["name"] == INSTALLER_NAME
    r = run_cli("bundle", "inspect", str(built_bundle))
    assert r.returncode == 0, r.stderr
    for ref in HARBOR_V180_IMAGES:
        assert ref in r.stdout
    assert "2 layers used by more than one image" in r.stdout


def test_load_matches_build_host_then_skips(
    built_bundle: Path, build_host: BuildHost, fresh_daemon: Daemon, tmp_path: Path
) -> None:
    install = tmp_path / "opt"
    r = run_cli(
        "bundle", "load", str(built_bundle), "--install-dir", str(install), env=fresh_daemon.env()
    )
    assert r.returncode == 0, r.stderr
    assert "loaded 15 images, 0 already present" in r.stdout
    source = {t: i for t, i in image_list(build_host.daemon).items() if t in HARBOR_V180_IMAGES}
    assert image_list(fresh_daemon) == source
    assert len(source) == 15
    harbor = install / "harbor"
    assert sorted(p.name for p in harbor.iterdir()) == [
        "LICENSE",
        "harbor.yml",
        "install.sh",
        "prepare",
    ]
    for exe in ("install.sh", "prepare"):
        assert os.stat(harbor / exe).st_mode & stat.S_IXUSR
    assert not os.stat(harbor / "harbor.yml").st_mode & stat.S_IXUSR
    out = subprocess.run([str(harbor / "install.sh")], capture_output=True, text=True, check=True)
    assert out.stdout == "installing harbor\n"

    r = run_cli("bundle", "load", str(built_bundle), env=fresh_daemon.env())
    assert r.returncode == 0, r.stderr
    assert "loaded 0 images, 15 already present" in r.stdout

    # an image removed from the target is the only one sent again
    client = fresh_daemon.client()
    client.images.remove("goharbor/harbor-db:v1.8.0")
    client.close()
    r = run_cli("bundle", "load", str(built_bundle), env=fresh_daemon.env())
    assert r.returncode == 0, r.stderr
    assert "loaded 1 images, 14 already present" in r.stdout
    assert image_list(fresh_daemon) == source


def test_plain_tools_path(
    built_bundle: Path, build_host: BuildHost, fresh_daemon: Daemon, tmp_path: Path
) -> None:
    """The README's commands: tar -x, sha256sum -c, tar -cC images . | docker load."""
    hb = tmp_path / "hb"
    hb.mkdir()
    subprocess.run(["tar", "-xf", str(built_bundle), "-C", str(hb)], check=True)
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=hb, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(parse_sums((hb / SUMS_NAME).read_bytes()))
    tar = subprocess.Popen(["tar", "-cC", "images", "."], cwd=hb, stdout=subprocess.PIPE)
    load = subprocess.run(
        ["docker", "-H", fresh_daemon.url, "load"], stdin=tar.stdout, capture_output=True, text=True
    )
    assert tar.wait() == 0
    assert load.returncode == 0, load.stderr
    source = {t: i for t, i in image_list(build_host.daemon).items() if t in HARBOR_V180_IMAGES}
    assert image_list(fresh_daemon) == source
    opt = tmp_path / "opt"
    opt.mkdir()
    subprocess.run(
        ["tar", "-xzf", str(hb / "installer" / INSTALLER_NAME), "-C", str(opt)], check=True
    )
    assert os.access(opt / "harbor" / "install.sh", os.X_OK)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_inspect_reads_no_layer_data(built_bundle: Path, tmp_path: Path, fmt: str) -> None:
    """Inspect works on a bundle whose layer bytes are zeroed: it never reads them."""
    raw = bytearray(built_bundle.read_bytes())
    with tarfile.open(built_bundle) as tf:
        for ti in tf:
            if ti.name.startswith(BLOB_DIR) and ti.size > 10000:
                raw[ti.offset_data : ti.offset_data + ti.size] = bytes(ti.size)
    damaged = tmp_path / "zeroed.tar"
    damaged.write_bytes(bytes(raw))
    r = run_cli("bundle", "inspect", "--format", fmt, str(damaged))
    assert (r.returncode, r.stderr) == (ExitCode.OK, "")
    r = run_cli("bundle", "verify", str(damaged))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert r.stderr.startswith(f"harborkit: error: bundle {damaged} is corrupt: altered member ")
    assert r.stderr.count("\n") == 1


def test_missing_image_is_pulled(
    build_host: BuildHost, fresh_daemon: Daemon, http_server, tmp_path: Path
) -> None:
    """Without --no-pull a missing image is pulled (from a loopback registry) and bundled."""
    from tests.support.registry import start_registry

    src = build_host.images[1]
    with start_registry() as reg:
        ref = f"{reg.host}/goharbor/harbor-core:v1.8.0"
        client = build_host.daemon.client()
        client.api.tag(src.id, f"{reg.host}/goharbor/harbor-core", "v1.8.0")
        for event in client.api.push(
            f"{reg.host}/goharbor/harbor-core", tag="v1.8.0", stream=True, decode=True
        ):
            assert "error" not in event, event
        client.api.remove_image(ref)
        client.close()
        manifest = tmp_path / "m.yaml"
        manifest.write_text(
            f"harbor_version: v1.8.0\nimages: [{ref}]\n"
            f"installer: {{name: {INSTALLER_NAME}, url: '{http_server.url}/{INSTALLER_NAME}'}}\n"
        )
        out = tmp_path / "pulled.tar"
        assert image_list(fresh_daemon) == {}
        r = run_cli("bundle", "build", "-m", str(manifest), "-o", str(out), env=fresh_daemon.env())
        assert r.returncode == 0, r.stderr
    assert image_list(fresh_daemon) == {ref: src.id}
    r = run_cli("bundle", "inspect", "--format", "json", str(out))
    assert json.loads(r.stdout)["metadata"]["images"][0]["image_id"] == src.id


def test_progress_bars_only_on_a_terminal(built_bundle: Path) -> None:
    plain = run_cli("bundle", "verify", str(built_bundle))
    assert plain.returncode == 0
    assert "\x1b[" not in plain.stdout + plain.stderr
    assert shutil.which("script"), "script(1) (bsdutils, essential on Debian) is missing"
    cmd = f"{sys.executable} -m harborkit bundle verify {built_bundle}"
    tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True)
    assert tty.returncode == 0
    assert "verify" in tty.stdout and "━" in tty.stdout
    assert "GB/s" in tty.stdout or "MB/s" in tty.stdout
    quiet = subprocess.run(
        ["script", "-qec", cmd + " --quiet", "/dev/null"], capture_output=True, text=True
    )
    assert quiet.returncode == 0
    assert "━" not in quiet.stdout and "OK" not in quiet.stdout


class _LoggingProxy:
    """A unix socket in front of a daemon's, noting the request line of every request a
    client sends (in the order they arrive), passing all bytes through unchanged."""

    def __init__(self, target: Path, path: Path) -> None:
        import socket
        import threading

        self.requests: list[str] = []
        self._target = str(target)
        self._lock = threading.Lock()
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(str(path))
        self._srv.listen(16)
        self.url = f"unix://{path}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self._target)
            threading.Thread(target=self._pipe, args=(conn, up, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, conn, False), daemon=True).start()

    def _pipe(self, src: Any, dst: Any, note: bool) -> None:
        try:
            while data := src.recv(1 << 16):
                if note:
                    for method in (b"GET ", b"POST ", b"HEAD ", b"DELETE "):
                        at = data.find(method)
                        if at == 0 or (at > 0 and data[at - 2 : at] == b"\r\n"):
                            with self._lock:
                                self.requests.append(data[at:].split(b"\r\n", 1)[0].decode())
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(2)

    def close(self) -> None:
        self._srv.close()


def test_the_export_is_asked_for_before_the_images_are_inspected(
    build_host: BuildHost, http_server, tmp_path: Path
) -> None:
    """dockerd answers an export only once it has copied every layer aside: the build
    asks for it first and inspects the images (and fetches the installer) meanwhile, as
    ``docker save`` asks at once. It asks in two halves at once (one core each for
    dockerd's copying), in the manifest's order, each image in one of them. The bundle
    is the same in meaning: verify passes."""
    proxy = _LoggingProxy(build_host.daemon.socket_path, tmp_path / "proxy.sock")
    out = tmp_path / "early.tar"
    try:
        r = run_cli(
            "bundle",
            "build",
            "--no-pull",
            "--installer",
            f"{http_server.url}/{INSTALLER_NAME}",
            "-o",
            str(out),
            env={**os.environ, "DOCKER_HOST": proxy.url},
        )
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr
    paths = [line.split()[1] for line in proxy.requests]
    save = [n for n, p in enumerate(paths) if "/images/get?" in p]
    looks = [n for n, p in enumerate(paths) if p.endswith(("/json", "/history"))]
    assert min(2, os.cpu_count() or 1) == EXPORTS
    assert len(save) == EXPORTS, paths
    assert len(looks) == 2 * len(HARBOR_V180_IMAGES), paths
    assert save[-1] < looks[-1], paths
    asked = sorted(
        urllib.parse.parse_qs(urllib.parse.urlsplit(paths[n]).query)["names"] for n in save
    )
    images = list(HARBOR_V180_IMAGES)
    halves = [images[:8], images[8:]] if EXPORTS == 2 else [images]
    assert asked == sorted(halves), asked
    r = run_cli("bundle", "verify", str(out))
    assert r.returncode == 0, r.stderr


def test_a_missing_image_with_no_pull_leaves_nothing(build_host: BuildHost, tmp_path: Path) -> None:
    """The export asked for early names an image the daemon lacks: the build still fails
    with the one-line message naming it, exit code IMAGE_MISSING, and writes nothing."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "harbor_version: v1.8.0\n"
        f"images: [{HARBOR_V180_IMAGES[0]}, example.invalid/nope:v1]\n"
        f"installer: {{name: {INSTALLER_NAME}, url: 'http://127.0.0.1:9/{INSTALLER_NAME}'}}\n"
    )
    out = tmp_path / "none.tar"
    r = run_cli(
        "bundle",
        "build",
        "--no-pull",
        "-m",
        str(manifest),
        "-o",
        str(out),
        env=build_host.daemon.env(),
    )
    assert r.returncode == ExitCode.IMAGE_MISSING, r.stderr
    assert r.stderr == (
        "harborkit: error: images not in the daemon (--no-pull given): example.invalid/nope:v1\n"
    )
    assert list(tmp_path.iterdir()) == [manifest]


def test_the_sbom_names_the_bundled_images_only(built_bundle: Path) -> None:
    """The build warms the SBOM library up on a sample image while dockerd prepares its
    export: nothing of that sample reaches the bundle; the SBOM lists each bundled image
    and layer, and its digests are the metadata's."""
    from harborkit.bundle.sbom import SBOM_NAME

    data = _members(built_bundle)
    sbom = data[SBOM_NAME].decode()
    meta = metadata_from_json(data[METADATA_NAME])
    assert "sample" not in sbom
    assert "0" * 64 not in sbom
    doc = json.loads(sbom)
    text = json.dumps(doc["components"])
    for img in meta.images:
        assert img.image_id[7:] in text, img.reference
    for lr in meta.layers:
        assert lr.digest[7:] in text, lr.digest
