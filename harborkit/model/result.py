"""What a run of checks produces: each check's result and the report of one host.

Reports (:mod:`harborkit.report`) render these; the engine builds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from harborkit.model.change import Change
from harborkit.model.check import Check, Finding, Severity, Status


@dataclass(frozen=True)
class CheckInfo:
    """A check's identity, as reports show it."""

    id: str
    title: str
    group: str
    severity: Severity
    remediation: str
    source: str  # the distribution that provided it: "harborkit" or a plugin's name

    @classmethod
    def of(cls, check: type[Check], source: str) -> CheckInfo:
        return cls(check.id, check.title, check.group, check.severity, check.remediation, source)


@dataclass(frozen=True)
class WaiverUse:
    """A waiver that matched a check, applied or expired."""

    reason: str
    expires: str | None
    expired: bool
    location: str


@dataclass(frozen=True)
class CheckResult:
    """One check's result in a report."""

    check: CheckInfo
    status: Status
    message: str
    findings: tuple[Finding, ...]
    duration: float
    waiver: WaiverUse | None = None
    original_status: Status | None = None  # before a waiver changed it
    #: the planned changes that would make it pass (see ``Check.plan``)
    changes: tuple[Change, ...] = ()

    @property
    def counts_as_failure(self) -> bool:
        return self.status in (Status.FAIL, Status.ERROR)


@dataclass(frozen=True)
class Report:
    """A run of checks on one host."""

    host: str
    live: bool
    profile: str
    profile_path: str
    harborkit_version: str
    started: str  # ISO 8601 UTC
    duration: float
    results: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()
    #: what the report was made from when not this machine or a sysroot, for
    #: the human reports' labels ("snapshot server58.hksnap, collected ...",
    #: "over SSH"); "" for the live host or a sysroot (``live`` tells which)
    origin: str = ""

    def counts(self) -> dict[str, int]:
        """How many results of each status (every status present, maybe 0)."""
        c = {s.value: 0 for s in Status}
        for r in self.results:
            c[r.status.value] += 1
        return c

    def exit_code(self, *, strict: bool = False) -> int:
        """0 when nothing failed; 1 on a failure or a broken check; with
        ``strict`` a warning counts as a failure too."""
        bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if strict else set())
        return 1 if any(r.status in bad for r in self.results) else 0


__all__ = ["CheckInfo", "CheckResult", "Report", "WaiverUse"]
