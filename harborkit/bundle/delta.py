"""Delta bundles: leave out the layers an older bundle already carried.

A layer is left out only where the target is sure to hold it already: where its
*chain id* (the layer together with every layer below it, as dockerd stores
layers) is the chain of some image in the base bundle. The delta records the
base's ``SHA256SUMS`` digest and the base images that hold those chains; before
loading, the target must have those images (by id), and ``docker load`` then
finds every left-out layer in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.bundle.errors import BundleError
from harborkit.bundle.format import (
    BaseImage,
    BaseRecord,
    BundleMetadata,
    LayerRecord,
)
from harborkit.errors import ExitCode


class DeltaBaseMissing(BundleError):
    """A delta bundle's base images are not on the target (exit 14)."""

    exit_code = ExitCode.DELTA_BASE


@dataclass(frozen=True)
class BaseBundle:
    """What a delta build needs from its base: its metadata and its SHA256SUMS digest."""

    name: str
    sums_sha256: str
    metadata: BundleMetadata


@dataclass(frozen=True)
class DeltaPlan:
    """Which layers (by diff id) a delta leaves out, and what it records about its base."""

    omit: frozenset[str]  # diff ids
    base_layers: dict[str, LayerRecord]  # diff id -> the base's record (digest, sizes)
    base: BaseRecord


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """dockerd's chain ids: ``chain[0] = diff[0]``, ``chain[n] = sha256(chain[n-1] + " " + diff[n])``."""
    out: list[str] = []
    for d in diff_ids:
        out.append(
            d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest()
        )
    return out


def _base_chains(meta: BundleMetadata) -> dict[str, BaseImage]:
    """chain id -> a base image that holds it."""
    by_digest = {lr.digest: lr for lr in meta.layers}
    chains: dict[str, BaseImage] = {}
    for img in meta.images:
        diff_ids = [by_digest[d].diff_id for d in img.layers]
        for c in chain_ids(diff_ids):
            chains.setdefault(c, BaseImage(img.reference, img.image_id))
    return chains


def plan_delta(base: BaseBundle, images: Iterable[tuple[str, Sequence[str]]]) -> DeltaPlan:
    """Plan a delta over ``base`` for ``images`` given as ``(reference, diff ids bottom first)``.

    A diff id is left out when every use of it in the new images sits on a chain
    the base holds.
    """
    chains = _base_chains(base.metadata)
    keep: set[str] = set()
    used: dict[str, set[BaseImage]] = {}
    for _ref, diff_ids in images:
        for d, c in zip(diff_ids, chain_ids(diff_ids), strict=True):
            holder = chains.get(c)
            if holder is None:
                keep.add(d)
            else:
                used.setdefault(d, set()).add(holder)
    omit = frozenset(d for d in used if d not in keep)
    base_by_diff = {lr.diff_id: lr for lr in base.metadata.layers}
    holders = {h for d in omit for h in used[d]}
    ordered = tuple(
        BaseImage(i.reference, i.image_id)
        for i in base.metadata.images
        if BaseImage(i.reference, i.image_id) in holders
    )
    record = BaseRecord(
        name=base.name,
        sums_sha256=base.sums_sha256,
        images=ordered,
        layers=tuple(sorted(base_by_diff[d].digest for d in omit)),
    )
    return DeltaPlan(omit, {d: base_by_diff[d] for d in omit}, record)


def missing_base_images(client: Any, base: BaseRecord) -> list[BaseImage]:
    """The base images not present (by id) in the daemon behind ``client``."""
    import docker.errors

    missing: list[BaseImage] = []
    for img in base.images:
        try:
            client.api.inspect_image(img.image_id)
        except docker.errors.ImageNotFound:
            missing.append(img)
    return missing


def require_base(client: Any, base: BaseRecord, bundle: Path) -> None:
    """Refuse (exit 14) unless every base image is on the target, naming the base bundle."""
    missing = missing_base_images(client, base)
    if missing:
        shown = ", ".join(f"{m.reference} ({m.image_id[:19]})" for m in missing[:4])
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise DeltaBaseMissing(
            f"{bundle} is a delta over {base.name} (SHA256SUMS sha256 {base.sums_sha256[:16]}...): "
            f"the target lacks its base images {shown}{more}; load {base.name} first"
        )
