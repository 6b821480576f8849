"""Write complete bundles directly with ``tarfile``: no daemon, no root, no harborkit writer.

The layout is the one README documents (installer, gzip layer and config blobs,
``images/manifest.json``, ``harbor-bundle.json``, ``SHA256SUMS`` last), built
here independently of :mod:`harborkit.bundle.writer`, so ``verify``, ``inspect``
and the hostile-bundle tests run on any contributor's machine and check the
format rather than agree with the code that writes it.

The one bundle maker of the tests: ``craft_bundle`` (whole bundles),
``Parts``/``make_parts`` (a bundle member by member, as the writer lays it out,
to alter one member at a time), and helpers that rewrite, record and craft
altered and hostile bundles."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.bundle.errors import MetadataError
from harborkit.bundle.format import (
    METADATA_NAME,
    SUMS_NAME,
    BundleMetadata,
    ImageRecord,
    InstallerRecord,
    LayerRecord,
    blob_member,
    blob_path_in_images,
    format_sums,
    installer_member,
    metadata_from_json,
    metadata_to_json,
)
from harborkit.bundle.sbom import SBOM_NAME
from tests.support.images import Image, make_image, make_layer, pseudo_random_bytes

INSTALLER_NAME = "harbor-online-installer-v1.8.0.tgz"


CRAFTED_REFS = (
    "goharbor/prepare:v1.8.0",
    "goharbor/harbor-core:v1.8.0",
    "goharbor/nginx-photon:v1.8.0",
)


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
            digest = "sha256:" + sha(gz)
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
            "sha256": sha(installer),
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
                lines.append(f"{sha(data)}  {ti.name}\n")
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


def read_members(bundle: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    """Every member with its data (test bundles are small)."""
    out = []
    with tarfile.open(bundle) as tf:
        for ti in tf:
            f = tf.extractfile(ti) if ti.isreg() else None
            out.append((ti, f.read() if f else b""))
    return out


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    """Write members (headers as given) to ``path``."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for ti, data in members:
            ti.size = len(data) if ti.isreg() else 0
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)


def rewrite_bundle(
    src: Path,
    dst: Path,
    *,
    replace: dict[str, bytes] | None = None,
    edit_metadata: Callable[[dict], None] | None = None,
    extra: list[tuple[tarfile.TarInfo, bytes]] | None = None,
    drop: tuple[str, ...] = (),
) -> None:
    """Copy ``src`` to ``dst`` with members replaced/added/dropped and SHA256SUMS recomputed.

    The result is internally consistent (checksums match), so what a test sees is
    the effect of the change itself, not a checksum failure.
    """
    replace = dict(replace or {})
    members = read_members(src)
    out: list[tuple[tarfile.TarInfo, bytes]] = []
    for ti, data in members:
        if ti.name == SUMS_NAME or ti.name in drop:
            continue
        data = replace.get(ti.name, data)
        if ti.name == METADATA_NAME and edit_metadata is not None:
            meta = json.loads(data)
            edit_metadata(meta)
            data = json.dumps(meta).encode()
        out.append((ti, data))
    if edit_metadata is not None and SBOM_NAME not in replace:  # the SBOM follows the metadata
        new_meta = next(d for ti, d in out if ti.name == METADATA_NAME)
        try:
            sbom = _sbom_of(new_meta)
        except MetadataError:  # metadata made to fail its schema: the SBOM stays as it was
            sbom = None
        if sbom is not None:
            out = [(ti, sbom if ti.name == SBOM_NAME else d) for ti, d in out]
    out.extend(extra or [])
    sums = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {ti.name}\n" for ti, d in out if ti.isreg()
    ).encode()
    sums_ti = tarfile.TarInfo(SUMS_NAME)
    out.append((sums_ti, sums))
    write_tar(dst, out)


def _sbom_of(raw_metadata: bytes) -> bytes:
    """The SBOM harborkit writes for this metadata (verify checks that the two agree)."""
    from harborkit.bundle.sbom import SbomFile, build_sbom

    meta = metadata_from_json(raw_metadata)
    files = [SbomFile(f.name, f.sha256, f.size, f.source, f.install_path) for f in meta.files]
    omitted = meta.base.layers if meta.base is not None else ()
    return build_sbom(meta, files=files, omitted_layers=omitted)


def member_info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    """A TarInfo of the given type."""
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    ti.mode = 0o644
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    return ti


def hostile_tgz(kind: str) -> bytes:
    """An installer .tgz with one unsafe member of ``kind``."""
    good = tarfile.TarInfo("harbor/install.sh")
    good_data = b"#!/bin/sh\n"
    good.mode = 0o755
    bad = {
        "dotdot": (member_info("harbor/../../x"), b"x"),
        "absolute": (member_info("/etc/x"), b"x"),
        "symlink": (member_info("harbor/link", tarfile.SYMTYPE, "/etc/passwd"), b""),
        "hardlink": (member_info("harbor/hard", tarfile.LNKTYPE, "etc/passwd"), b""),
        "device": (member_info("harbor/dev", tarfile.CHRTYPE), b""),
    }[kind]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        good.size = len(good_data)
        tf.addfile(good, io.BytesIO(good_data))
        ti, data = bad
        ti.size = len(data) if ti.isreg() else 0
        tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


class Recorded:
    """A progress task that records what it is told."""

    def __init__(self, description: str, total: int | None) -> None:
        self.description, self.total = description, total
        self.advanced = 0
        self.finished = False

    def advance(self, n: int) -> None:
        self.advanced += n

    def set_total(self, total: int | None) -> None:
        self.total = total

    def done(self) -> None:
        self.finished = True


class Progress:
    """A progress display that keeps every task it hands out."""

    def __init__(self) -> None:
        self.tasks: list[Recorded] = []

    def task(self, description: str, total: int | None = None) -> Recorded:
        self.tasks.append(Recorded(description, total))
        return self.tasks[-1]


INSTALLER = INSTALLER_NAME


MANIFEST = "images/manifest.json"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tgz(members: list[tuple[str, bytes, int]], dirs: tuple[str, ...] = ("harbor",)) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(ti)
        for name, data, mode in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), mode
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


INSTALLER_FILES = [
    ("harbor/install.sh", b"#!/bin/sh\necho installing harbor\n", 0o4755),
    ("harbor/prepare", b"#!/bin/sh\necho preparing\n", 0o755),
    ("harbor/harbor.yml", b"hostname: reg.mydomain.com\n", 0o644),
]


@dataclass
class Parts:
    """The members of a bundle, in order; ``sums`` overrides SHA256SUMS."""

    members: list[tuple[str, bytes]]
    sums: bytes | None = None

    def get(self, name: str) -> bytes:
        return dict(self.members)[name]

    def put(self, name: str, data: bytes) -> None:
        self.members = [(n, data if n == name else d) for n, d in self.members]

    def edit_metadata(self, edit: Callable[[dict], None]) -> None:
        meta = json.loads(self.get(METADATA_NAME))
        edit(meta)
        self.put(METADATA_NAME, json.dumps(meta).encode())

    def write(self, path: Path, *, sums_from: Parts | None = None) -> Path:
        """Write the bundle; SHA256SUMS over these members (or ``sums_from``'s: stale)."""
        sums = self.sums
        if sums is None:
            src = sums_from or self
            sums = format_sums([(n, sha(d)) for n, d in src.members])
        with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
            for name, data in [*self.members, (SUMS_NAME, sums)]:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_700_000_000
                tf.addfile(ti, io.BytesIO(data))
        return path


def make_parts(installer: bytes | None = None) -> Parts:
    """Two images sharing a base layer, an installer, metadata (as the writer lays them out)."""
    base = make_layer([("etc/os-release", b"ID=photon\n", 0o644)])
    images = [
        make_image(["goharbor/harbor-core:v1.8.0"], [base, make_layer([("core", b"c", 0o755)])]),
        make_image(["goharbor/harbor-db:v1.8.0"], [base, make_layer([("db", b"d", 0o755)])]),
    ]
    members: list[tuple[str, bytes]] = []
    inst = installer if installer is not None else tgz(INSTALLER_FILES)
    members.append((installer_member(INSTALLER), inst))
    layers: dict[str, LayerRecord] = {}
    records = []
    manifest = []
    for img in images:
        digests = []
        for layer in img.layers:
            gz = gzip.compress(layer.data, mtime=0)
            digest = "sha256:" + sha(gz)
            if digest not in layers:
                layers[digest] = LayerRecord(digest, layer.diff_id, len(gz), len(layer.data))
                members.append((blob_member(digest), gz))
            digests.append(digest)
        members.append((blob_member(img.id), img.config))
        records.append(
            ImageRecord(img.tags[0], img.id, sum(len(x.data) for x in img.layers), tuple(digests))
        )
        manifest.append(
            {
                "Config": blob_path_in_images(img.id),
                "RepoTags": list(img.tags),
                "Layers": [blob_path_in_images(d) for d in digests],
            }
        )
    members.append((MANIFEST, json.dumps(manifest).encode()))
    meta = BundleMetadata(
        format_version=1,
        harbor_version="v1.8.0",
        created="2026-11-26T00:00:00Z",
        harborkit_version="0.1.0",
        images=tuple(records),
        layers=tuple(layers.values()),
        installer=InstallerRecord(INSTALLER, len(inst), sha(inst), "https://example.invalid/x.tgz"),
    )
    members.append((METADATA_NAME, metadata_to_json(meta)))
    return Parts(members)


def file_record(name: str, data: bytes) -> dict[str, Any]:
    return {
        "name": name,
        "size": len(data),
        "sha256": sha(data),
        "source": "https://example.invalid/" + name,
        "install_path": "/usr/local/bin/" + name,
        "mode": 0o755,
    }


def delta(parts: Parts) -> str:
    """Leave the shared base layer to a base bundle; its digest."""
    meta = json.loads(parts.get(METADATA_NAME))
    base = meta["images"][0]["layers"][0]
    parts.members = [(n, d) for n, d in parts.members if n != "images/blobs/sha256/" + base[7:]]
    meta["base"] = {
        "name": "base.tar",
        "sums_sha256": "0" * 64,
        "images": [{"reference": "goharbor/base:v1", "image_id": "sha256:" + "1" * 64}],
        "layers": [base],
    }
    parts.put(METADATA_NAME, json.dumps(meta).encode())
    return str(base)
