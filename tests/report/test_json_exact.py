"""The JSON report, field for field, and its text form."""

from __future__ import annotations

import json

from harborkit.model.result import Report
from harborkit.report.json import render_json, report_to_dict
from tests.report.test_table_exact import REPORT


def test_every_field_of_results_findings_and_waivers() -> None:
    data = report_to_dict(REPORT)
    assert {k: v for k, v in data.items() if k != "results"} == {
        "schema": "harborkit/report/v1",
        "harborkit_version": "0.1.0",
        "host": "h1",
        "live": False,
        "profile": {"name": "prof", "path": "p.yaml"},
        "started": "2026-11-26T00:00:00Z",
        "duration_seconds": 1.0,
        "strict": False,
        "exit_code": 1,
        "summary": {
            "pass": 1,
            "skip": 1,
            "waived": 1,
            "warn": 1,
            "fail": 2,
            "error": 1,
            "total": 7,
        },
        "notes": ["note one"],
    }
    first, second = data["results"][:2]
    assert first == {
        "id": "a.pass",
        "title": "title a.pass",
        "group": "g",
        "severity": "high",
        "remediation": "do the fix",
        "source": "harborkit",
        "status": "pass",
        "original_status": None,
        "message": "all good",
        "duration_seconds": 0.1,
        "findings": [
            {
                "status": "pass",
                "subject": "k1",
                "message": "fine",
                "expected": "= 1",
                "actual": "1",
                "location": "/etc/x:1",
            }
        ],
        "waiver": None,
    }
    assert second["severity"] == "critical"
    assert [f["status"] for f in second["findings"]] == ["fail", "fail", "pass", "skip"]
    waived = data["results"][3]
    assert (waived["status"], waived["original_status"]) == ("waived", "fail")
    assert waived["waiver"] == {
        "reason": "ops accepted",
        "expires": "2027-01-31",
        "expired": False,
        "location": "w.yaml:2",
    }
    expired = data["results"][4]
    assert (expired["status"], expired["original_status"]) == ("fail", None)
    assert expired["waiver"]["expired"] is True


def test_text_is_indented_utf8_with_a_final_newline() -> None:
    from dataclasses import replace

    rep: Report = replace(REPORT, host="h\u00f6st", duration=0.1234567)
    text = render_json(rep, strict=True)
    assert text.endswith("}\n")
    assert '\n  "host": "h\u00f6st",\n' in text
    data = json.loads(text)
    assert (data["strict"], data["exit_code"], data["duration_seconds"]) == (True, 1, 0.123457)
