"""Benchmark: start-up and a full `harborkit check` on this host.

Times whole processes (what an operator or CI waits for), median of several
runs, next to the bare interpreter start-up measured in the same run, so the
figures can be read on a noisy machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 9
HK = [sys.executable, "-m", "harborkit"]
TARGET_HELP = 0.15
TARGET_CHECK = 0.5


def _median_seconds(argv: list[str], runs: int = RUNS) -> float:
    times = []
    env = {**os.environ, "NO_COLOR": "1"}
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
        )
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run() -> list[tuple[str, str]]:
    """Return (label, figure) rows."""
    exe = Path(sys.executable).parent / "harborkit"
    script = [str(exe)] if exe.exists() else HK
    bare = _median_seconds([sys.executable, "-c", "pass"])
    help_t = _median_seconds([*script, "--help"])
    check_t = _median_seconds([*script, "check", "-f", "json"])
    return [
        ("python -c pass (baseline)", f"{bare:.3f} s"),
        (
            "harborkit --help",
            f"{help_t:.3f} s ({help_t / bare:.1f}x bare python; target < {TARGET_HELP} s: {'ok' if help_t < TARGET_HELP else 'MISSED'})",
        ),
        (
            "harborkit check (full, this host)",
            f"{check_t:.3f} s ({check_t / bare:.1f}x bare python; target < {TARGET_CHECK} s: {'ok' if check_t < TARGET_CHECK else 'MISSED'})",
        ),
    ]


def main() -> None:
    for label, figure in run():
        print(f"{label:40} {figure}")


if __name__ == "__main__":
    main()
