"""``make mutation``: run mutmut over the judging code, then print the score.

mutmut 3 (configured in ``pyproject.toml``, ``[tool.mutmut]``) copies the
package to ``mutants/``, mutates checks, engine, report and
bundle/{verify,tarsafe,load,format}, and runs the fast tests (``-m "not
daemon"``) that cover each mutated function. Afterwards this script prints
killed/total per module and every survivor that is not listed as equivalent
in ``tests/mutation-equivalent.md``.

Usage: ``python tests/mutation.py [MUTANT-GLOB ...]`` (no glob: every module).
``MUTATION_SUBPROCESS=1`` also maps the CLI and live-namespace tests (which run
harborkit as a subprocess) to the functions they exercise: more mutants are
judged, at many times the cost. ``MUTATION_JOBS`` sets the worker count.
``MUTATION_DAEMON=1`` also runs the daemon tests marked ``mutation`` (bundle
load's; one private dockerd per pytest run, seconds per mutant): ``make
mutation-load`` judges ``bundle/load.py`` that way, in its own copy of the tree.
``MUTATION_TESTS`` (space-separated pytest paths, e.g. ``tests/checks``) maps only
those tests, for a quick re-measure of one area: a lower bound, since mutants
that only other tests kill count as survivors.
``python tests/mutation.py --report`` prints the score of the last run only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EQUIVALENT = REPO / "tests" / "mutation-equivalent.md"

# exit codes mutmut records per mutant (mutmut.stats.status_by_exit_code)
KILLED = {1, 3, 37}
TIMEOUT = {36, -24, 24, 152, 255}


def _run(names: list[str]) -> int:
    # The fixture sysroots hold absolute symlinks (as real /etc does) that point
    # outside the tree; mutmut copies tests/ with copytree, which would follow
    # (and choke on) them. Copy links as links.
    original = shutil.copytree

    def copytree(src: Any, dst: Any, symlinks: bool = True, *args: Any, **kwargs: Any) -> Any:
        return original(src, dst, symlinks, *args, **kwargs)

    shutil.copytree = copytree
    # a second run copies tests/ again: links already there would collide
    shutil.rmtree(REPO / "mutants" / "tests", ignore_errors=True)
    from mutmut.__main__ import cli

    if os.environ.get("MUTATION_TESTS") or os.environ.get("MUTATION_DAEMON") == "1":
        from mutmut.configuration import config

        config().pytest_add_cli_args_test_selection = [
            *(os.environ.get("MUTATION_TESTS") or "tests").split(),
            "-m",
            "not daemon or mutation" if os.environ.get("MUTATION_DAEMON") == "1" else "not daemon",
        ]

    children = os.environ.get("MUTATION_JOBS") or str(os.cpu_count() or 1)
    try:
        cli(["run", "--max-children", children, *names])
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def _equivalent() -> set[str]:
    """Mutant names listed (in backquotes) in tests/mutation-equivalent.md."""
    if not EQUIVALENT.exists():
        return set()
    return set(re.findall(r"`(harborkit\.[^`]+__mutmut_\d+)`", EQUIVALENT.read_text()))


def report() -> int:
    """Print killed/total per module and the survivors; 1 if any survivor is unexplained."""
    metas = sorted((REPO / "mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutation results: run 'make mutation' first", file=sys.stderr)
        return 2
    equivalent = _equivalent()
    per_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for meta in metas:
        module = str(meta.relative_to(REPO / "mutants")).removesuffix(".meta")
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        for name, code in sorted(codes.items()):
            c = per_module[module]
            c["total"] += 1
            if code in KILLED:
                c["killed"] += 1
            elif code in TIMEOUT:
                c["killed"] += 1  # a mutant that hangs the tests is caught too
                c["timeout"] += 1
            elif code is None:
                c["not checked"] += 1
            elif name in equivalent:
                c["equivalent"] += 1
            else:
                c["survived"] += 1
                survivors.append(name)
    print(f"{'module':45} {'killed':>7} {'equiv':>6} {'survived':>8} {'total':>6}  score")
    tot: Counter[str] = Counter()
    for module, c in sorted(per_module.items()):
        tot.update(c)
        judged = c["total"] - c["not checked"]
        score = 100 * c["killed"] / judged if judged else 0.0
        print(
            f"{module:45} {c['killed']:7} {c['equivalent']:6} {c['survived']:8} "
            f"{c['total']:6}  {score:5.1f}%"
            + (f" ({c['not checked']} not checked)" if c["not checked"] else "")
        )
    judged = tot["total"] - tot["not checked"]
    score = 100 * tot["killed"] / judged if judged else 0.0
    adjusted = 100 * (tot["killed"] + tot["equivalent"]) / judged if judged else 0.0
    print(
        f"{'TOTAL':45} {tot['killed']:7} {tot['equivalent']:6} {tot['survived']:8} "
        f"{tot['total']:6}  {score:5.1f}% killed, {adjusted:5.1f}% killed or equivalent"
    )
    if survivors:
        print(f"\n{len(survivors)} survivors (see each with: .venv/bin/mutmut show NAME):")
        for name in survivors:
            print(f"  {name}")
    return 1 if survivors else 0


def main(argv: list[str]) -> int:
    os.chdir(REPO)
    if argv[:1] != ["--report"]:
        rc = _run(argv)
        if rc not in (0, 1):
            return rc
    return report()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
