"""``harborkit bundle build``: images from a Docker daemon + installer -> one bundle file.

The images are found (pulled if missing), then their ``docker save`` export,
asked for in two halves at once (:data:`EXPORTS`), is streamed and read on the fly
(:mod:`harborkit.bundle.tarstream`), one half after the other. Layer
tars go through the compression pipeline (:mod:`harborkit.bundle.compress`)
straight into the :class:`~harborkit.bundle.writer.BundleWriter`, which owns the
output file, the checksums and the clean-up. Both ``docker save`` layouts are
read: dockerd < 25 (``<id>/layer.tar``, ``<id>.json``) and >= 25 (OCI
``blobs/sha256/*``), through the legacy ``manifest.json`` that both write.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import json
import os
import posixpath
import queue
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harborkit import dockerapi
from harborkit.bundle.compress import (
    COMPRESS_LEVEL,
    LEFT_OUT,
    LayerOut,
    LayerPipeline,
    compress_bytes,
)
from harborkit.bundle.delta import DeltaPlan, plan_delta
from harborkit.bundle.errors import ImageMissing, SaveFailed
from harborkit.bundle.extras import BuildExtras
from harborkit.bundle.format import ImageRecord, LayerRecord
from harborkit.bundle.installer import installer_source
from harborkit.bundle.manifest import BundleManifest
from harborkit.bundle.progress import NullProgress, Progress, Task
from harborkit.bundle.savestream import SaveReader
from harborkit.bundle.tarstream import Readable, TarStreamReader
from harborkit.bundle.writer import BuildResult, BundleWriter
from harborkit.compat import zip_strict
from harborkit.errors import HarborkitError

#: members of the save stream up to this size (and not named */layer.tar) are kept in memory.
BUFFER_LIMIT = 8 << 20
#: the bundle is expected to be at most this fraction of the uncompressed layers.
SPACE_FACTOR = 0.6

__all__ = ["BuildResult", "DaemonImage", "build_bundle", "resolve_images", "write_images"]


@dataclass(frozen=True)
class DaemonImage:
    """An image as the daemon describes it, before the save."""

    reference: str
    image_id: str
    size: int
    layer_estimate: tuple[tuple[str, int], ...]  # (diff id, bytes) bottom first


# --------------------------------------------------------------------------- images


def _estimate_layers(api: Any, image_id: str, attrs: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    """Per-layer sizes from ``docker history`` (non-empty entries pair with diff ids)."""
    diff_ids: list[str] = list(attrs.get("RootFS", {}).get("Layers") or [])
    try:
        hist = list(reversed(api.history(image_id)))
    except Exception:
        hist = []
    sizes = [int(h.get("Size") or 0) for h in hist if int(h.get("Size") or 0) > 0]
    if diff_ids and len(sizes) == len(diff_ids):
        return tuple(zip_strict(diff_ids, sizes))
    # fall back: the whole image size on its top layer (over-estimates shared bases)
    return tuple(
        (d, int(attrs.get("Size") or 0) if i == len(diff_ids) - 1 else 0)
        for i, d in enumerate(diff_ids)
    )


def _pull(client: Any, ref: str, progress: Progress) -> None:
    task = progress.task(f"pull {ref}"[:28], None)
    totals: dict[str, int] = {}
    current: dict[str, int] = {}
    try:
        for event in dockerapi.pull(client, ref):
            if "error" in event:
                raise ImageMissing(f"cannot pull {ref}: {event['error']}")
            detail = event.get("progressDetail") or {}
            if event.get("id") and detail.get("total"):
                totals[event["id"]] = int(detail["total"])
                before = current.get(event["id"], 0)
                current[event["id"]] = int(detail.get("current") or 0)
                task.set_total(sum(totals.values()))
                task.advance(max(0, current[event["id"]] - before))
    except HarborkitError:
        raise
    except Exception as e:
        raise ImageMissing(f"cannot pull {ref}: {dockerapi.short_reason(e)}") from e
    finally:
        task.done()


def resolve_images(
    client: Any,
    refs: tuple[str, ...],
    *,
    pull: bool,
    progress: Progress,
    pulls: list[str] | None = None,
) -> list[DaemonImage]:
    """Find every image in the daemon (pulling missing ones unless ``pull`` is False);
    the references pulled are added to ``pulls``."""
    import docker.errors

    missing: list[str] = []
    found: list[DaemonImage] = []
    for ref in refs:
        try:
            attrs = client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            if not pull:
                missing.append(ref)
                continue
            _pull(client, ref, progress)
            if pulls is not None:
                pulls.append(ref)
            try:
                attrs = client.api.inspect_image(ref)
            except docker.errors.ImageNotFound as e:
                raise ImageMissing(f"image {ref} is still missing after pulling it") from e
        except docker.errors.APIError as e:
            raise ImageMissing(f"cannot inspect image {ref}: {dockerapi.short_reason(e)}") from e
        estimate = _estimate_layers(client.api, attrs["Id"], attrs)
        found.append(DaemonImage(ref, attrs["Id"], int(attrs.get("Size") or 0), estimate))
    if missing:
        raise ImageMissing("images not in the daemon (--no-pull given): " + ", ".join(missing))
    return found


# --------------------------------------------------------------------------- save stream


@dataclass
class _SaveContents:
    """What the save stream held: small members in memory, links, streamed layer names."""

    buffered: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    streamed: set[str] = field(default_factory=set)
    #: each export's manifest.json (a build may ask for its images in several exports)
    manifests: list[bytes] = field(default_factory=list)

    def resolve(self, path: str) -> str:
        """Follow symlinks/hard links of the save (dockerd writes repeated layers as links)."""
        seen = 0
        while path in self.links and seen < 8:
            path, seen = self.links[path], seen + 1
        return path


def _read_save(
    save_stream: Readable, pipeline: LayerPipeline, task: Task, out: _SaveContents
) -> None:
    """Read one whole save stream into ``out``: layers into the pipeline, the rest into
    memory. A layer an earlier export of the same build streamed already is passed
    over: dockerd names a layer by its chain (legacy ``<id>/layer.tar``, the id made
    from the chain id and the parent's) or by its digest (OCI ``blobs/sha256/``), so
    the same name is the same bytes; each image's layers are still checked against its
    diff ids."""
    stream = TarStreamReader(save_stream)
    for ti in stream.members():
        if ti.issym() or ti.islnk():
            base = "" if ti.islnk() else posixpath.dirname(ti.name)
            out.links[ti.name] = posixpath.normpath(posixpath.join(base, ti.linkname))
        elif not ti.isreg() or ti.name in out.streamed:
            continue
        elif ti.name.endswith("/layer.tar") or ti.size > BUFFER_LIMIT:
            pipeline.layer(ti.name, stream.read, task)
            out.streamed.add(ti.name)
        elif ti.name == "manifest.json":
            out.manifests.append(stream.read(ti.size))
        else:
            out.buffered[ti.name] = stream.read(ti.size)
            task.advance(ti.size)


def _stream_save(
    save_streams: Iterable[Readable],
    writer: BundleWriter,
    progress: Progress,
    level: int,
    estimate: int,
    omit: frozenset[str] = frozenset(),
) -> tuple[_SaveContents, LayerPipeline]:
    task = progress.task("save + compress", estimate or None)
    pipeline = LayerPipeline(writer, level, skip=omit.__contains__ if omit else None)
    contents = _SaveContents()
    try:
        for save_stream in save_streams:
            _read_save(save_stream, pipeline, task, contents)
        pipeline.check()
    except HarborkitError:
        raise
    except (OSError, ValueError) as e:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise SaveFailed(f"reading the image export failed: {dockerapi.short_reason(e)}") from e
    finally:
        pipeline.close()
        task.done()
    pipeline.check()
    return contents, pipeline


def _configs_by_id(contents: _SaveContents) -> dict[str, tuple[dict[str, Any], bytes]]:
    """image id -> (legacy manifest entry, config bytes) from the exports' ``manifest.json``."""
    if not contents.manifests:
        raise SaveFailed("the image export has no manifest.json")
    buffered = contents.buffered
    try:
        by_id: dict[str, tuple[dict[str, Any], bytes]] = {}
        for entry in (e for m in contents.manifests for e in json.loads(m)):
            config = buffered.get(entry["Config"])
            if config is None:
                raise SaveFailed(f"the image export lacks config {entry['Config']}")
            by_id["sha256:" + hashlib.sha256(config).hexdigest()] = (entry, config)
    except (ValueError, KeyError, TypeError) as e:
        raise SaveFailed(f"the image export's manifest.json is unreadable: {e}") from e
    return by_id


def _layer(
    path: str,
    ref: str,
    contents: _SaveContents,
    pipeline: LayerPipeline,
    writer: BundleWriter,
    level: int,
    omit: frozenset[str] = frozenset(),
) -> LayerOut:
    """The stored blob of save member ``path`` (streamed, or compressed from memory now)."""
    path = contents.resolve(path)
    if path in contents.streamed:
        return pipeline.result(path)
    raw = contents.buffered.get(path)
    if raw is None:
        raise SaveFailed(f"layer {path} of image {ref} is missing from the daemon's export")
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    if diff_id in omit:
        return LayerOut("", LEFT_OUT, diff_id, len(raw))
    gz, hexd = compress_bytes(raw, level)
    writer.add_blob("sha256:" + hexd, gz)
    return LayerOut(
        "sha256:" + hexd, len(gz), "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw)
    )


def write_images(
    save_streams: Iterable[Readable],
    images: list[DaemonImage],
    writer: BundleWriter,
    progress: Progress,
    level: int = COMPRESS_LEVEL,
    delta: DeltaPlan | None = None,
) -> tuple[list[ImageRecord], list[LayerRecord]]:
    """Turn the ``docker save`` tar streams that hold ``images`` (one export, or several
    that together name each image) into bundle blobs; return the records.

    With ``delta``, layers it leaves out are not stored; their records (digest and
    sizes) are the base bundle's.
    """
    estimate = sum(dict(e for i in images for e in i.layer_estimate).values())
    omit = delta.omit if delta else frozenset()
    contents, pipeline = _stream_save(save_streams, writer, progress, level, estimate, omit)
    by_id = _configs_by_id(contents)
    layer_records: dict[str, LayerRecord] = {}
    image_layers: dict[str, tuple[str, ...]] = {}
    for image_id in dict.fromkeys(i.image_id for i in images):
        ref = next(i.reference for i in images if i.image_id == image_id)
        if image_id not in by_id:
            raise SaveFailed(f"image {ref} ({image_id}) is missing from the daemon's export")
        entry, config = by_id[image_id]
        diff_ids = json.loads(config).get("rootfs", {}).get("diff_ids", [])
        digests: list[str] = []
        for n, path in enumerate(entry["Layers"]):
            lo = _layer(path, ref, contents, pipeline, writer, level, omit)
            if n >= len(diff_ids) or diff_ids[n] != lo.diff_id:
                raise SaveFailed(f"layer {path} of image {ref} does not match the image's diff ids")
            if lo.size == LEFT_OUT and delta is not None:
                base_rec = delta.base_layers[lo.diff_id]
                layer_records.setdefault(base_rec.digest, base_rec)
                digests.append(base_rec.digest)
                continue
            size = writer.blob_size(lo.digest)
            layer_records.setdefault(
                lo.digest, LayerRecord(lo.digest, lo.diff_id, size, lo.uncompressed_size)
            )
            digests.append(lo.digest)
        image_layers[image_id] = tuple(digests)
        writer.add_blob(image_id, config)
    records = [
        ImageRecord(i.reference, i.image_id, i.size, image_layers[i.image_id]) for i in images
    ]
    return records, list(layer_records.values())


def _save_stream(client: Any, refs: list[str]) -> Any:
    """The daemon's ``docker save`` of ``refs`` as a streaming response."""
    try:
        return dockerapi.stream(
            client, "GET", "/images/get", what="exporting the images", params={"names": refs}
        )
    except dockerapi.DaemonRefused as e:
        raise SaveFailed(f"the daemon refused to export the images: {e}") from e


#: exports asked for at once (at most one per core): dockerd copies an export's layers
#: aside on one core before it sends a byte (about 80 % of a ``docker save``'s time on
#: the bench), so the images asked for in two halves are prepared on two cores, and the
#: half answered first is read while the other is still being prepared. A layer both
#: halves hold is prepared twice by dockerd and read once here.
EXPORTS = max(1, min(2, os.cpu_count() or 1))


def split_refs(refs: list[str], parts: int = EXPORTS) -> list[list[str]]:
    """``refs`` in at most ``parts`` consecutive runs of nearly equal length."""
    parts = max(1, min(parts, len(refs)))
    size, extra = divmod(len(refs), parts)
    out, at = [], 0
    for n in range(parts):
        end = at + size + (1 if n < extra else 0)
        out.append(refs[at:end])
        at = end
    return out


class _EarlySave:
    """One export requested before the images are looked at, answered on another thread.

    dockerd answers ``GET /images/get`` only once it has copied every layer to a
    directory of its own (about 80 % of a ``docker save``'s time): asked first, it
    does that while the images are inspected and the installer is fetched, which a
    user would otherwise wait for in series (``docker save`` asks at once). When the
    answer has come, the request is put on ``ready``.
    """

    def __init__(self, client: Any, refs: list[str], ready: queue.Queue[_EarlySave]) -> None:
        self.refs = refs
        self._client = client
        self._ready = ready
        self._lock = threading.Lock()
        self._abandoned = False
        self._res: Any = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="hk-save", daemon=True).start()

    def _run(self) -> None:
        try:
            res = _save_stream(self._client, self.refs)
        except BaseException as e:
            self._error = e
        else:
            with self._lock:
                if self._abandoned:
                    res.close()
                else:
                    self._res = res
        self._ready.put(self)

    def take(self) -> Any:
        """The answer (once it is on ``ready``), or the request's error."""
        if self._error is not None:
            raise self._error
        res, self._res = self._res, None
        return res

    def abandon(self) -> None:
        """Not wanted after all: the answer is closed as soon as it comes."""
        with self._lock:
            self._abandoned = True
            res, self._res = self._res, None
        if res is not None:
            res.close()


class _Exports:
    """The images' export, asked for at once in :data:`EXPORTS` parts (each its own
    request and connection), read one whole part after another in the order dockerd
    answers them."""

    def __init__(self, client: Any, refs: list[str]) -> None:
        self.refs = refs
        self._ready: queue.Queue[_EarlySave] = queue.Queue()
        self._parts = [_EarlySave(client, part, self._ready) for part in split_refs(refs)]

    def readers(self, what: str) -> Generator[Readable, None, None]:
        """Each part's answer as it comes, closed once the next is asked for."""
        for _ in self._parts:
            with self._ready.get().take() as res:
                yield SaveReader(res, what)

    def abandon(self) -> None:
        """Every part's answer not read yet is closed (as soon as it comes)."""
        for part in self._parts:
            part.abandon()


def _open_save(client: Any, early: _Exports, images: list[DaemonImage], pulled: bool) -> _Exports:
    """The export of ``images``: the early request's, unless an image had to be pulled
    (the early request named an image the daemon did not have then)."""
    refs = [i.reference for i in images]
    if pulled or refs != early.refs:
        early.abandon()
        return _Exports(client, refs)
    return early


# --------------------------------------------------------------------------- build

#: what :meth:`BundleWriter.finish` imports (the schema check, the SBOM): about 0.15 s
#: of CPU, done while the daemon prepares and sends its export instead of after it
_FINISH_MODULES = (
    "jsonschema",
    "harborkit.yamlfile",
    "packageurl",
    "cyclonedx.model.bom",
    "cyclonedx.model.component",
    "cyclonedx.output",
    "cyclonedx.schema",
)


def _warm_up_finish() -> threading.Thread:
    """Import what :meth:`BundleWriter.finish` uses and run it once on a one-image sample,
    on a daemon thread, while dockerd prepares its export: the schema validator and the
    SBOM library's first call cost 40-70 ms more than the next ones, which the user
    would wait for after the last layer (a failure here is met again where they are used).
    """

    def work() -> None:
        for name in _FINISH_MODULES:
            with contextlib.suppress(Exception):
                importlib.import_module(name)
        with contextlib.suppress(Exception):
            from harborkit.bundle.format import (
                FORMAT_VERSION,
                BundleMetadata,
                InstallerRecord,
                metadata_to_dict,
                validate_metadata_dict,
            )
            from harborkit.bundle.sbom import build_sbom

            digest = "sha256:" + "0" * 64
            layer = LayerRecord(digest, digest, 1, 1)
            sample = BundleMetadata(
                format_version=FORMAT_VERSION,
                harbor_version="v1.8.0",
                created="2019-05-21T00:00:00Z",
                harborkit_version="0",
                images=(ImageRecord("goharbor/sample:v1.8.0", digest, 1, (digest,)),),
                layers=(layer,),
                installer=InstallerRecord("harbor-offline-installer-v1.8.0.tgz", 1, "0" * 64, "x"),
                files=(),
                base=None,
            )
            validate_metadata_dict(metadata_to_dict(sample))
            build_sbom(sample)

    thread = threading.Thread(target=work, name="hk-warm-up", daemon=True)
    thread.start()
    return thread


def build_bundle(
    manifest: BundleManifest,
    output: Path,
    *,
    installer: str | None = None,
    pull: bool = True,
    progress: Progress | None = None,
    level: int = COMPRESS_LEVEL,
    extras: BuildExtras | None = None,
) -> BuildResult:
    """Build the bundle described by ``manifest`` at ``output`` (atomically).

    ``extras``: extra files, signature, parts, and the base of a delta.
    """
    progress = progress or NullProgress()
    extras = extras or BuildExtras()
    writer = BundleWriter(output, extras=extras)
    inst = installer_source(manifest, installer)
    with dockerapi.session() as client, dockerapi.daemon_errors("building the bundle"):
        early = _Exports(client, list(manifest.images))
        exports = [early]
        try:
            return _build(client, exports, manifest, writer, inst, pull, progress, level, extras)
        finally:
            for e in exports:  # whatever failed first: no export is left open
                e.abandon()


def _build(
    client: Any,
    exports: list[_Exports],
    manifest: BundleManifest,
    writer: BundleWriter,
    inst: Any,
    pull: bool,
    progress: Progress,
    level: int,
    extras: BuildExtras,
) -> BuildResult:
    warm = _warm_up_finish()
    pulls: list[str] = []
    images = resolve_images(client, manifest.images, pull=pull, progress=progress, pulls=pulls)
    delta = None
    if extras.base is not None:
        delta = plan_delta(
            extras.base, [(i.reference, [d for d, _ in i.layer_estimate]) for i in images]
        )
    estimate = sum(dict(e for i in images for e in i.layer_estimate).values())
    writer.check_space(int(estimate * SPACE_FACTOR) + inst.local_size + (1 << 20))
    with writer:
        writer.add_installer(inst, progress)
        save = _open_save(client, exports[0], images, bool(pulls))
        exports.append(save)
        with contextlib.closing(save.readers("exporting the images")) as readers:
            records, layers = write_images(readers, images, writer, progress, level, delta)
        warm.join()  # long done after a real export; never two SBOMs built at once
        return writer.finish(
            manifest.harbor_version, records, layers, base=delta.base if delta else None
        )
