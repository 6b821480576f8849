"""One Harbor-shaped stack per session (see stack.py); cases change its state
and put it back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.post import stack as st

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def harbor_stack() -> Iterator[st.HarborStack]:
    if os.geteuid() != 0 or not Path(st.COMPOSE).exists():
        pytest.skip("needs root and Debian's docker-compose (make test installs it)")
    base = Path(tempfile.mkdtemp(prefix="hkpost-"))
    try:
        with st.netns_dockerd(base) as daemon:
            stack = st.build(daemon, base)
            try:
                yield stack
            finally:
                st.tear_down(stack)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def stack(harbor_stack: st.HarborStack) -> Iterator[st.HarborStack]:
    """The session's stack, all healthy again after the test."""
    yield harbor_stack
    harbor_stack.restore()


def run_post(
    stack: st.HarborStack | None,
    *args: str,
    env: dict[str, str] | None = None,
    install_dir: Path | None = None,
    timeout: float = 120,
    rss_file: Path | None = None,
) -> tuple[int, dict[str, Any], str]:
    """``harborkit check --phase post -f json`` (in the stack's network namespace
    when a stack is given); ``(exit code, report, stderr)``. With ``rss_file``,
    GNU time writes harborkit's own peak RSS (KiB) there."""
    argv = [sys.executable, "-m", "harborkit", "check", "--phase", "post", "-f", "json"]
    if rss_file is not None:
        argv = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv]
    folder = install_dir or (stack.install_dir if stack else None)
    if folder is not None:
        argv += ["--install-dir", str(folder)]
    argv += list(args)
    full_env = stack.env() if stack else dict(os.environ)
    full_env.pop("HARBORKIT_HARBOR_PASSWORD", None)
    full_env.setdefault("HARBORKIT_POST_SETTLE", "1")
    full_env.update(env or {})
    if stack is not None:
        argv = st.in_netns(stack.daemon, argv)
    r = subprocess.run(
        argv, capture_output=True, text=True, env=full_env, cwd=REPO, timeout=timeout
    )
    report = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
    return r.returncode, report, r.stderr


def result(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    found = [r for r in report["results"] if r["id"] == check_id]
    assert found, f"{check_id} not in the report: {[r['id'] for r in report['results']]}"
    return found[0]


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["status"] for r in report["results"]}
