"""What ``verify`` checks once every member matches ``SHA256SUMS``: that the bundle's
documents agree.

* :func:`check_consistency`: everything ``harbor-bundle.json`` names is in the bundle,
  with its size and digest; references are tags docker load can apply;
* :func:`check_load_manifest`: ``images/manifest.json`` (what ``docker load`` reads)
  agrees with the metadata;
* :func:`check_configs`: each image config's diff ids are the metadata's.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harborkit.bundle.errors import BundleCorrupt, BundleHostile
from harborkit.bundle.format import (
    IMAGES_DIR,
    IMAGES_MANIFEST,
    METADATA_NAME,
    BundleMetadata,
    blob_member,
    installer_member,
    strict_json,
)
from harborkit.bundle.parts import BundleFile
from harborkit.bundle.tarsafe import Member, installer_name_reason, unsafe_name_reason
from harborkit.errors import InputError
from harborkit.registry.reference import parse_reference

_MAX_NAMED = 6
#: the keys of an images/manifest.json entry that docker load and harborkit both read
_ENTRY_KEYS = frozenset({"Config", "RepoTags", "Layers"})
#: harbor-bundle.json, images/manifest.json and the SBOM are read only up to this size
MAX_DOCUMENT_BYTES = 16 << 20


def shown_names(label: str, names: list[str]) -> str:
    """``label`` and the first few ``names`` (``and N more``)."""
    shown = ", ".join(names[:_MAX_NAMED])
    more = f" and {len(names) - _MAX_NAMED} more" if len(names) > _MAX_NAMED else ""
    return f"{label} {shown}{more}"


def read_document(
    source: BundleFile, member: Member, where: str, sha256: str | None = None
) -> bytes:
    """A JSON document member, read only when it is at most :data:`MAX_DOCUMENT_BYTES`.

    With ``sha256`` (what the member was hashed to), the bytes read here, the ones
    then parsed, must still have it: a member rewritten in place after it was hashed
    is :class:`BundleCorrupt`, never parsed as if verified.
    """
    if member.size > MAX_DOCUMENT_BYTES:
        raise BundleCorrupt(
            f"{where} has {member.size} bytes, more than the {MAX_DOCUMENT_BYTES} read"
        )
    raw = source.pread(member.size, member.offset)
    if sha256 is not None:
        now = hashlib.sha256(raw).hexdigest()
        if now != sha256:
            raise BundleCorrupt(
                f"{where} changed after it was hashed (sha256 now {now[:16]}...); "
                "nothing was read from it"
            )
    return raw


def _reference_problem(reference: str) -> str | None:
    """Why ``reference`` cannot be a tag on the target (``docker load`` RepoTags), or ``None``."""
    try:
        ref = parse_reference(reference)
    except InputError as e:
        # the parser's reason follows the quoted reference, whatever the reference holds
        prefix = f"image reference {reference!r} "
        reason = e.message[len(prefix) :] if e.message.startswith(prefix) else e.message
        return f"is not an image reference ({reason.removeprefix('has ')})"
    if ref.digest or reference.strip() != reference:
        return "is not a tag (repository:tag)"
    if ":" not in reference.rsplit("/", 1)[-1]:  # docker load refuses a name without a tag
        return "has no tag (docker load needs repository:tag)"
    return None


def _same_tag_problems(meta: BundleMetadata) -> list[str]:
    """References spelled apart that name one tag on the target (``busybox:latest`` and
    ``docker.io/library/busybox:latest``): docker load would tag one image over the other."""
    seen: dict[str, str] = {}
    problems: list[str] = []
    for img in meta.images:
        try:
            key = str(parse_reference(img.reference))
        except InputError:
            continue  # named by _reference_problem
        first = seen.setdefault(key, img.reference)
        if first != img.reference:
            problems.append(f"references {first!r} and {img.reference!r} name the same tag")
    return problems


def check_consistency(
    path: Path, meta: BundleMetadata, members: Mapping[str, Member], sums: Mapping[str, str]
) -> None:
    """Everything the metadata names must be in the bundle, with matching sizes and digests."""
    problems: list[str] = []
    in_base = set(meta.base.layers) if meta.base is not None else set()
    for layer in meta.layers:
        m = members.get(blob_member(layer.digest))
        if m is None and layer.digest in in_base:
            continue  # a delta leaves it to its base bundle
        if m is None:
            problems.append(f"layer {layer.digest} is not in the bundle")
        elif m.size != layer.size:
            problems.append(f"layer {layer.digest} has {m.size} bytes, metadata says {layer.size}")
    known = {x.digest for x in meta.layers}
    problems += _same_tag_problems(meta)
    for img in meta.images:
        reason = _reference_problem(img.reference)
        if reason:
            problems.append(f"reference {img.reference!r} {reason}")
        if blob_member(img.image_id) not in members:
            problems.append(f"config of {img.reference} ({img.image_id}) is not in the bundle")
        problems += [
            f"{img.reference} uses unknown layer {d}" for d in img.layers if d not in known
        ]
    inst = installer_member(meta.installer.name)
    reason = installer_name_reason(meta.installer.name)
    if reason:
        problems.append(f"installer name {meta.installer.name!r} {reason}")
    elif inst not in members:
        problems.append(f"installer {inst} is not in the bundle")
    elif sums.get(inst) != meta.installer.sha256:
        problems.append(f"installer {inst} sha256 differs from the metadata")
    for label, key in (("name", lambda f: f.name), ("install path", lambda f: f.install_path)):
        counts = Counter(key(f) for f in meta.files)
        twice = sorted(v for v, n in counts.items() if n > 1)
        if twice:  # one would be installed over the other
            problems.append(f"two files have the {label} {twice[0]}")
    for f in meta.files:
        if f.member not in members:
            problems.append(f"file {f.member} is not in the bundle")
        elif sums.get(f.member) != f.sha256:
            problems.append(f"file {f.member} sha256 differs from the metadata")
    if problems:
        raise BundleCorrupt(
            f"bundle {path} is inconsistent with {METADATA_NAME}: " + "; ".join(problems[:4])
        )


def check_configs(
    path: Path, meta: BundleMetadata, members: Mapping[str, Member], source: BundleFile
) -> None:
    """Each image config's ``rootfs.diff_ids`` are the diff ids the metadata gives its layers.

    ``docker load`` builds the image from the config; the metadata's diff ids are what
    ``inspect``, the SBOM and a delta built over this bundle rely on (a delta leaves
    out the layers whose chains they name): a bundle whose two accounts differ is
    :class:`BundleCorrupt`, not loaded half-way.
    """
    by_digest = {x.digest: x for x in meta.layers}
    checked: set[str] = set()
    for img in meta.images:
        if img.image_id in checked:
            continue
        checked.add(img.image_id)
        name = blob_member(img.image_id)
        where = f"bundle {path}: {name} (config of {img.reference})"
        raw = read_document(source, members[name], where, img.image_id.split(":", 1)[1])
        doc = strict_json(raw, where, BundleCorrupt)
        rootfs = doc.get("rootfs") if isinstance(doc, dict) else None
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list):
            raise BundleCorrupt(f"{where} is not an image config (no rootfs.diff_ids list)")
        want = [by_digest[d].diff_id for d in img.layers]
        if diff_ids != want:
            at = next(
                (i for i, (a, b) in enumerate(zip(diff_ids, want)) if a != b),
                min(len(diff_ids), len(want)),
            )
            raise BundleCorrupt(
                f"{where} disagrees with {METADATA_NAME}: layer {at + 1} has diff id "
                f"{str(diff_ids[at])[:80] if at < len(diff_ids) else '(none)'} in the config, "
                f"{want[at] if at < len(want) else '(none)'} in {METADATA_NAME}"
            )


def _entry_shape(entry: Any) -> tuple[str, list[str], list[str]] | None:
    """``(Config, RepoTags, Layers)`` of a ``docker load`` manifest entry, or ``None`` if malformed."""
    if not isinstance(entry, dict):
        return None
    config, tags, layers = entry.get("Config"), entry.get("RepoTags"), entry.get("Layers")
    if not isinstance(config, str) or not isinstance(tags, list) or not isinstance(layers, list):
        return None
    if not all(isinstance(x, str) for x in [*tags, *layers]):
        return None
    return config, tags, layers


def _read_load_manifest(
    path: Path, members: Mapping[str, Member], source: BundleFile, sha256: str | None = None
) -> list[Any]:
    where = f"bundle {path}: {IMAGES_MANIFEST}"
    member = members.get(IMAGES_MANIFEST)
    if member is None:
        raise BundleCorrupt(f"bundle {path} is corrupt: missing member {IMAGES_MANIFEST}")
    doc = strict_json(read_document(source, member, where, sha256), where, BundleCorrupt)
    if not isinstance(doc, list) or any(_entry_shape(e) is None for e in doc):
        raise BundleCorrupt(
            f"{where} is not a docker load manifest (a list of Config/RepoTags/Layers entries)"
        )
    return doc


def check_load_manifest(
    path: Path,
    meta: BundleMetadata,
    members: Mapping[str, Member],
    sums: Mapping[str, str],
    source: BundleFile,
) -> tuple[dict[str, Any], ...]:
    """``images/manifest.json`` must agree with ``harbor-bundle.json``: what ``docker load`` reads.

    Every path it names is a checksummed blob of the bundle; its ``RepoTags`` are
    exactly the metadata's references, each on the config and layers the metadata
    gives it. A tag the metadata does not declare would retag an image on the target:
    :class:`BundleHostile`. Anything else that disagrees: :class:`BundleCorrupt`.
    """
    where = f"bundle {path}: {IMAGES_MANIFEST}"
    doc = _read_load_manifest(path, members, source, sums.get(IMAGES_MANIFEST))
    declared = {img.reference: img for img in meta.images}
    # a delta's layers left to its base: named by the manifest, not in the bundle
    in_base = {
        "blobs/sha256/" + d.split(":", 1)[1] for d in (meta.base.layers if meta.base else ())
    }
    seen: list[str] = []
    problems: list[str] = []
    untagged: list[tuple[int, str]] = []
    for n, entry in enumerate(doc, 1):
        # the plain-tools path (tar -cC images . | docker load) hands dockerd the
        # whole file: what the metadata does not account for must not pass verify
        extra = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
        if extra:
            raise BundleHostile(
                f"{where}: entry {n} has {', '.join(extra[:4])}, which {METADATA_NAME} does not "
                "account for (docker load would act on it)"
            )
        if not entry["RepoTags"]:
            untagged.append((n, str(entry["Config"])))
        config, tags, layers = entry["Config"], entry["RepoTags"], entry["Layers"]
        for rel in [config, *layers]:
            reason = unsafe_name_reason(rel)
            if reason:
                raise BundleHostile(f"{where}: unsafe path {rel!r}: {reason}")
            name = f"{IMAGES_DIR}/{rel}"
            if rel in in_base and name not in members:
                continue
            if name not in members or name not in sums:
                problems.append(f"names {rel}, which is not a checksummed member")
        undeclared = [t for t in tags if t not in declared]
        if undeclared:
            raise BundleHostile(
                f"{where} tags {', '.join(undeclared)}, which {METADATA_NAME} does not declare "
                "(loading it would retag images on the target)"
            )
        for tag in tags:
            img = declared[tag]
            want = ["blobs/sha256/" + d.split(":", 1)[1] for d in img.layers]
            if config != "blobs/sha256/" + img.image_id.split(":", 1)[1] or layers != want:
                problems.append(f"gives {tag} another config or layers than {METADATA_NAME}")
        seen += tags
    tagged = Counter(seen)  # a set and counts: 100,000 tags are not 10^10 comparisons
    missing = [r for r in declared if r not in tagged]
    if missing:
        problems.append(f"does not tag {', '.join(missing)}")
    elif untagged:  # every declared image tagged, and one entry more
        n, config = untagged[0]
        raise BundleHostile(
            f"{where}: entry {n} ({config}) has no tag: docker load would add an "
            f"image {METADATA_NAME} does not declare"
        )
    repeated = sorted(t for t, n in tagged.items() if n > 1)
    if repeated:
        problems.append(f"tags {', '.join(repeated)} more than once")
    if problems:
        raise BundleCorrupt(f"{where} disagrees with {METADATA_NAME}: " + "; ".join(problems[:4]))
    return tuple(doc)
