"""``harborkit collect --script``: print the snapshot collector for a host."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def collect(
    script_: Annotated[
        bool,
        typer.Option("--script", help="Print the collector (POSIX sh) to run on a host."),
    ] = False,
    profile: Annotated[
        Path | None,
        typer.Option("--profile", "-p", help="Profile whose facts to gather (default: built-in)."),
    ] = None,
    harbor_config: Annotated[
        str | None, typer.Option("--harbor-config", help="harbor.yml path on the host.")
    ] = None,
    install_dir: Annotated[
        str | None, typer.Option("--install-dir", help="Harbor installer folder on the host.")
    ] = None,
    node: Annotated[
        list[str] | None,
        typer.Option("--node", help="Cluster node NAME=ADDRESS whose name to resolve."),
    ] = None,
) -> None:
    """Print the snapshot collector: sh collect.sh > HOST.hksnap on the target,
    then harborkit check --snapshot HOST.hksnap here."""
    from harborkit.collect import script, wants_for
    from harborkit.engine.interface import CheckOptions
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile, with_nodes

    if not script_:
        from harborkit.errors import InputError

        raise InputError("collect: say what to print: --script (see harborkit collect --help)")
    prof = with_nodes(load_profile(profile), node or [])
    loaded, _ = discover()
    from harborkit.engine.session import host_path

    options = CheckOptions(host_path(harbor_config, "/"), host_path(install_dir, "/"))
    sys.stdout.write(script(wants_for(prof.data, options, [lc.cls for lc in loaded])))
