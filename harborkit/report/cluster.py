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
from harborkit.report.table import STATUS_STYLE
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
    line = (
        f"{verdict}: {n} host{'s' if n != 1 else ''}{down}, {report.total()} checks: "
        + ", ".join(parts)
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
    """One section per host (its single-host table), the cross-node checks,
    then the host x check matrix and the overall verdict."""
    from rich.console import Console
    from rich.text import Text

    from harborkit.report.table import render_table

    out = io.StringIO()
    for rep in report.hosts:
        if not rep.results and not rep.notes:
            continue  # nothing selected ran on it (--only cluster): its matrix column says so
        text = render_table(rep, strict=strict, color=color, width=width, verbose=verbose)
        if not report.is_reachable(rep.host):
            header = f"harborkit check: {_v(rep.host)} (unreachable), profile {_v(rep.profile)}"
            text = _with_header(text, header, color)
        out.write(text)
        out.write("\n")
    out.write(
        _cross_section(
            report.cluster,
            len(report.hosts) - len(report.unreachable),
            strict,
            color,
            width,
            verbose,
        )
    )
    out.write("\n")

    console = Console(
        file=out,
        force_terminal=False,  # a buffer: rich would size a "dumb" TERM at 80 columns
        no_color=not color,
        color_system="standard" if color else None,
        width=width,
        highlight=False,
        soft_wrap=False,
    )
    m = build_matrix(report, strict=strict)
    console.print(
        Text(f"harborkit check: {len(m.hosts)} hosts x {len(m.rows)} checks", style="bold")
    )
    for n, block in enumerate(_host_blocks(m, width)):
        if n:
            console.print()
        console.print(_matrix_table(m, block))
    line = cluster_summary_line(report, strict)
    console.print(Text(line, style="bold red" if report.exit_code(strict=strict) else "bold green"))
    return out.getvalue()


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


def _cross_section(
    cluster: Report, reachable: int, strict: bool, color: bool, width: int, verbose: bool
) -> str:
    """The cross-node checks as a table section of their own."""
    from harborkit.report.table import render_table

    text = render_table(cluster, strict=strict, color=color, width=width, verbose=verbose)
    header = (
        f"harborkit check: cross-node checks over {reachable} reachable hosts, "
        f"profile {_v(cluster.profile)}"
    )
    return _with_header(text, header, color)


def _with_header(text: str, header: str, color: bool) -> str:
    """A single-host table whose first line (which names a host and whether it
    is live) says ``header`` instead."""
    if color:
        header = f"\x1b[1m{header}\x1b[0m"
    return header + "\n" + text.split("\n", 1)[1]
