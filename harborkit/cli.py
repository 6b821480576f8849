"""Command line: parse options, call the core, turn errors into exit codes.

The CLI owns all terminal and file output; the layers below return data.
Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from harborkit import __version__
from harborkit.bundle.cli import bundle_app
from harborkit.clihelp import HarborOption, HelpGroup
from harborkit.errors import ExitCode, HarborkitError
from harborkit.fix.cli import fix_command
from harborkit.report import OutputFormat

if TYPE_CHECKING:
    from harborkit.engine.cluster import ClusterReport
    from harborkit.engine.interface import Report
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
app.command(name="fix")(fix_command)
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
    roots: Annotated[
        list[str] | None,
        typer.Option(
            "--root",
            help="Audit a sysroot folder (etc/, proc/sys/ ...) instead of this machine; "
            "repeat to audit several as one cluster.",
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
    harbor: HarborOption = None,
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
    command_timeout: Annotated[
        float,
        typer.Option(
            "--command-timeout",
            help="Deadline of each remote call in seconds, connecting included "
            "(a host that misses it is an error, the others are still judged).",
        ),
    ] = 45.0,
    accept_new_host_keys: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-keys",
            help="Add unknown host keys to known_hosts (never changed ones).",
        ),
    ] = False,
    phase: Annotated[
        str, typer.Option("--phase", help="pre: before the install; post: the running Harbor; all.")
    ] = "pre",
    smoke: Annotated[
        str | None, typer.Option("--smoke", help="post: push/pull round trip in PROJECT.")
    ] = None,
    harbor_user: Annotated[
        str | None,
        typer.Option(
            "--harbor-user", help="post: Harbor user (password: HARBORKIT_HARBOR_PASSWORD)."
        ),
    ] = None,
    ca: Annotated[
        str | None, typer.Option("--ca", help="post: CA file for Harbor's https.")
    ] = None,
    replication_target: Annotated[
        list[str] | None,
        typer.Option("--replication-target", help="post: replication registry URL (repeatable)."),
    ] = None,
    replication_user: Annotated[
        str | None,
        typer.Option("--replication-user", help="post: user at the replication targets."),
    ] = None,
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
        command_timeout=command_timeout,
    )
    validate(remote, roots[0] if roots else None)
    from harborkit.engine.interface import CheckContext, CheckOptions
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile, with_harbor, with_nodes
    from harborkit.engine.runner import Selection, run_checks
    from harborkit.engine.session import check_options, host_path, root_options, split_names
    from harborkit.engine.waivers import load_waivers
    from harborkit.host import LocalHost, SysrootHost

    loaded, failures = discover()
    if list_checks:
        for lc in loaded:
            print(
                f"{lc.cls.id:24} {lc.cls.group:10} {lc.cls.severity.value:8} {lc.cls.title}  [{lc.source}]"
            )
        from harborkit.engine.cluster import builtin_cluster_checks

        for cc in builtin_cluster_checks():  # judged across nodes when several hosts are audited
            print(f"{cc.id:24} {cc.group:10} {cc.severity.value:8} {cc.title}  [harborkit]")
        for pf in failures:
            print(f"(broken plugin {pf.source}: {pf.error})")
        return

    root = roots[0] if roots else None
    prof = with_harbor(with_nodes(load_profile(profile), node or []), harbor)
    from harborkit.checks import post

    prof = post.with_options(
        prof, phase, smoke, harbor_user, ca, replication_target, replication_user
    )
    waiver_list = load_waivers(waivers) if waivers else []
    selection = Selection(
        prof.select, prof.skip, split_names(only), split_names(skip) + post.cross_skips(phase)
    )
    from harborkit.engine.cluster import builtin_cluster_checks

    cross = builtin_cluster_checks()
    selection.validate_names([*(lc.cls for lc in loaded), *cross], failures)  # type: ignore[list-item]
    loaded = post.of_phase(loaded, phase, selection)
    from harborkit.engine.session import require_some

    require_some(selection, loaded, cross if remote.used or len(roots or ()) > 1 else [], failures)
    if remote.used:
        from harborkit.remote_cli import print_failures, run_remote

        run = run_remote(
            remote,
            loaded=loaded,
            profile=prof,
            selection=selection,
            waivers=waiver_list,
            plugin_failures=failures,
            options=CheckOptions(host_path(harbor_config, "/"), host_path(install_dir, "/")),
        )
        _emit(
            run.report,
            fmt,
            output,
            strict=strict,
            verbose=verbose,
            no_color=no_color,
            then=lambda: print_failures(run),
            exit_code=run.failure_exit or None,
        )
    if roots and len(roots) > 1:
        from harborkit.engine.cluster import run_cluster

        sysroots = [SysrootHost(r) for r in roots]
        # each sysroot's own --harbor-config/--install-dir, checked before anything runs
        per_root = {
            id(h): root_options(h, prof.data, harbor_config, install_dir, r)
            for h, r in zip(sysroots, roots, strict=True)
        }
        cluster = run_cluster(
            sysroots,
            loaded,
            prof,
            selection=selection,
            waivers=waiver_list,
            plugin_failures=failures,
            options=lambda h: per_root[id(h)],
        )
        _emit(cluster, fmt, output, strict=strict, verbose=verbose, no_color=no_color)
    host: Host = SysrootHost(root) if root else LocalHost()
    ctx = CheckContext(
        host=host,
        profile=prof.data,
        options=check_options(host, prof.data, harbor_config, install_dir, root),
    )
    report = run_checks(
        loaded,
        ctx,
        profile_name=prof.name,
        profile_path=prof.path,
        selection=selection,
        waivers=waiver_list,
        plugin_failures=failures,
        also_known=[c.id for c in cross],
    )
    _emit(report, fmt, output, strict=strict, verbose=verbose, no_color=no_color)


def _emit(
    report: Report | ClusterReport,
    fmt: OutputFormat,
    output: Path | None,
    *,
    strict: bool,
    verbose: bool,
    no_color: bool,
    then: Callable[[], None] | None = None,
    exit_code: int | None = None,
) -> NoReturn:
    """Render a host's or a cluster's report to stdout or FILE, call ``then``
    (error lines after the report), and exit with ``exit_code`` or the report's."""
    from harborkit.report import summary

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
        print(summary(report, strict), file=sys.stderr)  # every format, as the README says
    else:
        sys.stdout.write(text)
    if then is not None:
        then()
    raise typer.Exit(exit_code if exit_code is not None else report.exit_code(strict=strict))


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
        from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[no-redef,assignment]
    from harborkit.report.safe import terminal_line  # names in errors come from hosts and files

    try:
        code = app(prog_name="harborkit", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except NoArgsIsHelpError:
        sys.exit(ExitCode.USAGE)  # the help was shown
    except UsageError as e:
        print(terminal_line(_usage_line(e)), file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    except typer.Abort:
        print("harborkit: interrupted", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)
    except HarborkitError as e:
        print(f"harborkit: error: {terminal_line(e.message)}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("harborkit: interrupted", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)
