"""``harborkit bundle push``: verify a bundle, push its images to a registry.

``bundle build --from registry...`` is in :mod:`.core` (its steps in :mod:`.helpers`);
this module imports neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harborkit.commands.bundle.base import bundle_app, interruptible, mb
from harborkit.commands.bundle.options import (
    CaOpt,
    InsecureOpt,
    PasswordOpt,
    QuietOpt,
    UserOpt,
    WorkersOpt,
)

#: said once under the pushed images whose manifest harborkit wrote itself
NEW_MANIFEST_NOTE = (
    "* new manifest: the bundle was built from a Docker daemon, which keeps no registry "
    "manifest, so harborkit wrote one from the image's config and layers; the image id and "
    "layers are the originals, the manifest digest differs from the source registry's"
)


@bundle_app.command("push")
@interruptible
def push_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle file.")],
    registry: Annotated[str, typer.Option("--registry", help="Target registry HOST[:PORT].")],
    project: Annotated[
        Optional[str],
        typer.Option("--project", help="Harbor project (replaces each image's namespace)."),
    ] = None,
    insecure: InsecureOpt = False,
    ca: CaOpt = None,
    username: UserOpt = None,
    password: PasswordOpt = None,
    workers: WorkersOpt = 6,
    quiet: QuietOpt = False,
) -> None:
    """Verify the bundle, then push every image to a registry with the digests it records."""
    from harborkit.bundle.progress import make_progress
    from harborkit.bundle.push import push_bundle
    from harborkit.registry.endpoint import Endpoint, parse_host

    endpoint = Endpoint(
        host=parse_host(registry),
        insecure=insecure,
        ca_file=ca,
        username=username,
        password=password,
    )
    with make_progress(quiet) as progress:
        result = push_bundle(bundle, endpoint, project=project, workers=workers, progress=progress)
    if not quiet:
        for img in result.images:
            typer.echo(f"{img.target}@{img.digest}{'' if img.from_source else ' *'}")
        if any(not img.from_source for img in result.images):
            typer.echo(NEW_MANIFEST_NOTE)
        typer.echo(
            f"pushed {len(result.images)} images to {endpoint.host}: {result.uploaded} blobs "
            f"uploaded ({mb(result.bytes_uploaded)}), {result.mounted} mounted, "
            f"{result.existing} already there"
        )
