"""Run harborkit as a real process, visibly to ``make mutation``.

mutmut learns which tests exercise which function from calls it sees in the
pytest process; a command run as a subprocess is invisible to it, so every
mutant only a CLI test could catch would be reported as "no tests". When
mutmut is collecting that map (``MUTANT_UNDER_TEST=stats``), the child
process writes the functions it called to a file and the test process adds
them to mutmut's map (with ``MUTATION_SUBPROCESS=1``: thorough, slow).
Outside a mutation run this is a plain subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Python run first in the child: record mutmut's hits at exit (stats phase only)
PRELUDE = f"""
import os, sys
sys.path.insert(0, {str(REPO)!r})
if (
    os.environ.get("MUTANT_UNDER_TEST") == "stats"
    and os.environ.get("HK_MUTMUT_HITS")
    and os.path.isdir({str(REPO)!r})
):
    import atexit
    # mutmut reads its configuration from the working directory: load it from the
    # checkout, then go back (a test may run harborkit in another folder)
    _hk_cwd = os.getcwd()
    os.chdir({str(REPO)!r})
    from mutmut.configuration import config as _hk_config
    _hk_config()
    os.chdir(_hk_cwd)

    def _hk_dump_hits():
        from mutmut.state import state
        with open(os.environ["HK_MUTMUT_HITS"], "a") as f:
            f.write("".join(name + "\\n" for name in state()._stats))

    atexit.register(_hk_dump_hits)
"""

MAIN = "from harborkit.commands import main\nsys.argv = ['harborkit', *sys.argv[1:]]\nmain()\n"


def collecting() -> bool:
    """True while mutmut maps tests to functions in this process, and the
    thorough mode is asked for (``MUTATION_SUBPROCESS=1``): mapping the CLI and
    namespace tests makes every mutant of the functions they touch run them
    too, which costs hours on a 2-core machine."""
    return (
        os.environ.get("MUTANT_UNDER_TEST") == "stats"
        and os.environ.get("MUTATION_SUBPROCESS") == "1"
        and "mutmut" in sys.modules
    )


def merge_hits(path: Path) -> None:
    """Add the functions a child called to mutmut's map for the running test."""
    if not collecting() or not path.exists():
        return
    from mutmut.state import state

    state()._stats.update(n for n in path.read_text().splitlines() if n)


def run_harborkit(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``python -m harborkit ARGS`` with this interpreter and this checkout."""
    child_env = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix="hk-hits-") as d:
        hits = Path(d) / "hits"
        child_env["HK_MUTMUT_HITS"] = str(hits)
        r = subprocess.run(
            [sys.executable, "-c", PRELUDE + MAIN, *args],
            capture_output=True,
            text=True,
            env=child_env,
            cwd=cwd,
            timeout=timeout,
        )
        merge_hits(hits)
    return r


def run_listing_modules(
    args: Sequence[str],
    never: Iterable[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> tuple[subprocess.CompletedProcess[str], object, list[str]]:
    """``harborkit ARGS`` in a child that then says which of ``never`` (packages
    or modules) it imported: the run (its stderr without that line), its exit
    code, and those names, sorted."""
    probe = (
        "import json, sys\n"
        "sys.argv = ['harborkit', *sys.argv[1:]]\n"
        "from harborkit.commands import main\n"
        "code = None\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "names = {m.split('.')[0] for m in sys.modules} | set(sys.modules)\n"
        f"print(json.dumps([code, sorted(names & {set(never)!r})]), file=sys.stderr)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        cwd=cwd,
        timeout=timeout,
    )
    *said, last = r.stderr.splitlines() or [""]
    code, loaded = json.loads(last)
    r.stderr = "".join(f"{line}\n" for line in said)
    return r, code, loaded
