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

from harborkit.bundle.errors import BundleCorrupt, BundleError
from harborkit.bundle.format import (
    METADATA_NAME,
    SUMS_NAME,
    BaseImage,
    BaseRecord,
    BundleMetadata,
    LayerRecord,
    metadata_from_json,
    parse_sums,
)
from harborkit.bundle.parts import open_bundle_file
from harborkit.bundle.tarsafe import scan_tar_file
from harborkit.compat import zip_strict
from harborkit.errors import ExitCode, HarborkitError, InputError


class DeltaBaseMissing(BundleError):
    """A delta bundle's base images are not on the target (exit 14)."""

    exit_code = ExitCode.DELTA_BASE


@dataclass(frozen=True)
class BaseBundle:
    """What a delta build needs from its base: its metadata and its SHA256SUMS digest."""

    name: str
    sums_sha256: str
    metadata: BundleMetadata

    def __post_init__(self) -> None:
        """A base whose images name layers it does not list cannot be planned over (exit 2)."""
        known = {lr.digest for lr in self.metadata.layers}
        for img in self.metadata.images:
            unknown = [d for d in img.layers if d not in known]
            if unknown:
                raise InputError(
                    f"--base {self.name}: its harbor-bundle.json gives {img.reference} layer "
                    f"{unknown[0]}, which it does not list; not a bundle a delta can build on"
                )


def read_base(path: Path) -> BaseBundle:
    """The base of a delta: its metadata and the sha256 of its ``SHA256SUMS`` (headers only).

    Whatever is wrong with it is bad input to ``build`` (exit 2), named as ``--base``.
    """
    try:
        return _read_base(path)
    except HarborkitError as e:
        if e.exit_code == InputError.exit_code:
            raise
        raise InputError(f"--base {path}: {e.message}") from e


def _read_base(path: Path) -> BaseBundle:
    with open_bundle_file(path) as source:
        scan = scan_tar_file(source, source.size, path)  # type: ignore[arg-type]
        members = {m.name: m for m in scan.members if m.end <= scan.file_size}
        for name in (SUMS_NAME, METADATA_NAME):
            if name not in members:
                raise BundleCorrupt(f"base bundle {path} is corrupt: missing member {name}")
        sums = source.pread(members[SUMS_NAME].size, members[SUMS_NAME].offset)
        meta_raw = source.pread(members[METADATA_NAME].size, members[METADATA_NAME].offset)
    meta = metadata_from_json(meta_raw, f"{path}: {METADATA_NAME}")
    digest = hashlib.sha256(sums).hexdigest()
    try:
        listed = parse_sums(sums)
    except ValueError as e:
        raise BundleCorrupt(f"base bundle {path} is corrupt: {SUMS_NAME} {e}") from e
    if listed.get(METADATA_NAME) != hashlib.sha256(meta_raw).hexdigest():
        raise BundleCorrupt(
            f"base bundle {path} is corrupt: {METADATA_NAME} differs from {SUMS_NAME}"
        )
    name = path.name.removesuffix(".parts.sha256")
    if ".part-" in name:
        name = name.rsplit(".part-", 1)[0]
    return BaseBundle(name, digest, meta)


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
        for d, c in zip_strict(diff_ids, chain_ids(diff_ids)):
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


def _claims_problem(meta: BundleMetadata) -> str | None:
    """Why the delta's own record of its base cannot be right, or ``None`` (no daemon needed)."""
    base = meta.base
    assert base is not None
    known = {lr.digest for lr in meta.layers}
    foreign = [d for d in base.layers if d not in known]
    if foreign:
        return f"it leaves layer {foreign[0]} to its base, which none of its images uses"
    if base.layers and not base.images:
        return "it leaves layers to its base but names no base image that holds them"
    return None


def require_base(
    client: Any, meta: BundleMetadata, bundle: Path, carried: frozenset[str] | None = None
) -> None:
    """Refuse (exit 14) unless the target holds every layer the delta leaves to its base.

    The base images must be there (by id), and each left-out layer (every layer
    in ``meta.base.layers`` not in ``carried``, the layer digests the bundle
    holds) must sit on a chain one of them holds, where ``docker load`` will look
    for it; otherwise the daemon would fail half-way (exit 9).
    """
    base = meta.base
    assert base is not None
    head = f"{bundle} is a delta over {base.name} (SHA256SUMS sha256 {base.sums_sha256[:16]}...)"
    problem = _claims_problem(meta)
    if problem:
        raise DeltaBaseMissing(f"{head}: its base claims are inconsistent: {problem}")
    missing = missing_base_images(client, base)
    if missing:
        shown = ", ".join(f"{m.reference} ({m.image_id[:19]})" for m in missing[:4])
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise DeltaBaseMissing(
            f"{head}: the target lacks its base images {shown}{more}; load {base.name} first"
        )
    held: set[str] = set()
    for held_image in base.images:
        inspected = client.api.inspect_image(held_image.image_id)
        layers = (inspected.get("RootFS") or {}).get("Layers") or []
        held.update(chain_ids([str(d) for d in layers]))
    require_left_out_held(meta, carried, held, head, "target")


def require_left_out_held(
    meta: BundleMetadata, carried: frozenset[str] | None, held: set[str], head: str, where: str
) -> None:
    """Refuse (exit 14) a layer the delta leaves to its base (in ``meta.base.layers``,
    not ``carried``) whose chain id none of the base images on ``where`` holds
    (``held``): ``docker load`` there would fail half-way."""
    assert meta.base is not None
    left_out = set(meta.base.layers) - (carried or frozenset())
    by_digest = {lr.digest: lr for lr in meta.layers}
    tail = "" if where == "target" else "; nothing sent"
    for img in meta.images:
        diff_ids = [by_digest[d].diff_id for d in img.layers]
        for d, c in zip_strict(img.layers, chain_ids(diff_ids)):
            if d in left_out and c not in held:
                raise DeltaBaseMissing(
                    f"{head}: its base claims are inconsistent: layer {d[:19]} of "
                    f"{img.reference} is left to the base, but none of its base images on the "
                    f"{where} holds it there{tail}"
                )
