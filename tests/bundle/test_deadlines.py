"""Every wait on the Docker daemon has a deadline: a daemon that accepts and never answers,
a stream that goes quiet, a stream that trickles.

The "daemon" here is a real unix socket that accepts connections and says
nothing, the way a wedged dockerd does; the quiet stream is a real loopback
HTTP server. No root is needed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from tests.bundle.conftest import HttpServer, run_cli
from tests.bundle.test_hostile_bundles import one_line_error
from tests.support.bundles import craft_bundle


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


# --------------------------------------------------------------------------- trickles (issue 19, class 7)
# A peer that sends a byte at a time never trips a socket timeout: each recv brings
# something. Downloads (the installer, a carried file) and Docker calls must still end
# by their deadline or fail their speed floor, with one line and their exit code.

TRICKLE_DELAY = 0.1


@dataclass
class Trickler:
    """Loopback HTTP: ``/body/NAME`` sends headers, then the body a byte at a time;
    ``/head/NAME`` sends everything a byte at a time; ``/big/NAME`` never ends."""

    url: str
    hits: list[str]


@pytest.fixture(scope="module")
def trickler() -> Iterator[Trickler]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"\x1f\x8b" + b"x" * 4096
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            try:
                if self.path.startswith("/body/"):
                    self.wfile.write(head)
                    data = body
                else:
                    data = head + body
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    time.sleep(TRICKLE_DELAY)
            except OSError:
                pass  # the client gave up: the expected outcome
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Trickler(f"http://127.0.0.1:{server.server_address[1]}", hits)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def source_registry() -> Iterator[str]:
    from tests.support.hostile_registry import hostile_registry

    with hostile_registry("ok") as reg:
        yield reg.host


def _build_from_registry(
    tmp_path: Path, registry: str, env: dict[str, str], *extra: str, files: bool = False
) -> tuple[subprocess.CompletedProcess[str], float]:
    import yaml

    from tests.registry.conftest import INSTALLER, write_installer

    manifest: dict[str, object] = {
        "harbor_version": "v1.8.0",
        "images": ["hostile/app:v1"],
        "installer": {"name": INSTALLER, "url": f"https://example.invalid/{INSTALLER}"},
    }
    if files:
        manifest["files"] = [
            {
                "name": "docker-compose",
                "url": "https://example.invalid/docker-compose",
                "sha256": "0" * 64,
                "install_path": "/usr/local/bin/docker-compose",
                "mode": "0755",
            }
        ]
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(manifest))
    args = list(extra)
    if "--installer" not in args:
        args += ["--installer", str(write_installer(tmp_path))]
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    started = time.monotonic()
    r = run_cli(
        "bundle", "build", "-q", "--from", f"registry://{registry}", "--insecure",
        "-m", str(m), "-o", str(out / "b.tar"), "--cache", str(tmp_path / "cache"), *args,
        env=dict(os.environ, **env), timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started
    assert list(out.iterdir()) == [], list(out.iterdir())  # nothing left behind
    return r, took


def _exactly_one_line(stderr: str, line: str) -> None:
    assert stderr == f"harborkit: error: {line}\n", stderr


@pytest.mark.parametrize(
    ("path", "env", "why"),
    [
        ("body", {"HARBORKIT_DOWNLOAD_STALL": "1"}, "stalled: less than 64 KiB in 1 s"),
        (
            "body",
            {"HARBORKIT_DOWNLOAD_STALL": "60", "HARBORKIT_DOWNLOAD_DEADLINE": "2"},
            "took longer than 2 s",
        ),
        (
            "head",
            {"HARBORKIT_DOWNLOAD_STALL": "60", "HARBORKIT_DOWNLOAD_DEADLINE": "2"},
            "took longer than 2 s",
        ),
    ],
    ids=["body-floor", "body-deadline", "headers-deadline"],
)
def test_a_trickled_installer_download_meets_its_deadline(
    path: str,
    env: dict[str, str],
    why: str,
    tmp_path: Path,
    trickler: Trickler,
    source_registry: str,
) -> None:
    url = f"{trickler.url}/{path}/harbor-online-installer-v1.8.0.tgz"
    r, took = _build_from_registry(tmp_path, source_registry, env, "--installer", url)
    assert r.returncode == ExitCode.DOWNLOAD, r.stderr
    _exactly_one_line(r.stderr, f"download of installer {url} {why}")
    assert took < 15, took  # a byte every 0.1 s: the whole answer would take minutes


@pytest.mark.parametrize(
    ("path", "env", "why"),
    [
        ("body", {"HARBORKIT_DOWNLOAD_STALL": "1"}, "stalled: less than 64 KiB in 1 s"),
        (
            "head",
            {"HARBORKIT_DOWNLOAD_STALL": "60", "HARBORKIT_DOWNLOAD_DEADLINE": "2"},
            "took longer than 2 s",
        ),
    ],
    ids=["body-floor", "headers-deadline"],
)
def test_a_trickled_carried_file_meets_its_deadline(
    path: str,
    env: dict[str, str],
    why: str,
    tmp_path: Path,
    trickler: Trickler,
    source_registry: str,
) -> None:
    url = f"{trickler.url}/{path}/docker-compose"
    r, took = _build_from_registry(
        tmp_path, source_registry, env, "--file", f"docker-compose={url}", files=True
    )
    assert r.returncode == ExitCode.DOWNLOAD, r.stderr
    _exactly_one_line(r.stderr, f"download of file docker-compose from {url} {why}")
    assert took < 15, took


def test_a_carried_local_file_is_bounded(tmp_path: Path, source_registry: str) -> None:
    big = tmp_path / "docker-compose"
    with open(big, "wb") as f:
        f.truncate((512 << 20) + 1)  # sparse: nothing is written
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r, took = _build_from_registry(
        tmp_path, source_registry, {}, "--file", f"docker-compose={big}", files=True
    )
    assert r.returncode == ExitCode.DOWNLOAD, r.stderr
    _exactly_one_line(r.stderr, f"file docker-compose {big} is larger than 512 MiB")
    r, took = _build_from_registry(
        tmp_path, source_registry, {}, "--file", f"docker-compose={fifo}", files=True
    )
    # refused as an argument before anything is fetched (exit 2, as --key and --sign on
    # a FIFO), and it did not hang on the FIFO
    assert r.returncode == ExitCode.USAGE, r.stderr
    _exactly_one_line(r.stderr, f"--file docker-compose: {fifo} is not a regular file")
    assert took < 30, took


# --------------------------------------------------------------------------- a trickling daemon


@pytest.fixture
def trickling_daemon(tmp_path: Path) -> Iterator[Callable[[bool], str]]:
    """A unix socket that answers every request a byte every 0.5 s (``ping_ok``: except
    ``/_ping`` and ``/version``, answered at once: the client connects, a later call trickles)."""
    servers: list[socket.socket] = []
    stop = threading.Event()

    def serve(srv: socket.socket, ping_ok: bool) -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=answer, args=(conn, ping_ok), daemon=True).start()

    def answer(conn: socket.socket, ping_ok: bool) -> None:
        with conn:
            conn.settimeout(30)
            try:
                while True:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        request += chunk
                    first = request.split(b"\r\n", 1)[0]
                    body = b'{"ApiVersion": "1.41"}' if b"/version" in first else b"OK"
                    reply = (
                        b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n"
                        b"Content-Type: application/json\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    if ping_ok and (b"/_ping" in first or b"/version" in first):
                        conn.sendall(reply)
                        continue
                    for i in range(len(reply)):
                        conn.sendall(reply[i : i + 1])
                        time.sleep(0.5)
                    return
            except OSError:
                return

    def start(ping_ok: bool) -> str:
        path = tmp_path / f"trickle-{len(servers)}.sock"
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(path))
        srv.listen(16)
        servers.append(srv)
        threading.Thread(target=serve, args=(srv, ping_ok), daemon=True).start()
        return f"unix://{path}"

    try:
        yield start
    finally:
        stop.set()
        for s in servers:
            s.close()


def test_a_daemon_answering_a_byte_at_a_time_meets_the_call_timeout(
    tmp_path: Path, trickling_daemon: Callable[[bool], str]
) -> None:
    address = trickling_daemon(False)
    env = dict(os.environ, DOCKER_HOST=address, HARBORKIT_DOCKER_TIMEOUT="2")
    out = tmp_path / "out"
    out.mkdir()
    started = time.monotonic()
    r = run_cli("bundle", "build", "--no-pull", "-o", str(out / "b.tar"), env=env, timeout=60)
    took = time.monotonic() - started
    assert r.returncode == ExitCode.ENVIRONMENT, r.stderr
    _exactly_one_line(
        r.stderr, f"cannot reach the Docker daemon at {address}: no answer within 2 s"
    )
    assert list(out.iterdir()) == []
    assert took < 15, took  # each byte came within the socket timeout: only a deadline ends it


def test_a_trickled_call_after_a_good_ping(trickling_daemon: Callable[[bool], str]) -> None:
    from harborkit import dockerapi

    address = trickling_daemon(True)
    saved = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = address
    try:
        client = dockerapi.connect(2)
        started = time.monotonic()
        with pytest.raises(dockerapi.DaemonTimeout) as e, dockerapi.daemon_errors("checking"):
            client.api.info()
        took = time.monotonic() - started
    finally:
        if saved is None:
            os.environ.pop("DOCKER_HOST")
        else:
            os.environ["DOCKER_HOST"] = saved
    assert e.value.message == (
        f"the Docker daemon at {address} gave no complete answer within 2 s while checking"
    )
    assert e.value.exit_code == ExitCode.ENVIRONMENT
    assert took < 8, took


def test_a_trickled_tls_handshake_of_an_installer_download_meets_its_deadline(
    tmp_path: Path, source_registry: str
) -> None:
    """A handshake a byte at a time: the deadline cannot shut down a socket being wrapped, so
    the handshake's own timeout (the stall window, 60 s here) must not outlast it."""
    from tests.support.hostile_registry import hostile_registry, trickle_proxy
    from tests.support.registry import make_pki

    pki = make_pki(tmp_path / "pki")
    env = {"HARBORKIT_DOWNLOAD_STALL": "60", "HARBORKIT_DOWNLOAD_DEADLINE": "2"}
    with (
        hostile_registry("ok", tls=(pki.server_cert, pki.server_key)) as tls_server,
        trickle_proxy(tls_server.host) as host,
    ):
        url = f"https://{host}/harbor-online-installer-v1.8.0.tgz"
        r, took = _build_from_registry(tmp_path, source_registry, env, "--installer", url)
    assert r.returncode == ExitCode.DOWNLOAD, r.stderr
    _exactly_one_line(r.stderr, f"download of installer {url} took longer than 2 s")
    assert took < 15, took  # was the 60 s stall window
