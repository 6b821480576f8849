"""List the report artefacts (HTML page, its screenshot) written by this run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / ".work" / "artifacts" / "report-html"
_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ARTIFACTS.is_dir():
        return
    fresh = sorted(p for p in ARTIFACTS.iterdir() if p.stat().st_mtime >= _STARTED - 1)
    if fresh:
        terminalreporter.section("report artefacts")
        for p in fresh:
            terminalreporter.write_line(str(p))
