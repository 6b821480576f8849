"""Every wait on the Docker daemon has a deadline: a daemon that accepts and never answers,
a stream that goes quiet, a stream that trickles.

The "daemon" here is a real unix socket that accepts connections and says
nothing, the way a wedged dockerd does; the quiet stream is a real loopback
HTTP server. No root is needed.
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
from tests.bundle.conftest import HttpServer, run_cli
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


def test_a_stream_that_stalls_is_named(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader every pull/save/load goes through, on a real socket that goes quiet."""
    import requests

    from harborkit import dockerapi

    monkeypatch.setattr(dockerapi, "STALL_TIMEOUT", 1.0)
    resp = requests.get(f"{http_server.url}/stall/x", stream=True, timeout=(5, 1))
    reader = dockerapi.StreamReader(resp, "exporting the images")
    started = time.monotonic()
    with pytest.raises(dockerapi.DaemonTimeout) as err:
        while reader.read(1 << 16):
            pass
    assert err.value.message == (
        f"the Docker daemon at {dockerapi.daemon_address()} sent nothing for 1 s "
        "while exporting the images"
    )
    assert err.value.exit_code == ExitCode.ENVIRONMENT
    assert time.monotonic() - started < 10


def test_a_trickle_fails_the_speed_floor() -> None:
    from harborkit.watch import StreamWatch

    watch = StreamWatch(window=0.2, deadline=60, min_bytes=1024, fail=RuntimeError)
    with pytest.raises(RuntimeError, match=r"stalled: less than 1 KiB in 0.2 s"):
        for _ in range(100):
            watch.tick(10)  # 10 bytes every 10 ms: alive, but far too slow
            time.sleep(0.01)
    fast = StreamWatch(window=0.2, deadline=0.1, fail=RuntimeError)
    time.sleep(0.15)
    with pytest.raises(RuntimeError, match="took longer than 0.1 s"):
        fast.tick(1 << 20)
