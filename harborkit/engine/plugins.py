"""Plugin discovery: the checks installed in the ``harborkit.checks`` entry-point
group, and the cross-node checks in ``harborkit.cluster_checks``.

Built-in checks register through the same groups as third-party plugins (see
``pyproject.toml``), so there is one discovery path. An entry point may name a
:class:`Check` (:class:`ClusterCheck`) subclass or an iterable of them. A
plugin that fails to load does not stop the run: it becomes a broken-plugin result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any

from harborkit.compat import entry_points
from harborkit.model.check import Check
from harborkit.model.cluster import ClusterCheck

GROUP = "harborkit.checks"
CLUSTER_GROUP = "harborkit.cluster_checks"


@dataclass(frozen=True)
class LoadedCheck:
    cls: type[Check]
    source: str  # distribution name that provided it


@dataclass(frozen=True)
class PluginFailure:
    entry_point: str
    source: str
    error: str


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else ep.module


def _as_checks(obj: object, base: type = Check) -> list[type]:
    if isinstance(obj, type) and issubclass(obj, base):
        return [obj]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        items = list(obj)
        if all(isinstance(i, type) and issubclass(i, base) for i in items):
            return items
    raise TypeError(
        f"expected a {base.__name__} subclass or a list of them, got {type(obj).__name__}"
    )


def discover() -> tuple[list[LoadedCheck], list[PluginFailure]]:
    """All installed checks, built-ins first, then plugins by name."""
    found, failures = _load(GROUP, Check)
    return [LoadedCheck(cls, source) for cls, source in found], failures


def discover_cluster() -> tuple[list[type[ClusterCheck]], list[PluginFailure]]:
    """All installed cross-node checks, built-ins first, then plugins by name."""
    found, failures = _load(CLUSTER_GROUP, ClusterCheck)
    return [cls for cls, _ in found], failures


def _load(group: str, base: type) -> tuple[list[tuple[Any, str]], list[PluginFailure]]:
    """The classes of an entry-point group with the distribution of each."""
    eps = sorted(
        entry_points(group),
        key=lambda e: (_dist_name(e) != "harborkit", _dist_name(e), e.name),
    )
    checks: list[tuple[Any, str]] = []
    failures: list[PluginFailure] = []
    seen: dict[str, str] = {}
    for ep in eps:
        source = _dist_name(ep)
        try:
            classes: list[Any] = _as_checks(ep.load(), base)
        except Exception as e:
            failures.append(
                PluginFailure(f"{ep.name} = {ep.value}", source, f"{type(e).__name__}: {e}")
            )
            continue
        for cls in classes:
            missing = [a for a in ("id", "title", "group") if not getattr(cls, a, None)]
            if missing:
                failures.append(
                    PluginFailure(ep.value, source, f"{cls.__name__} lacks {', '.join(missing)}")
                )
            elif cls.id in seen:
                failures.append(
                    PluginFailure(
                        ep.value, source, f"check id {cls.id} is already provided by {seen[cls.id]}"
                    )
                )
            else:
                seen[cls.id] = source
                checks.append((cls, source))
    return checks, failures
