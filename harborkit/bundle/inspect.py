"""``harborkit bundle inspect``: what a bundle holds, from headers and metadata only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.bundle.errors import BundleCorrupt, BundleUnreadable
from harborkit.bundle.format import (
    METADATA_NAME,
    BundleMetadata,
    metadata_from_json,
    metadata_to_dict,
)
from harborkit.bundle.tarsafe import scan_tar


@dataclass(frozen=True)
class InspectReport:
    """A bundle's metadata plus facts from its headers."""

    path: Path
    size: int
    member_count: int
    metadata: BundleMetadata


def inspect_bundle(path: Path) -> InspectReport:
    """Read headers (seeking past data) and ``harbor-bundle.json``; no hashing, no extraction."""
    if not path.is_file():
        raise BundleUnreadable(f"bundle {path} does not exist or is not a file")
    scan = scan_tar(path)
    member = next((m for m in scan.members if m.name == METADATA_NAME), None)
    if member is None or member.end > scan.file_size:
        raise BundleCorrupt(f"bundle {path} is corrupt: missing member {METADATA_NAME}")
    with open(path, "rb") as f:
        f.seek(member.offset)
        raw = f.read(member.size)
    meta = metadata_from_json(raw, f"{path}: {METADATA_NAME}")
    return InspectReport(path, scan.file_size, len(scan.members), meta)


def report_to_dict(report: InspectReport) -> dict[str, Any]:
    """JSON shape of ``inspect --format json``: the metadata plus bundle facts and shared layers."""
    meta = report.metadata
    return {
        "bundle": str(report.path),
        "size": report.size,
        "members": report.member_count,
        "metadata": metadata_to_dict(meta),
        "shared_layers": [
            {"digest": d, "size": meta.layer(d).size, "images": refs}
            for d, refs in meta.shared_layers().items()
        ],
    }


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def render_json(report: InspectReport) -> str:
    """``inspect --format json`` text."""
    return json.dumps(report_to_dict(report), indent=2)


def render_table(report: InspectReport) -> str:
    """``inspect --format table`` text."""
    meta = report.metadata
    shared = meta.shared_layers()
    width = max(len(i.reference) for i in meta.images)
    lines = [
        f"bundle     {report.path} ({_mb(report.size)}, {report.member_count} members)",
        f"harbor     {meta.harbor_version}   created {meta.created}   "
        f"by harborkit {meta.harborkit_version}",
        f"installer  {meta.installer.name} ({_mb(meta.installer.size)}) sha256 {meta.installer.sha256}",
        f"           from {meta.installer.source}",
        "",
        f"{'IMAGE':<{width}}  {'ID':<19}  {'SIZE':>11}  LAYERS (shared)",
    ]
    for img in meta.images:
        n_shared = sum(1 for d in img.layers if d in shared)
        lines.append(
            f"{img.reference:<{width}}  {img.image_id[:19]:<19}  {_mb(img.size):>11}  "
            f"{len(img.layers)} ({n_shared})"
        )
    stored = sum(x.size for x in meta.layers)
    raw = sum(x.uncompressed_size for x in meta.layers)
    lines += [
        "",
        f"layers     {len(meta.layers)} stored once: {_mb(stored)} gzip, {_mb(raw)} uncompressed",
        f"shared     {len(shared)} layers used by more than one image:",
    ]
    for d, refs in shared.items():
        lines.append(f"  {d[:19]}  {_mb(meta.layer(d).size):>11}  {len(refs)} images")
    return "\n".join(lines)
