"""The human report: a table of the checks that need attention (``verbose``:
every check), each change of a fix shown once, and a verdict that counts all.

The rows are built by :func:`result_rows` (one host's results as cells of
text), so that the cluster table can group the cells that several hosts share.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harborkit.model.check import Finding, Status
from harborkit.model.result import CheckResult, Report
from harborkit.textsafe import TABLE_VALUE_LIMIT, terminal_text

if TYPE_CHECKING:
    from rich.text import Text

    from harborkit.model.change import Change

STATUS_STYLE = {
    Status.PASS: "green",
    Status.SKIP: "dim",
    Status.WAIVED: "cyan",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
}
_LABEL = {s: s.value.upper() for s in Status}
#: this many findings of one status and message share a line
GROUPED = 3
#: the statuses a table without ``verbose`` leaves out (counted in its summary)
QUIET = (Status.PASS, Status.SKIP)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 check``, ``2 checks`` (``many``: an irregular plural)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _details(f: Finding, verbose: bool = True) -> str:
    """A finding's expected/found (unless its message quotes them) and location
    (without ``verbose``, not a location that only spells the subject again:
    ``/proc/sys/vm/swappiness`` for ``vm.swappiness``)."""
    shown = [
        f"{label} {_v(value)}"
        for label, value in (("expected", f.expected), ("found", f.actual))
        if value is not None and value not in f.message
    ]
    text = f" ({', '.join(shown)})" if shown else ""
    if f.location and (verbose or f.location != "/proc/sys/" + f.subject.replace(".", "/")):
        text += f" [{_v(f.location)}]"
    return text


#: a file body in a fix longer than this is abridged in the table without ``verbose``
BODY_LINES = 12
#: ... to its first lines
BODY_SHOWN = 8


def _abridged(hint: str) -> str:
    """``hint`` with each long file body (its lines indented by four spaces)
    cut to its first lines and a count of the rest."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) > BODY_LINES:
            rest = len(run) - BODY_SHOWN
            out.extend(run[:BODY_SHOWN])
            out.append(f"    ... {plural(rest, 'more line')} (-v shows the whole file)")
        else:
            out.extend(run)
        run.clear()

    for line in hint.split("\n"):
        if line.startswith("    "):
            run.append(line)
            continue
        flush()
        out.append(line)
    flush()
    return "\n".join(out)


def _finding_lines(r: CheckResult, verbose: bool) -> list[tuple[Status, str]]:
    """The findings worth a line: those that need attention (all with verbose).
    Three or more findings of one status that say the same thing about several
    subjects share a line: ``fail not persisted: k1 (expected 1), k2 (expected 2), ...``."""
    shown = [f for f in r.findings if verbose or f.status not in QUIET]
    same: dict[tuple[Status, str], list[Finding]] = {}
    for f in shown:
        same.setdefault((f.status, f.message), []).append(f)
    lines: list[tuple[Status, str]] = []
    for f in shown:
        if f"{f.subject}: {f.message}" == r.message or f.message == r.message:
            if f.location:  # the summary already says it: its location only
                lines.append((f.status, f"at {_v(f.location)}"))
            continue
        group = same[(f.status, f.message)]
        if len(group) < GROUPED:
            lines.append((f.status, f"{_v(f.subject)}: {_v(f.message)}{_details(f, verbose)}"))
        elif group[0] is f:
            subjects = ", ".join(f"{_v(g.subject)}{_details(g, verbose)}" for g in group)
            lines.append((f.status, f"{_v(f.message)}: {subjects}"))
    return lines


def _v(text: str) -> str:
    """A value from the audited host, safe to print: escapes shown, long text abridged."""
    return terminal_text(text, TABLE_VALUE_LIMIT)


def _line(text: str) -> str:
    """A value of one line (a waiver's reason, a note): like :func:`_v`, its
    newlines shown too, so it can start no line of its own."""
    return terminal_text(text, TABLE_VALUE_LIMIT, keep="")


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[s.value]} {s.value}" for s in Status if counts[s.value])


def summary_line(report: Report, strict: bool = False) -> str:
    c = report.counts()
    verdict = "FAILED" if report.exit_code(strict=strict) else "OK"
    host = terminal_text(report.host, TABLE_VALUE_LIMIT, keep="")  # one line, even on stderr
    return f"{verdict}: {plural(len(report.results), 'check')} on {host}: " + counts_text(c)


def hidden_line(results: list[CheckResult] | tuple[CheckResult, ...]) -> str:
    """What a table without ``verbose`` left out, or "" when nothing."""
    n = {s: sum(1 for r in results if r.status is s) for s in QUIET}
    words = {Status.PASS: "passing check", Status.SKIP: "skipped check"}
    parts = [plural(n[s], words[s]) for s in QUIET if n[s]]
    if not parts:
        return ""
    return f"not shown: {' and '.join(parts)} (-v shows them)"


@dataclass
class Row:
    """One check's line of the table: its RESULT cell and the fixes with tabs
    that go below the table (written byte for byte)."""

    result: CheckResult
    text: Text
    below: list[tuple[str, str]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
        """Equal on two hosts: one row of the cluster table names both."""
        return (self.result.check.id, self.result.status.value, self.text.plain, tuple(self.below))


def _change_key(c: Change) -> tuple[object, ...]:
    from harborkit.model.change import Command, FileChange

    if isinstance(c, FileChange):
        return ("file", c.path, c.new)
    if isinstance(c, Command):
        return ("run", c.argv)
    return ("manual", c.reason)


def _change_name(c: Change) -> str:
    from harborkit.model.change import Command, FileChange

    if isinstance(c, FileChange):
        return c.path
    if isinstance(c, Command):
        return f"run: {c.shell}"
    return c.reason


class Shown:
    """The changes (and hints) one host's table has shown so far, and under which check."""

    def __init__(self) -> None:
        self.changes: dict[tuple[object, ...], str] = {}
        self.hints: dict[str, str] = {}

    def fix_text(self, r: CheckResult) -> str:
        """The hint of ``r`` with what an earlier row showed named, not repeated."""
        if not r.changes:
            first = self.hints.get(r.check.remediation)
            if first is not None:
                return f"as for {first} above"
            self.hints[r.check.remediation] = r.check.id
            return r.check.remediation
        from harborkit.model.change import hint

        fresh = [c for c in r.changes if _change_key(c) not in self.changes]
        earlier: dict[str, list[str]] = {}
        for c in r.changes:
            owner = self.changes.get(_change_key(c))
            if owner is not None:
                earlier.setdefault(owner, []).append(_change_name(c))
        parts = [hint(fresh)] if fresh else []
        for owner, names in earlier.items():
            parts.append(
                f"{'and ' if parts else ''}the same change as {owner} above ({', '.join(names)})"
            )
        for c in fresh:
            self.changes[_change_key(c)] = r.check.id
        return "\n".join(parts)


def result_rows(results: tuple[CheckResult, ...], verbose: bool) -> list[Row]:
    """The rows of one host's table: the checks that need attention (every
    check with ``verbose``), each change of a fix shown once."""
    from rich.text import Text

    shown = Shown()
    rows = []
    for r in results:
        if not verbose and r.status in QUIET:
            continue
        msg = Text(_v(r.message))
        if r.status is Status.WAIVED and r.waiver:
            msg.append(f"  [waived: {_line(r.waiver.reason)}]", style="cyan")
        elif r.waiver and r.waiver.expired:
            msg.append(f"  [waiver expired {r.waiver.expires}]", style="yellow")
        for st, line in _finding_lines(r, verbose):
            msg.append("\n  ")
            msg.append(_LABEL[st].lower(), style=STATUS_STYLE[st])
            msg.append(f" {line}")
        row = Row(r, msg)
        if r.status in (Status.FAIL, Status.WARN, Status.ERROR) and r.check.remediation:
            msg.append("\n  fix: ", style="bold")
            hint = terminal_text(shown.fix_text(r), keep="\t\n")  # a file's tab stays a tab
            if "\t" in hint:
                # a cell expands a tab into spaces (and wraps): the hint goes below the
                # table whole, the bytes it writes as they are, to be pasted
                msg.append(f"under 'fix for {_v(r.check.id)}' below the table (tabs kept)")
                row.below.append((_v(r.check.id), hint))
            else:
                hint = hint if verbose else _abridged(hint)
                msg.append(hint.replace("\n", "\n       "))
        rows.append(row)
    return rows


def console(buf: io.StringIO, color: bool, width: int) -> object:
    from rich.console import Console

    return Console(
        file=buf,
        force_terminal=False,  # a buffer: rich would size a "dumb" TERM at 80 columns
        no_color=not color,
        color_system="standard" if color else None,
        width=width,
        highlight=False,
        soft_wrap=False,
    )


def new_table() -> object:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=False)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("CHECK", no_wrap=True)
    table.add_column("SEVERITY", no_wrap=True)
    table.add_column("RESULT", overflow="fold")
    return table


def add_row(table: object, r: CheckResult, cell: Text) -> None:
    from rich.text import Text

    table.add_row(  # type: ignore[attr-defined]
        Text(_LABEL[r.status], style=STATUS_STYLE[r.status]),
        Text(_v(r.check.id)),
        Text(r.check.severity.value),
        cell,
    )


def write_below(buf: io.StringIO, below: list[tuple[str, str]], color: bool) -> None:
    for label, hint in below:
        # written past rich, which would turn each tab into spaces
        head = f"fix for {label}:"
        buf.write(f"\x1b[1m{head}\x1b[0m\n" if color else f"{head}\n")
        buf.write(hint.rstrip("\n") + "\n")


def where(report: Report) -> str:
    """What the report was made from, for its header."""
    return report.origin or ("live host" if report.live else "sysroot")


def render_table(
    report: Report,
    *,
    strict: bool = False,
    color: bool = False,
    width: int = 120,
    verbose: bool = False,
) -> str:
    from rich.text import Text

    buf = io.StringIO()
    out = console(buf, color, width)
    out.print(  # type: ignore[attr-defined]
        Text(
            f"harborkit check: {_v(report.host)} ({where(report)}), profile {_v(report.profile)}",
            style="bold",
        )
    )
    rows = result_rows(report.results, verbose)
    if rows:
        table = new_table()
        for row in rows:
            add_row(table, row.result, row.text)
        out.print(table)  # type: ignore[attr-defined]
    write_below(buf, [b for row in rows for b in row.below], color)
    for note in report.notes:
        out.print(Text(f"note: {_line(note)}", style="yellow"))  # type: ignore[attr-defined]
    hidden = "" if verbose else hidden_line(report.results)
    if hidden:
        out.print(Text(hidden, style="dim"))  # type: ignore[attr-defined]
    verdict = summary_line(report, strict)
    out.print(  # type: ignore[attr-defined]
        Text(verdict, style="bold red" if report.exit_code(strict=strict) else "bold green")
    )
    return buf.getvalue()
