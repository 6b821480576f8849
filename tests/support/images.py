"""Make small Docker images in Python, without a registry or a Dockerfile.

Layers are tar files of generated files (plus the static busybox binary for a
usable shell); an image is a config JSON listing the layers' diff ids. The
archives are in the legacy ``docker save`` format (``manifest.json``, config,
``<dir>/layer.tar``) that every ``docker load`` accepts.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HARBOR_V180_IMAGES: tuple[str, ...] = (
    "goharbor/prepare:v1.8.0",
    "goharbor/harbor-core:v1.8.0",
    "goharbor/harbor-portal:v1.8.0",
    "goharbor/harbor-jobservice:v1.8.0",
    "goharbor/harbor-log:v1.8.0",
    "goharbor/harbor-db:v1.8.0",
    "goharbor/harbor-registryctl:v1.8.0",
    "goharbor/harbor-migrator:v1.8.0",
    "goharbor/redis-photon:v1.8.0",
    "goharbor/nginx-photon:v1.8.0",
    "goharbor/registry-photon:v2.7.1-patch-2819-v1.8.0",
    "goharbor/notary-server-photon:v0.6.1-v1.8.0",
    "goharbor/notary-signer-photon:v0.6.1-v1.8.0",
    "goharbor/clair-photon:v2.0.8-v1.8.0",
    "goharbor/chartmuseum-photon:v0.8.1-v1.8.0",
)

BUSYBOX = Path("/usr/bin/busybox")


@dataclass(frozen=True)
class Layer:
    """An uncompressed layer tar in memory."""

    data: bytes

    @property
    def diff_id(self) -> str:
        """``sha256:<hex>`` of the uncompressed tar."""
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Image:
    """An image: its tags, config bytes and layers."""

    tags: tuple[str, ...]
    config: bytes
    layers: tuple[Layer, ...]

    @property
    def id(self) -> str:
        """``sha256:<hex>`` of the config, as ``docker images`` reports it."""
        return "sha256:" + hashlib.sha256(self.config).hexdigest()


def make_layer(
    files: Iterable[tuple[str, bytes, int]], *, symlinks: Sequence[tuple[str, str]] = ()
) -> Layer:
    """Build a layer tar from ``(path, content, mode)`` triples and ``(path, target)`` links.

    Parent directories are added as needed; mtimes are fixed, so the same input
    always gives the same diff id.
    """
    buf = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:

        def add_dirs(path: str) -> None:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in seen:
                    seen.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type = tarfile.DIRTYPE
                    ti.mode = 0o755
                    ti.mtime = 1_560_000_000
                    tf.addfile(ti)

        for path, content, mode in files:
            add_dirs(path)
            ti = tarfile.TarInfo(path)
            ti.size = len(content)
            ti.mode = mode
            ti.mtime = 1_560_000_000
            tf.addfile(ti, io.BytesIO(content))
        for path, target in symlinks:
            add_dirs(path)
            ti = tarfile.TarInfo(path)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            ti.mtime = 1_560_000_000
            tf.addfile(ti)
    return Layer(buf.getvalue())


def make_image(
    tags: Sequence[str], layers: Sequence[Layer], *, cmd: Sequence[str] = ("/bin/sh",)
) -> Image:
    """An image config (amd64/linux) over ``layers``."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2019-05-21T00:00:00Z",
        "config": {
            "Cmd": list(cmd),
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": "2019-05-21T00:00:00Z", "created_by": f"layer {i}"}
            for i in range(len(layers))
        ],
    }
    return Image(tuple(tags), json.dumps(config, sort_keys=True).encode(), tuple(layers))


def pseudo_random_bytes(seed: str, size: int) -> bytes:
    """Deterministic, partly compressible filler (text-like) of ``size`` bytes."""
    rng = random.Random(seed)
    words = [f"{seed}-{rng.randrange(10**6)}".encode() for _ in range(64)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + (b"\n" if rng.random() < 0.1 else b" ")
        if rng.random() < 0.02:
            out += rng.randbytes(32)
    return bytes(out[:size])


def busybox_layer() -> Layer:
    """A base layer with the static busybox and ``/bin/sh``, ``/bin/cat``, ``/bin/ls`` links."""
    return make_layer(
        [
            ("bin/busybox", BUSYBOX.read_bytes(), 0o755),
            ("etc/os-release", b"NAME=hk-test\n", 0o644),
        ],
        symlinks=[("bin/sh", "busybox"), ("bin/cat", "busybox"), ("bin/ls", "busybox")],
    )


def harbor_test_images(
    names: Sequence[str] = HARBOR_V180_IMAGES, *, unique_size: int = 64 * 1024
) -> list[Image]:
    """Small images tagged with ``names``: two shared base layers plus one unique layer each.

    Every image shares the busybox layer; all but ``goharbor/prepare`` also share a
    "photon" layer; each image then has a layer of its own (``unique_size`` bytes of
    filler plus a marker file naming the image).
    """
    base = busybox_layer()
    photon = make_layer(
        [("usr/lib/photon/libshared.so", pseudo_random_bytes("photon", 256 * 1024), 0o644)]
    )
    images = []
    for name in names:
        own = make_layer(
            [
                ("harbor/IMAGE", name.encode() + b"\n", 0o644),
                ("harbor/data.bin", pseudo_random_bytes(name, unique_size), 0o644),
            ]
        )
        layers = [base, own] if name.startswith("goharbor/prepare") else [base, photon, own]
        images.append(make_image([name], layers))
    return images


def write_docker_archive(images: Sequence[Image], out: Path | io.BufferedIOBase) -> None:
    """Write ``images`` as a legacy ``docker save`` archive (each layer stored once)."""
    manifest = []
    blobs: dict[str, bytes] = {}
    for img in images:
        cfg_name = img.id.split(":", 1)[1] + ".json"
        blobs[cfg_name] = img.config
        layer_names = []
        for layer in img.layers:
            name = layer.diff_id.split(":", 1)[1] + "/layer.tar"
            blobs[name] = layer.data
            layer_names.append(name)
        manifest.append({"Config": cfg_name, "RepoTags": list(img.tags), "Layers": layer_names})
    blobs["manifest.json"] = json.dumps(manifest).encode()
    fileobj = open(out, "wb") if isinstance(out, Path) else out  # noqa: SIM115
    try:
        with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for name, data in blobs.items():
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mode = 0o644
                tf.addfile(ti, io.BytesIO(data))
    finally:
        if isinstance(out, Path):
            fileobj.close()


def load_images(client, images: Sequence[Image]) -> None:
    """``docker load`` ``images`` into the daemon behind ``client``."""
    buf = io.BytesIO()
    write_docker_archive(images, buf)
    client.images.load(buf.getvalue())
