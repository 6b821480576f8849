"""Delta bundles: an upgrade carries only what changed; its load needs the base on the target.

Two manifests share most layers: the upgrade retags two images unchanged and
changes the third (same base layers, a new top layer).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from harborkit.bundle.format import BLOB_DIR, METADATA_NAME, metadata_from_json
from harborkit.compat import zip_strict
from harborkit.errors import ExitCode
from tests.bundle.conftest import INSTALLER_NAME, BuildHost, HttpServer, image_list, run_cli
from tests.support.dockerd import Daemon
from tests.support.images import load_images, make_image, make_layer

OLD = ("goharbor/prepare:v1.8.0", "goharbor/harbor-core:v1.8.0", "goharbor/harbor-log:v1.8.0")
NEW = ("goharbor/prepare:v1.8.1", "goharbor/harbor-core:v1.8.1", "goharbor/harbor-log:v1.8.1")


def _manifest(path: Path, http_server: HttpServer, version: str, images: tuple[str, ...]) -> Path:
    path.write_text(
        f"harbor_version: {version}\nimages: [{', '.join(images)}]\n"
        f"installer: {{name: {INSTALLER_NAME}, url: '{http_server.url}/{INSTALLER_NAME}'}}\n"
    )
    return path


@dataclass(frozen=True)
class Pair:
    base: Path
    delta: Path
    ids: dict[str, str]  # reference -> image id, both versions
    changed_top: str  # diff id of the one new layer


@pytest.fixture(scope="module")
def pair(
    build_host: BuildHost, http_server: HttpServer, tmp_path_factory: pytest.TempPathFactory
) -> Pair:
    d = tmp_path_factory.mktemp("delta")
    by_tag = {img.tags[0]: img for img in build_host.images}
    client = build_host.daemon.client()
    try:
        for old, new in zip_strict(OLD[:2], NEW[:2]):  # retagged, unchanged
            repo, tag = new.rsplit(":", 1)
            client.api.tag(by_tag[old].id, repo, tag)
        log = by_tag[OLD[2]]
        top = make_layer([("harbor/IMAGE", b"goharbor/harbor-log:v1.8.1 (patched)\n", 0o644)])
        changed = make_image([NEW[2]], [*log.layers[:-1], top])
        load_images(client, [changed])
    finally:
        client.close()
    env = build_host.daemon.env()
    base = d / "harbor-v1.8.0.tar"
    r = run_cli(
        "bundle", "build", "--no-pull", "-m", str(_manifest(d / "old.yaml", http_server, "v1.8.0", OLD)),
        "-o", str(base), env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    delta = d / "harbor-v1.8.1-delta.tar"
    r = run_cli(
        "bundle", "build", "--no-pull", "-m", str(_manifest(d / "new.yaml", http_server, "v1.8.1", NEW)),
        "--base", str(base), "-o", str(delta), env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "a delta over harbor-v1.8.0.tar: 4 layers left to it" in r.stdout
    ids = {t: by_tag[t].id for t in OLD}
    ids |= {NEW[0]: by_tag[OLD[0]].id, NEW[1]: by_tag[OLD[1]].id, NEW[2]: changed.id}
    return Pair(base, delta, ids, top.diff_id)


def _meta(path: Path):
    with tarfile.open(path) as tf:
        return metadata_from_json(tf.extractfile(METADATA_NAME).read()), tf.getnames()  # type: ignore[union-attr]


def test_delta_carries_only_the_changed_layer(pair: Pair) -> None:
    base_meta, _ = _meta(pair.base)
    meta, names = _meta(pair.delta)
    assert meta.base is not None
    with tarfile.open(pair.base) as tf:
        sums = tf.extractfile("SHA256SUMS").read()  # type: ignore[union-attr]
    assert meta.base.sums_sha256 == hashlib.sha256(sums).hexdigest()
    assert meta.base.name == "harbor-v1.8.0.tar"
    # busybox, photon and the two unchanged top layers stay in the base
    assert set(meta.base.layers) == {x.digest for x in base_meta.layers} - {
        base_meta.layer(base_meta.images[2].layers[-1]).digest
    }
    layer_digests = {x.digest for x in meta.layers}
    stored_layers = [
        n
        for n in names
        if n.startswith(BLOB_DIR + "/") and f"sha256:{n.rsplit('/', 1)[1]}" in layer_digests
    ]
    assert len(stored_layers) == 1
    top = meta.layer(meta.images[2].layers[-1])
    assert top.diff_id == pair.changed_top
    # the base images that hold every left-out chain (harbor-log's lower chain is core's)
    assert [i.reference for i in meta.base.images] == list(OLD[:2])
    assert {i.reference: i.image_id for i in meta.images} == {t: pair.ids[t] for t in NEW}
    r = run_cli("bundle", "verify", str(pair.delta))
    assert r.returncode == 0, r.stderr
    r = run_cli("bundle", "inspect", str(pair.delta))
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("delta"))
    assert line.startswith(
        f"delta      over harbor-v1.8.0.tar (SHA256SUMS sha256 {meta.base.sums_sha256[:16]}...): "
        "4 layers ("
    )
    doc = json.loads(run_cli("bundle", "inspect", "-f", "json", str(pair.delta)).stdout)
    assert doc["stored_layer_bytes"] == top.size
    assert doc["base_layer_bytes"] == sum(
        x.size for x in meta.layers if x.digest in set(meta.base.layers)
    )


def test_delta_without_its_base_is_refused_and_loads_after_it(
    pair: Pair, fresh_daemon: Daemon
) -> None:
    env = fresh_daemon.env()
    r = run_cli("bundle", "load", str(pair.delta), env=env)
    assert r.returncode == ExitCode.DELTA_BASE
    meta, _ = _meta(pair.delta)
    assert meta.base is not None
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == [
        f"harborkit: error: {pair.delta} is a delta over harbor-v1.8.0.tar (SHA256SUMS sha256 "
        f"{meta.base.sums_sha256[:16]}...): the target lacks its base images "
        + ", ".join(f"{t} ({pair.ids[t][:19]})" for t in OLD[:2])
        + "; load harbor-v1.8.0.tar first"
    ]
    assert image_list(fresh_daemon) == {}
    r = run_cli("bundle", "load", str(pair.base), env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("bundle", "load", str(pair.delta), env=env)
    assert r.returncode == 0, r.stderr
    assert image_list(fresh_daemon) == pair.ids
