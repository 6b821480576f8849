"""``harborkit bundle manifest show|init``: the built-in manifest, a site manifest."""

# typer evaluates these annotations at run time: Optional and List keep them valid on 3.9
# ruff: noqa: UP006, UP035

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from harborkit.commands.bundle.base import bundle_app
from harborkit.commands.profile import OutputOpt, write_text

manifest_app = typer.Typer(
    help="Print the built-in bundle manifest, make a site manifest.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help (commands/help.py)
)
bundle_app.add_typer(manifest_app, name="manifest")


@manifest_app.command("show")
def show_cmd() -> None:
    """Print the built-in bundle manifest (Harbor v1.8.0) exactly as packaged."""
    from harborkit.bundle.site_manifest import builtin_text

    typer.echo(builtin_text(), nl=False)


@manifest_app.command("init")
def init_cmd(
    file: Annotated[
        List[str],
        typer.Option(
            "--file",
            metavar="NAME=PATH",
            help="Pin this local file's sha256 and size as the manifest's file NAME (repeatable).",
        ),
    ],
    manifest: Annotated[
        Optional[Path],
        typer.Option(
            "--manifest",
            "-m",
            metavar="FILE",
            help="The manifest to start from (default: built-in).",
        ),
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Write a site manifest: the built-in one with local files' sha256 and size pinned."""
    from harborkit.bundle.site_manifest import site_manifest
    from harborkit.bundle.tools import parse_file_option

    write_text(site_manifest(parse_file_option(file), manifest), output)
