"""CLI glue for signatures, parts, SBOM, deltas and tools: ``bundle keygen`` and shared options.

Kept apart from ``cli.py`` (which imports this module to register ``keygen`` and
uses the option types below); only ``typer`` is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harborkit.bundle.cli import bundle_app

SignOpt = Annotated[
    Path | None,
    typer.Option(
        "--sign",
        help="Sign SHA256SUMS with this minisign secret key (password from "
        "HARBORKIT_KEY_PASSWORD or a prompt).",
    ),
]
SplitOpt = Annotated[
    str | None,
    typer.Option(
        "--split-size",
        help="Write NAME.part-000 ... of at most SIZE bytes (4G = 4e9 fits FAT32, 4700M a DVD; "
        "4GiB = 2^32) and NAME.parts.sha256.",
    ),
]
FileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--file",
        help="A local copy (path or http(s) URL) of a manifest file, as NAME=PATH|URL (repeatable).",
    ),
]
NoToolsOpt = Annotated[
    bool, typer.Option("--no-tools", help="Carry none of the manifest's extra files.")
]
BaseOpt = Annotated[
    Path | None,
    typer.Option(
        "--base",
        help="Older bundle the target has loaded: leave out the layers its images hold (a delta).",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Require a valid signature by this minisign public key (file or base64 line).",
    ),
]
InstallToolsOpt = Annotated[
    bool,
    typer.Option(
        "--install-tools", help="Install the bundle's extra files (docker-compose) with their mode."
    ),
]
PrefixOpt = Annotated[
    Path,
    typer.Option("--prefix", help="Install the extra files under this folder (default: /)."),
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="With --install-tools: replace a different existing file."),
]


@bundle_app.command("keygen")
def keygen_cmd(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Secret key file; the public key is KEY.pub.")
    ],
    no_password: Annotated[
        bool, typer.Option("--no-password", help="Store the secret key unencrypted.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing key files.")] = False,
) -> None:
    """Make an Ed25519 key pair in minisign's format for `bundle build --sign`."""
    from harborkit.bundle import sign

    password = None if no_password else sign.read_password(output, confirm=True)
    key = sign.generate()
    secret, public = sign.write_key_pair(output, key, password, force=force)
    typer.echo(f"secret key {secret} ({'unencrypted' if no_password else 'password-protected'})")
    typer.echo(f"public key {public} (key id {key.public.id_hex}); on the target:")
    typer.echo(f"  harborkit bundle verify BUNDLE --key {public.name}")
    typer.echo(f"  minisign -Vm SHA256SUMS -P {key.public.base64}")
