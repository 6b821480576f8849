"""Helpers for crafting altered and hostile bundles in tests."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

from harborkit.bundle.errors import MetadataError
from harborkit.bundle.format import METADATA_NAME, SUMS_NAME
from harborkit.bundle.sbom import SBOM_NAME


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
    from harborkit.bundle.format import metadata_from_json
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
