"""``harborkit bundle build|verify|load|inspect``: parse options, call the core, print results.

Heavy modules (docker, jsonschema, isal) are imported by the core when a command
runs, so ``harborkit --help`` stays fast. Errors propagate as
:class:`~harborkit.errors.HarborkitError`; :func:`harborkit.commands.main` turns
them into a one-line message and the exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harborkit.commands.bundle import helpers
from harborkit.commands.bundle import options as _opt
from harborkit.commands.bundle.base import bundle_app, interruptible, mb
from harborkit.commands.bundle.remote import RemoteLoadOptions, load_remote, wanted
from harborkit.commands.options import SshConfigOpt
from harborkit.compat import StrEnum


class InspectFormat(StrEnum):
    """Output formats of ``bundle inspect``."""

    table = "table"
    json = "json"
    cyclonedx = "cyclonedx"


@bundle_app.command("build")
@interruptible
def build_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle file to write.")],
    manifest: Annotated[
        Optional[Path],
        typer.Option("--manifest", "-m", help="Bundle manifest (default: Harbor v1.8.0)."),
    ] = None,
    installer: Annotated[
        Optional[str], typer.Option("--installer", help="Installer as a local file or http(s) URL.")
    ] = None,
    no_pull: Annotated[
        bool, typer.Option("--no-pull", help="Fail instead of pulling missing images.")
    ] = False,
    quiet: _opt.QuietOpt = False,
    from_: _opt.FromOpt = None,
    cache: _opt.CacheOpt = None,
    insecure: _opt.InsecureOpt = False,
    ca: _opt.CaOpt = None,
    username: _opt.UserOpt = None,
    password: _opt.PasswordOpt = None,
    workers: _opt.WorkersOpt = 6,
    sign: _opt.SignOpt = None,
    split_size: _opt.SplitOpt = None,
    file: _opt.FileOpt = None,
    no_tools: _opt.NoToolsOpt = False,
    base: _opt.BaseOpt = None,
) -> None:
    """Save the manifest's images from the Docker daemon (DOCKER_HOST) and the installer into one file."""
    extras = helpers.build_extras(
        manifest, sign=sign, split_size=split_size, files=file, no_tools=no_tools, base=base
    )
    if from_ is not None:  # issue 4: straight from a registry, no daemon
        if base is not None:
            from harborkit.errors import InputError

            raise InputError("--base works with builds from the daemon only (not with --from)")
        helpers.run_registry_build(
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
            extras=extras,
        )
        return
    from harborkit.bundle.build import build_bundle
    from harborkit.bundle.manifest import load_manifest
    from harborkit.bundle.progress import make_progress

    spec = extras.manifest or load_manifest(manifest)  # parsed once, by build_extras
    with make_progress(quiet) as progress:
        result = build_bundle(
            spec,
            output,
            installer=installer,
            pull=not no_pull,
            progress=progress,
            extras=extras,
        )
    if not quiet:
        helpers.echo_built(result, extras)


@bundle_app.command("verify")
@interruptible
def verify_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle file, its first part or its parts list.")],
    key: _opt.KeyOpt = None,
    quiet: _opt.QuietOpt = False,
) -> None:
    """Check every member of the bundle against SHA256SUMS and the metadata against its schema."""
    import gc

    from harborkit.bundle.progress import make_progress
    from harborkit.bundle.verify import verify_bundle

    # the objects made so far (typer's, the modules') live until the process ends: no
    # collection walks them again (the documents' checks import and allocate much), nor
    # the one at exit (~15 ms of a 0.4 s verify for the modules of the checks, frozen below)
    gc.freeze()
    public = helpers.public_key(key)
    try:
        with make_progress(quiet) as progress:
            result = verify_bundle(bundle, progress=progress, key=public)
    finally:
        gc.freeze()
    if not quiet:
        typer.echo(
            f"{bundle}: OK ({len(result.members)} members, {mb(result.bytes_hashed)}, "
            f"{len(result.metadata.images)} images{helpers.signature_note(result)})"
        )


@bundle_app.command("load")
@interruptible
def load_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle file, its first part or its parts list.")],
    install_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--install-dir", help="Unpack the installer here (nothing is unpacked without it)."
        ),
    ] = None,
    key: _opt.KeyOpt = None,
    install_tools: _opt.InstallToolsOpt = False,
    prefix: _opt.PrefixOpt = Path("/"),
    force: _opt.ForceOpt = False,
    allow_install_path: _opt.AllowInstallPathOpt = False,
    quiet: _opt.QuietOpt = False,
    hosts: _opt.LoadHostsOpt = None,
    inventory: _opt.LoadInventoryOpt = None,
    limit: _opt.LoadLimitOpt = None,
    forks: _opt.LoadForksOpt = 10,
    ssh_config: SshConfigOpt = None,
    become: _opt.LoadBecomeOpt = False,
) -> None:
    """Verify the bundle, load its images into the Docker daemon (DOCKER_HOST, or each --host
    over SSH), unpack the installer."""
    from harborkit.bundle.load import load_bundle
    from harborkit.bundle.progress import make_progress

    public = helpers.public_key(key)
    remote = RemoteLoadOptions(hosts or [], inventory, limit, forks, ssh_config, become)
    if wanted(remote):
        load_remote(
            bundle,
            remote,
            key=public,
            install_dir=install_dir,
            install_tools=install_tools,
            prefix=prefix,
            force=force,
            allow_install_path=allow_install_path,
            quiet=quiet,
        )
        return
    with make_progress(quiet) as progress:
        result = load_bundle(
            bundle,
            install_dir=install_dir,
            progress=progress,
            key=public,
            install_tools=install_tools,
            prefix=prefix,
            force=force,
            allow_install_path=allow_install_path,
        )
    helpers.warn_loaded(bundle, result)
    if not quiet:
        typer.echo(f"loaded {len(result.loaded)} images, {len(result.skipped)} already present")
        helpers.echo_loaded(bundle, result, install_dir)


@bundle_app.command("inspect")
@interruptible
def inspect_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle file, its first part or its parts list.")],
    fmt: Annotated[
        InspectFormat, typer.Option("--format", "-f", help="Output format.")
    ] = InspectFormat.table,
) -> None:
    """Show images, sizes, shared layers and the installer, reading headers and metadata only."""
    from harborkit.bundle.inspect import inspect_bundle, render_json, render_table

    report = inspect_bundle(bundle)
    if fmt is InspectFormat.cyclonedx:
        typer.echo(helpers.sbom_text(report), nl=False)
    else:
        typer.echo(render_json(report) if fmt is InspectFormat.json else render_table(report))
