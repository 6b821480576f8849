"""The ``harborkit`` typer app: every command registered once, in help order."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from harborkit import __version__
from harborkit.commands.bundle import core as _bundle_core  # build, verify, load, inspect
from harborkit.commands.bundle import manifest as _bundle_manifest  # manifest show, init
from harborkit.commands.bundle import registry as _bundle_registry  # push (listed after)
from harborkit.commands.bundle import trust as _bundle_trust  # keygen (listed last)
from harborkit.commands.bundle.base import bundle_app
from harborkit.commands.check import check
from harborkit.commands.collect import collect
from harborkit.commands.fix import fix_command
from harborkit.commands.help import HelpGroup
from harborkit.commands.profile import profile_app

# imported for the commands they register on bundle_app, in this order
_ = (_bundle_core, _bundle_registry, _bundle_trust, _bundle_manifest)

app = typer.Typer(
    name="harborkit",
    cls=HelpGroup,
    help="Preflight audits and air-gap bundles for Harbor container registry installs.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: no rich imported (help.py says why)
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(bundle_app, name="bundle")
app.command(name="fix")(fix_command)
app.add_typer(profile_app, name="profile")


def _version(value: bool) -> None:
    if value:
        print(f"harborkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Preflight audits and air-gap bundles for Harbor container registry installs."""


app.command()(check)
app.command()(collect)

if sys.version_info < (3, 10):  # typer evaluates the annotations itself on 3.10+ only
    from harborkit.commands.annotations import resolve

    resolve(app)
