"""JUnit: each status's element, the detail lines and the suite properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harborkit.report.junit import render_junit
from tests.report.test_table_exact import REPORT


def _cases() -> dict[str, ET.Element]:
    root = ET.fromstring(render_junit(REPORT))
    (suite,) = root.findall("testsuite")
    return {c.get("name", "").split(":")[0]: c for c in suite.findall("testcase")}


def test_each_status_has_its_element() -> None:
    cases = _cases()
    kinds = {cid: [el.tag for el in case if el.tag != "system-out"] for cid, case in cases.items()}
    assert kinds == {
        "a.pass": [],
        "b.fail": ["failure"],
        "c.warn": [],
        "d.waived": ["skipped"],
        "e.expired": ["failure"],
        "f.error": ["error"],
        "g.skip": ["skipped"],
    }
    assert cases["f.error"].find("error").attrib == {  # type: ignore[union-attr]
        "type": "error",
        "message": "check raised RuntimeError: x",
    }
    assert cases["g.skip"].find("skipped").attrib == {  # type: ignore[union-attr]
        "type": "not-applicable",
        "message": "not here",
    }
    assert cases["d.waived"].find("skipped").attrib == {  # type: ignore[union-attr]
        "type": "waived",
        "message": "waived (fail): ops accepted (until 2027-01-31)",
    }
    assert cases["b.fail"].attrib == {
        "name": "b.fail: title b.fail",
        "classname": "harborkit.g",
        "time": "0.200",
    }


def test_detail_lines_name_expected_actual_and_location() -> None:
    cases = _cases()
    failure = cases["b.fail"].find("failure")
    assert failure is not None
    assert failure.attrib == {"type": "fail", "message": "2 of 3 fail: k1, k2"}
    assert failure.text == (
        "2 of 3 fail: k1, k2\n"
        "[fail] k1: 3, expected >= 5 (expected >= 5; actual 3; /etc/a:2)\n"
        "[fail] k2: missing (expected >= 5)\n"
        "[pass] k3: ok (actual 7; /etc/a:4)\n"
        "[skip] k4: n/a"
    )
    assert cases["c.warn"].find("system-out").text == (  # type: ignore[union-attr]
        "status: warn\nseverity: high\nremediation: \nk9: odd\n[warn] k9: odd (/etc/b:9)\n"
    )
    assert cases["a.pass"].find("system-out").text == (  # type: ignore[union-attr]
        "status: pass\nseverity: high\nremediation: do the fix\nall good\n"
        "[pass] k1: fine (expected = 1; actual 1; /etc/x:1)\n"
    )


def test_suite_attributes_and_properties() -> None:
    root = ET.fromstring(render_junit(REPORT))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib == {
        "name": "harborkit check h1",
        "tests": "7",
        "failures": "2",
        "errors": "1",
        "skipped": "2",
        "time": "1.000",
        "timestamp": "2026-11-26T00:00:00",
        "hostname": "h1",
        "id": "0",
        "package": "harborkit",
    }
    props = [(p.get("name"), p.get("value")) for p in suite.find("properties")]  # type: ignore[union-attr]
    assert props[:4] == [
        ("profile", "prof"),
        ("profile.path", "p.yaml"),
        ("harborkit.version", "0.1.0"),
        ("live", "false"),
    ]
    assert props[4:8] == [
        ("a.pass.severity", "high"),
        ("a.pass.remediation", "do the fix"),
        ("b.fail.severity", "critical"),
        ("b.fail.remediation", "do the fix"),
    ]
    assert len(props) == 4 + 2 * 7
    text = render_junit(REPORT)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    assert text.endswith("</testsuites>\n")
