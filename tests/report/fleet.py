"""A small cluster report built by hand, for exact-output tests of the
multi-host formats: two audited hosts (one live), an unreachable one, one on
which nothing ran, and cross-node checks of every kind of cell."""

from __future__ import annotations

from harborkit.engine.cluster import REACHABLE_INFO, ClusterReport, Unreachable
from harborkit.model.check import Finding, Severity, Status
from harborkit.model.result import CheckInfo, CheckResult, Report

STARTED = "2026-11-26T00:00:00Z"
REFUSED = "ssh: connect to host c3 port 22: Connection refused"


def info(
    cid: str,
    title: str,
    group: str = "g",
    sev: Severity = Severity.HIGH,
    rem: str = "fix it",
) -> CheckInfo:
    return CheckInfo(cid, title, group, sev, rem, "harborkit")


def host(
    name: str,
    results: tuple[CheckResult, ...],
    *,
    live: bool = False,
    duration: float = 0.0,
    notes: tuple[str, ...] = (),
) -> Report:
    return Report(name, live, "prof", "p.yaml", "0.1.0", STARTED, duration, results, notes)


A1 = host(
    "a1",
    (
        CheckResult(info("chk.one", "One"), Status.PASS, "one ok", (), 0.1),
        CheckResult(
            info("chk.two", "Two", sev=Severity.CRITICAL),
            Status.FAIL,
            "two bad",
            (Finding(Status.FAIL, "k", "bad", ">= 5", "3", "/etc/two:4"),),
            0.2,
        ),
    ),
    duration=1.5,
)
B2 = host(
    "b2",
    (
        # the same check under another title: the matrix keeps the first seen
        CheckResult(info("chk.one", "One again"), Status.WARN, "one odd", (), 0.0),
        CheckResult(info("chk.three", "Three"), Status.SKIP, "not here", (), 0.0),
    ),
    live=True,
    duration=0.5,
    notes=("b2 note",),
)
C3 = host("c3", (CheckResult(REACHABLE_INFO, Status.ERROR, REFUSED, (), 0.0),))
D4 = host("d4", ())  # nothing selected ran on it

CROSS = host(
    "cluster",
    (
        CheckResult(
            info("cluster.x", "Cross", "cluster"),
            Status.FAIL,
            "b2 differs",
            (
                Finding(Status.PASS, "a1", "same"),
                Finding(Status.WARN, "b2", "odd"),
                Finding(Status.FAIL, "b2", "differs"),
            ),
            0.0,
        ),
        CheckResult(info("cluster.s", "Skipped", "cluster"), Status.SKIP, "too few", (), 0.0),
        CheckResult(info("cluster.e", "Broken", "cluster"), Status.ERROR, "it broke", (), 0.0),
        CheckResult(
            info("cluster.p", "Passed", "cluster"),
            Status.PASS,
            "all agree",
            (Finding(Status.PASS, "a1", "agrees"),),
            0.0,
        ),
    ),
    duration=0.25,
)

FLEET = ClusterReport(
    (A1, B2, C3, D4),
    CROSS,
    (Unreachable("c3", REFUSED),),
    "prof",
    "p.yaml",
    "0.1.0",
    STARTED,
    2.25,
)
