"""CLI glue for the registry paths: ``bundle build --from registry...`` and ``bundle push``.

Kept apart from ``cli.py`` (which only forwards ``--from`` here and imports this
module to register ``push``); both take the app and options from ``cli_base.py``,
never from each other. Only ``typer`` is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from harborkit.bundle.cli_base import QuietOpt, _mb, bundle_app, interruptible

if TYPE_CHECKING:
    from harborkit.bundle.extras import BuildExtras

FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Take the images from a registry instead of the daemon: 'registry' (Docker Hub) "
        "or 'registry://HOST[:PORT]'.",
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache", help="Blob cache for registry builds (default ~/.cache/harborkit/blobs)."
    ),
]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="Talk plain HTTP to the registry.")]
CaOpt = Annotated[
    Path | None, typer.Option("--ca", help="CA certificate file for the registry's TLS.")
]
UserOpt = Annotated[
    str | None,
    typer.Option("--username", "-u", help="Registry user (default: the Docker config file)."),
]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password", envvar="HARBORKIT_REGISTRY_PASSWORD", help="Registry password or token."
    ),
]
#: said once under the pushed images whose manifest harborkit wrote itself
NEW_MANIFEST_NOTE = (
    "* new manifest: the bundle was built from a Docker daemon, which keeps no registry "
    "manifest, so harborkit wrote one from the image's config and layers; the image id and "
    "layers are the originals, the manifest digest differs from the source registry's"
)
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Parallel transfers.")]


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
            f"wrote {result.path} ({_mb(result.size)}): {len(result.metadata.images)} images, "
            f"{len(result.metadata.layers)} layers from {endpoint.host}; blobs: {s.fetched} "
            f"fetched ({_mb(s.bytes_fetched)}, {s.resumed} resumed), {s.cached} from the cache"
        )


@bundle_app.command("push")
@interruptible
def push_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle file.")],
    registry: Annotated[str, typer.Option("--registry", help="Target registry HOST[:PORT].")],
    project: Annotated[
        str | None,
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
            f"uploaded ({_mb(result.bytes_uploaded)}), {result.mounted} mounted, "
            f"{result.existing} already there"
        )
