"""The human report: a table of checks with the findings that need attention."""

from __future__ import annotations

import io

from harborkit.model.check import Status
from harborkit.model.result import CheckResult, Report
from harborkit.textsafe import TABLE_VALUE_LIMIT, terminal_text

STATUS_STYLE = {
    Status.PASS: "green",
    Status.SKIP: "dim",
    Status.WAIVED: "cyan",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
}
_LABEL = {s: s.value.upper() for s in Status}


def _finding_lines(r: CheckResult, verbose: bool) -> list[tuple[Status, str]]:
    """The findings worth a line: those that need attention (all with verbose)."""
    lines = []
    for f in r.findings:
        if not verbose and f.status in (Status.PASS, Status.SKIP):
            continue
        text = f"{_v(f.subject)}: {_v(f.message)}"
        if f"{f.subject}: {f.message}" == r.message or f.message == r.message:
            if f.location:
                lines.append((f.status, f"at {_v(f.location)}"))
            continue  # the summary already says it
        # expected/found are shown unless the message already quotes them
        shown = [
            f"{label} {_v(value)}"
            for label, value in (("expected", f.expected), ("found", f.actual))
            if value is not None and value not in f.message
        ]
        if shown:
            text += f" ({', '.join(shown)})"
        if f.location:
            text += f" [{_v(f.location)}]"
        lines.append((f.status, text))
    return lines


def _v(text: str) -> str:
    """A value from the audited host, safe to print: escapes shown, long text abridged."""
    return terminal_text(text, TABLE_VALUE_LIMIT)


def summary_line(report: Report, strict: bool = False) -> str:
    c = report.counts()
    parts = [f"{c[s.value]} {s.value}" for s in Status if c[s.value]]
    verdict = "FAILED" if report.exit_code(strict=strict) else "OK"
    host = terminal_text(report.host, TABLE_VALUE_LIMIT, keep="")  # one line, even on stderr
    return f"{verdict}: {len(report.results)} checks on {host}: " + ", ".join(parts)


def render_table(
    report: Report,
    *,
    strict: bool = False,
    color: bool = False,
    width: int = 120,
    verbose: bool = False,
) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=False,  # a buffer: rich would size a "dumb" TERM at 80 columns
        no_color=not color,
        color_system="standard" if color else None,
        width=width,
        highlight=False,
        soft_wrap=False,
    )
    where = "live host" if report.live else "sysroot"
    console.print(
        Text(
            f"harborkit check: {_v(report.host)} ({where}), profile {_v(report.profile)}",
            style="bold",
        )
    )
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=False)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("CHECK", no_wrap=True)
    table.add_column("SEVERITY", no_wrap=True)
    table.add_column("RESULT", overflow="fold")
    below: list[tuple[str, str]] = []
    for r in report.results:
        msg = Text(_v(r.message))
        if r.status is Status.WAIVED and r.waiver:
            msg.append(f"  [waived: {_v(r.waiver.reason)}]", style="cyan")
        elif r.waiver and r.waiver.expired:
            msg.append(f"  [waiver expired {r.waiver.expires}]", style="yellow")
        for st, line in _finding_lines(r, verbose):
            msg.append("\n  ")
            msg.append(_LABEL[st].lower(), style=STATUS_STYLE[st])
            msg.append(f" {line}")
        if r.status in (Status.FAIL, Status.WARN, Status.ERROR) and r.check.remediation:
            msg.append("\n  fix: ", style="bold")
            hint = terminal_text(r.check.remediation, keep="\t\n")  # a file's tab stays a tab
            if "\t" in hint:
                # a cell expands a tab into spaces (and wraps): the hint goes below the
                # table whole, the bytes it writes as they are, to be pasted
                msg.append(f"under 'fix for {_v(r.check.id)}' below the table (tabs kept)")
                below.append((_v(r.check.id), hint))
            else:
                msg.append(hint.replace("\n", "\n       "))
        table.add_row(
            Text(_LABEL[r.status], style=STATUS_STYLE[r.status]),
            Text(_v(r.check.id)),
            Text(r.check.severity.value),
            msg,
        )
    console.print(table)
    for check_id, hint in below:
        # written past rich, which would turn each tab into spaces
        head = f"fix for {check_id}:"
        buf.write(f"\x1b[1m{head}\x1b[0m\n" if color else f"{head}\n")
        buf.write(hint.rstrip("\n") + "\n")
    for note in report.notes:
        console.print(Text(f"note: {_v(note)}", style="yellow"))
    verdict = summary_line(report, strict)
    console.print(
        Text(verdict, style="bold red" if report.exit_code(strict=strict) else "bold green")
    )
    return buf.getvalue()
