"""Every wait on the Docker daemon has a deadline: a daemon that accepts and never answers.

The "daemon" here is a real unix socket that accepts connections and says
nothing, the way a wedged dockerd does; no root is needed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from tests.bundle.conftest import run_cli
from tests.bundle.craft import craft_bundle
from tests.bundle.test_hostile_bundles import one_line_error


@pytest.fixture
def silent_daemon(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "silent.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"unix://{path}"
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


def test_build_and_load_give_up_on_a_silent_daemon(tmp_path: Path, silent_daemon: str) -> None:
    env = dict(os.environ, DOCKER_HOST=silent_daemon, HARBORKIT_DOCKER_TIMEOUT="1")
    out = tmp_path / "out"
    out.mkdir()
    started = time.monotonic()
    r = run_cli("bundle", "build", "--no-pull", "-o", str(out / "b.tar"), env=env, timeout=60)
    assert r.returncode == ExitCode.ENVIRONMENT, r.stderr
    assert one_line_error(r.stderr) == (
        f"harborkit: error: cannot reach the Docker daemon at {silent_daemon}: no answer within 1 s"
    )
    assert list(out.iterdir()) == []
    bundle = tmp_path / "b.tar"
    craft_bundle(bundle)
    install = tmp_path / "opt"
    r = run_cli("bundle", "load", str(bundle), "--install-dir", str(install), env=env, timeout=60)
    assert r.returncode == ExitCode.ENVIRONMENT, r.stderr
    assert "no answer within 1 s" in one_line_error(r.stderr)
    assert not install.exists()
    assert time.monotonic() - started < 30
