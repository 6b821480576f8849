"""The JSON report: its shape is written here and only here
(validated in the tests against ``schemas/report.schema.json``)."""

from __future__ import annotations

import json
import re
from typing import Any

from harborkit.model.check import Finding
from harborkit.model.result import CheckResult, Report

SCHEMA_ID = "harborkit/report/v1"


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "status": f.status.value,
        "subject": f.subject,
        "message": f.message,
        "expected": f.expected,
        "actual": f.actual,
        "location": f.location,
    }


def _result(r: CheckResult) -> dict[str, Any]:
    return {
        "id": r.check.id,
        "title": r.check.title,
        "group": r.check.group,
        "severity": r.check.severity.value,
        "remediation": r.check.remediation,
        "source": r.check.source,
        "status": r.status.value,
        "original_status": r.original_status.value if r.original_status else None,
        "message": r.message,
        "duration_seconds": round(r.duration, 6),
        "findings": [_finding(f) for f in r.findings],
        "waiver": None
        if r.waiver is None
        else {
            "reason": r.waiver.reason,
            "expires": r.waiver.expires,
            "expired": r.waiver.expired,
            "location": r.waiver.location,
        },
    }


def report_to_dict(report: Report, *, strict: bool = False) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "harborkit_version": report.harborkit_version,
        "host": report.host,
        "live": report.live,
        "profile": {"name": report.profile, "path": report.profile_path},
        "started": report.started,
        "duration_seconds": round(report.duration, 6),
        "strict": strict,
        "exit_code": report.exit_code(strict=strict),
        "summary": {**report.counts(), "total": len(report.results)},
        "results": [_result(r) for r in report.results],
        "notes": list(report.notes),
    }


_SURROGATE = re.compile("[\ud800-\udfff]")


def render_json(report: Report, *, strict: bool = False, color: bool = False) -> str:
    text = json.dumps(report_to_dict(report, strict=strict), indent=2, ensure_ascii=False)
    # a lone surrogate (from a plugin's text) cannot be written as UTF-8: keep it
    # as the JSON escape it would be with ensure_ascii, the rest stays readable
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text) + "\n"
