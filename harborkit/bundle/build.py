"""``harborkit bundle build``: images from a Docker daemon + installer -> one bundle file.

One ``docker save`` of all images is streamed and parsed on the fly. Layer tars
are handed, in 1 MiB chunks, to two worker threads: one computes the diff id
(sha256 of the raw tar), the other gzip-compresses with ISA-L, hashes the gzip
bytes and writes them into the bundle, patching the member header at the end.
Both release the GIL, so reading, hashing and compressing overlap on all cores
and memory stays bounded by the queues. The bundle is written under a temporary
name in the output directory and renamed only when complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import posixpath
import queue
import shutil
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from harborkit import __version__
from harborkit.bundle.daemon import connect, short_reason
from harborkit.bundle.errors import (
    BundleError,
    DownloadError,
    ImageMissing,
    NoSpace,
    OutputError,
    SaveFailed,
)
from harborkit.bundle.format import (
    FORMAT_VERSION,
    IMAGES_MANIFEST,
    METADATA_NAME,
    SUMS_NAME,
    BundleMetadata,
    ImageRecord,
    InstallerRecord,
    LayerRecord,
    blob_member,
    blob_path_in_images,
    format_sums,
    installer_member,
    metadata_to_json,
)
from harborkit.bundle.manifest import BundleManifest
from harborkit.bundle.progress import NullProgress, Progress, Task
from harborkit.bundle.tarsafe import BLOCK, OuterTarWriter

CHUNK = 1 << 20
#: gzip level for layers (ISA-L levels 0-3). Measured on Debian layers here: level 0
#: ~550-900 MB/s at ratio 0.48/0.23, level 1 about as fast at 0.43/0.22, level 2
#: slightly slower for 1 % less, level 3 half the speed for 2-3 % less.
COMPRESS_LEVEL = 1
#: threads compressing one layer's blocks in parallel (pigz-style)
COMPRESS_THREADS = max(1, os.cpu_count() or 1)
#: members of the save stream up to this size (and not named */layer.tar) are kept in memory.
BUFFER_LIMIT = 8 << 20
#: the bundle is expected to be at most this fraction of the uncompressed layers.
SPACE_FACTOR = 0.6
_BLOB_TEMPLATE = blob_member("sha256:" + "0" * 64)


@dataclass(frozen=True)
class BuildResult:
    """What a build produced."""

    path: Path
    size: int
    metadata: BundleMetadata


@dataclass(frozen=True)
class DaemonImage:
    """An image as the daemon describes it, before the save."""

    reference: str
    image_id: str
    size: int
    layer_estimate: tuple[tuple[str, int], ...]  # (diff id, bytes) bottom first


@dataclass(frozen=True)
class _LayerOut:
    digest: str
    size: int
    diff_id: str
    uncompressed_size: int


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
        return tuple(zip(diff_ids, sizes, strict=True))
    # fall back: the whole image size on its top layer (over-estimates shared bases)
    return tuple(
        (d, int(attrs.get("Size") or 0) if i == len(diff_ids) - 1 else 0)
        for i, d in enumerate(diff_ids)
    )


def _pull(client: Any, ref: str, progress: Progress) -> None:
    repo, _, tag = ref.rpartition(":")
    if "/" in tag or not repo:
        repo, tag = ref, "latest"
    task = progress.task(f"pull {ref}"[:28], None)
    totals: dict[str, int] = {}
    current: dict[str, int] = {}
    try:
        for event in client.api.pull(repo, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise ImageMissing(f"cannot pull {ref}: {event['error']}")
            detail = event.get("progressDetail") or {}
            if event.get("id") and detail.get("total"):
                totals[event["id"]] = int(detail["total"])
                before = current.get(event["id"], 0)
                current[event["id"]] = int(detail.get("current") or 0)
                task.set_total(sum(totals.values()))
                task.advance(max(0, current[event["id"]] - before))
    except BundleError:
        raise
    except Exception as e:
        raise ImageMissing(f"cannot pull {ref}: {short_reason(e)}") from e
    finally:
        task.done()


def resolve_images(
    client: Any, refs: tuple[str, ...], *, pull: bool, progress: Progress
) -> list[DaemonImage]:
    """Find every image in the daemon (pulling missing ones unless ``pull`` is False)."""
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
            try:
                attrs = client.api.inspect_image(ref)
            except docker.errors.ImageNotFound as e:
                raise ImageMissing(f"image {ref} is still missing after pulling it") from e
        except docker.errors.APIError as e:
            raise ImageMissing(f"cannot inspect image {ref}: {short_reason(e)}") from e
        found.append(
            DaemonImage(
                ref,
                attrs["Id"],
                int(attrs.get("Size") or 0),
                _estimate_layers(client.api, attrs["Id"], attrs),
            )
        )
    if missing:
        raise ImageMissing("images not in the daemon (--no-pull given): " + ", ".join(missing))
    return found


# --------------------------------------------------------------------------- installer


def _installer_source(
    manifest: BundleManifest, override: str | None
) -> tuple[str, str, str | None]:
    """(source, file name, expected sha256) for the installer."""
    if override is None:
        return manifest.installer.url, manifest.installer.name, manifest.installer.sha256
    name = (
        posixpath.basename(override.split("?", 1)[0].rstrip("/"))
        if "://" in override
        else Path(override).name
    )
    expected = manifest.installer.sha256 if name == manifest.installer.name else None
    return override, name or manifest.installer.name, expected


@contextlib.contextmanager
def _open_installer(source: str) -> Iterator[tuple[BinaryIO, int | None]]:
    if source.startswith(("http://", "https://")):
        try:
            resp = urllib.request.urlopen(source, timeout=60)  # noqa: S310 - http(s) only
        except urllib.error.HTTPError as e:
            raise DownloadError(
                f"cannot download installer {source}: HTTP {e.code} {e.reason}"
            ) from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(f"cannot download installer {source}: {reason}") from e
        with resp:
            length = resp.headers.get("Content-Length")
            yield resp, int(length) if length and length.isdigit() else None
        return
    if "://" in source:
        raise DownloadError(f"unsupported installer URL {source}: only http and https")
    try:
        f = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise DownloadError(f"cannot read installer {source}: {e.strerror or e}") from e
    with f:
        yield f, os.fstat(f.fileno()).st_size


def _add_installer(
    writer: OuterTarWriter, source: str, name: str, expected: str | None, progress: Progress
) -> InstallerRecord:
    member = installer_member(name)
    with _open_installer(source) as (src, length):
        task = progress.task("installer", length)
        h = hashlib.sha256()
        size = 0
        writer.begin(member)
        try:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                writer.write(chunk)
                size += len(chunk)
                task.advance(len(chunk))
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise DownloadError(f"download of installer {source} failed: {short_reason(e)}") from e
        finally:
            task.done()
        if length is not None and size != length:
            raise DownloadError(f"installer {source} is truncated: got {size} of {length} bytes")
    digest = h.hexdigest()
    if expected and digest != expected:
        raise DownloadError(f"installer {source} has sha256 {digest}, expected {expected}")
    writer.end(member, size, digest)
    return InstallerRecord(name=name, size=size, sha256=digest, source=source)


# --------------------------------------------------------------------------- save stream


class _TarStream:
    """Minimal streaming tar reader over a file-like (``read(n)``), no seeking, no copies."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._remaining = 0
        self._padding = 0

    def _read_exact(self, n: int) -> bytes:
        data = self._raw.read(n)
        if len(data) == n or not data:
            if len(data) != n:
                raise SaveFailed("the image export stream ended early")
            return data
        parts = [data]
        got = len(data)
        while got < n:
            more = self._raw.read(n - got)
            if not more:
                raise SaveFailed("the image export stream ended early")
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def _skip_rest(self) -> None:
        while self._remaining:
            self.read(min(self._remaining, CHUNK))
        if self._padding:
            self._read_exact(self._padding)
            self._padding = 0

    def read(self, n: int) -> bytes:
        """Read up to ``n`` bytes of the current member."""
        n = min(n, self._remaining)
        if n <= 0:
            return b""
        data = self._read_exact(n)
        self._remaining -= len(data)
        return data

    def members(self) -> Iterator[tarfile.TarInfo]:
        """Headers in order; read each member's data with :meth:`read` before the next."""
        long_name: str | None = None
        long_link: str | None = None
        pax: dict[str, str] = {}
        while True:
            self._skip_rest()
            hdr = self._raw.read(BLOCK)
            if len(hdr) < BLOCK:
                if hdr:
                    hdr += self._read_exact(BLOCK - len(hdr))
                else:
                    return  # EOF without end marker: treat as end
            if hdr == bytes(BLOCK):
                # drain the rest so the daemon sees a complete read
                while self._raw.read(CHUNK):
                    pass
                return
            try:
                ti = tarfile.TarInfo.frombuf(hdr, "utf-8", "surrogateescape")
            except tarfile.HeaderError as e:
                raise SaveFailed(f"the image export stream has a bad tar header: {e}") from e
            size = ti.size
            padded = -size % BLOCK
            if ti.type in (
                tarfile.GNUTYPE_LONGNAME,
                tarfile.GNUTYPE_LONGLINK,
                tarfile.XHDTYPE,
                tarfile.XGLTYPE,
            ):
                data = self._read_exact(size + padded)[:size]
                if ti.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
                elif ti.type == tarfile.GNUTYPE_LONGLINK:
                    long_link = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
                elif ti.type == tarfile.XHDTYPE:
                    pax.update(_parse_pax(data))
                continue
            if long_name or "path" in pax:
                ti.name = long_name or pax["path"]
            if long_link or "linkpath" in pax:
                ti.linkname = long_link or pax["linkpath"]
            if "size" in pax:
                ti.size = size = int(pax["size"])
                padded = -size % BLOCK
            long_name = long_link = None
            pax = {}
            self._remaining = size if ti.type in tarfile.REGULAR_TYPES else 0
            self._padding = padded if ti.type in tarfile.REGULAR_TYPES else 0
            yield ti


def _parse_pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        length = int(data[pos:sp])
        record = data[sp + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode()] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def _is_layer_name(name: str) -> bool:
    return name.endswith("/layer.tar")


class _HashingSink:
    """File-like end of the compressor: hashes, counts and appends to the open member."""

    def __init__(self, writer: OuterTarWriter) -> None:
        self._writer = writer
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        """Hash and write ``data``."""
        self.hash.update(data)
        self._writer.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing buffered here."""


class _Pipeline:
    """Reader -> (diff-id hasher, compressor/writer) threads over bounded queues."""

    _STOP = ("stop",)

    def __init__(self, writer: OuterTarWriter, level: int) -> None:
        self._writer = writer
        self._level = level
        self._q_hash: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=16)
        self._q_write: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=16)
        self.error: BaseException | None = None
        self.diff: dict[str, tuple[str, int]] = {}
        self.compressed: dict[str, tuple[str, int] | str] = {}  # str: duplicate of a digest
        self.written_digests: set[str] = set()
        self._threads = [
            threading.Thread(target=self._hash_loop, name="hk-hash", daemon=True),
            threading.Thread(target=self._write_loop, name="hk-write", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _hash_loop(self) -> None:
        h = hashlib.sha256()
        size = 0
        while True:
            msg = self._q_hash.get()
            if msg[0] == "stop":
                return
            if self.error is not None:
                continue
            try:
                if msg[0] == "begin":
                    h, size = hashlib.sha256(), 0
                elif msg[0] == "data":
                    h.update(msg[1])
                    size += len(msg[1])
                elif msg[0] == "end":
                    self.diff[msg[1]] = ("sha256:" + h.hexdigest(), size)
            except BaseException as e:  # noqa: BLE001 - handed to the reader thread
                self.error = e

    def _write_loop(self) -> None:
        from isal import igzip_threaded

        gz: Any = None
        sink: _HashingSink | None = None
        w = self._writer
        while True:
            msg = self._q_write.get()
            if msg[0] == "stop":
                if gz is not None:
                    with contextlib.suppress(Exception):
                        gz.close()
                return
            if self.error is not None:
                continue
            try:
                kind = msg[0]
                if kind == "data":
                    gz.write(msg[1])
                elif kind == "begin":
                    w.begin(_BLOB_TEMPLATE)
                    sink = _HashingSink(w)
                    # pigz-style: blocks compressed on several threads, each primed with
                    # the previous 32 KiB, one gzip member; a writer thread hashes and
                    # writes the output in order
                    gz = igzip_threaded.open(
                        sink,
                        "wb",
                        compresslevel=self._level,
                        threads=COMPRESS_THREADS,
                        block_size=CHUNK,
                    )
                elif kind == "end":
                    assert sink is not None
                    gz.close()
                    gz = None
                    digest = "sha256:" + sink.hash.hexdigest()
                    if digest in self.written_digests:
                        w.abort()  # same content under another name: keep one copy
                        self.compressed[msg[1]] = digest
                    else:
                        w.end(blob_member(digest), sink.size, digest[7:])
                        self.written_digests.add(digest)
                        self.compressed[msg[1]] = (digest, sink.size)
            except BaseException as e:  # noqa: BLE001 - handed to the reader thread
                self.error = e

    def check(self) -> None:
        """Re-raise a worker's error in the calling thread."""
        if self.error is not None:
            raise self.error

    def layer(self, key: str, read: Callable[[int], bytes], task: Task) -> None:
        """Feed one layer (read with ``read``) through both workers."""
        self._q_hash.put(("begin",))
        self._q_write.put(("begin",))
        while True:
            chunk = read(CHUNK)
            if not chunk:
                break
            self.check()
            self._q_hash.put(("data", chunk))
            self._q_write.put(("data", chunk))
            task.advance(len(chunk))
        self._q_hash.put(("end", key))
        self._q_write.put(("end", key))

    def close(self) -> None:
        """Stop the workers and wait for them."""
        for q in (self._q_hash, self._q_write):
            q.put(self._STOP)
        for t in self._threads:
            t.join()

    def result(self, key: str) -> _LayerOut:
        """Digest/size of a streamed layer (after :meth:`close`)."""
        diff_id, usize = self.diff[key]
        comp = self.compressed[key]
        if isinstance(comp, str):
            return _LayerOut(comp, -1, diff_id, usize)  # size filled from the first copy
        return _LayerOut(comp[0], comp[1], diff_id, usize)


def _save_stream(client: Any, refs: list[str]) -> Any:
    api = client.api
    try:
        res = api._get(api._url("/images/get"), params={"names": refs}, stream=True)
        api._raise_for_status(res)
    except Exception as e:
        raise SaveFailed(f"the daemon refused to export the images: {short_reason(e)}") from e
    return res


def _compress_small(data: bytes, level: int) -> tuple[bytes, str]:
    from isal import isal_zlib

    comp = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
    out = comp.compress(data) + comp.flush()
    return out, hashlib.sha256(out).hexdigest()


def write_images(
    save_stream: Any,
    images: list[DaemonImage],
    writer: OuterTarWriter,
    progress: Progress,
    level: int,
) -> tuple[list[ImageRecord], list[LayerRecord]]:
    """Turn a ``docker save`` tar stream of ``images`` into bundle members; return the records.

    ``save_stream`` has ``read(n)``; both save formats are understood: dockerd
    < 25 (``<id>/layer.tar``, ``<id>.json``) and >= 25 (OCI ``blobs/sha256/*``),
    through the legacy ``manifest.json`` that both write.
    """
    unique_ids = list(dict.fromkeys(i.image_id for i in images))
    estimate = sum(dict(e for i in images for e in i.layer_estimate).values())
    task = progress.task("save + compress", estimate or None)
    buffered: dict[str, bytes] = {}
    links: dict[str, str] = {}
    streamed: set[str] = set()
    pipeline = _Pipeline(writer, level)
    try:
        stream = _TarStream(save_stream)
        for ti in stream.members():
            if ti.issym() or ti.islnk():
                target = (
                    ti.linkname
                    if ti.islnk()
                    else posixpath.join(posixpath.dirname(ti.name), ti.linkname)
                )
                links[ti.name] = posixpath.normpath(target)
            elif not ti.isreg():
                continue
            elif _is_layer_name(ti.name) or ti.size > BUFFER_LIMIT:
                pipeline.layer(ti.name, stream.read, task)
                streamed.add(ti.name)
            else:
                buffered[ti.name] = stream.read(ti.size)
                task.advance(ti.size)
        pipeline.check()
    except BundleError:
        raise
    except (OSError, ValueError) as e:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise
        raise SaveFailed(f"reading the image export failed: {short_reason(e)}") from e
    finally:
        pipeline.close()
        task.done()
    pipeline.check()

    if "manifest.json" not in buffered:
        raise SaveFailed("the image export has no manifest.json")
    save_manifest = json.loads(buffered["manifest.json"])
    by_id: dict[str, dict[str, Any]] = {}
    for entry in save_manifest:
        config = buffered.get(entry["Config"])
        if config is None:
            raise SaveFailed(f"the image export lacks config {entry['Config']}")
        by_id["sha256:" + hashlib.sha256(config).hexdigest()] = {"entry": entry, "config": config}

    layer_records: dict[str, LayerRecord] = {}
    first_size: dict[str, int] = {}
    out_manifest: list[dict[str, Any]] = []
    image_layers: dict[str, tuple[str, ...]] = {}
    for image_id in unique_ids:
        found = by_id.get(image_id)
        refs = [i.reference for i in images if i.image_id == image_id]
        if found is None:
            raise SaveFailed(f"image {refs[0]} ({image_id}) is missing from the daemon's export")
        entry, config = found["entry"], found["config"]
        diff_ids = json.loads(config).get("rootfs", {}).get("diff_ids", [])
        digests: list[str] = []
        for n, path in enumerate(entry["Layers"]):
            seen = 0
            while path in links and seen < 8:
                path, seen = links[path], seen + 1
            if path in streamed:
                lo = pipeline.result(path)
            elif path in buffered:
                gz, hexd = _compress_small(buffered[path], level)
                digest = "sha256:" + hexd
                if digest not in pipeline.written_digests:
                    writer.add_bytes(blob_member(digest), gz, hexd)
                    pipeline.written_digests.add(digest)
                raw = buffered[path]
                lo = _LayerOut(
                    digest, len(gz), "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw)
                )
            else:
                raise SaveFailed(
                    f"layer {path} of image {refs[0]} is missing from the daemon's export"
                )
            if n >= len(diff_ids) or diff_ids[n] != lo.diff_id:
                raise SaveFailed(
                    f"layer {path} of image {refs[0]} does not match the image's diff ids"
                )
            if lo.size >= 0:
                first_size.setdefault(lo.digest, lo.size)
            size = first_size.get(lo.digest, lo.size)
            layer_records.setdefault(
                lo.digest, LayerRecord(lo.digest, lo.diff_id, size, lo.uncompressed_size)
            )
            digests.append(lo.digest)
        image_layers[image_id] = tuple(digests)
        writer.add_bytes(blob_member(image_id), config, image_id.split(":", 1)[1])
        out_manifest.append(
            {
                "Config": blob_path_in_images(image_id),
                "RepoTags": refs,
                "Layers": [blob_path_in_images(d) for d in digests],
            }
        )
    manifest_bytes = (json.dumps(out_manifest, indent=1) + "\n").encode()
    writer.add_bytes(IMAGES_MANIFEST, manifest_bytes, hashlib.sha256(manifest_bytes).hexdigest())
    records = [
        ImageRecord(i.reference, i.image_id, i.size, image_layers[i.image_id]) for i in images
    ]
    return records, list(layer_records.values())


# --------------------------------------------------------------------------- build


def write_tail(writer: OuterTarWriter, meta: BundleMetadata) -> None:
    """Finish a bundle: ``harbor-bundle.json``, then ``SHA256SUMS`` over all members, then EOF."""
    meta_bytes = metadata_to_json(meta)
    writer.add_bytes(METADATA_NAME, meta_bytes, hashlib.sha256(meta_bytes).hexdigest())
    sums = format_sums(writer.sums)
    writer.add_bytes(SUMS_NAME, sums, hashlib.sha256(sums).hexdigest())
    writer.close()


def check_space(directory: Path, needed: int) -> None:
    """Raise NoSpace unless ``directory`` has ``needed`` bytes free."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError as e:
        raise OutputError(f"cannot use output directory {directory}: {e.strerror or e}") from e
    if free < needed:
        raise NoSpace(
            f"not enough free space in {directory}: about {needed / 1e6:.1f} MB needed, "
            f"{free / 1e6:.1f} MB free"
        )


def build_bundle(
    manifest: BundleManifest,
    output: Path,
    *,
    installer: str | None = None,
    pull: bool = True,
    progress: Progress | None = None,
    level: int = COMPRESS_LEVEL,
) -> BuildResult:
    """Build the bundle described by ``manifest`` at ``output`` (atomically)."""
    progress = progress or NullProgress()
    output = output.absolute()
    directory = output.parent
    if not directory.is_dir():
        raise OutputError(f"output directory {directory} does not exist")
    client = connect()
    try:
        images = resolve_images(client, manifest.images, pull=pull, progress=progress)
        source, inst_name, expected = _installer_source(manifest, installer)
        estimate = sum(dict(e for i in images for e in i.layer_estimate).values())
        inst_size = (
            Path(source).stat().st_size if "://" not in source and Path(source).is_file() else 0
        )
        check_space(directory, int(estimate * SPACE_FACTOR) + inst_size + (1 << 20))

        tmp = directory / f".{output.name}.partial-{os.getpid()}"
        try:
            f = open(tmp, "w+b", buffering=CHUNK)  # noqa: SIM115 - closed below
        except OSError as e:
            raise OutputError(f"cannot create {tmp}: {e.strerror or e}") from e
        try:
            with f:
                writer = OuterTarWriter(f)
                inst = _add_installer(writer, source, inst_name, expected, progress)
                res = _save_stream(client, [i.reference for i in images])
                try:
                    records, layers = write_images(res.raw, images, writer, progress, level)
                finally:
                    res.close()
                meta = BundleMetadata(
                    format_version=FORMAT_VERSION,
                    harbor_version=manifest.harbor_version,
                    created=datetime.now(UTC)
                    .replace(microsecond=0)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    harborkit_version=__version__,
                    images=tuple(records),
                    layers=tuple(layers),
                    installer=inst,
                )
                write_tail(writer, meta)
                f.flush()
                os.fsync(f.fileno())
                size = f.tell()
            os.replace(tmp, output)
            with contextlib.suppress(OSError):
                dfd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        except OSError as e:
            _unlink(tmp)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace(f"no space left in {directory} while writing {output.name}") from e
            raise OutputError(f"cannot write {output}: {e.strerror or e}") from e
        except BaseException:
            _unlink(tmp)
            raise
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return BuildResult(output, size, meta)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
