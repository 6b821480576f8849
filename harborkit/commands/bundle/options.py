"""The options of the ``bundle`` commands, declared once (``build`` shares the
registry options with ``push`` and the trust options with ``verify`` and ``load``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional  # noqa: UP035 (typer: Python 3.9)

import typer

from harborkit.commands.options import REMOTE

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no summary.")]

# --------------------------------------------------------------- registries (build --from, push)
FromOpt = Annotated[
    Optional[str],
    typer.Option(
        "--from",
        help="Take the images from a registry instead of the daemon: 'registry' (Docker Hub) "
        "or 'registry://HOST[:PORT]'.",
    ),
]
CacheOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--cache", help="Blob cache for registry builds (default ~/.cache/harborkit/blobs)."
    ),
]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="Talk plain HTTP to the registry.")]
CaOpt = Annotated[
    Optional[Path], typer.Option("--ca", help="CA certificate file for the registry's TLS.")
]
UserOpt = Annotated[
    Optional[str],
    typer.Option("--username", "-u", help="Registry user (default: the Docker config file)."),
]
PasswordOpt = Annotated[
    Optional[str],
    typer.Option(
        "--password", envvar="HARBORKIT_REGISTRY_PASSWORD", help="Registry password or token."
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Parallel transfers.")]

# --------------------------------------------------------------- signatures, parts, deltas, tools
SignOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--sign",
        help="Sign SHA256SUMS with this minisign secret key (password from "
        "HARBORKIT_KEY_PASSWORD or a prompt).",
    ),
]
SplitOpt = Annotated[
    Optional[str],
    typer.Option(
        "--split-size",
        help="Write NAME.part-000 ... of at most SIZE bytes (4G = 4e9 fits FAT32, 4700M a DVD; "
        "4GiB = 2^32) and NAME.parts.sha256.",
    ),
]
FileOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--file",
        help="A local copy (path or http(s) URL) of a manifest file, as NAME=PATH|URL (repeatable).",
    ),
]
NoToolsOpt = Annotated[
    bool, typer.Option("--no-tools", help="Carry none of the manifest's extra files.")
]
BaseOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--base",
        help="Older bundle the target has loaded: leave out the layers its images hold (a delta).",
    ),
]
KeyOpt = Annotated[
    Optional[str],
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
AllowInstallPathOpt = Annotated[
    bool,
    typer.Option(
        "--allow-install-path",
        help="With --install-tools: install a bundle's tools where its metadata says, even "
        "outside /usr/local/bin when its signature is not checked with --key.",
    ),
]

# --------------------------------------------------------------- load on other machines (--host)
# check's remote options, with help that says what they do for a load
LoadHostsOpt = Annotated[
    Optional[List[str]],  # noqa: UP006 (typer evaluates it: Python 3.9)
    typer.Option(
        "--host",
        help="Load on [ssh://][USER@]HOST[:PORT] over SSH instead of this machine's daemon "
        "(repeatable, comma-separated); the host needs sh, tar, coreutils and the docker CLI.",
        rich_help_panel=REMOTE,
    ),
]
LoadInventoryOpt = Annotated[
    Optional[str],
    typer.Option(
        "--inventory",
        "-i",
        help="Load on the hosts of an Ansible inventory (INI/YAML) over SSH.",
        rich_help_panel=REMOTE,
    ),
]
LoadLimitOpt = Annotated[
    Optional[str],
    typer.Option(
        "--limit",
        "-l",
        help="Inventory hosts or groups to load on (Ansible pattern).",
        rich_help_panel=REMOTE,
    ),
]
LoadForksOpt = Annotated[
    int, typer.Option("--forks", help="Hosts loaded on in parallel.", rich_help_panel=REMOTE)
]
LoadBecomeOpt = Annotated[
    bool,
    typer.Option(
        "--become",
        help="Run docker, tar and the installs on the host as root through sudo -n "
        "(never a password prompt).",
        rich_help_panel=REMOTE,
    ),
]
