"""The one bundle writer: both builders (daemon and registry) feed it members.

:class:`BundleWriter` owns the output from the first byte to the rename:

* the free-space estimate (:meth:`BundleWriter.check_space`) before anything is
  written;
* a :class:`~harborkit.bundle.sinks.Sink` that holds the bytes (see
  :mod:`harborkit.bundle.sinks`: one file, or the parts of a split bundle);
* the members: blobs (deduplicated by digest), files copied kernel-side, streams
  hashed as they pass, the installer (fetched and checked first), then, in
  :meth:`BundleWriter.finish`, ``images/manifest.json`` derived from the image
  records, ``harbor-bundle.json``, ``SHA256SUMS`` over every member before it,
  and any members that sign ``SHA256SUMS`` (they come after it);
* errors: ``ENOSPC``/``EDQUOT`` become :class:`NoSpace`, other ``OSError`` an
  :class:`OutputError`; on any failure or interrupt the partial output is
  removed and the removal recorded for the interrupt message.

Use it as a context manager::

    writer = BundleWriter(output)
    writer.check_space(estimate)
    with writer:
        writer.add_installer(source, progress)
        writer.add_blob(digest, data)            # or add_blob_file / begin_blob...end_blob
        result = writer.finish(harbor_version, images, layers)
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from harborkit import __version__
from harborkit.bundle import cleanup
from harborkit.bundle.errors import DownloadError, NoSpace, OutputError
from harborkit.bundle.extras import BuildExtras
from harborkit.bundle.format import (
    FORMAT_VERSION,
    IMAGES_MANIFEST,
    METADATA_NAME,
    SUMS_NAME,
    BaseRecord,
    BundleMetadata,
    FileRecord,
    ImageRecord,
    InstallerRecord,
    LayerRecord,
    blob_member,
    blob_path_in_images,
    format_sums,
    installer_member,
    metadata_to_dict,
    metadata_to_json,
    validate_metadata_dict,
)
from harborkit.bundle.installer import InstallerSource, fetch_installer
from harborkit.bundle.progress import Progress
from harborkit.bundle.sbom import SBOM_NAME, SbomFile, build_sbom
from harborkit.bundle.sign import SIGNATURE_NAME
from harborkit.bundle.sign import sign as sign_data
from harborkit.bundle.sinks import CHUNK, FileSink, PartSink, Sink
from harborkit.bundle.tarwrite import OuterTarWriter
from harborkit.bundle.tools import add_file

_BLOB_TEMPLATE = blob_member("sha256:" + "0" * 64)
#: a member written after SHA256SUMS (a signature of it): ``sums bytes -> (name, data)``
TailMember = Callable[[bytes], tuple[str, bytes]]


@dataclass(frozen=True)
class BuildResult:
    """What a build produced."""

    path: Path
    size: int
    metadata: BundleMetadata


def check_space(directory: Path, needed: int) -> None:
    """Raise :class:`NoSpace` unless ``directory`` has ``needed`` bytes free."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError as e:
        raise OutputError(f"cannot use output directory {directory}: {e.strerror or e}") from e
    if free < needed:
        raise NoSpace(
            f"not enough free space in {directory}: about {needed / 1e6:.1f} MB needed, "
            f"{free / 1e6:.1f} MB free"
        )


def docker_load_manifest(images: Sequence[ImageRecord]) -> bytes:
    """``images/manifest.json``: one entry per distinct image, tagged with every reference."""
    entries: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for img in images:
        entry = entries.setdefault(
            (img.image_id, img.layers),
            {
                "Config": blob_path_in_images(img.image_id),
                "RepoTags": [],
                "Layers": [blob_path_in_images(d) for d in img.layers],
            },
        )
        entry["RepoTags"].append(img.reference)
    return (json.dumps(list(entries.values()), indent=1) + "\n").encode()


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class BundleWriter:
    """Writes one bundle: see the module documentation for the order of calls."""

    def __init__(
        self,
        output: Path,
        *,
        sink: Sink | None = None,
        mtime: int | None = None,
        extras: BuildExtras | None = None,
    ) -> None:
        self.output = output.absolute()
        self.directory = self.output.parent
        if not self.directory.is_dir():
            raise OutputError(f"output directory {self.directory} does not exist")
        self.extras = extras or BuildExtras()
        if sink is None and self.extras.split_size:
            sink = PartSink(self.output, self.extras.split_size)
        self.sink: Sink = sink or FileSink(self.output)
        self.files: list[FileRecord] = []
        self._mtime = int(time.time()) if mtime is None else mtime
        self._tar: OuterTarWriter | None = None
        self._blobs: dict[str, int] = {}  # digest -> stored size
        self.installer: InstallerRecord | None = None

    # ---------------------------------------------------------------- lifecycle

    def check_space(self, needed: int, *, cache: tuple[Path, int] | None = None) -> None:
        """Refuse to start unless the output (and a cache on another disk) has room."""
        if cache is not None and os.stat(cache[0]).st_dev == os.stat(self.directory).st_dev:
            needed, cache = needed + cache[1], None
        check_space(self.directory, needed)
        if cache is not None:
            check_space(cache[0], cache[1])

    def __enter__(self) -> BundleWriter:
        try:
            self._tar = OuterTarWriter(self.sink.open(), mtime=self._mtime)
        except OSError as e:
            self.sink.discard()
            raise self._os_error(e) from e
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if e is None:
            return
        for path in self.sink.discard():
            cleanup.note_removed(str(path))
        if isinstance(e, OSError):
            raise self._os_error(e) from e

    def _os_error(self, e: OSError) -> Exception:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return NoSpace(f"no space left in {self.directory} while writing {self.output.name}")
        return OutputError(f"cannot write {self.output}: {e.strerror or e}")

    @property
    def tar(self) -> OuterTarWriter:
        """The tar writer (only inside ``with``)."""
        if self._tar is None:
            raise RuntimeError("BundleWriter used outside its with block")
        return self._tar

    # ---------------------------------------------------------------- members

    def add_bytes(self, name: str, data: bytes) -> str:
        """Add a member from memory; its sha256 hex."""
        digest = hashlib.sha256(data).hexdigest()
        self.tar.add_bytes(name, data, digest)
        return digest

    def has_blob(self, digest: str) -> bool:
        """Whether the blob ``digest`` is in the bundle already."""
        return digest in self._blobs

    def blob_size(self, digest: str) -> int:
        """Stored size of blob ``digest``."""
        return self._blobs[digest]

    def add_blob(self, digest: str, data: bytes) -> None:
        """Add a blob from memory (once per digest)."""
        if digest not in self._blobs:
            self.tar.add_bytes(blob_member(digest), data, digest.split(":", 1)[1])
            self._blobs[digest] = len(data)

    def begin_blob(self) -> None:
        """Open a streamed blob (digest known at :meth:`end_blob`)."""
        self.tar.begin(_BLOB_TEMPLATE)

    def write(self, data: bytes | memoryview) -> None:
        """Append to the open streamed member."""
        self.tar.write(data)

    def end_blob(self, digest: str, size: int) -> bool:
        """Close the streamed blob as ``digest``; ``False`` (and dropped) if stored already."""
        if digest in self._blobs:
            self.tar.abort()
            return False
        self.tar.end(blob_member(digest), size, digest.split(":", 1)[1])
        self._blobs[digest] = size
        return True

    def drop_blob(self) -> None:
        """Drop the open streamed blob (a delta build leaves it to its base)."""
        self.tar.abort()

    def add_blob_file(self, digest: str, path: Path, size: int) -> None:
        """Add blob ``digest`` from a verified file (kernel-side copy where the sink allows)."""
        if digest in self._blobs:
            return
        self.add_file(blob_member(digest), path, size, digest.split(":", 1)[1])
        self._blobs[digest] = size

    def add_file(self, name: str, path: Path, size: int, hexdigest: str) -> None:
        """Add member ``name`` from ``path`` (``size`` bytes whose sha256 is ``hexdigest``)."""
        tar = self.tar
        tar.begin(name)
        fd = self.sink.fileno()
        start = tar.position()
        with open(path, "rb", buffering=0) as f:
            if fd is None or not _copy_file_range(f.fileno(), fd, size):
                left = size
                while left:
                    chunk = f.read(min(left, 8 << 20))
                    if not chunk:
                        raise OutputError(f"{path} ended early")
                    tar.write(chunk)
                    left -= len(chunk)
        if fd is not None:
            tar.after_external_write()
            _start_writeback(fd, start, size)
        tar.end(name, size, hexdigest)

    def add_stream(self, name: str, src: BinaryIO, *, task: Any = None) -> tuple[int, str]:
        """Add member ``name`` from a reader, hashing as it passes; ``(size, sha256 hex)``."""
        tar = self.tar
        tar.begin(name)
        h = hashlib.sha256()
        size = 0
        while chunk := src.read(CHUNK):
            h.update(chunk)
            tar.write(chunk)
            size += len(chunk)
            if task is not None:
                task.advance(len(chunk))
        tar.end(name, size, h.hexdigest())
        return size, h.hexdigest()

    def add_installer(self, src: InstallerSource, progress: Progress) -> InstallerRecord:
        """Fetch, check and add the installer (once per bundle)."""
        fetched = fetch_installer(src, progress, self.directory)
        with fetched.file:
            size, digest = self.add_stream(installer_member(src.name), fetched.file)
        if (size, digest) != (fetched.size, fetched.sha256):
            raise DownloadError(f"installer {src.source} changed while it was being bundled")
        self.installer = InstallerRecord(src.name, size, digest, src.source)
        self.add_files(progress)
        return self.installer

    def add_files(self, progress: Progress) -> list[FileRecord]:
        """Fetch, check and add the extra files (tools) of :attr:`extras`, once."""
        if self.files:
            return self.files
        for spec in self.extras.files:
            self.files.append(
                add_file(self, spec, self.extras.file_sources.get(spec.name), progress)
            )
        return self.files

    # ---------------------------------------------------------------- the end

    def finish(
        self,
        harbor_version: str,
        images: Sequence[ImageRecord],
        layers: Sequence[LayerRecord],
        *,
        after_sums: Sequence[TailMember] = (),
        base: BaseRecord | None = None,
        manifest_digests: Mapping[str, str] | None = None,
        registries: Mapping[str, str] | None = None,
    ) -> BuildResult:
        """Write ``images/manifest.json``, the SBOM, the metadata, ``SHA256SUMS`` (then its
        signature with :attr:`extras` ``sign_key``, and ``after_sums``), commit.

        The metadata is checked against its schema first (:class:`MetadataError`), as
        ``verify`` will check it.
        """
        if self.installer is None:
            raise RuntimeError("finish() before add_installer()")
        meta = BundleMetadata(
            format_version=FORMAT_VERSION,
            harbor_version=harbor_version,
            created=_now(),
            harborkit_version=__version__,
            images=tuple(images),
            layers=tuple(layers),
            installer=self.installer,
            files=tuple(self.files),
            base=base,
        )
        validate_metadata_dict(metadata_to_dict(meta), "the bundle metadata")  # as verify will
        self.add_bytes(IMAGES_MANIFEST, docker_load_manifest(images))
        self.add_bytes(
            SBOM_NAME,
            build_sbom(
                meta,
                manifest_digests=manifest_digests,
                registries=registries,
                files=[
                    SbomFile(f.name, f.sha256, f.size, f.source, f.install_path) for f in self.files
                ],
                omitted_layers=base.layers if base else (),
            ),
        )
        self.add_bytes(METADATA_NAME, metadata_to_json(meta))
        sums = format_sums(self.tar.sums)
        self.tar.add_bytes(SUMS_NAME, sums, hashlib.sha256(sums).hexdigest())
        key = self.extras.sign_key
        if key is not None:
            signature = sign_data(key, sums, SUMS_NAME)
            self.tar.add_bytes(SIGNATURE_NAME, signature, hashlib.sha256(signature).hexdigest())
        for tail in after_sums:
            name, data = tail(sums)
            self.tar.add_bytes(name, data, hashlib.sha256(data).hexdigest())
        self.tar.close()
        self._tar = None
        size = self.sink.commit()
        return BuildResult(self.output, size, meta)


def _copy_file_range(src: int, dst: int, size: int) -> bool:
    """Copy ``size`` bytes kernel-side; ``False`` (nothing copied) where unsupported."""
    if not hasattr(os, "copy_file_range"):
        return False
    left = size
    while left:
        try:
            n = os.copy_file_range(src, dst, min(left, 1 << 30))
        except OSError as e:
            if left == size and e.errno in (
                errno.EXDEV,
                errno.ENOSYS,
                errno.EINVAL,
                errno.EOPNOTSUPP,
            ):
                return False
            raise
        if n <= 0:
            raise OutputError("a source file ended early")
        left -= n
    return True


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing ``length`` bytes at ``offset`` to disk now, without waiting.

    Spreads the bundle's disk writes over the build instead of leaving them all to
    the final ``fsync`` (``POSIX_FADV_DONTNEED`` starts writeback of dirty pages).
    """
    if hasattr(os, "posix_fadvise") and length > 0:
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
