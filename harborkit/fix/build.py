"""From a report to one plan for the host."""

from __future__ import annotations

import hashlib
import json

from harborkit.model.change import Change, Command, FileChange, ManualStep, Plan, merge
from harborkit.model.check import Status
from harborkit.model.result import Report

FIXABLE = (Status.FAIL, Status.WARN)


def plan_from_report(report: Report) -> Plan:
    """Every failed or warned check's planned changes; a failed check with
    no planned change stays in the plan as a manual step with its advice."""
    changes: list[Change] = []
    for r in report.results:
        if r.status not in FIXABLE and not (
            r.status is Status.WAIVED and r.original_status in FIXABLE
        ):
            continue
        if r.status is Status.WAIVED:
            continue  # accepted by a waiver: not ours to change
        if r.changes:
            changes.extend(r.changes)
        elif r.status is Status.FAIL and r.check.remediation:
            changes.append(ManualStep((r.check.id,), r.check.remediation))
    return merge(changes)


def plan_id(plan: Plan) -> str:
    """A short digest of everything the plan would do: the same host state
    and options give the same id, any change to a planned file another."""
    doc = {
        "files": [[f.path, f.old_sha256, f.new_sha256, f.owned, f.mode] for f in plan.files],
        "commands": [list(c.argv) for c in plan.commands],
        "manual": [m.reason for m in plan.manual],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def render_dry_run(plan: Plan, *, live: bool) -> str:
    """Unified diffs, then the commands, then the manual steps; what came from
    the host is shown with its terminal escapes and line breaks escaped (a tab
    of a file stays a tab), so no file can move the cursor or forge a line."""
    from harborkit.textsafe import terminal_line

    out: list[str] = []
    for f in plan.files:
        out.append(terminal_line(f"# {', '.join(f.check_ids)}: {f.reason}") + "\n")
        out.append(_shown_diff(f))
    if plan.commands:
        out.append(
            "\n# commands, in this order" + ("" if live else " (on the live host only)") + ":\n"
        )
        for c in plan.commands:
            flag = "  [restarts docker]" if c.restarts_docker else ""
            said = f"{c.shell}    # {', '.join(c.check_ids)}: {c.reason}{flag}"
            out.append(terminal_line(said) + "\n")
    if plan.manual:
        out.append("\n# manual steps (no file or command can do these):\n")
        for m in plan.manual:
            out.append(terminal_line(f"- {', '.join(m.check_ids)}: {m.reason}") + "\n")
    return "".join(out)


def _shown_diff(f: FileChange) -> str:
    """``f.diff()`` for a terminal: the file name in the two header lines shown
    on one line each, every line of the diff with its escapes shown."""
    from harborkit.textsafe import terminal_line

    diff = f.diff()
    head = ("--- /dev/null\n" if f.old is None else f"--- a{f.path}\n") + f"+++ b{f.path}\n"
    shown = ""
    if diff.startswith(head):
        old = "/dev/null" if f.old is None else f"a{f.path}"
        shown = f"--- {terminal_line(old)}\n+++ {terminal_line('b' + f.path)}\n"
        diff = diff[len(head) :]
    body = "\n".join(terminal_line(line) for line in diff.split("\n"))
    return shown + body


__all__ = ["Command", "FileChange", "plan_from_report", "plan_id", "render_dry_run"]
