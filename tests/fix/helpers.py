"""Shared helpers of the fix tests: run the CLI, copy a sysroot, hash a tree."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSROOTS = REPO / "tests" / "fixtures" / "sysroots"
JOURNAL = "var/lib/harborkit/fix"


def hk(
    *args: str, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``harborkit ARGS`` as a real process."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "harborkit", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        cwd=REPO,
    )


def copy_sysroot(name: str, dest: Path) -> Path:
    shutil.copytree(SYSROOTS / name, dest, symlinks=True)
    return dest


def tree_hashes(root: Path, *, skip: str = JOURNAL) -> dict[str, str]:
    """sha256 and mode of every file under ``root`` (the journal left out)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(skip) or p.is_symlink() or not p.is_file():
            continue
        out[rel] = f"{hashlib.sha256(p.read_bytes()).hexdigest()} {p.stat().st_mode:o}"
    return out


def statuses(root: Path, *extra: str) -> dict[str, str]:
    """check's status per check id on the sysroot."""
    import json

    r = hk("check", "--root", str(root), "--install-dir", "/opt/harbor", "-f", "json", *extra)
    assert r.returncode in (0, 1), r.stderr
    return {x["id"]: x["status"] for x in json.loads(r.stdout)["results"]}


def failing(st: dict[str, str]) -> set[str]:
    return {k for k, v in st.items() if v in ("fail", "error")}


def nth_written(root: Path, original: dict[str, str], n: int) -> bool:
    """The ``n``th journaled file of an apply is in place (a stalled apply waits
    right after it): its bytes differ from ``original`` (:func:`tree_hashes`
    before the apply) and no temporary file of a write is left in the tree."""
    import json

    found = list((root / JOURNAL).glob("2*/journal.json"))
    try:
        entries = json.loads(found[0].read_text())["entries"] if found else []
    except ValueError:  # caught between its write and its rename
        return False
    if len(entries) < n:
        return False
    now = tree_hashes(root)
    path = entries[n - 1]["path"].lstrip("/")
    return now.get(path) != original.get(path) and not any(".partial-" in p for p in now)
