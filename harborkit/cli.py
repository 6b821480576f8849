"""Command line: parse options, call the core, turn errors into exit codes.

The CLI owns all terminal and file output; the layers below return data.
Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harborkit import __version__
from harborkit.bundle.cli import bundle_app
from harborkit.clihelp import HelpGroup
from harborkit.errors import ExitCode, HarborkitError, InputError
from harborkit.report import OutputFormat

if TYPE_CHECKING:
    from harborkit.engine.interface import CheckOptions
    from harborkit.host.interface import Host

app = typer.Typer(
    name="harborkit",
    cls=HelpGroup,
    help="Preflight audits and air-gap bundles for Harbor container registry installs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(bundle_app, name="bundle")


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


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return tuple(out)


def _host_path(path: str | None, root: str | None) -> str | None:
    """Paths of files on the audited host: absolute; relative ones are taken
    from the current directory on a live host, from the sysroot's / otherwise."""
    if path is None:
        return None
    if root is None:
        return os.path.abspath(path)
    return path if path.startswith("/") else "/" + path


def _check_options(
    host: Host,
    profile: Mapping[str, Any],
    harbor_config: str | None,
    install_dir: str | None,
    root: str | None,
) -> CheckOptions:
    """--harbor-config and --install-dir as paths on the audited host; one that
    names nothing there is a usage error, not a failed check."""
    from harborkit.checks._harbor import find_install_dir
    from harborkit.engine.interface import CheckOptions

    where = f" in the sysroot {root}" if root else ""
    config = _host_path(harbor_config, root)
    if config is not None and not host.exists(config):
        raise InputError(f"--harbor-config {config}: no such file{where}")
    inst = _host_path(install_dir, root)
    if inst is not None:
        names = list((profile.get("harbor") or {}).get("config_names") or ["harbor.yml"])
        inst = find_install_dir(host, inst, names)
    return CheckOptions(config, inst)


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
        typer.Option(
            "--install-dir",
            help="Harbor folder holding harbor.yml, or the folder 'bundle load --install-dir' "
            "unpacked into (its harbor/ is used).",
        ),
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
    from harborkit.engine.interface import CheckContext
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile, with_nodes
    from harborkit.engine.runner import Selection, run_checks
    from harborkit.engine.waivers import load_waivers
    from harborkit.host import LocalHost, SysrootHost

    loaded, failures = discover()
    if list_checks:
        for lc in loaded:
            print(
                f"{lc.cls.id:24} {lc.cls.group:10} {lc.cls.severity.value:8} {lc.cls.title}  [{lc.source}]"
            )
        for pf in failures:
            print(f"(broken plugin {pf.source}: {pf.error})")
        return

    prof = with_nodes(load_profile(profile), node or [])
    waiver_list = load_waivers(waivers) if waivers else []
    selection = Selection(prof.select, prof.skip, _split(only), _split(skip))
    selection.validate_names([lc.cls for lc in loaded], failures)
    host: Host = SysrootHost(root) if root else LocalHost()
    ctx = CheckContext(
        host=host,
        profile=prof.data,
        options=_check_options(host, prof.data, harbor_config, install_dir, root),
    )
    report = run_checks(
        loaded,
        ctx,
        profile_name=prof.name,
        profile_path=prof.path,
        selection=selection,
        waivers=waiver_list,
        plugin_failures=failures,
    )

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
        from harborkit.report.table import summary_line

        print(summary_line(report, strict), file=sys.stderr)  # every format, as the README says
    else:
        sys.stdout.write(text)
    raise typer.Exit(report.exit_code(strict=strict))


def _usage_line(e: Exception) -> str:
    """A command-line mistake as one line of ours, click's wording as the detail."""
    text = " ".join(str(getattr(e, "format_message", lambda: e)()).split())
    text = text.replace("Value error, ", "")  # typer's conversion prefix
    ctx = getattr(e, "ctx", None)
    path = getattr(ctx, "command_path", None) or "harborkit"
    return f"harborkit: error: {text} (see '{path} -h')"


def main() -> None:
    """Console-script entry point."""
    try:
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:  # pragma: no cover - typer versions that use click itself
        from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[no-redef]
    try:
        code = app(prog_name="harborkit", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except NoArgsIsHelpError:
        sys.exit(ExitCode.USAGE)  # the help was shown
    except UsageError as e:
        print(_usage_line(e), file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    except typer.Abort:
        print("harborkit: interrupted", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)
    except HarborkitError as e:
        print(f"harborkit: error: {e.message}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("harborkit: interrupted", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)
