"""`harborkit bundle ...` commands: parse options, call the core, print results.

Heavy modules (docker, jsonschema, isal) are imported by the core when a command
runs, so ``harborkit --help`` stays fast. Errors propagate as
:class:`~harborkit.errors.HarborkitError`; ``harborkit.cli.main`` turns them into
a one-line message and the exit code.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

bundle_app = typer.Typer(
    help="Build, verify, inspect and load air-gap bundles.", no_args_is_help=True
)

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no summary.")]


class InspectFormat(enum.StrEnum):
    """Output formats of ``bundle inspect``."""

    table = "table"
    json = "json"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@bundle_app.command("build")
def build_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle file to write.")],
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", "-m", help="Bundle manifest (default: Harbor v1.8.0)."),
    ] = None,
    installer: Annotated[
        str | None, typer.Option("--installer", help="Installer as a local file or http(s) URL.")
    ] = None,
    no_pull: Annotated[
        bool, typer.Option("--no-pull", help="Fail instead of pulling missing images.")
    ] = False,
    quiet: QuietOpt = False,
    from_: _reg.FromOpt = None,
    cache: _reg.CacheOpt = None,
    insecure: _reg.InsecureOpt = False,
    ca: _reg.CaOpt = None,
    username: _reg.UserOpt = None,
    password: _reg.PasswordOpt = None,
    workers: _reg.WorkersOpt = 6,
) -> None:
    """Save the manifest's images from the Docker daemon (DOCKER_HOST) and the installer into one file."""
    if from_ is not None:  # issue 4: straight from a registry, no daemon
        _reg.run_registry_build(
            output=output,
            manifest=manifest,
            installer=installer,
            source=from_,
            cache=cache,
            insecure=insecure,
            ca=ca,
            username=username,
            password=password,
            workers=workers,
            quiet=quiet,
        )
        return
    from harborkit.bundle.build import build_bundle
    from harborkit.bundle.manifest import load_manifest
    from harborkit.bundle.progress import make_progress

    spec = load_manifest(manifest)
    with make_progress(quiet) as progress:
        result = build_bundle(
            spec, output, installer=installer, pull=not no_pull, progress=progress
        )
    if not quiet:
        meta = result.metadata
        typer.echo(
            f"wrote {result.path} ({_mb(result.size)}): {len(meta.images)} images, "
            f"{len(meta.layers)} layers, installer {meta.installer.name}"
        )


@bundle_app.command("verify")
def verify_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle file.")],
    quiet: QuietOpt = False,
) -> None:
    """Check every member of the bundle against SHA256SUMS and the metadata against its schema."""
    from harborkit.bundle.progress import make_progress
    from harborkit.bundle.verify import verify_bundle

    with make_progress(quiet) as progress:
        result = verify_bundle(bundle, progress=progress)
    if not quiet:
        typer.echo(
            f"{bundle}: OK ({len(result.members)} members, {_mb(result.bytes_hashed)}, "
            f"{len(result.metadata.images)} images)"
        )


@bundle_app.command("load")
def load_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle file.")],
    install_dir: Annotated[
        Path | None,
        typer.Option(
            "--install-dir", help="Unpack the installer here (nothing is unpacked without it)."
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Verify the bundle, load its images into the Docker daemon (DOCKER_HOST), unpack the installer."""
    from harborkit.bundle.load import load_bundle
    from harborkit.bundle.progress import make_progress

    with make_progress(quiet) as progress:
        result = load_bundle(bundle, install_dir=install_dir, progress=progress)
    if not quiet:
        typer.echo(f"loaded {len(result.loaded)} images, {len(result.skipped)} already present")
        for p in result.installer_paths:
            typer.echo(f"installer unpacked: {p} (next: cd {p} && ./install.sh)")


@bundle_app.command("inspect")
def inspect_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle file.")],
    fmt: Annotated[
        InspectFormat, typer.Option("--format", "-f", help="Output format.")
    ] = InspectFormat.table,
) -> None:
    """Show images, sizes, shared layers and the installer, reading headers and metadata only."""
    from harborkit.bundle.inspect import inspect_bundle, render_json, render_table

    report = inspect_bundle(bundle)
    typer.echo(render_json(report) if fmt is InspectFormat.json else render_table(report))


from harborkit.bundle import registry_cli as _reg  # noqa: E402 - registers `bundle push`
from harborkit.bundle import trust_cli as _trust  # noqa: E402 - registers `bundle keygen`
