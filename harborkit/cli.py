"""Command line: parse options, call the core, turn errors into exit codes.

The CLI owns all terminal and file output; the layers below return data.
Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from harborkit import __version__
from harborkit.bundle.cli import bundle_app
from harborkit.errors import ExitCode, HarborkitError
from harborkit.fix.cli import fix_command
from harborkit.report import OutputFormat

app = typer.Typer(
    name="harborkit",
    help="Preflight audits and air-gap bundles for Harbor container registry installs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(bundle_app, name="bundle")
app.command(name="fix")(fix_command)


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


@app.command()
def check(
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            "-p",
            help="Baseline profile (YAML); default: the built-in Harbor v1.8.0 baseline.",
        ),
    ] = None,
    root: Annotated[
        str | None,
        typer.Option(
            "--root", help="Audit a sysroot folder (etc/, proc/sys/ ...) instead of this machine."
        ),
    ] = None,
    harbor_config: Annotated[
        str | None,
        typer.Option("--harbor-config", help="harbor.yml to check (a path on the audited host)."),
    ] = None,
    install_dir: Annotated[
        str | None,
        typer.Option("--install-dir", help="Harbor installer folder holding harbor.yml."),
    ] = None,
    node: Annotated[
        list[str] | None,
        typer.Option("--node", help="Cluster node NAME=ADDRESS that must resolve (repeatable)."),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Report format.")
    ] = OutputFormat.table,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the report to FILE (atomically) instead of stdout."
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Count warnings as failures.")] = False,
    waivers: Annotated[
        Path | None,
        typer.Option(
            "--waivers", help="YAML file of accepted failures: id, reason, optional expires."
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", help="Run only these check ids or groups (repeatable, comma-separated)."
        ),
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option(
            "--skip", help="Skip these check ids or groups (repeatable, comma-separated)."
        ),
    ] = None,
    list_checks: Annotated[
        bool, typer.Option("--list", help="List the installed checks and exit.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Table: show passing findings too.")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours in the table.")] = False,
) -> None:
    """Audit a host against the Harbor baseline.

    Exit codes: 0 no failures, 1 failures (or warnings with --strict),
    2 usage or bad input file, 3 environment error.
    """
    from harborkit.engine.registry import discover
    from harborkit.engine.session import prepare
    from harborkit.engine.waivers import load_waivers

    loaded, failures = discover()
    if list_checks:
        for lc in loaded:
            print(
                f"{lc.cls.id:24} {lc.cls.group:10} {lc.cls.severity.value:8} {lc.cls.title}  [{lc.source}]"
            )
        for pf in failures:
            print(f"(broken plugin {pf.source}: {pf.error})")
        return

    session = prepare(
        profile=profile,
        root=root,
        harbor_config=harbor_config,
        install_dir=install_dir,
        node=node,
        only=only,
        skip=skip,
        loaded=loaded,
        failures=failures,
    )
    waiver_list = load_waivers(waivers) if waivers else []
    report = session.run(waiver_list)

    render = __import__("harborkit.report", fromlist=["renderer"]).renderer(fmt)
    to_terminal = output is None and sys.stdout.isatty()
    kwargs: dict[str, object] = {
        "strict": strict,
        "color": to_terminal and not no_color and "NO_COLOR" not in os.environ,
    }
    if fmt is OutputFormat.table:
        import shutil

        kwargs["width"] = shutil.get_terminal_size((120, 24)).columns if to_terminal else 120
        kwargs["verbose"] = verbose
    text = render(report, **kwargs)
    if output is not None:
        from harborkit.fsutil import atomic_write_text

        atomic_write_text(output, text)
        if fmt is not OutputFormat.table:
            from harborkit.report.table import summary_line

            print(summary_line(report, strict), file=sys.stderr)
    else:
        sys.stdout.write(text)
    raise typer.Exit(report.exit_code(strict=strict))


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
