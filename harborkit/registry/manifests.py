"""Manifests: get (bytes exactly as served, bounded), resolve (an index to one platform), put.

Every document a registry serves is checked here before any value of it is
used: it must be a JSON object, every digest it names must be valid
(:mod:`~harborkit.registry.digest`), sizes must be whole numbers, and a
manifest asked for by digest (an index's child included) must hash to it.
Anything else is one :class:`ProtocolError` line naming the registry, the image
and what was wrong.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from harborkit.registry.digest import check_digest, is_digest, sha256_digest, show
from harborkit.registry.errors import DigestMismatch, ProtocolError, UnsupportedManifest
from harborkit.registry.reference import ImageReference
from harborkit.registry.strictjson import JSONRefused, strict_json
from harborkit.registry.transport import (
    DEADLINE_ENV,
    Transport,
    done,
    read_limited,
    request_deadline,
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX))

MAX_MANIFEST = 4 << 20
#: an image config is read into memory: a larger one is refused before it is fetched
MAX_CONFIG = 16 << 20

#: layers of one image: more is refused (Docker itself stacks at most 125 on overlay2)
MAX_LAYERS = 1000

#: a JSON object as parsed (values are checked where they are used)
JsonObject = dict[str, object]


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as served: its bytes, media type and digest (sha256 of the bytes)."""

    digest: str
    media_type: str
    raw: bytes
    #: ``raw`` as parsed where it was read (not part of its identity)
    doc: JsonObject | None = field(default=None, compare=False, repr=False)

    def parsed(self) -> JsonObject:
        """The manifest as a JSON object (:class:`ProtocolError` if it is not one): parsed
        once, where it was read, or on the first call."""
        if self.doc is None:
            object.__setattr__(self, "doc", json_object(self.raw, f"manifest {self.digest}"))
        assert self.doc is not None
        return self.doc


@dataclass(frozen=True)
class BlobRef:
    """A blob named by a manifest (its digest validated)."""

    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class ResolvedImage:
    """An image manifest for one platform, with the index it was picked from, if any."""

    reference: ImageReference
    manifest: Manifest
    index: Manifest | None
    config: BlobRef
    layers: tuple[BlobRef, ...]

    @property
    def blobs(self) -> tuple[BlobRef, ...]:
        """Config then layers."""
        return (self.config, *self.layers)


def json_object(raw: bytes, where: str) -> JsonObject:
    """``raw`` parsed as a JSON object (strictly: :func:`~harborkit.registry.strictjson.strict_json`),
    else :class:`ProtocolError` naming ``where``."""
    try:
        doc = strict_json(raw)
    except JSONRefused as e:
        raise ProtocolError(f"{where} {e}") from e
    except ValueError as e:
        raise ProtocolError(f"{where} is not JSON") from e
    if not isinstance(doc, dict):
        raise ProtocolError(f"{where} is a JSON {type(doc).__name__}, not an object")
    return doc


def blob_ref(entry: object, where: str) -> BlobRef:
    """A manifest's ``config`` or ``layers[i]`` entry, checked."""
    if not isinstance(entry, dict):
        raise ProtocolError(f"{where} is not an object")
    digest = check_digest(entry.get("digest"), f"{where} digest")
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ProtocolError(f"{where} size {show(size)} is not a whole number of bytes")
    media_type = entry.get("mediaType") or ""
    if not isinstance(media_type, str):
        raise ProtocolError(f"{where} mediaType is not a string")
    return BlobRef(digest, size, media_type)


def config_diff_ids(raw: bytes, where: str) -> tuple[str, ...]:
    """The ``rootfs.diff_ids`` of an image config, every one a valid digest."""
    config = json_object(raw, where)
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict):
        raise ProtocolError(f"{where}: rootfs is not an object")
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list):
        raise ProtocolError(f"{where}: rootfs.diff_ids is not a list")
    return tuple(check_digest(d, f"{where}: diff_ids[{i}]") for i, d in enumerate(diff_ids))


class ManifestAPI:
    """Manifest operations of a registry (a part of :class:`~harborkit.registry.client.RegistryClient`)."""

    transport: Transport

    def get_manifest(self, repository: str, ref: str) -> Manifest:
        """The manifest ``repository:ref`` (tag or digest), its bytes exactly as served."""
        t = self.transport
        pinned = ref.startswith("sha256:")
        name = f"{repository}@{ref}" if pinned else f"{repository}:{ref}"
        if pinned:
            check_digest(ref, f"{t.host}: {name}: manifest digest")
        what = f"get manifest {name}"
        with t.deadline(request_deadline(), DEADLINE_ENV, what):
            r = t.request(
                "GET",
                f"/v2/{repository}/manifests/{ref}",
                scope=f"repository:{repository}:pull",
                what=what,
                headers={"Accept": ACCEPT},
            )
            with contextlib.closing(r):
                raw = read_limited(r, MAX_MANIFEST, f"{t.host}: manifest {name}")
        digest = sha256_digest(raw)
        served = r.headers.get("Docker-Content-Digest")
        if pinned and digest != ref:
            raise DigestMismatch(
                f"{t.host}: manifest {name} does not match its digest (got {digest})"
            )
        if served is not None:
            check_digest(served, f"{t.host}: manifest {name}: Docker-Content-Digest header")
            if served != digest:
                raise DigestMismatch(
                    f"{t.host}: manifest {name} hashes to {digest}, the registry says {served}"
                )
        where = f"{t.host}: manifest {name}"
        doc = json_object(raw, where)
        served_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        media_type = doc.get("mediaType") or served_type
        if not isinstance(media_type, str):
            raise ProtocolError(f"{where}: mediaType is not a string")
        _check_unambiguous(doc, media_type, served_type, where)
        return Manifest(digest=digest, media_type=media_type, raw=raw, doc=doc)

    def resolve(
        self, ref: ImageReference, *, os_name: str = "linux", arch: str = "amd64"
    ) -> ResolvedImage:
        """The image manifest of ``ref`` for one platform (a list/index is resolved by digest)."""
        t = self.transport
        name = (
            f"{ref.repository}:{ref.ref}"
            if not is_digest(ref.ref)
            else f"{ref.repository}@{ref.ref}"
        )
        top = self.get_manifest(ref.repository, ref.ref)
        index: Manifest | None = None
        manifest = top
        if top.media_type in INDEXES:
            index = top
            manifest = self.get_manifest(ref.repository, _pick(t, top, name, os_name, arch))
        if manifest.media_type in SCHEMA1:
            raise UnsupportedManifest(f"{t.host}: {name} is a schema 1 manifest (not supported)")
        if manifest.media_type not in IMAGE_MANIFESTS:
            kind = "an index inside an index" if manifest.media_type in INDEXES else "manifest type"
            raise UnsupportedManifest(
                f"{t.host}: {name} has {kind} {show(manifest.media_type or 'unknown')}"
            )
        data = manifest.parsed()
        where = f"{t.host}: {name}: manifest {manifest.digest}"
        config = blob_ref(data.get("config"), f"{where}: config")
        if config.size > MAX_CONFIG:
            raise ProtocolError(f"{where}: config of {config.size} bytes is larger than 16 MiB")
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ProtocolError(f"{where}: layers is not a list")
        if len(layers) > MAX_LAYERS:
            raise ProtocolError(
                f"{where}: {len(layers)} layers, more than the {MAX_LAYERS} harborkit accepts"
            )
        refs = tuple(blob_ref(x, f"{where}: layer {i}") for i, x in enumerate(layers))
        return ResolvedImage(ref, manifest, index, config, refs)

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        """Push ``manifest``'s exact bytes as ``repository:tag``; its digest must not change."""
        t = self.transport
        what = f"push manifest {repository}:{tag}"
        with t.deadline(request_deadline(), DEADLINE_ENV, what):
            r = t.request(
                "PUT",
                f"/v2/{repository}/manifests/{tag}",
                scope=f"repository:{repository}:pull,push",
                what=what,
                ok=(200, 201),
                headers={"Content-Type": manifest.media_type},
                body=lambda: manifest.raw,
            )
            served = r.headers.get("Docker-Content-Digest")
            done(r)
        if served is not None and served != manifest.digest:
            raise DigestMismatch(
                f"{t.host}: {what}: the registry stored digest {show(served)}, "
                f"expected {manifest.digest}"
            )
        return manifest.digest


def _check_unambiguous(doc: JsonObject, media_type: str, served_type: str, where: str) -> None:
    """Refuse a manifest that two readers could read as two things (containers/image refuses
    the extra keys; the type and schemaVersion checks are stricter than skopeo):
    its ``mediaType`` against the ``Content-Type`` it was served with, an image manifest that
    also lists ``manifests``, an index that also has ``config`` or ``layers``; and a schema 2
    document whose ``schemaVersion`` is not 2."""
    known = (*IMAGE_MANIFESTS, *INDEXES, *SCHEMA1)
    if served_type in known and media_type in known and served_type != media_type:
        raise ProtocolError(
            f"{where} is ambiguous: it says it is {show(media_type)} but is served as "
            f"{show(served_type)}"
        )
    if media_type in IMAGE_MANIFESTS:
        extra = [k for k in ("manifests",) if k in doc]
        kind = "an image manifest"
    elif media_type in INDEXES:
        extra = [k for k in ("config", "layers") if k in doc]
        kind = "an index"
    else:
        return
    if extra:
        raise ProtocolError(f"{where} is ambiguous: {kind} that also has {extra[0]!r}")
    version = doc.get("schemaVersion")
    if type(version) is not int or version != 2:
        raise ProtocolError(f"{where}: schemaVersion {version!r:.40} is not 2 (for {kind})")


def _pick(t: Transport, index: Manifest, name: str, os_name: str, arch: str) -> str:
    """The digest of the ``os_name/arch`` entry of ``index``."""
    entries = index.parsed().get("manifests")
    if not isinstance(entries, list):
        raise ProtocolError(f"{t.host}: {name}: the index's manifests is not a list")
    for i, e in enumerate(entries):
        where = f"{t.host}: {name}: index entry {i}"
        if not isinstance(e, dict):
            raise ProtocolError(f"{where} is not an object")
        platform = e.get("platform") or {}
        if not isinstance(platform, dict):
            raise ProtocolError(f"{where}: platform is not an object")
        if platform.get("os") == os_name and platform.get("architecture") == arch:
            return check_digest(e.get("digest"), f"{where} digest")
    raise UnsupportedManifest(f"{t.host}: {name} has no {os_name}/{arch} image")
