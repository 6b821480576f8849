"""One self-contained HTML page: the host x check matrix, then each host's
checks with findings, file:line locations and remediation.

Short by default: each host's section of a cluster page is a closed
``<details>`` (its verdict and counts on the one line shown), and in every
section the passing and skipped checks are in a closed ``<details>`` of their
own; a link from the matrix opens the one it points into. No script needed.

Usable offline at the site: the CSS is inline, there is no script, no font,
no image and no link to anything outside the page, and a Content Security
Policy forbids the browser to fetch anything at all (``default-src 'none'``,
inline styles only). Every text from a report (messages, paths, plugin
output, host names) is escaped; control and bidirectional-override
characters are shown as ``\\xNN``/``\\uNNNN`` (but a fix hint's tabs and
newlines, shown as they are in a ``<pre>``: the bytes the fix writes).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from harborkit.compat import zip_strict
from harborkit.engine.cluster import ClusterReport
from harborkit.model.check import Finding, Status
from harborkit.model.result import CheckResult, Report
from harborkit.textsafe import terminal_text

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; font-src 'none'; "
    "script-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
)

_CSS = """
:root { color-scheme: light; --fail:#b3261e; --error:#7b1fa2; --warn:#9a6700; --pass:#1a7f37;
  --skip:#6e7781; --waived:#0969da; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328;
  background: #fff; }
header, main { padding: 0 24px; }
header { border-bottom: 1px solid var(--line); padding-bottom: 8px; }
h1 { font-size: 22px; margin: 16px 0 4px; }
h2 { font-size: 18px; margin: 12px 0 4px; }
section.host { border-top: 2px solid var(--line); margin-top: 12px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: #57606a; margin: 2px 0; }
.verdict { font-weight: 700; font-size: 16px; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; text-align: left; }
thead th { background: #f6f8fa; position: sticky; top: 0; }
table.matrix td { text-align: center; font-weight: 600; white-space: nowrap; }
table.matrix td a { color: inherit; text-decoration: none; display: block; }
table.matrix tr.cross th { font-style: italic; }
table.matrix th[scope=row] { position: sticky; left: 0; background: #fff; }
.scroll { overflow-x: auto; max-width: 100%; }
table.results { width: 100%; }
table.results td.msg { width: 70%; }
.st-pass { color: var(--pass); } .st-fail { color: var(--fail); } .st-error { color: var(--error); }
.st-warn { color: var(--warn); } .st-skip { color: var(--skip); } .st-waived { color: var(--waived); }
td.st-fail, td.st-error { background: #ffebe9; } td.st-warn { background: #fff8c5; }
td.st-pass { background: #dafbe1; } td.st-waived { background: #ddf4ff; }
.badge { display: inline-block; min-width: 4.2em; font-weight: 700; }
ul.findings { margin: 4px 0 0; padding-left: 18px; }
ul.findings li { margin: 2px 0; }
.loc { background: #f6f8fa; border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; }
.fix { margin: 6px 0 0; padding: 6px 8px; background: #f6f8fa; border-left: 3px solid var(--waived); }
.fix pre { margin: 2px 0 0; white-space: pre-wrap; tab-size: 8; font-family: ui-monospace,
  "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.note { color: var(--warn); }
details > summary { cursor: pointer; color: #57606a; }
details.host-details > summary { color: #1f2328; }
details.host-details > summary h2, details.host-details > summary p { display: inline-block; }
details.host-details > summary p { margin: 0 0 0 12px; }
details.quiet { margin: 6px 0; }
.unreachable { color: var(--error); font-weight: 600; }
@media print {
  thead th, table.matrix th[scope=row] { position: static; }
  .scroll { overflow: visible; }
  section.host { break-before: page; }
}
"""


#: a fix hint longer than this many lines is folded (its first line shown)
LONG_FIX = 12


def _t(text: object) -> str:
    """Text for HTML: escaped; control, bidirectional-override and separator
    characters made visible (as the table shows them)."""
    return html.escape(terminal_text(str(text)), quote=True)


def _status(st: Status | None) -> str:
    return "none" if st is None else st.value


def _badge(st: Status | None) -> str:
    label = "–" if st is None else st.value.upper()
    return f'<span class="badge st-{_status(st)}">{label}</span>'


def _finding(f: Finding) -> str:
    parts = [f'<span class="st-{f.status.value}">{_t(f.status.value)}</span> ']
    parts.append(f"<strong>{_t(f.subject)}</strong>: {_t(f.message)}")
    extra = [
        f"{label} <code>{_t(value)}</code>"
        for label, value in (("expected", f.expected), ("found", f.actual))
        if value is not None
    ]
    if extra:
        parts.append(" (" + ", ".join(extra) + ")")
    if f.location:
        parts.append(f' <code class="loc">{_t(f.location)}</code>')
    return f'<li class="finding st-{f.status.value}">{"".join(parts)}</li>'


def _findings(findings: Sequence[Finding]) -> str:
    attention = [f for f in findings if f.status not in (Status.PASS, Status.SKIP)]
    rest = [f for f in findings if f.status in (Status.PASS, Status.SKIP)]
    out = ""
    if attention:
        out += '<ul class="findings">' + "".join(_finding(f) for f in attention) + "</ul>"
    if rest:
        n = len(rest)
        out += (
            f"<details><summary>{n} passing or not-judged finding{'s' if n != 1 else ''}</summary>"
            '<ul class="findings">' + "".join(_finding(f) for f in rest) + "</ul></details>"
        )
    return out


def _result_row(r: CheckResult, anchor: str, remediation: str | None = None) -> str:
    msg = _t(r.message)
    if r.status is Status.WAIVED and r.waiver:
        expires = f" (until {_t(r.waiver.expires)})" if r.waiver.expires else ""
        msg += f' <span class="st-waived">[waived: {_t(r.waiver.reason)}{expires}]</span>'
    elif r.waiver and r.waiver.expired:
        msg += f' <span class="st-warn">[waiver expired {_t(r.waiver.expires)}]</span>'
    fix = ""
    if r.status in (Status.FAIL, Status.WARN, Status.ERROR, Status.WAIVED) and r.check.remediation:
        # the bytes the fix writes: a tab is a tab, in a <pre> a browser copies as it is
        said = r.check.remediation if remediation is None else remediation
        hint = html.escape(terminal_text(said, keep="\t\n"), quote=True)
        pre = f'<pre class="hint">{hint}</pre>'
        lines = said.count("\n") + 1
        if lines > LONG_FIX:  # a whole file: folded, its first line says what it is
            first = html.escape(terminal_text(said.split("\n", 1)[0]), quote=True)
            pre = f"<details><summary>{first} ({lines} lines)</summary>{pre}</details>"
        fix = f'<div class="fix"><strong>fix:</strong> {pre}</div>'
    return (
        f'<tr id="{anchor}" class="result st-{r.status.value}" data-check="{_t(r.check.id)}">'
        f'<td class="status">{_badge(r.status)}</td>'
        f'<td><code class="check-id">{_t(r.check.id)}</code><br>{_t(r.check.title)}</td>'
        f'<td class="severity">{_t(r.check.severity.value)}</td>'
        f'<td class="msg"><div class="message">{msg}</div>{_findings(r.findings)}{fix}</td></tr>'
    )


def _counts(report: Report) -> str:
    c = report.counts()
    return ", ".join(f"{c[s.value]} {s.value}" for s in Status if c[s.value]) or "no checks"


_RESULTS_HEAD = (
    '<table class="results"><thead><tr><th>status</th><th>check</th><th>severity</th>'
    "<th>result</th></tr></thead><tbody>"
)


def _results(report: Report, prefix: str) -> list[str]:
    """The results table: what needs attention shown, the passing and skipped
    checks in a closed ``<details>`` (the browser opens it when a link points
    into it)."""
    from harborkit.report.table import QUIET, Shown, hidden_line

    rows = [(j, r) for j, r in enumerate(report.results)]
    shown = Shown()  # a change two checks plan: its block under the first, named by the second
    loud = [
        _result_row(r, f"{prefix}c{j}", shown.fix_text(r) if r.check.remediation else None)
        for j, r in rows
        if r.status not in QUIET
    ]
    quiet = [_result_row(r, f"{prefix}c{j}") for j, r in rows if r.status in QUIET]
    out = [_RESULTS_HEAD, *loud, "</tbody></table>"] if loud else []
    if quiet:
        label = hidden_line(report.results).removeprefix("not shown: ").split(" (-v")[0]
        out += [
            f'<details class="quiet"><summary>{_t(label)}</summary>',
            _RESULTS_HEAD,
            *quiet,
            "</tbody></table></details>",
        ]
    return out


def _host_section(
    report: Report,
    index: int,
    strict: bool,
    *,
    title: str,
    reason: str | None = None,
    section_id: str | None = None,
    anchor_prefix: str | None = None,
    collapsed: bool = False,
) -> str:
    code = report.exit_code(strict=strict)
    verdict = "FAILED" if code else "OK"
    if reason is not None:
        verdict = "NOT AUDITED" if report.origin else "UNREACHABLE"  # a bad snapshot: no network
    cls = "fail" if code else "pass"
    where = f"{report.origin or ('live host' if report.live else 'sysroot')}, "
    if anchor_prefix is not None:  # the cross-node checks: no host of their own
        where = ""
    out = [
        f'<section class="host" id="{section_id or f"host-{index}"}" data-host="{_t(report.host)}">',
        f'<details class="host-details"{"" if collapsed else " open"}><summary>',
        f'<h2>{title} <span class="verdict st-{cls}">{verdict}</span></h2>',
    ]
    if reason is not None:
        out.append(f'</summary><p class="unreachable">not audited: {_t(reason)}</p>')
    else:
        n = len(report.results)
        out.append(
            f'<p class="meta">{_t(where)}{n} check{"s" if n != 1 else ""}: '
            f"{_t(_counts(report))}; started {_t(report.started)}, {report.duration:.2f} s</p>"
            "</summary>"
        )
    out += _results(report, anchor_prefix or f"h{index}-")
    for note in report.notes:
        out.append(f'<p class="note">note: {_t(note)}</p>')
    out.append("</details></section>")
    return "\n".join(out)


def _matrix(report: ClusterReport, strict: bool) -> str:
    from harborkit.report.cluster import build_matrix

    m = build_matrix(report, strict=strict)
    anchors: list[dict[str, str]] = [
        {r.check.id: f"h{i}-c{j}" for j, r in enumerate(rep.results)}
        for i, rep in enumerate(report.hosts)
    ]
    cross_anchor = {r.check.id: f"x-c{j}" for j, r in enumerate(report.cluster.results)}
    # what a cell stands for, shown on hover: the host's result message, or
    # what a cross-node check found about that host
    said: list[dict[str, str]] = [
        {r.check.id: r.message for r in rep.results} for rep in report.hosts
    ]
    cross_said = {
        (r.check.id, h): "; ".join(f.message for f in r.findings if f.subject == h)
        for r in report.cluster.results
        for h in m.hosts
    }
    head = "".join(
        f'<th scope="col" class="host-col"><a href="#host-{i}">{_t(h)}</a></th>'
        for i, h in enumerate(m.hosts)
    )
    rows = []
    for row in m.rows:
        cells = []
        for i, st in enumerate(row.cells):
            target = cross_anchor.get(row.check_id) if row.cross else anchors[i].get(row.check_id)
            # a status comes from a result, which always has its anchor
            inner = _badge(None) if st is None else f'<a href="#{target}">{_badge(st)}</a>'
            host = m.hosts[i]
            tip = cross_said.get((row.check_id, host)) if row.cross else said[i].get(row.check_id)
            title = f' title="{_t(tip)}"' if tip else ""
            cells.append(f'<td class="st-{_status(st)}" data-host="{_t(host)}"{title}>{inner}</td>')
        kind = ' class="cross"' if row.cross else ""
        rows.append(
            f'<tr{kind} data-check="{_t(row.check_id)}"><th scope="row" title="{_t(row.title)}">'
            f"<code>{_t(row.check_id)}</code></th>{''.join(cells)}</tr>"
        )
    verdicts = "".join(
        f'<td class="st-{"fail" if code or not ok else "pass"}">'
        f"{'UNREACHABLE' if not ok else ('FAILED' if code else 'OK')}</td>"
        for ok, code in zip_strict(m.reachable, m.verdicts)
    )
    return (
        '<section id="matrix"><h2>Hosts × checks</h2>'
        '<p class="meta">A cell links to the host\'s result; cross-node checks (italic) show '
        "what they found about each host.</p>"
        '<div class="scroll">'
        f'<table class="matrix"><thead><tr><th scope="col">check</th>{head}</tr></thead><tbody>'
        + "".join(rows)
        + f'<tr class="verdicts"><th scope="row">host verdict</th>{verdicts}</tr>'
        + "</tbody></table></div></section>"
    )


def _page(title: str, header: Iterable[str], body: Iterable[str]) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_t(title)}</title>\n<style>{_CSS}</style></head>\n<body>\n<header>\n"
        + "\n".join(header)
        + "\n</header>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body></html>\n"
    )


def render_html(
    report: Report | ClusterReport, *, strict: bool = False, color: bool = False
) -> str:
    """The page for one host, or for a cluster (matrix first)."""
    from harborkit import __version__

    if isinstance(report, Report):
        from harborkit.report.table import summary_line

        verdict = summary_line(report, strict)
        code = report.exit_code(strict=strict)
        header = [
            f"<h1>harborkit check: {_t(report.host)}</h1>",
            f'<p id="verdict" class="verdict st-{"fail" if code else "pass"}">{_t(verdict)}</p>',
            f'<p class="meta">profile {_t(report.profile)} ({_t(report.profile_path)}), '
            f"started {_t(report.started)}, harborkit {_t(report.harborkit_version)}</p>",
        ]
        body = [_host_section(report, 0, strict, title=_t(report.host))]
        return _page(f"harborkit check: {report.host}", header, body)

    from harborkit.report.cluster import cluster_summary_line

    verdict = cluster_summary_line(report, strict)
    code = report.exit_code(strict=strict)
    reasons = {u.name: u.reason for u in report.unreachable}
    n = len(report.hosts)
    header = [
        f"<h1>harborkit check: {n} host{'s' if n != 1 else ''}</h1>",
        f'<p id="verdict" class="verdict st-{"fail" if code else "pass"}">{_t(verdict)}</p>',
        f'<p class="meta">profile {_t(report.profile)} ({_t(report.profile_path)}), '
        f"started {_t(report.started)}, {report.duration:.2f} s, harborkit {_t(__version__)}</p>",
    ]
    body = [_matrix(report, strict)]
    cluster = report.cluster
    from harborkit.report.table import QUIET

    cross = _host_section(
        cluster,
        -1,
        strict,
        title=f"Cross-node checks ({n - len(report.unreachable)} reachable hosts)",
        section_id="cluster",
        anchor_prefix="x-",
        collapsed=all(r.status in QUIET for r in cluster.results),  # nothing to see: folded
    )
    body.append(cross)
    for i, rep in enumerate(report.hosts):
        reason = reasons.get(rep.host)
        body.append(
            _host_section(
                rep,
                i,
                strict,
                title=_t(rep.host),
                reason=reason,
                collapsed=reason is None and n > 1,
            )
        )
    return _page(f"harborkit check: {n} hosts", header, body)
