"""What a check is and what it returns.

A check is a small class with a stable ``id``, a ``title``, a ``group``, a
``severity`` and a ``remediation`` hint; its docstring is its user
documentation. ``run(ctx)`` returns an :class:`Outcome`. A check may also
raise :class:`SkipCheck` (not applicable) or
:class:`harborkit.host.NotAvailable` (the host cannot tell); any other
exception makes the check ``error`` while the run goes on.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from harborkit.host.interface import Host, NotAvailable

if TYPE_CHECKING:
    from harborkit.model.change import Change

T = TypeVar("T")


class Status(enum.Enum):
    """The result of one check or one finding, best to worst."""

    PASS = "pass"
    SKIP = "skip"  # not applicable, with the reason
    WAIVED = "waived"  # a failure or warning covered by a valid waiver
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"  # the check itself broke

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def worst(cls, statuses: Iterable[Status]) -> Status:
        """The most severe status; PASS for none. SKIP only if all skipped."""
        items = list(statuses)
        if not items:
            return cls.PASS
        if all(s is cls.SKIP for s in items):
            return cls.SKIP
        return max((s for s in items if s is not cls.SKIP), key=lambda s: s.rank)


_RANK = {
    Status.SKIP: 0,
    Status.PASS: 1,
    Status.WAIVED: 2,
    Status.WARN: 3,
    Status.FAIL: 4,
    Status.ERROR: 5,
}


class Severity(enum.Enum):
    """How much a failure of the check matters for a Harbor install."""

    CRITICAL = "critical"  # the install or Harbor will not work
    HIGH = "high"  # Harbor works badly or the guide's setting is lost
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Finding:
    """One observed fact inside a check: a sysctl key, a limits line, a port."""

    status: Status
    subject: str
    message: str
    expected: str | None = None
    actual: str | None = None
    location: str | None = None  # "file:line[:col]" when the fact comes from a file


@dataclass(frozen=True)
class Outcome:
    """What a check's ``run`` returns."""

    status: Status
    message: str
    findings: tuple[Finding, ...] = ()

    @classmethod
    def from_findings(
        cls, findings: Iterable[Finding], *, ok: str = "all as expected", summary: str | None = None
    ) -> Outcome:
        """Status is the worst finding's; the message counts the bad ones."""
        items = tuple(findings)
        status = Status.worst(f.status for f in items)
        if summary is not None:
            message = summary
        elif status in (Status.PASS, Status.SKIP):
            message = ok if status is Status.PASS else "; ".join(f.message for f in items)
        else:
            bad = [f for f in items if f.status is status]
            if len(bad) == 1:
                message = f"{bad[0].subject}: {bad[0].message}"
            else:
                names = ", ".join(b.subject for b in bad[:3])
                more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
                message = f"{len(bad)} of {len(items)} {status.value}: {names}{more}"
        return cls(status, message, items)


def passed(message: str, findings: Iterable[Finding] = ()) -> Outcome:
    return Outcome(Status.PASS, message, tuple(findings))


def failed(message: str, findings: Iterable[Finding] = ()) -> Outcome:
    return Outcome(Status.FAIL, message, tuple(findings))


def warned(message: str, findings: Iterable[Finding] = ()) -> Outcome:
    return Outcome(Status.WARN, message, tuple(findings))


def skipped(reason: str) -> Outcome:
    return Outcome(Status.SKIP, reason)


class SkipCheck(Exception):
    """Raised by a check that does not apply here; the message is the reason."""


@dataclass(frozen=True)
class CheckOptions:
    """Run-wide inputs from the command line."""

    harbor_config: str | None = None  # path on the audited host
    install_dir: str | None = None


@dataclass
class CheckContext:
    """Everything a check may use: the host, its profile section, options,
    and a memo shared by all checks of one run (parse a file once)."""

    host: Host
    profile: Mapping[str, Any]
    options: CheckOptions = field(default_factory=CheckOptions)
    _memo: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Any:
        """The profile's settings for an area (``sysctl``, ``limits`` ...)."""
        try:
            return self.profile[name]
        except KeyError:
            raise SkipCheck(f"the profile has no '{name}' section") from None

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Compute once per run; an exception is remembered and raised again."""
        if key not in self._memo:
            try:
                self._memo[key] = (True, compute())
            except Exception as e:
                self._memo[key] = (False, e)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def require_live(self, what: str) -> None:
        if not self.host.live:
            raise NotAvailable(f"{what} needs a running system; auditing a sysroot")


class Check(ABC):
    """Base class of every check, built-in or plugin."""

    id: ClassVar[str]
    title: ClassVar[str]
    group: ClassVar[str]
    severity: ClassVar[Severity] = Severity.HIGH
    remediation: ClassVar[str] = ""
    #: ids of checks that must not fail/error/skip for this one to make sense
    requires: ClassVar[tuple[str, ...]] = ()
    #: absolute paths (globs allowed) and argv commands this check reads beyond
    #: the built-in checks' facts, so the snapshot collector gathers them too
    reads: ClassVar[tuple[str, ...]] = ()
    commands: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @abstractmethod
    def run(self, ctx: CheckContext) -> Outcome:
        """Inspect the host and return an outcome."""

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        """The changes that would make this check pass, from its outcome.

        Called after ``run`` when the check failed or warned. The changes
        (:mod:`harborkit.model.change`) become the report's remediation text and
        what ``harborkit fix`` applies. Return nothing when the check cannot
        say; its static ``remediation`` is shown then.
        """
        return ()

    @classmethod
    def plans(cls) -> bool:
        """True when the check overrides :meth:`plan`."""
        return cls.plan is not Check.plan

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip()


#: the group of the post-install checks: judged only with ``--phase post`` or ``all``
POST_GROUP = "post"
#: ``pre``: before the install (every other group); ``post``: the running Harbor; ``all``: both
PHASES = ("pre", "post", "all")


def in_phase(group: str, phase: str) -> bool:
    """Whether a check of ``group`` belongs to ``phase``."""
    return phase == "all" or (group == POST_GROUP) == (phase == "post")


__all__ = [
    "PHASES",
    "POST_GROUP",
    "in_phase",
    "Check",
    "CheckContext",
    "CheckOptions",
    "Finding",
    "NotAvailable",
    "Outcome",
    "Severity",
    "SkipCheck",
    "Status",
    "failed",
    "passed",
    "skipped",
    "warned",
]
