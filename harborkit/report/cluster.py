"""Reports of several hosts (a :class:`ClusterReport`): the host x check
matrix, the versioned cluster JSON document and the sectioned table.

Each host keeps exactly its single-host rendering (its table section, its
JSON document, its JUnit testsuite); this module adds what spans hosts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from harborkit.compat import zip_strict
from harborkit.engine.cluster import ClusterReport
from harborkit.model.check import Status
from harborkit.model.result import CheckResult, Report
from harborkit.report.table import STATUS_STYLE, plural
from harborkit.textsafe import TABLE_VALUE_LIMIT, terminal_text

CLUSTER_SCHEMA_ID = "harborkit/cluster-report/v1"


@dataclass(frozen=True)
class MatrixRow:
    """One check across the hosts: a status per host (None: not run there)."""

    check_id: str
    title: str
    cross: bool  # a cross-node check: cells come from findings about each host
    overall: Status | None  # the cross-node check's own status (None for per-host rows)
    cells: tuple[Status | None, ...]


@dataclass(frozen=True)
class Matrix:
    hosts: tuple[str, ...]
    reachable: tuple[bool, ...]
    verdicts: tuple[int, ...]  # each host's exit code
    rows: tuple[MatrixRow, ...]


def _cross_cell(result: CheckResult, host: str, reachable: bool) -> Status | None:
    mine = [f.status for f in result.findings if f.subject == host]
    if mine:
        return Status.worst(mine)
    if reachable and result.status in (Status.SKIP, Status.ERROR):
        return result.status  # not judged / broken for every host alike
    return None


def build_matrix(report: ClusterReport, *, strict: bool = False) -> Matrix:
    """Rows: every per-host check in the order first seen, then the cross-node
    checks; columns: the hosts in target order."""
    hosts = tuple(r.host for r in report.hosts)
    reachable = tuple(report.is_reachable(h) for h in hosts)
    order: dict[str, str] = {}
    by_host: list[dict[str, Status]] = []
    for rep in report.hosts:
        by_host.append({r.check.id: r.status for r in rep.results})
        for r in rep.results:
            order.setdefault(r.check.id, r.check.title)
    rows = [
        MatrixRow(cid, title, False, None, tuple(h.get(cid) for h in by_host))
        for cid, title in order.items()
    ]
    for r in report.cluster.results:
        cells = tuple(_cross_cell(r, h, ok) for h, ok in zip_strict(hosts, reachable))
        rows.append(MatrixRow(r.check.id, r.check.title, True, r.status, cells))
    return Matrix(
        hosts, reachable, tuple(rep.exit_code(strict=strict) for rep in report.hosts), tuple(rows)
    )


def cluster_summary_line(report: ClusterReport, strict: bool = False) -> str:
    """One line: verdict, hosts (unreachable ones), result counts, failing hosts."""
    c = report.counts()
    parts = [f"{c[s.value]} {s.value}" for s in Status if c[s.value]]
    verdict = "FAILED" if report.exit_code(strict=strict) else "OK"
    n = len(report.hosts)
    down = f", {len(report.unreachable)} unreachable" if report.unreachable else ""
    line = f"{verdict}: {plural(n, 'host')}{down}, {plural(report.total(), 'check')}: " + ", ".join(
        parts
    )
    failing = [_v(r.host) for r in report.reports if r.exit_code(strict=strict)]
    if failing:
        line += "; failing: " + ", ".join(failing)
    return line


# -- JSON -------------------------------------------------------------------------


def cluster_to_dict(report: ClusterReport, *, strict: bool = False) -> dict[str, Any]:
    """The cluster document: each host's single-host document unchanged."""
    from harborkit.report.json import report_to_dict

    reasons = {u.name: u.reason for u in report.unreachable}
    return {
        "schema": CLUSTER_SCHEMA_ID,
        "harborkit_version": report.harborkit_version,
        "profile": {"name": report.profile, "path": report.profile_path},
        "started": report.started,
        "duration_seconds": round(report.duration, 6),
        "strict": strict,
        "exit_code": report.exit_code(strict=strict),
        "summary": {
            **report.counts(),
            "total": report.total(),
            "hosts": len(report.hosts),
            "unreachable": len(report.unreachable),
        },
        "hosts": [
            {
                "name": rep.host,
                "reachable": rep.host not in reasons,
                "reason": reasons.get(rep.host),
                "report": report_to_dict(rep, strict=strict),
            }
            for rep in report.hosts
        ],
        "cluster": report_to_dict(report.cluster, strict=strict),
    }


def render_cluster_json(report: ClusterReport, *, strict: bool = False, color: bool = False) -> str:
    import json

    return json.dumps(cluster_to_dict(report, strict=strict), indent=2, ensure_ascii=False) + "\n"


# -- table ------------------------------------------------------------------------

# matrix cells: the single-host table's colours; "skip" in lower case so that
# the cells that need attention stand out in a wide matrix
_LABEL = {s: ("skip" if s is Status.SKIP else s.value.upper(), STATUS_STYLE[s]) for s in Status}


def render_cluster_table(
    report: ClusterReport,
    *,
    strict: bool = False,
    color: bool = False,
    width: int = 120,
    verbose: bool = False,
) -> str:
    """One table for every host: a check whose result reads the same on
    several hosts is one row naming them ("a1, b2: ..."), each host's fixes
    shown once; the cross-node checks below; then a line per host, the
    host x check matrix (``verbose``) and the overall verdict."""
    from rich.text import Text

    from harborkit.report.table import console, hidden_line, write_below

    out = io.StringIO()
    con: Any = console(out, color, width)
    n = len(report.hosts)
    down = f", {len(report.unreachable)} unreachable" if report.unreachable else ""
    what = f"{plural(n, 'host')}{down}"
    if n == 1:
        what = host_label(report, report.hosts[0])
    con.print(Text(f"harborkit check: {what}, profile {_v(report.profile)}", style="bold"))
    rows, below = _grouped_rows(report, verbose)
    if rows:
        from harborkit.report.table import add_row, new_table

        table: Any = new_table()
        cross_started = False
        for r, cell, cross in rows:
            if cross and not cross_started and len(table.rows):
                table.add_section()
            cross_started = cross_started or cross
            add_row(table, r, cell)
        con.print(table)
    write_below(out, below, color)
    for rep in (*report.hosts, report.cluster):
        who = "cross-node" if rep is report.cluster else _v(rep.host)
        for note in rep.notes:
            con.print(Text(f"note: {who}: {_v(note)}", style="yellow"))
    if not verbose:
        hidden = hidden_line([r for rep in report.reports for r in rep.results])
        if hidden:
            con.print(Text(hidden, style="dim"))
    if n > 1:
        for rep in report.hosts:
            bad = rep.exit_code(strict=strict) or not report.is_reachable(rep.host)
            con.print(Text(f"  {host_line(report, rep, strict)}", style="red" if bad else ""))
    if verbose:
        m = build_matrix(report, strict=strict)
        con.print()
        con.print(
            Text(
                f"harborkit check: {plural(len(m.hosts), 'host')} x {plural(len(m.rows), 'check')}",
                style="bold",
            )
        )
        for i, block in enumerate(_host_blocks(m, width)):
            if i:
                con.print()
            con.print(_matrix_table(m, block))
    line = cluster_summary_line(report, strict)
    con.print(Text(line, style="bold red" if report.exit_code(strict=strict) else "bold green"))
    return out.getvalue()


def host_label(report: ClusterReport, rep: Report) -> str:
    """A host's name and what its report was made from: ``a1 (sysroot)``."""
    from harborkit.report.table import where

    label = where(rep) if rep.origin or report.is_reachable(rep.host) else "unreachable"
    return f"{_v(rep.host)} ({_v(label)})"


def host_line(report: ClusterReport, rep: Report, strict: bool) -> str:
    """One host's verdict and counts: ``a1 (sysroot): FAILED: 2 checks: 1 pass, 1 fail``."""
    from harborkit.report.table import counts_text

    verdict = "FAILED" if rep.exit_code(strict=strict) else "OK"
    counts = counts_text(rep.counts())
    return f"{host_label(report, rep)}: {verdict}: {plural(len(rep.results), 'check')}" + (
        f": {counts}" if counts else ""
    )


def _hosts_text(names: list[str], of: int) -> str:
    """The hosts a row speaks for: their names, or "all N hosts"."""
    if len(names) == of and of > 3:
        return f"all {of} hosts"
    return ", ".join(_v(h) for h in names)


def _grouped_rows(
    report: ClusterReport, verbose: bool
) -> tuple[list[tuple[CheckResult, Any, bool]], list[tuple[str, str]]]:
    """The rows of the cluster table, in check order: one per distinct cell
    of a check, naming the hosts that share it; the cross-node rows last."""
    from rich.text import Text

    from harborkit.report.table import result_rows

    # check id -> row key -> (the first row, the hosts that have it)
    by_check: dict[str, dict[tuple[Any, ...], tuple[Any, list[str]]]] = {}
    ran: dict[str, int] = {}
    for rep in report.hosts:
        for r in rep.results:
            ran[r.check.id] = ran.get(r.check.id, 0) + 1
            by_check.setdefault(r.check.id, {})
        for row in result_rows(rep.results, verbose):
            groups = by_check[row.result.check.id]
            groups.setdefault(row.key, (row, []))[1].append(rep.host)
    one = len(report.hosts) == 1
    rows: list[tuple[CheckResult, Any, bool]] = []
    below: list[tuple[str, str]] = []
    for cid, groups in by_check.items():
        for row, names in groups.values():
            cell = row.text
            if not one:
                cell = Text(f"{_hosts_text(names, ran[cid])}: ").append_text(row.text)
            rows.append((row.result, cell, False))
            label = row.below[0][0] if row.below else ""
            if row.below and not one:
                label += f" ({_hosts_text(names, ran[cid])})"
            below += [(label, hint) for _, hint in row.below]
    for row in result_rows(report.cluster.results, verbose):
        rows.append((row.result, row.text, True))
        below += row.below
    return rows, below


def _v(text: str) -> str:
    """A name from an audited host, safe to print (as the single-host table does)."""
    return terminal_text(text, TABLE_VALUE_LIMIT, keep="")  # one line: a newline escaped too


def _host_blocks(m: Matrix, width: int) -> list[range]:
    """Host columns split into blocks that fit ``width`` (each block repeats
    the CHECK column), so a wide fleet stays readable instead of truncated."""
    first = max([len("host verdict"), *(len(r.check_id) for r in m.rows)]) + 2
    widths = [max(len(_v(h)), len("UNREACHABLE")) + 2 for h in m.hosts]
    blocks: list[range] = []
    start, used = 0, first
    for i, w in enumerate(widths):
        if used + w > width and i > start:
            blocks.append(range(start, i))
            start, used = i, first
        used += w
    blocks.append(range(start, len(m.hosts)))
    return blocks


def _matrix_table(m: Matrix, hosts: range) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=False)
    table.add_column("CHECK", no_wrap=True)
    for i in hosts:
        table.add_column(Text(_v(m.hosts[i])), no_wrap=True)
    cross_started = False
    for row in m.rows:
        if row.cross and not cross_started:
            cross_started = True
            table.add_section()
        cells = []
        for i in hosts:
            st = row.cells[i]
            label, style = _LABEL[st] if st is not None else ("-", "dim")
            cells.append(Text(label, style=style))
        table.add_row(Text(_v(row.check_id)), *cells)
    table.add_section()
    table.add_row(
        Text("host verdict", style="bold"),
        *[
            Text(
                ("FAILED" if m.verdicts[i] else "OK") if m.reachable[i] else "UNREACHABLE",
                style="bold red" if m.verdicts[i] or not m.reachable[i] else "bold green",
            )
            for i in hosts
        ],
    )
    return table
