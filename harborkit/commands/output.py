"""Result printing and exit codes: reports to stdout or a file, errors as one line.

The commands own all terminal and file output; the layers below return data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NoReturn

import typer

from harborkit.commands.options import ReportOptions
from harborkit.errors import ExitCode, HarborkitError
from harborkit.report import OutputFormat

if TYPE_CHECKING:
    from harborkit.engine.cluster import ClusterReport
    from harborkit.model.result import Report


def one(text: str) -> str:
    """A value from a host, a file or a journal as one line for the terminal."""
    from harborkit.textsafe import terminal_line

    return terminal_line(text)


def emit(
    report: Report | ClusterReport,
    opts: ReportOptions,
    *,
    then: Callable[[], None] | None = None,
    exit_code: int | None = None,
) -> NoReturn:
    """Render a host's or a cluster's report to stdout or FILE, call ``then``
    (error lines after the report), and exit with ``exit_code`` or the report's."""
    from harborkit.report import summary

    fmt, output, strict = opts.fmt, opts.output, opts.strict
    render = __import__("harborkit.report", fromlist=["renderer"]).renderer(fmt)
    to_terminal = output is None and sys.stdout.isatty()
    kwargs: dict[str, object] = {
        "strict": strict,
        "color": to_terminal and not opts.no_color and "NO_COLOR" not in os.environ,
    }
    if fmt is OutputFormat.table:
        import shutil

        kwargs["width"] = shutil.get_terminal_size((120, 24)).columns if to_terminal else 120
        kwargs["verbose"] = opts.verbose
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


def print_errors(lines: Iterable[str]) -> None:
    """``harborkit: error: LINE`` on stderr for each line (each names a host or a file)."""
    for line in lines:
        print(f"harborkit: error: {one(line)}", file=sys.stderr)


def usage_line(e: Exception) -> str:
    """A command-line mistake as one line of ours, click's wording as the detail."""
    text = " ".join(str(getattr(e, "format_message", lambda: e)()).split())
    text = text.replace("Value error, ", "")  # typer's conversion prefix
    ctx = getattr(e, "ctx", None)
    path = getattr(ctx, "command_path", None) or "harborkit"
    return f"harborkit: error: {text} (see '{path} -h')"


def run_app(app: typer.Typer) -> NoReturn:
    """Run the app and exit: errors as one line and the exit code README.md gives."""
    try:
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:  # pragma: no cover - typer versions that use click itself
        from click.exceptions import UsageError  # type: ignore[assignment,no-redef]

        NoArgsIsHelpError = _old_click_no_args_error()  # type: ignore[assignment,misc]

    try:
        code = app(prog_name="harborkit", standalone_mode=False)
        if code in (0, None) and NoArgsIsHelpError is _ShownHelp and _help_for_no_args(app):
            sys.exit(ExitCode.USAGE)  # click < 8.2 (Python 3.9) showed the help and said 0
        sys.exit(code if isinstance(code, int) else 0)
    except NoArgsIsHelpError as e:
        _print_help(e.format_message())  # plain text: click leaves it to its caller
        sys.exit(ExitCode.USAGE)
    except UsageError as e:
        print(one(usage_line(e)), file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    except typer.Abort:
        print("harborkit: interrupted", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)
    except HarborkitError as e:
        print(f"harborkit: error: {one(e.message)}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("harborkit: interrupted", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)


def _print_help(text: str) -> None:
    """The help on stdout; a reader that went away (``harborkit | head``) is no error."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # nothing more reaches the reader: the interpreter's last flush must not fail either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _ShownHelp(Exception):
    """Stands in for click 8.2's NoArgsIsHelpError, which click 8.1 (Python 3.9) lacks."""


def _old_click_no_args_error() -> type[Exception]:
    try:
        from click.exceptions import NoArgsIsHelpError

        return NoArgsIsHelpError  # type: ignore[no-any-return]
    except ImportError:
        return _ShownHelp


def _help_for_no_args(app: typer.Typer) -> bool:
    """Whether the command line names only commands whose help shows without arguments:
    click 8.1 prints that help and returns 0, click 8.2 raises NoArgsIsHelpError."""
    cmd: object = typer.main.get_command(app)
    for arg in sys.argv[1:]:
        sub = getattr(cmd, "commands", {}).get(arg)
        if sub is None:
            return False
        cmd = sub
    return bool(getattr(cmd, "no_args_is_help", False))
