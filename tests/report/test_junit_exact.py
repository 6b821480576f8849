"""JUnit: each status's element, the detail lines and the suite properties.

JUnit XML of several hosts, exactly: the per-suite and root totals, a
warning that fails under --strict, an error, a waiver without a date and
without an original status, and host text that XML 1.0 cannot carry."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import xmlschema

from harborkit.model.check import Finding, Status
from harborkit.model.result import CheckResult, Report, WaiverUse
from harborkit.report.junit import render_junit
from tests.report.fleet import B2, C3, host, info
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


JUNIT_XSD = Path(__file__).resolve().parent / "junit" / "jenkins-junit-10.xsd"


HOSTILE = host(
    "x\x00",
    (
        CheckResult(
            info("w\x1b", "T\ufffe", rem="r\x01"),
            Status.WAIVED,
            "m\x02",
            (Finding(Status.FAIL, "s\x03", "f\x04"),),
            0.1234,
            WaiverUse("why\x05", None, False, "w:1"),
        ),
    ),
    duration=1.5,
)


STRICT = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="harborkit check" tests="4" failures="1" errors="1" time="1.750">
  <testsuite name="harborkit check b2" tests="2" failures="1" errors="0" skipped="1" \
time="0.250" timestamp="2026-11-26T01:02:03" hostname="b2" id="0" package="harborkit">
    <properties>
      <property name="profile" value="prof" />
      <property name="profile.path" value="p.yaml" />
      <property name="harborkit.version" value="0.1.0" />
      <property name="live" value="true" />
      <property name="chk.one.severity" value="high" />
      <property name="chk.one.remediation" value="fix it" />
      <property name="chk.three.severity" value="high" />
      <property name="chk.three.remediation" value="fix it" />
    </properties>
    <testcase name="chk.one: One again" classname="harborkit.g" time="0.000">
      <failure type="warn" message="one odd">one odd</failure>
      <system-out>status: warn
severity: high
remediation: fix it
one odd
</system-out>
    </testcase>
    <testcase name="chk.three: Three" classname="harborkit.g" time="0.000">
      <skipped type="not-applicable" message="not here" />
      <system-out>status: skip
severity: high
remediation: fix it
not here
</system-out>
    </testcase>
  </testsuite>
  <testsuite name="harborkit check c3" tests="1" failures="0" errors="1" skipped="0" \
time="0.000" timestamp="2026-11-26T00:00:00" hostname="c3" id="1" package="harborkit">
    <properties>
      <property name="profile" value="prof" />
      <property name="profile.path" value="p.yaml" />
      <property name="harborkit.version" value="0.1.0" />
      <property name="live" value="false" />
      <property name="host.reachable.severity" value="critical" />
      <property name="host.reachable.remediation" value="Make the host reachable (address, \
SSH access, host key, credentials) or leave it out" />
    </properties>
    <testcase name="host.reachable: Host reachable" classname="harborkit.host" time="0.000">
      <error type="error" message="ssh: connect to host c3 port 22: Connection refused">\
ssh: connect to host c3 port 22: Connection refused</error>
      <system-out>status: error
severity: critical
remediation: Make the host reachable (address, SSH access, host key, credentials) or leave it out
ssh: connect to host c3 port 22: Connection refused
</system-out>
    </testcase>
  </testsuite>
  <testsuite name="harborkit check x\\x00" tests="1" failures="0" errors="0" skipped="1" \
time="1.500" timestamp="2026-11-26T00:00:00" hostname="x\\x00" id="2" package="harborkit">
    <properties>
      <property name="profile" value="prof" />
      <property name="profile.path" value="p.yaml" />
      <property name="harborkit.version" value="0.1.0" />
      <property name="live" value="false" />
      <property name="w\\x1b.severity" value="high" />
      <property name="w\\x1b.remediation" value="r\\x01" />
    </properties>
    <testcase name="w\\x1b: T\\ufffe" classname="harborkit.g" time="0.123">
      <skipped type="waived" message="waived (): why\\x05" />
      <system-out>status: waived
severity: high
remediation: r\\x01
m\\x02
[fail] s\\x03: f\\x04
</system-out>
    </testcase>
  </testsuite>
</testsuites>
"""


def _reports() -> list[Report]:
    return [replace(B2, started="2026-11-26T01:02:03Z", duration=0.25), C3, HOSTILE]


def test_several_suites_strict_exactly() -> None:
    text = render_junit(_reports(), strict=True)
    assert text == STRICT
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(text)


def test_a_warning_passes_unless_strict() -> None:
    text = render_junit(_reports())
    assert text.splitlines()[1] == (
        '<testsuites name="harborkit check" tests="4" failures="0" errors="1" time="1.750">'
    )
    assert (
        '<testsuite name="harborkit check b2" tests="2" failures="0" errors="0" skipped="1" '
        in (text)
    )
    assert '<failure type="warn"' not in text
    assert text.count("<failure ") == 0
    assert text.count('<skipped type="not-applicable" message="not here" />') == 1


def test_one_report_is_one_suite() -> None:
    text = render_junit(HOSTILE)
    assert text.splitlines()[1] == (
        '<testsuites name="harborkit check" tests="1" failures="0" errors="0" time="1.500">'
    )
    assert text.count("<testsuite ") == 1
