"""``harborkit bundle inspect``: what a bundle holds, from headers and metadata only."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.bundle.consistency import read_document
from harborkit.bundle.errors import BundleCorrupt
from harborkit.bundle.format import (
    METADATA_NAME,
    BundleMetadata,
    metadata_from_json,
    metadata_to_dict,
)
from harborkit.bundle.parts import open_bundle_file
from harborkit.bundle.sbom import SBOM_NAME
from harborkit.bundle.sign import (
    MAX_SIGNATURE_BYTES,
    SIGNATURE_NAME,
    SignatureError,
    signature_key_id,
)
from harborkit.bundle.tarsafe import scan_tar_file


@dataclass(frozen=True)
class InspectReport:
    """A bundle's metadata plus facts from its headers."""

    path: Path
    size: int
    member_count: int
    metadata: BundleMetadata
    parts: tuple[Path, ...] = ()  # part files, for a bundle in parts
    signed_by: str | None = None  # key id of SHA256SUMS.minisig (not checked here)
    sbom: bytes | None = None  # the CycloneDX member

    @property
    def stored_layer_bytes(self) -> int:
        """Layer bytes in this bundle (a delta leaves some to its base)."""
        in_base = set(self.metadata.base.layers) if self.metadata.base else set()
        return sum(x.size for x in self.metadata.layers if x.digest not in in_base)

    @property
    def base_layer_bytes(self) -> int:
        """Layer bytes a delta leaves to its base bundle."""
        in_base = set(self.metadata.base.layers) if self.metadata.base else set()
        return sum(x.size for x in self.metadata.layers if x.digest in in_base)


def inspect_bundle(path: Path) -> InspectReport:
    """Read headers (seeking past data) and ``harbor-bundle.json``; no hashing, no extraction.

    ``path`` may be a bundle, its first part or its parts list.
    """
    with open_bundle_file(path) as source:
        scan = scan_tar_file(source, source.size, path)  # type: ignore[arg-type]
        members = {m.name: m for m in scan.members if m.end <= scan.file_size}
        member = members.get(METADATA_NAME)
        if member is None:
            raise BundleCorrupt(f"bundle {path} is corrupt: missing member {METADATA_NAME}")
        where = f"{path}: {METADATA_NAME}"
        meta = metadata_from_json(read_document(source, member, where), where)
        signed_by = None
        sig = members.get(SIGNATURE_NAME)
        if sig is not None:
            try:
                if sig.size > MAX_SIGNATURE_BYTES:
                    raise SignatureError("too large to be a signature")
                signed_by = signature_key_id(source.pread(sig.size, sig.offset), SIGNATURE_NAME)
            except SignatureError:
                signed_by = "(unreadable signature)"
        sbom_m = members.get(SBOM_NAME)
        sbom = read_document(source, sbom_m, f"{path}: {SBOM_NAME}") if sbom_m else None
        parts = tuple(source.parts) if source.parts != [path] else ()
    return InspectReport(path, scan.file_size, len(scan.members), meta, parts, signed_by, sbom)


def report_to_dict(report: InspectReport) -> dict[str, Any]:
    """JSON shape of ``inspect --format json``: the metadata plus bundle facts and shared layers."""
    meta = report.metadata
    return {
        "bundle": str(report.path),
        "size": report.size,
        "members": report.member_count,
        "metadata": metadata_to_dict(meta),
        "parts": [str(p) for p in report.parts],
        "signed_by": report.signed_by,
        "stored_layer_bytes": report.stored_layer_bytes,
        "base_layer_bytes": report.base_layer_bytes,
        "shared_layers": [
            {"digest": d, "size": meta.layer(d).size, "images": refs}
            for d, refs in meta.shared_layers().items()
        ],
    }


def _mb(n: int) -> str:
    from harborkit.textsafe import size_text

    return size_text(n)


def render_json(report: InspectReport) -> str:
    """``inspect --format json`` text."""
    return json.dumps(report_to_dict(report), indent=2)


def _e(value: object) -> str:
    """``value`` with every control, format or line-separator character escaped (``\\x1b``,
    ``\\u202e``): a crafted bundle cannot move the cursor, recolour or fake a line."""
    return "".join(
        c
        if unicodedata.category(c) not in _UNSAFE_CATEGORIES
        else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        for c in str(value)
    )


_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def render_table(report: InspectReport) -> str:
    """``inspect --format table`` text."""
    meta = report.metadata
    shared = meta.shared_layers()
    width = max(len(_e(i.reference)) for i in meta.images)
    lines = [
        f"bundle     {_e(report.path)} ({_mb(report.size)}, {report.member_count} members)",
        f"harbor     {_e(meta.harbor_version)}   created {_e(meta.created)}   "
        f"by harborkit {_e(meta.harborkit_version)}",
        f"installer  {_e(meta.installer.name)} ({_mb(meta.installer.size)}) sha256 {_e(meta.installer.sha256)}",
        f"           from {_e(meta.installer.source)}",
    ]
    for f in meta.files:
        lines.append(
            f"file       {_e(f.name)} ({_mb(f.size)}) sha256 {_e(f.sha256)} -> {_e(f.install_path)} "
            f"mode {f.mode:04o}"
        )
    if report.parts:
        lines.append(
            f"parts      {len(report.parts)}: {_e(report.parts[0].name)} ... {_e(report.parts[-1].name)}"
        )
    lines.append(
        f"signature  {'key id ' + _e(report.signed_by) if report.signed_by else 'none'}"
        + (" (check it with verify --key)" if report.signed_by else "")
    )
    if meta.base is not None:
        lines.append(
            f"delta      over {_e(meta.base.name)} (SHA256SUMS sha256 {_e(meta.base.sums_sha256[:16])}...): "
            f"{len(meta.base.layers)} layers ({_mb(report.base_layer_bytes)}) left to the base, "
            f"{_mb(report.stored_layer_bytes)} of layers carried; needs "
            + ", ".join(_e(i.reference) for i in meta.base.images)
        )
    lines += [
        "",
        f"{'IMAGE':<{width}}  {'ID':<19}  {'SIZE':>11}  LAYERS (shared)",
    ]
    for img in meta.images:
        n_shared = sum(1 for d in img.layers if d in shared)
        lines.append(
            f"{_e(img.reference):<{width}}  {_e(img.image_id[:19]):<19}  {_mb(img.size):>11}  "
            f"{len(img.layers)} ({n_shared})"
        )
    stored = sum(x.size for x in meta.layers)
    raw = sum(x.uncompressed_size for x in meta.layers)
    lines += [
        "",
        f"layers     {len(meta.layers)} stored once: {_mb(stored)} gzip, {_mb(raw)} uncompressed"
        + (f" ({_mb(report.base_layer_bytes)} of them in the base bundle)" if meta.base else ""),
        f"shared     {len(shared)} layers used by more than one image:",
    ]
    for d, refs in shared.items():
        lines.append(f"  {_e(d[:19])}  {_mb(meta.layer(d).size):>11}  {len(refs)} images")
    return "\n".join(lines)
