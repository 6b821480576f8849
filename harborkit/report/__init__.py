"""Report formats: pure functions from a :class:`Report` (one host) or a
:class:`~harborkit.engine.cluster.ClusterReport` (several) to text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harborkit.compat import StrEnum


class OutputFormat(StrEnum):
    """The ``--format`` choices of ``harborkit check``."""

    table = "table"
    json = "json"
    junit = "junit"
    html = "html"


def _either(
    single: Callable[..., str], cluster: Callable[[], Callable[..., str]]
) -> Callable[..., str]:
    """Render a single-host report with ``single``, a cluster report with the
    renderer ``cluster()`` returns (imported only for a cluster)."""

    def render(report: Any, **kwargs: Any) -> str:
        from harborkit.engine.cluster import ClusterReport

        if isinstance(report, ClusterReport):
            return cluster()(report, **kwargs)
        return single(report, **kwargs)

    return render


def _cluster_table() -> Callable[..., str]:
    from harborkit.report.cluster import render_cluster_table

    return render_cluster_table


def _cluster_json() -> Callable[..., str]:
    from harborkit.report.cluster import render_cluster_json

    return render_cluster_json


def renderer(fmt: OutputFormat) -> Callable[..., str]:
    """The render function of a format (imported lazily: only the one used).
    It takes a single-host ``Report`` or a ``ClusterReport``."""
    if fmt is OutputFormat.table:
        from harborkit.report.table import render_table

        return _either(render_table, _cluster_table)
    if fmt is OutputFormat.json:
        from harborkit.report.json import render_json

        return _either(render_json, _cluster_json)
    if fmt is OutputFormat.junit:
        from harborkit.report.junit import render_junit

        return _either(render_junit, lambda: lambda r, **kw: render_junit(r.reports, **kw))
    if fmt is OutputFormat.html:
        from harborkit.report.html import render_html

        return render_html
    raise ValueError(fmt)  # pragma: no cover - the enum is closed; a test covers every member


def summary(report: Any, strict: bool = False) -> str:
    """The one-line verdict of either kind of report (stderr when -o is used)."""
    from harborkit.engine.cluster import ClusterReport

    if isinstance(report, ClusterReport):
        from harborkit.report.cluster import cluster_summary_line

        return cluster_summary_line(report, strict)
    from harborkit.report.table import summary_line

    return summary_line(report, strict)


__all__ = ["OutputFormat", "renderer", "summary"]
