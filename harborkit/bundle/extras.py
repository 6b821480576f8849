"""What a build adds beyond images and installer: extra files, signature, parts, delta base.

Gathered once (by the CLI) into :class:`BuildExtras` and handed to the
:class:`~harborkit.bundle.writer.BundleWriter`, so the daemon and registry
builders get them alike without knowing about them.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from harborkit.bundle.delta import BaseBundle
from harborkit.bundle.errors import BundleCorrupt
from harborkit.bundle.format import METADATA_NAME, SUMS_NAME, metadata_from_json, parse_sums
from harborkit.bundle.manifest import BundleManifest
from harborkit.bundle.parts import PartWriter, list_name, open_bundle_file, part_name
from harborkit.bundle.sign import SecretKey
from harborkit.bundle.tarsafe import scan_tar_file
from harborkit.bundle.tools import FileSpec
from harborkit.errors import InputError


@dataclass(frozen=True)
class BuildExtras:
    """Options of a build beyond images and installer."""

    files: tuple[FileSpec, ...] = ()
    file_sources: Mapping[str, str] = field(default_factory=dict)  # --file NAME=PATH|URL
    sign_key: SecretKey | None = None
    split_size: int | None = None
    base: BaseBundle | None = None


def make_extras(
    manifest: BundleManifest,
    *,
    file_sources: Mapping[str, str] | None = None,
    no_tools: bool = False,
    sign_key: SecretKey | None = None,
    split_size: int | None = None,
    base: BaseBundle | None = None,
) -> BuildExtras:
    """Check the options against the manifest and gather them."""
    sources = dict(file_sources or {})
    names = {f.name for f in manifest.files}
    unknown = sorted(set(sources) - names)
    if unknown:
        listed = ", ".join(sorted(names)) or "none"
        raise InputError(
            f"--file {unknown[0]}: the manifest {manifest.source} lists no such file "
            f"(it lists: {listed})"
        )
    if no_tools and sources:
        raise InputError("--file and --no-tools contradict each other")
    return BuildExtras(
        files=() if no_tools else manifest.files,
        file_sources=sources,
        sign_key=sign_key,
        split_size=split_size,
        base=base,
    )


def read_base(path: Path) -> BaseBundle:
    """The base of a delta: its metadata and the sha256 of its ``SHA256SUMS`` (headers only).

    Whatever is wrong with it is bad input to ``build`` (exit 2), named as ``--base``.
    """
    from harborkit.errors import HarborkitError

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


class PartSink:
    """The writer's sink for a bundle in parts: :class:`PartWriter` under temporary names."""

    def __init__(self, output: Path, part_size: int) -> None:
        self.output = output
        self.part_size = part_size
        self._w: PartWriter | None = None
        self.parts: list[Path] = []

    def open(self) -> BinaryIO:
        """Start writing parts."""
        from harborkit.bundle.writer import remove_stale_partials

        remove_stale_partials(self.output.parent, self.output.name)
        self._w = PartWriter(self.output, self.part_size)
        return self._w  # type: ignore[return-value]

    def fileno(self) -> int | None:
        """No single descriptor: kernel-side copies are not possible across parts."""
        return None

    def commit(self) -> int:
        """Hash the parts, write the parts list, rename everything into place."""
        assert self._w is not None
        w, self._w = self._w, None
        size = w.size
        self.parts = w.commit()
        return size

    def discard(self) -> list[Path]:
        """Remove every temporary part."""
        if self._w is None:
            return []
        w, self._w = self._w, None
        removed = list(w.temp_paths)
        with contextlib.suppress(OSError):
            w.abort()
        return removed


def split_outputs(output: Path) -> tuple[Path, Path]:
    """The first part and the parts list a split build writes for ``output``."""
    return part_name(output, 0), list_name(output)
