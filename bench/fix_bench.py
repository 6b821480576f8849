"""Benchmark: `harborkit fix` on the guide-as-written sysroot.

Times whole processes, median of several runs, next to the same-run
baselines (bare interpreter start-up and a `harborkit check` of the same
sysroot), so the figures read on a noisy machine: the plan (dry run), and
apply + re-check on a fresh copy each round (rolled back after timing).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 7
REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "tests" / "fixtures" / "sysroots" / "guide-as-written"
TARGET_PLAN = 0.5


def _hk() -> list[str]:
    exe = Path(sys.executable).parent / "harborkit"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "harborkit"]


def _time(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    return time.perf_counter() - t


def _in_process(root: Path) -> float:
    """Median wall time of the checks and the planners alone (no start-up)."""
    sys.path.insert(0, str(REPO))
    from harborkit.engine.session import prepare
    from harborkit.fix.build import plan_from_report

    session = prepare(
        profile=None,
        root=str(root),
        harbor_config=None,
        install_dir="/opt/harbor",
        node=None,
        only=None,
        skip=None,
    )
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        plan_from_report(session.run())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run() -> list[tuple[str, str]]:
    """Return (label, figure) rows."""
    hk = _hk()
    opts = ["--install-dir", "/opt/harbor"]
    with tempfile.TemporaryDirectory(prefix="hk-fix-bench-") as tmp:
        root = Path(tmp) / "root"
        shutil.copytree(GUIDE, root, symlinks=True)
        bare = statistics.median(_time([sys.executable, "-c", "pass"]) for _ in range(RUNS))
        check = statistics.median(
            _time([*hk, "check", "--root", str(root), *opts, "-f", "json"]) for _ in range(RUNS)
        )
        plan = statistics.median(
            _time([*hk, "fix", "--root", str(root), *opts]) for _ in range(RUNS)
        )
        applies = []
        for _ in range(RUNS):
            applies.append(_time([*hk, "fix", "--root", str(root), *opts, "--apply"]))
            subprocess.run(
                [*hk, "fix", "--root", str(root), "--rollback"],
                stdout=subprocess.DEVNULL,
                check=True,
            )
        apply = statistics.median(applies)
        inproc = _in_process(root)
    ok = "ok" if plan < TARGET_PLAN else "MISSED"
    return [
        ("python -c pass (baseline)", f"{bare:.3f} s"),
        ("harborkit check --root guide (baseline)", f"{check:.3f} s"),
        (
            "harborkit fix (plan, guide-as-written)",
            f"{plan:.3f} s ({plan / check:.2f}x check; target < {TARGET_PLAN} s: {ok})",
        ),
        (
            "  of which checks + planners in-process",
            f"{inproc:.3f} s ({inproc / plan:.2f}x the whole process)",
        ),
        (
            "harborkit fix --apply + re-check",
            f"{apply:.3f} s ({apply / check:.2f}x check)",
        ),
    ]


def main() -> None:
    for label, figure in run():
        print(f"{label:42} {figure}")


if __name__ == "__main__":
    main()
