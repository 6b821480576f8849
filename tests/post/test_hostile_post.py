"""A Harbor (proxy) that answers garbage, never answers, trickles or floods:
each post check is one `fail` line naming what it saw, within the deadline,
never a traceback; no HTTP call outlives HARBORKIT_POST_TIMEOUT."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.post.conftest import result, run_post

Serve = Callable[[socket.socket], None]
CHECKS = "post.registry,post.version,post.default_password"


@pytest.fixture
def fake_harbor(tmp_path: Path) -> Iterator[Callable[[Serve], Path]]:
    """``start(serve)``: a loopback server calling ``serve(conn)`` per connection;
    returns an install dir whose harbor.yml points at it."""
    servers: list[socket.socket] = []
    stop = threading.Event()

    def start(serve: Serve) -> Path:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        srv.settimeout(0.2)
        servers.append(srv)

        def loop() -> None:
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except OSError:
                    continue
                threading.Thread(target=_guard, args=(serve, conn), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        folder = tmp_path / "harbor"
        folder.mkdir(exist_ok=True)
        port = srv.getsockname()[1]
        (folder / "harbor.yml").write_text(f"hostname: 127.0.0.1\nhttp:\n  port: {port}\n")
        return folder

    def _guard(serve: Serve, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            conn.recv(65536)
            serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    yield start
    stop.set()
    for srv in servers:
        srv.close()


def _garbage(conn: socket.socket) -> None:
    conn.sendall(b"\x16\x03\x01 SSH-2.0-OpenSSH_9.2\r\n\r\n")


def _silent(conn: socket.socket) -> None:
    time.sleep(20)


def _trickle_headers(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\n")
    for _ in range(20):
        conn.sendall(b"X")
        time.sleep(1)


def _trickle_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(20):
        conn.sendall(b"{")
        time.sleep(1)


def _flood(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    chunk = b"A" * 65536
    for _ in range(4096):  # 256 MiB if nobody stops reading
        conn.sendall(chunk)


def _answers(status: str, headers: str = "", body: bytes = b"") -> Serve:
    def serve(conn: socket.socket) -> None:
        conn.sendall(
            f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    return serve


@pytest.mark.parametrize(
    ("serve", "said"),
    [
        (_garbage, "answered something that is not HTTP"),
        (_silent, "no complete answer within 2s"),
        (_trickle_headers, "no complete answer within 2s"),
        (_trickle_body, "no complete answer within 2s"),
    ],
    ids=["garbage", "silent", "trickle-headers", "trickle-body"],
)
def test_broken_proxy_is_a_fail_within_the_deadline(fake_harbor, serve: Serve, said: str) -> None:
    folder = fake_harbor(serve)
    began = time.monotonic()
    run_post(None, "--only", "post.replication", install_dir=folder)  # no HTTP: start-up alone
    startup = time.monotonic() - began
    began = time.monotonic()
    rc, report, err = run_post(
        None, "--only", CHECKS, install_dir=folder, env={"HARBORKIT_POST_TIMEOUT": "2"}
    )
    elapsed = time.monotonic() - began
    assert rc == 1 and "Traceback" not in err
    for check in ("post.registry", "post.version", "post.default_password"):
        r = result(report, check)
        assert r["status"] == "fail", (check, r["status"], r["message"])
        assert said in r["message"] and "\n" not in r["message"], r["message"]
    # two calls (the challenge is asked once per run), 2 s each, plus start-up, with
    # room for a loaded machine; the trickles would take 20 s each
    assert elapsed < startup * 2 + 2 * 2 + 6, (elapsed, startup)


def test_default_password_fails_naming_the_broken_challenge(fake_harbor) -> None:
    folder = fake_harbor(_silent)
    _, report, _ = run_post(
        None, "--only", CHECKS, install_dir=folder, env={"HARBORKIT_POST_TIMEOUT": "1"}
    )
    r = result(report, "post.default_password")
    assert (
        r["message"].startswith("http://127.0.0.1:")
        and "no complete answer within 1s" in r["message"]
    )


def test_flood_is_cut_at_the_bound_with_little_memory(fake_harbor, tmp_path: Path) -> None:
    folder = fake_harbor(_flood)
    rss = tmp_path / "rss"
    rc, report, err = run_post(
        None,
        "--only",
        "post.version",
        install_dir=folder,
        env={"HARBORKIT_POST_TIMEOUT": "20"},
        rss_file=rss,
    )
    assert rc == 1 and err == ""
    assert result(report, "post.version")["message"].endswith("answer larger than 4194304 bytes")
    # harborkit's own peak (RUSAGE_CHILDREN would be the largest child of the whole session)
    assert int(rss.read_text().split()[-1]) < 200 * 1024


@pytest.mark.parametrize(
    ("serve", "message"),
    [
        (
            _answers(
                "401 Unauthorized",
                'WWW-Authenticate: Bearer realm="http://203.0.113.9/service/token",service="x"\r\n',
            ),
            "token realm 'http://203.0.113.9/service/token' is not on Harbor's origin",
        ),
        (
            _answers("404 Not Found", body=b"<h1>nginx default page</h1>"),
            "answered HTTP 404 '<h1>nginx default page</h1>', not a 401 Bearer challenge",
        ),
        (
            _answers("401 Unauthorized", 'WWW-Authenticate: Basic realm="x"\r\n'),
            "answered HTTP 401 (empty body), not a 401 Bearer challenge",
        ),
        (
            _answers("502 Bad Gateway", body=b"\x1b[31mred\x00"),
            "answered HTTP 502 '[31mred', not a 401 Bearer challenge",
        ),
    ],
    ids=["realm-elsewhere", "not-found", "basic-challenge", "bad-gateway-control-chars"],
)
def test_registry_answers_that_are_not_harbor(fake_harbor, serve: Serve, message: str) -> None:
    folder = fake_harbor(serve)
    rc, report, err = run_post(None, "--only", "post.registry", install_dir=folder)
    r = result(report, "post.registry")
    assert (rc, r["status"], err) == (1, "fail", "")
    assert message in r["message"], r["message"]


def test_registry_without_auth_passes_and_nothing_listening_fails(fake_harbor) -> None:
    folder = fake_harbor(_answers("200 OK", body=b"{}"))
    rc, report, _ = run_post(None, "--only", "post.registry", install_dir=folder)
    assert (rc, result(report, "post.registry")["status"]) == (0, "pass")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (folder / "harbor.yml").write_text(f"hostname: 127.0.0.1\nhttp:\n  port: {port}\n")
    rc, report, _ = run_post(None, "--only", "post.registry", install_dir=folder)
    r = result(report, "post.registry")
    assert (rc, r["message"]) == (1, f"http://127.0.0.1:{port}: cannot connect: Connection refused")


def test_credentials_never_go_to_a_realm_off_harbors_origin(fake_harbor) -> None:
    """A /v2/ that points its realm elsewhere gets no password sent there."""
    hits: list[bytes] = []
    elsewhere = socket.socket()
    elsewhere.bind(("127.0.0.1", 0))
    elsewhere.listen(4)
    elsewhere.settimeout(0.1)
    realm = f"http://127.0.0.1:{elsewhere.getsockname()[1]}/service/token"
    folder = fake_harbor(
        _answers("401 Unauthorized", f'WWW-Authenticate: Bearer realm="{realm}",service="h"\r\n')
    )
    try:
        rc, report, err = run_post(
            None,
            "--only",
            "post.default_password,post.login",
            "--harbor-user",
            "ci-bot",
            install_dir=folder,
            env={"HARBORKIT_HARBOR_PASSWORD": "never-sent-pw"},
        )
        with contextlib.suppress(OSError):
            conn, _ = elsewhere.accept()
            hits.append(conn.recv(4096))
    finally:
        elsewhere.close()
    assert hits == []
    for check in ("post.default_password", "post.login"):
        r = result(report, check)
        assert (r["status"], r["message"]) == (
            "fail",
            f"token realm {realm!r} is not on Harbor's origin http://127.0.0.1:"
            f"{folder.joinpath('harbor.yml').read_text().split()[-1]}: no credentials sent there "
            "(see post.registry)",
        )
    assert rc == 1 and "never-sent-pw" not in err + str(report)


@pytest.mark.parametrize("hostname", ["'evil host'", "'a;touch /tmp/hk-canary'", "'h/x?y'"])
def test_hostname_that_is_no_host_is_not_called(tmp_path: Path, hostname: str) -> None:
    folder = tmp_path / "harbor"
    folder.mkdir()
    (folder / "harbor.yml").write_text(f"hostname: {hostname}\nhttp:\n  port: 80\n")
    rc, report, err = run_post(None, "--only", "post.registry,post.version", install_dir=folder)
    assert (rc, err) == (0, "")
    for check in ("post.registry", "post.version"):
        r = result(report, check)
        assert r["status"] == "skip" and "is not a host name or address" in r["message"], r
    assert not Path("/tmp/hk-canary").exists()


# --------------------------------------------------------------------------- over TLS


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (real openssl) and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def _tls_server(cert: tuple[Path, Path], stage: str) -> tuple[int, threading.Event]:
    """A loopback HTTPS server that trickles a byte every 0.2 s for 10 s at ``stage``."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))

    def trickle(conn: socket.socket, data: bytes) -> None:
        for i in range(150):  # 30 s unless stopped
            if stop.is_set():
                return
            conn.sendall(data[i % len(data) : i % len(data) + 1])
            time.sleep(0.2)

    def serve() -> None:
        conn, _ = srv.accept()
        with contextlib.suppress(OSError), conn:
            if stage == "handshake":  # a TLS record header promising 16 KiB, then a trickle
                conn.recv(65536)
                conn.sendall(b"\x16\x03\x03\x40\x00")
                trickle(conn, b"\x00")
                return
            tls = ctx.wrap_socket(conn, server_side=True)
            tls.recv(65536)
            if stage == "headers":
                tls.sendall(b"HTTP/1.1 200 OK\r\n")
                trickle(tls, b"X")
            else:
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                trickle(tls, b"{")
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], stop


@pytest.mark.parametrize("stage", ["handshake", "headers", "body"])
def test_https_trickle_is_cut_at_the_deadline(tls_cert: tuple[Path, Path], stage: str) -> None:
    """The deadline holds over TLS too: wrap_socket detaches the plain socket, so the
    deadline must watch the TLS one (it once shut down the detached one: nothing)."""
    from harborkit.checks.post._http import HttpError, request

    port, stop = _tls_server(tls_cert, stage)
    began = time.monotonic()
    try:
        with pytest.raises(HttpError) as e:
            request(f"https://127.0.0.1:{port}/api/systeminfo", ca=str(tls_cert[0]), deadline=1.5)
    finally:
        stop.set()
    elapsed = time.monotonic() - began
    assert e.value.message == f"https://127.0.0.1:{port}: no complete answer within 1.5s"
    assert elapsed < 10, elapsed  # the trickle goes on for 30 s
