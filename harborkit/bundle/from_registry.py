"""``harborkit bundle build --from registry[://HOST[:PORT]]``: a bundle without a daemon.

Manifests are resolved (a list/index picks linux/amd64, its bytes kept too);
every distinct blob is fetched once, in parallel, into a digest-named cache
(``--cache DIR``), hashed as it streams. Complete cached blobs are never
fetched again (they are re-hashed before use); a partial one is continued with
a ``Range`` request. As blobs complete they are copied into the bundle
(``copy_file_range``, no user-space copy), which has the same layout as the
daemon path: gzip layers and configs under ``images/blobs/sha256/``, a legacy
``images/manifest.json`` for ``docker load``, ``harbor-bundle.json`` and
``SHA256SUMS`` last. The source manifests' exact bytes are stored as blobs too
and listed in ``images/source-manifests.json`` so ``bundle push`` re-creates
the same manifest digests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harborkit.bundle.errors import MetadataError, OutputError
from harborkit.bundle.extras import BuildExtras
from harborkit.bundle.format import BundleMetadata, ImageRecord, LayerRecord
from harborkit.bundle.installer import installer_source
from harborkit.bundle.manifest import BundleManifest
from harborkit.bundle.progress import NullProgress, Progress
from harborkit.bundle.writer import BundleWriter
from harborkit.compat import zip_strict
from harborkit.registry.cache import (
    CachedBlob,
    Ready,
    cache_path,
    default_cache_dir,
    ensure_blob,
    fresh_diff_id,
)
from harborkit.registry.endpoint import Endpoint
from harborkit.registry.errors import ProtocolError, UnsupportedManifest
from harborkit.registry.reference import parse_reference
from harborkit.transfer import Transfers, run_all

if TYPE_CHECKING:
    from harborkit.registry.client import RegistryClient

#: member listing each image's source manifest (and index) digest and media type
SOURCE_MANIFESTS = "images/source-manifests.json"
SOURCE_MANIFESTS_VERSION = 1
DEFAULT_WORKERS = 6
_GZIP_LAYER_TYPES = (
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
)


@dataclass(frozen=True)
class SourceImage:
    """One image of the bundle as found in the registry."""

    reference: str  # as named by the bundle manifest (the docker-load RepoTag)
    repository: str  # repository path in the source registry
    manifest_digest: str
    manifest_media_type: str
    index_digest: str | None
    index_media_type: str | None
    config: str
    layers: tuple[str, ...]


@dataclass(frozen=True)
class FetchStats:
    """What the build had to transfer."""

    blobs: int  # distinct blobs in the bundle
    fetched: int  # blobs downloaded (fully or the rest of a partial)
    cached: int  # blobs taken from the cache without a download
    resumed: int  # partial downloads continued
    bytes_fetched: int


@dataclass(frozen=True)
class RegistryBuildResult:
    """What a registry build produced."""

    path: Path
    size: int
    metadata: BundleMetadata
    images: tuple[SourceImage, ...]
    stats: FetchStats


# --------------------------------------------------------------------------- build


def _resolve_all(
    spec: BundleManifest, source: Endpoint, clients: dict[str, RegistryClient], workers: int
) -> tuple[list[SourceImage], dict[str, CachedBlob], dict[str, bytes]]:
    """Resolve every image; return images, distinct blobs and manifest/index bytes by digest."""
    refs = [parse_reference(r, default_registry=source.host) for r in spec.images]
    for ref in refs:
        if ref.registry not in clients:
            clients[ref.registry] = source.client(ref.registry)
    resolved = run_all(lambda r: clients[r.registry].resolve(r), refs, workers, _aborter(clients))
    images: list[SourceImage] = []
    blobs: dict[str, CachedBlob] = {}
    raw: dict[str, bytes] = {}
    for name, ref, res in zip_strict(spec.images, refs, resolved):
        for layer in res.layers:
            if layer.media_type and layer.media_type not in _GZIP_LAYER_TYPES:
                raise UnsupportedManifest(
                    f"{ref.registry}: {ref.repository}:{ref.ref} has a {layer.media_type} layer "
                    f"({layer.digest}); docker load on the target reads gzip layers only"
                )
        for b in res.blobs:
            known = blobs.setdefault(
                b.digest, CachedBlob(b.digest, b.size, b.media_type, ref.registry, ref.repository)
            )
            if known.size != b.size:  # one digest, one content: one of them lies
                raise ProtocolError(
                    f"{ref.registry}: {ref.repository}:{ref.ref} names blob {b.digest} with "
                    f"{b.size} bytes, and {known.repository} with {known.size} bytes"
                )
        raw[res.manifest.digest] = res.manifest.raw
        if res.index is not None:
            raw[res.index.digest] = res.index.raw
        images.append(
            SourceImage(
                reference=name,
                repository=ref.repository,
                manifest_digest=res.manifest.digest,
                manifest_media_type=res.manifest.media_type,
                index_digest=res.index.digest if res.index else None,
                index_media_type=res.index.media_type if res.index else None,
                config=res.config.digest,
                layers=tuple(x.digest for x in res.layers),
            )
        )
    return images, blobs, raw


def _aborter(clients: dict[str, RegistryClient]) -> Callable[[], None]:
    """Breaks every connection of ``clients`` (a cancel stops transfers stalled on a registry)."""

    def abort() -> None:
        for c in clients.values():
            c.abort()

    return abort


def source_manifests_json(host: str, images: list[SourceImage]) -> bytes:
    """The ``images/source-manifests.json`` member (the only place its shape is written)."""
    doc = {
        "version": SOURCE_MANIFESTS_VERSION,
        "registry": host,
        "images": [
            {
                "reference": i.reference,
                "repository": i.repository,
                "manifest": {"digest": i.manifest_digest, "media_type": i.manifest_media_type},
                "index": {"digest": i.index_digest, "media_type": i.index_media_type}
                if i.index_digest
                else None,
            }
            for i in images
        ],
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


def validate_source_manifests(data: object, where: str) -> None:
    """Validate ``images/source-manifests.json`` against its schema; :class:`BundleCorrupt` if bad."""
    from harborkit.bundle.errors import BundleCorrupt
    from harborkit.schemacheck import first_schema_error

    error = first_schema_error(data, "bundle-source-manifests.schema.json")
    if error is not None:
        at, message = error
        raise BundleCorrupt(f"{where}: {SOURCE_MANIFESTS} fails its schema at {at}: {message}")


def _open_cache(cache_dir: Path | None) -> Path:
    cache = (cache_dir or default_cache_dir()).absolute()
    try:
        (cache / "sha256").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create cache directory {cache}: {e.strerror or e}") from e
    return cache


def _fetch_into(
    writer: BundleWriter,
    images: list[SourceImage],
    blobs: dict[str, CachedBlob],
    cache: Path,
    clients: dict[str, RegistryClient],
    progress: Progress,
    workers: int,
) -> list[Ready]:
    """Fetch every blob into the cache in parallel; each goes into the bundle as it completes."""
    todo = sorted(blobs.values(), key=lambda b: b.size, reverse=True)
    fetch_task = progress.task("fetch blobs", sum(b.size for b in todo))
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            fetch_task.advance(n)

    def abort() -> None:
        for c in clients.values():
            c.abort()

    ready: list[Ready] = []
    layers = {d for img in images for d in img.layers}
    try:
        with Transfers[Ready](workers, abort, name="hk-fetch") as transfers:
            for b in todo:
                transfers.submit(
                    ensure_blob, b, cache, clients[b.host], transfers, advance,
                    b.digest in layers,
                )  # fmt: skip
            for fut in transfers.as_completed():
                if fut.exception() is not None:  # the first failure (in time) stops the build
                    raise transfers.first_failure() or fut.exception()  # type: ignore[misc]
                r = fut.result()
                writer.add_blob_file(r.digest, r.path, blobs[r.digest].size)
                ready.append(r)
    finally:
        fetch_task.done()
    return ready


def build_from_registry(
    spec: BundleManifest,
    output: Path,
    *,
    source: Endpoint,
    cache_dir: Path | None = None,
    installer: str | None = None,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
    extras: BuildExtras | None = None,
) -> RegistryBuildResult:
    """Build the bundle of ``spec`` at ``output`` (atomically) from the registry ``source``."""
    progress = progress or NullProgress()
    writer = BundleWriter(output, extras=extras)
    cache = _open_cache(cache_dir)
    clients: dict[str, RegistryClient] = {}
    try:
        clients[source.host] = source.client(pool_size=max(workers, 4))
        images, blobs, raw_manifests = _resolve_all(spec, source, clients, workers)
        inst = installer_source(spec, installer)
        total = sum(b.size for b in blobs.values())
        missing = sum(b.size for b in blobs.values() if not cache_path(cache, b.digest).exists())
        writer.check_space(total + inst.local_size + (1 << 20), cache=(cache, missing))
        with writer:
            writer.add_installer(inst, progress)
            ready = _fetch_into(writer, images, blobs, cache, clients, progress, workers)
            for digest, data in raw_manifests.items():
                writer.add_blob(digest, data)
            diff_ids = {
                r.digest: (r.diff_id, r.usize) for r in ready if r.diff_id and r.usize is not None
            }
            records, layers = _records(images, blobs, cache, diff_ids)
            writer.add_bytes(SOURCE_MANIFESTS, source_manifests_json(source.host, images))
            try:
                built = writer.finish(
                    spec.harbor_version,
                    records,
                    layers,
                    manifest_digests={i.reference: i.manifest_digest for i in images},
                    registries={i.reference: blobs[i.config].host for i in images},
                )
            except MetadataError as e:  # what the registry described fails the schema
                raise ProtocolError(f"{blobs[images[0].config].host}: {e.message}") from e
    finally:
        for c in clients.values():
            c.close()
    stats = FetchStats(
        blobs=len(blobs),
        fetched=sum(1 for r in ready if r.fetched),
        cached=sum(1 for r in ready if not r.fetched),
        resumed=sum(1 for r in ready if r.resumed),
        bytes_fetched=sum(r.downloaded for r in ready),
    )
    return RegistryBuildResult(built.path, built.size, built.metadata, tuple(images), stats)


def _records(
    images: list[SourceImage],
    blobs: dict[str, CachedBlob],
    cache: Path,
    computed: dict[str, tuple[str, int]],
) -> tuple[list[ImageRecord], list[LayerRecord]]:
    """Image and layer records (diff ids from the configs, checked against the layers)."""
    layer_records: dict[str, LayerRecord] = {}
    records: list[ImageRecord] = []
    for img in images:
        diff_ids = _checked_diff_ids(img, blobs, cache, computed)
        usize = 0
        for digest, diff_id in zip_strict(img.layers, diff_ids):
            rec = layer_records.get(digest)
            if rec is None:
                rec = LayerRecord(digest, diff_id, blobs[digest].size, computed[digest][1])
                layer_records[digest] = rec
            usize += rec.uncompressed_size
        records.append(ImageRecord(img.reference, img.config, usize, img.layers))
    return records, list(layer_records.values())


def _checked_diff_ids(
    img: SourceImage,
    blobs: dict[str, CachedBlob],
    cache: Path,
    computed: dict[str, tuple[str, int]],
) -> tuple[str, ...]:
    """The config's ``diff_ids``: valid digests, one per layer, each that layer's ungzipped digest."""
    from harborkit.registry.manifests import config_diff_ids

    host = blobs[img.config].host
    where = f"{host}: {img.repository} ({img.reference}): config {img.config}"
    diff_ids = config_diff_ids(cache_path(cache, img.config).read_bytes(), where)
    if len(diff_ids) != len(img.layers):
        raise ProtocolError(f"{where} lists {len(diff_ids)} diff_ids for {len(img.layers)} layers")
    for i, (layer, diff_id) in enumerate(zip_strict(img.layers, diff_ids)):
        if computed.get(layer, ("", 0))[0] != diff_id:  # kept beside the cache file? again
            fresh, usize = fresh_diff_id(blobs[layer], cache_path(cache, layer))
            computed[layer] = (fresh or "", usize or 0)
        if computed[layer][0] != diff_id:
            raise ProtocolError(
                f"{where}: diff_ids[{i}] is {diff_id}, but layer {layer} ungzips to "
                f"{computed[layer][0]} (docker load would refuse the image)"
            )
    return diff_ids
