"""JUnit XML, valid for the Jenkins xUnit schema (junit-10.xsd) and GitLab.

One ``<testsuite>`` per host, one ``<testcase>`` per check. A failure is
``<failure>``, a broken check ``<error>``, a skipped or waived one
``<skipped>`` with the reason. junit-10.xsd allows ``<properties>`` only on a
testsuite, so each check's severity and remediation are suite properties
named ``<check id>.severity`` / ``<check id>.remediation``, and are repeated
in the testcase's ``<system-out>`` for readers that show only that.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from harborkit.model.check import Status
from harborkit.model.result import CheckResult, Report
from harborkit.textsafe import xml_text


def _time(seconds: float) -> str:
    return f"{seconds:.3f}"


def _detail(r: CheckResult) -> str:
    lines = [r.message]
    for f in r.findings:
        extra = []
        if f.expected is not None:
            extra.append(f"expected {f.expected}")
        if f.actual is not None:
            extra.append(f"actual {f.actual}")
        if f.location:
            extra.append(f.location)
        tail = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"[{f.status.value}] {f.subject}: {f.message}{tail}")
    return "\n".join(lines)


def _suite(parent: ET.Element, report: Report, index: int, strict: bool) -> tuple[int, int, int]:
    results = report.results
    bad_fail = {Status.FAIL} | ({Status.WARN} if strict else set())
    failures = sum(r.status in bad_fail for r in results)
    errors = sum(r.status is Status.ERROR for r in results)
    skipped = sum(r.status in (Status.SKIP, Status.WAIVED) for r in results)
    suite = ET.SubElement(
        parent,
        "testsuite",
        {
            "name": f"harborkit check {report.host}",
            "tests": str(len(results)),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": str(skipped),
            "time": _time(report.duration),
            "timestamp": report.started.rstrip("Z"),
            "hostname": report.host,
            "id": str(index),
            "package": "harborkit",
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("profile", report.profile),
        ("profile.path", report.profile_path),
        ("harborkit.version", report.harborkit_version),
        ("live", str(report.live).lower()),
    ):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for r in results:
        ET.SubElement(
            props, "property", {"name": f"{r.check.id}.severity", "value": r.check.severity.value}
        )
        ET.SubElement(
            props, "property", {"name": f"{r.check.id}.remediation", "value": r.check.remediation}
        )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "name": f"{r.check.id}: {r.check.title}",
                "classname": f"harborkit.{r.check.group}",
                "time": _time(r.duration),
            },
        )
        if r.status in bad_fail:
            el = ET.SubElement(case, "failure", {"type": r.status.value, "message": r.message})
            el.text = _detail(r)
        elif r.status is Status.ERROR:
            el = ET.SubElement(case, "error", {"type": "error", "message": r.message})
            el.text = _detail(r)
        elif r.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"type": "not-applicable", "message": r.message})
        elif r.status is Status.WAIVED:
            assert r.waiver is not None
            reason = f"waived ({r.original_status.value if r.original_status else ''}): {r.waiver.reason}"
            if r.waiver.expires:
                reason += f" (until {r.waiver.expires})"
            ET.SubElement(case, "skipped", {"type": "waived", "message": reason})
        out = ET.SubElement(case, "system-out")
        out.text = (
            f"status: {r.status.value}\nseverity: {r.check.severity.value}\n"
            f"remediation: {r.check.remediation}\n{_detail(r)}\n"
        )
    return len(results), failures, errors  # the root element has no "skipped" in junit-10.xsd


def _xml_safe(root: ET.Element) -> None:
    """Whatever bytes a finding holds, the document stays well-formed XML 1.0."""
    for el in root.iter():
        for k, v in el.attrib.items():
            el.set(k, xml_text(v))
        if el.text:
            el.text = xml_text(el.text)


def render_junit(
    report: Report | Sequence[Report], *, strict: bool = False, color: bool = False
) -> str:
    reports = [report] if isinstance(report, Report) else list(report)
    root = ET.Element("testsuites", {"name": "harborkit check"})
    totals = [0, 0, 0]
    for i, rep in enumerate(reports):
        for k, v in enumerate(_suite(root, rep, i, strict)):
            totals[k] += v
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    root.set("time", _time(sum(r.duration for r in reports)))
    _xml_safe(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
