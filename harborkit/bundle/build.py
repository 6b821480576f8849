"""``harborkit bundle build``: images from a Docker daemon + installer -> one bundle file.

The images are found (pulled if missing), then one ``docker save`` of all of
them is streamed and read on the fly (:mod:`harborkit.bundle.tarstream`). Layer
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
import posixpath
import threading
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

    def resolve(self, path: str) -> str:
        """Follow symlinks/hard links of the save (dockerd writes repeated layers as links)."""
        seen = 0
        while path in self.links and seen < 8:
            path, seen = self.links[path], seen + 1
        return path


def _read_save(save_stream: Readable, pipeline: LayerPipeline, task: Task) -> _SaveContents:
    """Read the whole save stream: layers into the pipeline, the rest into memory."""
    out = _SaveContents()
    stream = TarStreamReader(save_stream)
    for ti in stream.members():
        if ti.issym() or ti.islnk():
            base = "" if ti.islnk() else posixpath.dirname(ti.name)
            out.links[ti.name] = posixpath.normpath(posixpath.join(base, ti.linkname))
        elif not ti.isreg():
            continue
        elif ti.name.endswith("/layer.tar") or ti.size > BUFFER_LIMIT:
            pipeline.layer(ti.name, stream.read, task)
            out.streamed.add(ti.name)
        else:
            out.buffered[ti.name] = stream.read(ti.size)
            task.advance(ti.size)
    return out


def _stream_save(
    save_stream: Readable,
    writer: BundleWriter,
    progress: Progress,
    level: int,
    estimate: int,
    omit: frozenset[str] = frozenset(),
) -> tuple[_SaveContents, LayerPipeline]:
    task = progress.task("save + compress", estimate or None)
    pipeline = LayerPipeline(writer, level, skip=omit.__contains__ if omit else None)
    try:
        contents = _read_save(save_stream, pipeline, task)
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


def _configs_by_id(buffered: dict[str, bytes]) -> dict[str, tuple[dict[str, Any], bytes]]:
    """image id -> (legacy manifest entry, config bytes) from the save's ``manifest.json``."""
    if "manifest.json" not in buffered:
        raise SaveFailed("the image export has no manifest.json")
    try:
        save_manifest = json.loads(buffered["manifest.json"])
        by_id: dict[str, tuple[dict[str, Any], bytes]] = {}
        for entry in save_manifest:
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
    save_stream: Readable,
    images: list[DaemonImage],
    writer: BundleWriter,
    progress: Progress,
    level: int = COMPRESS_LEVEL,
    delta: DeltaPlan | None = None,
) -> tuple[list[ImageRecord], list[LayerRecord]]:
    """Turn a ``docker save`` tar stream of ``images`` into bundle blobs; return the records.

    With ``delta``, layers it leaves out are not stored; their records (digest and
    sizes) are the base bundle's.
    """
    estimate = sum(dict(e for i in images for e in i.layer_estimate).values())
    omit = delta.omit if delta else frozenset()
    contents, pipeline = _stream_save(save_stream, writer, progress, level, estimate, omit)
    by_id = _configs_by_id(contents.buffered)
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


class _EarlySave:
    """The export requested before the images are looked at, answered on another thread.

    dockerd answers ``GET /images/get`` only once it has copied every layer to a
    directory of its own (about half of a ``docker save``'s time): asked first, it
    does that while the images are inspected and the installer is fetched, which a
    user would otherwise wait for in series (``docker save`` asks at once).
    """

    def __init__(self, client: Any, refs: list[str]) -> None:
        self.refs = refs
        self._client = client
        self._done = threading.Event()
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
        self._done.set()

    def take(self) -> Any:
        """The answer (waiting for it), or the request's error."""
        self._done.wait()
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


def _open_save(client: Any, early: _EarlySave, images: list[DaemonImage], pulled: bool) -> Any:
    """The export of ``images``: the early request's answer, unless an image had to be
    pulled (the early request named an image the daemon did not have then)."""
    refs = [i.reference for i in images]
    if pulled or refs != early.refs:
        early.abandon()
        return _save_stream(client, refs)
    return early.take()


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
        early = _EarlySave(client, list(manifest.images))
        try:
            return _build(client, early, manifest, writer, inst, pull, progress, level, extras)
        finally:
            early.abandon()  # whatever failed first: no export is left open


def _build(
    client: Any,
    early: _EarlySave,
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
        with _open_save(client, early, images, bool(pulls)) as res:
            what = "exporting the images"
            records, layers = write_images(
                SaveReader(res, what), images, writer, progress, level, delta
            )
        warm.join()  # long done after a real export; never two SBOMs built at once
        return writer.finish(
            manifest.harbor_version, records, layers, base=delta.base if delta else None
        )
