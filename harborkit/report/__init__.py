"""Report formats: pure functions from a :class:`Report` to text."""

from __future__ import annotations

import enum
from collections.abc import Callable


class OutputFormat(enum.StrEnum):
    """The ``--format`` choices of ``harborkit check``."""

    table = "table"
    json = "json"
    junit = "junit"


def renderer(fmt: OutputFormat) -> Callable[..., str]:
    """The render function of a format (imported lazily: only the one used)."""
    if fmt is OutputFormat.table:
        from harborkit.report.table import render_table

        return render_table
    if fmt is OutputFormat.json:
        from harborkit.report.json import render_json

        return render_json
    if fmt is OutputFormat.junit:
        from harborkit.report.junit import render_junit

        return render_junit
    raise ValueError(fmt)  # pragma: no cover - the enum is closed; a test covers every member


__all__ = ["OutputFormat", "renderer"]
