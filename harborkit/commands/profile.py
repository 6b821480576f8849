"""``harborkit profile show|init|check``: the built-in profile, a site profile, validation."""

# typer evaluates these annotations at run time: Optional and List keep them valid on 3.9
# ruff: noqa: UP006, UP035

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from harborkit.commands.help import HelpGroup

profile_app = typer.Typer(
    cls=HelpGroup,
    help="Print the built-in profile, make a site profile, validate one.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help (commands/help.py)
)


def write_text(text: str, output: Optional[Path]) -> None:
    """``text`` to ``output`` (atomically) or to stdout."""
    if output is None:
        typer.echo(text, nl=False)
        return
    from harborkit.fsutil import atomic_write_text

    atomic_write_text(output, text)
    typer.echo(f"wrote {output}", err=True)


OutputOpt = Annotated[
    Optional[Path],
    typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (default: stdout)."),
]


@profile_app.command("show")
def show_cmd() -> None:
    """Print the built-in profile (harbor-v1.8.0) exactly as packaged."""
    from harborkit.engine.site import builtin_text

    typer.echo(builtin_text(), nl=False)


@profile_app.command("init")
def init_cmd(
    node: Annotated[
        Optional[List[str]],
        typer.Option(
            "--node",
            metavar="NAME=ADDRESS",
            help="A cluster node and its IPv4/IPv6 address (repeatable).",
        ),
    ] = None,
    ntp_master: Annotated[
        Optional[str],
        typer.Option(
            "--ntp-master", metavar="NODE", help="The NTP master: a node's name or address."
        ),
    ] = None,
    harbor: Annotated[
        Optional[str],
        typer.Option(
            "--harbor",
            metavar="HOST[:PORT]",
            help="Harbor's address: HOST[:PORT] (plain HTTP) or an http(s):// URL.",
        ),
    ] = None,
    air_gapped: Annotated[
        Optional[bool],
        typer.Option(
            "--air-gapped/--online",
            help="The site has no route to the internet (default: the built-in value, air-gapped).",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="The site profile's name.")
    ] = "site",
    output: OutputOpt = None,
) -> None:
    """Write a site profile: the built-in one, commented, with your nodes, NTP master and Harbor."""
    from harborkit.engine.site import Site, site_profile

    site = Site(tuple(node or ()), ntp_master, harbor, air_gapped, name)
    write_text(site_profile(site), output)


@profile_app.command("check")
def check_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The profile to validate.")],
) -> None:
    """Validate a profile as `check --profile` reads it: each mistake one file:line line."""
    from harborkit.commands.output import one
    from harborkit.engine.site import check_profile, profile_problems
    from harborkit.errors import ExitCode

    problems = profile_problems(file)
    if problems:
        for line in problems:
            typer.echo(f"harborkit: error: {one(line)}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    prof = check_profile(file)
    nodes = len(prof.data.get("nodes") or [])
    typer.echo(f"{file}: valid profile {prof.name} ({nodes} node{'s' if nodes != 1 else ''})")
