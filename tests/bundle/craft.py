"""Write complete bundles directly with ``tarfile``: no daemon, no root, no harborkit writer.

The layout is the one README documents (installer, gzip layer and config blobs,
``images/manifest.json``, ``harbor-bundle.json``, ``SHA256SUMS`` last), built
here independently of :mod:`harborkit.bundle.writer`, so ``verify``, ``inspect``
and the hostile-bundle tests run on any contributor's machine and check the
format rather than agree with the code that writes it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.images import Image, make_image, make_layer, pseudo_random_bytes

INSTALLER_NAME = "harbor-online-installer-v1.8.0.tgz"
CRAFTED_REFS = (
    "goharbor/prepare:v1.8.0",
    "goharbor/harbor-core:v1.8.0",
    "goharbor/nginx-photon:v1.8.0",
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def installer_tgz(
    files: Sequence[tuple[str, bytes, int]] | None = None, *, folder: bool = True
) -> bytes:
    """A small stand-in for Harbor's online installer (a folder ``harbor/`` unless not ``folder``)."""
    files = files or [
        ("harbor/install.sh", b"#!/bin/sh\necho installing harbor\n", 0o755),
        ("harbor/prepare", b"#!/bin/sh\necho preparing\n", 0o755),
        ("harbor/harbor.yml", b"hostname: reg.mydomain.com\nhttp:\n  port: 80\n", 0o644),
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        if folder:
            ti = tarfile.TarInfo("harbor")
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(ti)
        for name, data, mode in files:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), mode
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def crafted_images(refs: Sequence[str] = CRAFTED_REFS) -> list[Image]:
    """Small images sharing one base layer (no busybox needed)."""
    base = make_layer([("etc/os-release", b"NAME=hk-crafted\n", 0o644)])
    return [
        make_image([ref], [base, make_layer([("data.bin", pseudo_random_bytes(ref, 4096), 0o644)])])
        for ref in refs
    ]


@dataclass(frozen=True)
class Crafted:
    """A crafted bundle: its members in order (name, bytes) and the metadata written."""

    path: Path
    members: tuple[tuple[str, bytes], ...]
    metadata: dict

    def member(self, name: str) -> bytes:
        """Data of member ``name``."""
        return dict(self.members)[name]


def bundle_members(
    images: Sequence[Image], installer: bytes, *, installer_name: str = INSTALLER_NAME
) -> tuple[list[tuple[str, bytes]], dict]:
    """Every member but ``SHA256SUMS``, and the metadata dict."""
    members: list[tuple[str, bytes]] = [(f"installer/{installer_name}", installer)]
    layers: dict[str, dict] = {}
    records = []
    manifest = []
    for img in images:
        digests = []
        for layer in img.layers:
            gz = gzip.compress(layer.data, mtime=0)
            digest = "sha256:" + _sha(gz)
            if digest not in layers:
                members.append((f"images/blobs/sha256/{digest[7:]}", gz))
                layers[digest] = {
                    "digest": digest,
                    "diff_id": layer.diff_id,
                    "size": len(gz),
                    "uncompressed_size": len(layer.data),
                }
            digests.append(digest)
        members.append((f"images/blobs/sha256/{img.id[7:]}", img.config))
        size = sum(len(x.data) for x in img.layers)
        records += [
            {"reference": t, "image_id": img.id, "size": size, "layers": digests} for t in img.tags
        ]
        manifest.append(
            {
                "Config": f"blobs/sha256/{img.id[7:]}",
                "RepoTags": list(img.tags),
                "Layers": [f"blobs/sha256/{d[7:]}" for d in digests],
            }
        )
    members.append(("images/manifest.json", json.dumps(manifest, indent=1).encode()))
    meta = {
        "format_version": 1,
        "harbor_version": "v1.8.0",
        "created": "2026-11-28T00:00:00Z",
        "harborkit_version": "crafted",
        "images": records,
        "layers": list(layers.values()),
        "installer": {
            "name": installer_name,
            "size": len(installer),
            "sha256": _sha(installer),
            "source": "crafted",
        },
    }
    members.append(("harbor-bundle.json", json.dumps(meta, indent=2).encode()))
    return members, meta


def write_members(
    path: Path, members: Sequence[tuple[str | tarfile.TarInfo, bytes]], *, sums: bool = True
) -> None:
    """A tar of ``members`` (a name is a regular file; a TarInfo is written as given),
    followed by ``SHA256SUMS`` over the regular members unless ``sums`` is False."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        lines = []
        for m, data in members:
            ti = tarfile.TarInfo(m) if isinstance(m, str) else m
            if isinstance(m, str):
                ti.mode, ti.mtime = 0o644, 1_700_000_000
            if ti.isreg():
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
                lines.append(f"{_sha(data)}  {ti.name}\n")
            else:
                tf.addfile(ti)
        if sums:
            data = "".join(lines).encode()
            ti = tarfile.TarInfo("SHA256SUMS")
            ti.size, ti.mode = len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))


def craft_bundle(
    path: Path,
    *,
    images: Sequence[Image] | None = None,
    installer: bytes | None = None,
    replace: dict[str, bytes] | None = None,
    extra: Sequence[tuple[str | tarfile.TarInfo, bytes]] = (),
) -> Crafted:
    """Write a valid bundle at ``path``; ``replace`` swaps member data, ``extra`` adds members.

    Checksums are computed after the changes, so what a test sees is the effect of
    the change itself, not a checksum failure.
    """
    members, meta = bundle_members(images or crafted_images(), installer or installer_tgz())
    members = [(n, (replace or {}).get(n, d)) for n, d in members]
    write_members(path, [*members, *extra])
    return Crafted(path, tuple(members), meta)
