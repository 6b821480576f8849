"""What a build adds beyond images and installer: extra files, signature, parts, delta base.

Gathered once (by the CLI) into :class:`BuildExtras` and handed to the
:class:`~harborkit.bundle.writer.BundleWriter`, so the daemon and registry
builders get them alike without knowing about them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harborkit.bundle.delta import BaseBundle
from harborkit.bundle.manifest import BundleManifest
from harborkit.bundle.sign import SecretKey
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
    #: the manifest the options were checked against, parsed once for the whole build
    manifest: BundleManifest | None = None


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
        manifest=manifest,
    )
