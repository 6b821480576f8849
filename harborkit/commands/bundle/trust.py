"""``harborkit bundle keygen``: a key pair in minisign's format for ``build --sign``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harborkit.commands.bundle.base import bundle_app


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
