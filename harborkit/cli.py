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
    hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="Audit [ssh://][USER@]HOST[:PORT] over SSH (repeatable, comma-separated).",
        ),
    ] = None,
    snapshot: Annotated[
        list[str] | None,
        typer.Option("--snapshot", help="Judge a snapshot FILE, or a DIR of *.hksnap files."),
    ] = None,
    inventory: Annotated[
        str | None,
        typer.Option(
            "--inventory", "-i", help="Audit the hosts of an Ansible inventory (INI/YAML)."
        ),
    ] = None,
    limit: Annotated[
        str | None,
        typer.Option("--limit", "-l", help="Inventory hosts or groups to audit (Ansible pattern)."),
    ] = None,
    forks: Annotated[int, typer.Option("--forks", help="Hosts audited in parallel.")] = 10,
    ssh_config: Annotated[
        str | None, typer.Option("--ssh-config", help="ssh_config file (ssh -F).")
    ] = None,
    become: Annotated[
        bool, typer.Option("--become", help="Collect as root through sudo -n.")
    ] = False,
    connect_timeout: Annotated[
        float, typer.Option("--connect-timeout", help="SSH connect timeout in seconds.")
    ] = 10.0,
    accept_new_host_keys: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-keys",
            help="Add unknown host keys to known_hosts (never changed ones).",
        ),
    ] = False,
) -> None:
    """Audit a host against the Harbor baseline.

    Exit codes: 0 no failures, 1 failures (or warnings with --strict),
    2 usage or bad input file, 3 environment error, 4 a snapshot is truncated or
    edited, 11 a host could not be audited (the others are still reported).
    """
    from harborkit.remote_cli import RemoteOptions, validate

    remote = RemoteOptions(
        hosts=tuple(hosts or ()),
        snapshots=tuple(snapshot or ()),
        inventory=inventory,
        limit=limit,
        forks=forks,
        ssh_config=ssh_config,
        become=become,
        connect_timeout=connect_timeout,
        accept_new_host_keys=accept_new_host_keys,
    )
    validate(remote, root)
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
    if remote.used:
        from harborkit.engine.interface import CheckOptions
        from harborkit.engine.session import host_path

        _check_remote(
            remote,
            loaded=loaded,
            prof=session.profile,
            selection=session.selection,
            waivers=waiver_list,
            failures=failures,
            options=CheckOptions(host_path(harbor_config, "/"), host_path(install_dir, "/")),
            fmt=fmt,
            output=output,
            strict=strict,
            verbose=verbose,
            no_color=no_color,
        )
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


def _check_remote(
    remote: object,
    *,
    loaded: list,  # type: ignore[type-arg]
    prof: object,
    selection: object,
    waivers: list,  # type: ignore[type-arg]
    failures: list,  # type: ignore[type-arg]
    options: object,
    fmt: OutputFormat,
    output: Path | None,
    strict: bool,
    verbose: bool,
    no_color: bool,
) -> None:
    """``check --host/--snapshot/--inventory``: many hosts, one report."""
    from harborkit.remote_cli import RemoteOptions, print_failures, render_cluster, run_remote

    assert isinstance(remote, RemoteOptions)
    run = run_remote(
        remote,
        loaded=loaded,
        profile=prof,
        selection=selection,
        waivers=waivers,
        plugin_failures=failures,
        options=options,
    )
    to_terminal = output is None and sys.stdout.isatty()
    color = to_terminal and not no_color and "NO_COLOR" not in os.environ
    import shutil

    width = shutil.get_terminal_size((120, 24)).columns if to_terminal else 120
    text, summary = render_cluster(
        run.report, fmt, strict=strict, color=color, width=width, verbose=verbose
    )
    if output is not None:
        from harborkit.fsutil import atomic_write_text

        atomic_write_text(output, text)
        print(summary, file=sys.stderr)
    else:
        sys.stdout.write(text)
    print_failures(run)
    raise typer.Exit(run.failure_exit or run.report.exit_code(strict=strict))


@app.command()
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
    from harborkit.engine.profile import load_profile, with_nodes
    from harborkit.engine.registry import discover

    if not script_:
        raise typer.BadParameter("say what to print: --script")
    prof = with_nodes(load_profile(profile), node or [])
    loaded, _ = discover()
    from harborkit.engine.session import host_path

    options = CheckOptions(host_path(harbor_config, "/"), host_path(install_dir, "/"))
    sys.stdout.write(script(wants_for(prof.data, options, [lc.cls for lc in loaded])))


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
