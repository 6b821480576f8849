"""The save-stream reader on both ``docker save`` layouts, and format/schema units.

dockerd 20.10 (used by the other tests) writes the legacy layout. dockerd >= 25
writes an OCI layout (``blobs/sha256/<digest>`` + ``index.json``) with the same
legacy ``manifest.json``; it is made here in Python, turned into a bundle, and
loaded into a real daemon.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import jsonschema
import pytest

from harborkit.bundle.build import DaemonImage, split_refs, write_images
from harborkit.bundle.compress import LayerPipeline
from harborkit.bundle.errors import SaveFailed
from harborkit.bundle.format import (
    METADATA_SCHEMA,
    SCHEMA_DIR,
    BundleMetadata,
    metadata_from_json,
    metadata_to_dict,
    metadata_to_json,
    parse_sums,
)
from harborkit.bundle.installer import InstallerSource
from harborkit.bundle.manifest import load_manifest
from harborkit.bundle.progress import NullProgress
from harborkit.bundle.tarwrite import OuterTarWriter
from harborkit.bundle.verify import verify_bundle
from harborkit.bundle.writer import BundleWriter
from tests.bundle.conftest import image_list, run_cli
from tests.support.dockerd import Daemon, SpareDaemons
from tests.support.images import (
    Image,
    harbor_test_images,
    make_image,
    make_layer,
    write_docker_archive,
)


def oci_save_archive(images: list[Image]) -> bytes:
    """What dockerd >= 25 streams for ``docker save``: OCI layout plus legacy manifest.json."""
    blobs: dict[str, bytes] = {}
    index = []
    legacy = []
    for img in images:
        for layer in img.layers:
            blobs[layer.diff_id[7:]] = layer.data
        blobs[img.id[7:]] = img.config
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": img.id,
                },
                "layers": [
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": x.diff_id}
                    for x in img.layers
                ],
            }
        ).encode()
        mdigest = hashlib.sha256(manifest).hexdigest()
        blobs[mdigest] = manifest
        index.append(
            {
                "digest": f"sha256:{mdigest}",
                "annotations": {"io.containerd.image.name": img.tags[0]},
            }
        )
        legacy.append(
            {
                "Config": f"blobs/sha256/{img.id[7:]}",
                "RepoTags": list(img.tags),
                "Layers": [f"blobs/sha256/{x.diff_id[7:]}" for x in img.layers],
            }
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:

        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))

        for d, data in blobs.items():
            add(f"blobs/sha256/{d}", data)
        add("index.json", json.dumps({"schemaVersion": 2, "manifests": index}).encode())
        add("manifest.json", json.dumps(legacy).encode())
        add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    return buf.getvalue()


def _bundle_from_save(
    save: bytes | list[bytes], images: list[Image], out: Path, installer: bytes
) -> BundleMetadata:
    daemon_images = [
        DaemonImage(img.tags[0], img.id, sum(len(x.data) for x in img.layers), ()) for img in images
    ]
    inst = out.parent / "harbor-online-installer-v1.8.0.tgz"
    inst.write_bytes(installer)
    source = InstallerSource(str(inst), inst.name, None)
    with BundleWriter(out) as writer:
        writer.add_installer(source, NullProgress())
        saves = save if isinstance(save, list) else [save]
        streams = [io.BytesIO(x) for x in saves]
        records, layers = write_images(streams, daemon_images, writer, NullProgress(), 1)
        return writer.finish("v1.8.0", records, layers).metadata


@pytest.fixture(scope="module")
def oci_images() -> list[Image]:
    # one layer above the in-memory buffering limit, to take the streaming path
    big = make_layer([("data/big.bin", os.urandom(9 << 20), 0o644)])
    return [
        *harbor_test_images()[:3],
        make_image(["hk-test/oci-big:1"], [harbor_test_images()[0].layers[0], big]),
    ]


@pytest.mark.parametrize("layout", ["oci", "legacy"])
def test_both_save_layouts_make_loadable_bundles(
    tmp_path: Path,
    oci_images: list[Image],
    fresh_daemon: Daemon,
    installer_bytes: bytes,
    layout: str,
) -> None:
    if layout == "oci":
        save = oci_save_archive(oci_images)
    else:
        buf = io.BytesIO()
        write_docker_archive(oci_images, buf)
        save = buf.getvalue()
    out = tmp_path / "b.tar"
    meta = _bundle_from_save(save, oci_images, out, installer_bytes)
    assert {i.reference: i.image_id for i in meta.images} == {
        img.tags[0]: img.id for img in oci_images
    }
    assert len(meta.layers) == len({x.diff_id for img in oci_images for x in img.layers}) == 6
    verify_bundle(out)
    r = run_cli("bundle", "load", str(out), env=fresh_daemon.env())
    assert r.returncode == 0, r.stderr
    assert image_list(fresh_daemon) == {img.tags[0]: img.id for img in oci_images}


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tf:
        return {ti.name: tf.extractfile(ti).read() for ti in tf if ti.isfile()}  # type: ignore[union-attr]


@pytest.mark.parametrize("layout", ["oci", "legacy"])
def test_images_in_two_exports_make_the_bundle_of_one(
    tmp_path: Path,
    oci_images: list[Image],
    installer_bytes: bytes,
    layout: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build asks for its images in two exports (dockerd prepares each on a core of
    its own): a layer both hold (the first image's base is also the last one's) is
    read from the first and passed over in the second, and the bundle holds the same
    members with the same bytes as a bundle made from one export of them all."""

    def save_of(images: list[Image]) -> bytes:
        if layout == "oci":
            return oci_save_archive(images)
        buf = io.BytesIO()
        write_docker_archive(images, buf)
        return buf.getvalue()

    shared = oci_images[0].layers[0].diff_id
    assert shared in {x.diff_id for x in oci_images[-1].layers}
    one = _bundle_from_save(save_of(oci_images), oci_images, tmp_path / "one.tar", installer_bytes)
    (tmp_path / "two").mkdir()
    fed: list[str] = []  # the layers compressed (each streamed member's name)
    layer = LayerPipeline.layer
    monkeypatch.setattr(
        LayerPipeline, "layer", lambda self, key, *a: (fed.append(key), layer(self, key, *a))
    )
    two = _bundle_from_save(
        [save_of(oci_images[:2]), save_of(oci_images[2:])],
        oci_images,
        tmp_path / "two" / "two.tar",
        installer_bytes,
    )
    assert (two.images, two.layers) == (one.images, one.layers)
    assert sorted(x.diff_id for x in two.layers).count(shared) == 1
    assert len(fed) == len(set(fed)) == (1 if layout == "oci" else 6), fed
    a, b = _members(tmp_path / "one.tar"), _members(tmp_path / "two" / "two.tar")
    assert sorted(a) == sorted(b)
    assert {n: d for n, d in a.items() if "/blobs/" in n} == {
        n: d for n, d in b.items() if "/blobs/" in n
    }
    verify_bundle(tmp_path / "two" / "two.tar")


def test_an_image_in_neither_export_is_named(tmp_path: Path) -> None:
    """Two exports that together lack an image: the build names it, as with one, and
    leaves nothing behind."""
    images = harbor_test_images()[:3]
    saves = []
    for part in (images[:1], images[2:]):
        buf = io.BytesIO()
        write_docker_archive(part, buf)
        saves.append(io.BytesIO(buf.getvalue()))
    daemon_images = [DaemonImage(img.tags[0], img.id, 0, ()) for img in images]
    out = tmp_path / "b.tar"
    with pytest.raises(SaveFailed) as e, BundleWriter(out) as writer:
        write_images(saves, daemon_images, writer, NullProgress(), 1)
    assert e.value.message == (
        f"image {images[1].tags[0]} ({images[1].id}) is missing from the daemon's export"
    )
    assert list(tmp_path.iterdir()) == []


def test_split_refs_keeps_order_and_halves() -> None:
    refs = [f"r{i}" for i in range(15)]
    assert split_refs(refs, 2) == [refs[:8], refs[8:]]
    assert split_refs(refs[:1], 2) == [refs[:1]]
    assert split_refs(refs[:2], 2) == [refs[:1], refs[1:2]]
    assert split_refs(refs, 1) == [refs]
    assert split_refs(refs, 3) == [refs[:5], refs[5:10], refs[10:]]


def test_metadata_round_trip_and_schema(
    tmp_path: Path, oci_images: list[Image], installer_bytes: bytes
) -> None:
    buf = io.BytesIO()
    write_docker_archive(oci_images, buf)
    meta = _bundle_from_save(buf.getvalue(), oci_images, tmp_path / "b.tar", installer_bytes)
    assert metadata_from_json(metadata_to_json(meta)) == meta
    schema = json.loads(METADATA_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(metadata_to_dict(meta), schema)


def test_schemas_are_valid_and_default_manifest_loads() -> None:
    for p in SCHEMA_DIR.glob("bundle-*.schema.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(p.read_text()))
    m = load_manifest()
    assert len(m.images) == 15 and "goharbor/prepare:v1.8.0" in m.images
    assert m.installer.name == "harbor-online-installer-v1.8.0.tgz"
    assert m.installer.sha256 is None


def test_parse_sums_rejects_garbage() -> None:
    assert parse_sums(b"%s  a/b\n" % (b"a" * 64)) == {"a/b": "a" * 64}
    with pytest.raises(ValueError, match="line 1"):
        parse_sums(b"nothex  a\n")
    with pytest.raises(ValueError, match="repeats"):
        parse_sums(b"%s  a\n%s  a\n" % (b"a" * 64, b"b" * 64))


def test_writer_patches_long_names_and_sizes(tmp_path: Path) -> None:
    """Streamed members get their final name and size in place; long names work too."""
    p = tmp_path / "t.tar"
    long_name = "installer/" + "x" * 150 + ".tgz"
    with open(p, "w+b") as f:
        w = OuterTarWriter(f)
        w.begin(long_name)
        w.write(b"hello")
        w.end(long_name, 5, "0" * 64)
        w.begin("images/blobs/sha256/" + "0" * 64)
        w.write(b"abc")
        w.abort()
        w.add_bytes("small", b"12345678", "1" * 64)
        w.close()
    with tarfile.open(p) as tf:
        assert [(ti.name, ti.size) for ti in tf] == [(long_name, 5), ("small", 8)]
        assert tf.extractfile(long_name).read() == b"hello"  # type: ignore[union-attr]


def test_inspect_format_enum_maps_every_member() -> None:
    from harborkit.commands.bundle.core import InspectFormat

    assert {f.value for f in InspectFormat} == {"table", "json", "cyclonedx"}


def test_repeated_layer_saved_as_symlink_is_stored_once(
    tmp_path: Path, fresh_daemon: Daemon, installer_bytes: bytes, spare_daemons: SpareDaemons
) -> None:
    """dockerd 20.10 saves a layer that repeats inside one image as a symlink; follow it."""
    from tests.bundle.conftest import run_cli as cli
    from tests.support.images import busybox_layer, load_images

    empty = make_layer([])
    own = make_layer([("etc/marker", b"repeat\n", 0o644)])
    img = make_image(["goharbor/prepare:v1.8.0"], [busybox_layer(), empty, own, empty])
    client = fresh_daemon.client()
    load_images(client, [img])
    client.close()
    inst = tmp_path / "harbor-online-installer-v1.8.0.tgz"
    inst.write_bytes(installer_bytes)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "harbor_version: v1.8.0\nimages: [goharbor/prepare:v1.8.0]\n"
        "installer: {name: harbor-online-installer-v1.8.0.tgz, url: 'http://127.0.0.1:1/x.tgz'}\n"
    )
    out = tmp_path / "b.tar"
    r = cli(
        "bundle",
        "build",
        "--no-pull",
        "-m",
        str(manifest),
        "--installer",
        str(inst),
        "-o",
        str(out),
        env=fresh_daemon.env(),
    )
    assert r.returncode == 0, r.stderr
    meta = verify_bundle(out).metadata
    assert len(meta.images[0].layers) == 4 and len(meta.layers) == 3
    assert meta.images[0].layers[1] == meta.images[0].layers[3]
    with spare_daemons.fresh() as target:
        r = cli("bundle", "load", str(out), env=target.env())
        assert r.returncode == 0, r.stderr
        assert image_list(target) == {"goharbor/prepare:v1.8.0": img.id}
