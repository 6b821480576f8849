"""What a cross-node check is: judged once over every reachable host.

The engine (:mod:`harborkit.engine.cluster`) runs these after the per-host
checks; the built-in ones live in :mod:`harborkit.checks.cluster` and are
found through the ``harborkit.cluster_checks`` entry point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from harborkit.host.interface import Host
from harborkit.model.check import CheckContext, Outcome, Severity, SkipCheck


@dataclass
class ClusterContext:
    """What a cross-node check may use: every reachable host (each with the
    per-host context its checks used, options included) and the profile."""

    contexts: Sequence[CheckContext]
    profile: Mapping[str, Any]

    @property
    def hosts(self) -> list[Host]:
        return [c.host for c in self.contexts]

    def section(self, name: str) -> Any:
        try:
            return self.profile[name]
        except KeyError:
            raise SkipCheck(f"the profile has no '{name}' section") from None


class ClusterCheck(ABC):
    """Base class of a check judged once over all reachable hosts.

    Same identity as :class:`~harborkit.model.check.Check` (stable
    ``id``, ``title``, ``group``, ``severity``, ``remediation``; the
    docstring is the documentation). ``run`` returns an Outcome whose
    findings name the host they are about in ``subject`` (the host's name as
    reports show it), so reports can place them in the host x check matrix.
    Fewer than ``min_hosts`` reachable hosts: skipped with the reason.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    group: ClassVar[str] = "cluster"
    severity: ClassVar[Severity] = Severity.HIGH
    remediation: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    min_hosts: ClassVar[int] = 2

    @abstractmethod
    def run(self, ctx: ClusterContext) -> Outcome:
        """Judge the hosts together and return an outcome."""

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip()


__all__ = ["ClusterCheck", "ClusterContext"]
