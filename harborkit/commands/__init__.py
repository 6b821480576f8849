"""The command line: every typer app of harborkit, and nothing else imports typer.

``app`` assembles the commands (``check``, ``collect``, ``fix``, ``bundle ...``);
``options`` declares the check/fix/remote options once; ``output`` prints
results and turns errors into exit codes. Importing this package imports no
command: ``main`` loads them when it runs.
"""

from __future__ import annotations


def main() -> None:
    """Console-script entry point (``harborkit``, ``python -m harborkit``)."""
    import sys

    from harborkit.commands import early

    early.start(sys.argv[1:])  # a local check's slow probes, before anything loads (early.py)

    from harborkit.commands import lean

    lean.install()  # values converted without pydantic (lean.py says why)
    from harborkit.commands.app import app
    from harborkit.commands.output import run_app

    lean.resolve_annotations(app)  # typer evaluates none of them twice (lean.py says why)

    run_app(app)
