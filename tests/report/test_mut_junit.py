"""JUnit XML of several hosts, exactly: the per-suite and root totals, a
warning that fails under --strict, an error, a waiver without a date and
without an original status, and host text that XML 1.0 cannot carry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import xmlschema

from harborkit.model.check import Finding, Status
from harborkit.model.result import CheckResult, Report, WaiverUse
from harborkit.report.junit import render_junit
from tests.report.fleet import B2, C3, host, info

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
