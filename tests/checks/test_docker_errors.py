"""Errors from the Docker SDK are our own sentence, the cause in a few words
after it; never ('Connection aborted.', FileNotFoundError(2, ...))."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.test_cli import hk


def _check_message(env: dict[str, str], only: str = "docker.daemon") -> str:
    r = hk("check", "--only", only, "-f", "json", env=env)
    assert r.returncode == 1, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert res["status"] == "fail"
    return str(res["message"])


def test_no_socket(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    assert _check_message({"DOCKER_HOST": f"unix://{sock}"}) == (
        f"cannot reach the Docker daemon at unix://{sock}: "
        "no Docker socket there (is dockerd running?)"
    )


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nobody listens
    assert _check_message({"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}) == (
        f"cannot reach the Docker daemon at tcp://127.0.0.1:{port}: "
        "connection refused (is dockerd running and listening there?)"
    )


@pytest.fixture
def broken_daemon() -> Iterator[str]:
    """An HTTP server on loopback that answers every request with a 500."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"message": "daemon is shutting down"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_daemon_answering_500(broken_daemon: str) -> None:
    assert _check_message({"DOCKER_HOST": broken_daemon}) == (
        f"cannot reach the Docker daemon at {broken_daemon}: "
        "the daemon answered HTTP 500: daemon is shutting down"
    )
