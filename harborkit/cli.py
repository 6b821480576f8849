"""Command line: parse options, call the core, turn errors into exit codes.

The CLI owns all terminal and file output; the layers below return data.
Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import sys

import typer

from harborkit.bundle.cli import bundle_app
from harborkit.errors import ExitCode, HarborkitError

app = typer.Typer(
    name="harborkit",
    help="Preflight audits and air-gap bundles for Harbor container registry installs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(bundle_app, name="bundle")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except HarborkitError as e:
        print(f"harborkit: error: {e.message}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("harborkit: interrupted", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)
