"""The steps of the ``bundle`` commands around the core calls: build options
checked and gathered, keys read, registry builds, and what is printed after.

Registers no command (``core``, ``registry`` and ``trust`` do), so any of them
can import it; only ``typer`` is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from harborkit.commands.bundle.base import mb

if TYPE_CHECKING:
    from harborkit.bundle.extras import BuildExtras
    from harborkit.bundle.inspect import InspectReport
    from harborkit.bundle.load import LoadResult
    from harborkit.bundle.sign import PublicKey
    from harborkit.bundle.verify import VerifyResult
    from harborkit.bundle.writer import BuildResult


def build_extras(
    manifest: Path | None,
    *,
    sign: Path | None,
    split_size: str | None,
    files: list[str] | None,
    no_tools: bool,
    base: Path | None,
) -> BuildExtras:
    """Check and gather the build options beyond images and installer (before any work)."""
    from harborkit.bundle import sign as signing
    from harborkit.bundle.delta import read_base
    from harborkit.bundle.extras import make_extras
    from harborkit.bundle.manifest import load_manifest
    from harborkit.bundle.parts import parse_size
    from harborkit.bundle.tools import parse_file_option

    size = parse_size(split_size) if split_size is not None else None
    sources = parse_file_option(files or [])
    for name, source in sources.items():
        _refuse_special_file(source, f"--file {name}")
    key = signing.load_secret_key(sign) if sign is not None else None
    base_bundle = read_base(base) if base is not None else None
    return make_extras(
        load_manifest(manifest),
        file_sources=sources,
        no_tools=no_tools,
        sign_key=key,
        split_size=size,
        base=base_bundle,
    )


def _refuse_special_file(source: str, option: str) -> None:
    """A local path given to ``option`` must be a regular file (a FIFO would block, a device
    never end): checked with ``stat``, which neither opens nor blocks."""
    import os
    import stat

    from harborkit.errors import InputError

    if "://" in source:
        return
    try:
        mode = os.stat(source).st_mode
    except OSError:
        return  # a missing file is reported where it is read
    if not stat.S_ISREG(mode):
        raise InputError(f"{option}: {source} is not a regular file")


def public_key(spec: str | None) -> PublicKey | None:
    """``--key`` as a public key, or ``None``."""
    if spec is None:
        return None
    from harborkit.bundle.sign import load_public_key

    return load_public_key(spec)


def signature_note(result: VerifyResult) -> str:
    """``, signature by key X verified`` / ``, signed by key X (not checked: give --key)``."""
    if result.signed_by is None:
        return ", not signed"
    key_id = result.signed_by
    if result.signature_checked:
        return f", signature by key {key_id} verified"
    return f", signed by key {key_id} (not checked: give --key)"


def echo_built(result: BuildResult, extras: BuildExtras) -> None:
    """The build summary: file or parts, contents, signature."""
    meta = result.metadata
    what = f"{len(meta.images)} images, {len(meta.layers)} layers, installer {meta.installer.name}"
    if meta.files:
        what += ", files " + ", ".join(f.name for f in meta.files)
    if meta.base is not None:
        what += f"; a delta over {meta.base.name}: {len(meta.base.layers)} layers left to it"
    if extras.split_size:
        from harborkit.bundle.parts import list_name, part_name

        n = -(-result.size // extras.split_size)
        typer.echo(
            f"wrote {n} parts {part_name(result.path, 0).name} ... {part_name(result.path, n - 1).name} "
            f"and {list_name(result.path).name} ({mb(result.size)}): {what}"
        )
    else:
        typer.echo(f"wrote {result.path} ({mb(result.size)}): {what}")
    if extras.sign_key is not None:
        typer.echo(f"signed SHA256SUMS with key {extras.sign_key.public.id_hex}")


def warn_loaded(bundle: Path, result: LoadResult) -> None:
    """On stderr, even with --quiet: each tag the load moved off another image, an unchecked signature."""
    for ref, old, new in result.moved:
        typer.echo(f"harborkit: moved tag {ref} from {old[:19]} to {new[:19]}", err=True)
    if result.signed_by is not None and not result.signature_checked:
        typer.echo(
            f"harborkit: {bundle} is signed by key {result.signed_by}, not checked: pass --key",
            err=True,
        )


def echo_loaded(bundle: Path, result: LoadResult, install_dir: Path | None) -> None:
    """What the load installed, and the real next steps."""
    for t in result.tools:
        state = "already in place" if t.unchanged else ("replaced" if t.replaced else "installed")
        typer.echo(f"{t.record.name} {state}: {t.path} (mode {t.record.mode:04o})")
    for p in result.installer_paths:
        typer.echo(f"installer unpacked: {p}")
    if result.installer_paths:
        harbor = result.installer_paths[0]
        typer.echo("next:")
        typer.echo(f"  1. edit {harbor}/harbor.yml (hostname, https certificate, passwords)")
        typer.echo(f"  2. harborkit check --install-dir {harbor}")
        typer.echo(f"  3. cd {harbor} && ./install.sh")
    elif install_dir is None:
        typer.echo(
            f"the installer was not unpacked: harborkit bundle load {bundle} --install-dir DIR "
            "unpacks it (images already loaded are skipped)"
        )


def sbom_text(report: InspectReport) -> str:
    """The bundle's CycloneDX SBOM, as stored."""
    from harborkit.bundle.errors import MetadataError
    from harborkit.bundle.sbom import SBOM_NAME, sbom_output

    if report.sbom is None:
        raise MetadataError(f"bundle {report.path} carries no SBOM (made by an older harborkit)")
    return sbom_output(report.sbom, f"{report.path}: {SBOM_NAME}")


def run_registry_build(
    *,
    output: Path,
    manifest: Path | None,
    installer: str | None,
    source: str,
    cache: Path | None,
    insecure: bool,
    ca: Path | None,
    username: str | None,
    password: str | None,
    workers: int,
    quiet: bool,
    extras: BuildExtras | None = None,
) -> None:
    """``bundle build --from registry[://HOST[:PORT]]``."""
    from harborkit.bundle.from_registry import build_from_registry
    from harborkit.bundle.manifest import load_manifest
    from harborkit.bundle.progress import make_progress
    from harborkit.registry.endpoint import Endpoint, parse_from

    endpoint = Endpoint(
        host=parse_from(source), insecure=insecure, ca_file=ca, username=username, password=password
    )
    spec = (extras and extras.manifest) or load_manifest(manifest)  # parsed once
    with make_progress(quiet) as progress:
        result = build_from_registry(
            spec,
            output,
            source=endpoint,
            cache_dir=cache,
            installer=installer,
            progress=progress,
            workers=workers,
            extras=extras,
        )
    if not quiet:
        s = result.stats
        typer.echo(
            f"wrote {result.path} ({mb(result.size)}): {len(result.metadata.images)} images, "
            f"{len(result.metadata.layers)} layers from {endpoint.host}; blobs: {s.fetched} "
            f"fetched ({mb(s.bytes_fetched)}, {s.resumed} resumed), {s.cached} from the cache"
        )
