"""The local audit's slow facts asked up front (harborkit/host/warm.py) and the
daemon asked directly on its unix socket (dockerapi.get_json): same answers as
the SDK and LocalHost, deadlines that hold against a trickle, bounded reads,
the daemon's errors in the SDK's words, and no Docker SDK imported."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harborkit.dockerapi import DaemonCallError, docker_error, get_json
from harborkit.errors import ExitCode
from harborkit.host.local import LocalHost
from harborkit.host.warm import WarmLocalHost
from tests.support.cli import run_listing_modules

REPO = Path(__file__).resolve().parents[2]

Serve = Callable[[socket.socket], None]


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[Callable[[Serve], str]]:
    """A unix socket whose every connection is handled by the given function."""
    socks: list[socket.socket] = []

    def start(serve: Serve) -> str:
        path = str(tmp_path / f"d{len(socks)}.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(8)
        socks.append(srv)

        def loop() -> None:
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                threading.Thread(target=_handle, args=(serve, conn), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return path

    yield start
    for s in socks:
        s.close()


def _handle(serve: Serve, conn: socket.socket) -> None:
    try:
        conn.recv(65536)  # the request
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()


def _answer(status: str, body: bytes, extra: str = "") -> Serve:
    def serve(conn: socket.socket) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}\r\n"
        conn.sendall(head.encode() + body)

    return serve


def _trickle(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    for _ in range(600):  # a byte every 0.1 s for a minute: always "alive", never done
        conn.sendall(b" ")
        time.sleep(0.1)


# -- get_json: the daemon asked directly ----------------------------------------


def test_plain_and_chunked_answers_read_the_same(fake_daemon: Callable[[Serve], str]) -> None:
    body = b'{"Version": "20.10.24", "ApiVersion": "1.41"}'
    plain = fake_daemon(_answer("200 OK", body, f"Content-Length: {len(body)}\r\n"))
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:7], body[7:])) + b"0\r\n\r\n"
    chunked = fake_daemon(_answer("200 OK", chunks, "Transfer-Encoding: chunked\r\n"))
    want = {"Version": "20.10.24", "ApiVersion": "1.41"}
    assert get_json(plain, "/version", 5) == want
    assert get_json(chunked, "/version", 5) == want


@pytest.mark.parametrize(
    ("serve", "words"),
    [
        (
            _answer("500 Internal Server Error", b'{"message": "daemon is shutting down"}'),
            "the daemon answered HTTP 500: daemon is shutting down",
        ),
        (
            _answer("404 Not Found", b"page not found\n"),
            "the daemon answered HTTP 404: page not found",
        ),
        (
            _answer("200 OK", b"[1, 2]"),
            "DaemonCallError: GET /version: the answer is not a JSON object",
        ),
        (
            _answer("200 OK", b"{not json"),
            "DaemonCallError: GET /version: the answer is not a JSON object",
        ),
        (
            lambda c: c.sendall(b"SSH-2.0-OpenSSH\r\n\r\n"),
            "DaemonCallError: GET /version: not an HTTP answer",
        ),
        (lambda c: None, "DaemonCallError: GET /version: not an HTTP answer"),  # closed at once
        (
            _answer("200 OK", b"zz\r\n", "Transfer-Encoding: chunked\r\n"),
            "DaemonCallError: GET /version: a bad chunk in the answer",
        ),
    ],
)
def test_bad_answers_are_one_clear_error(
    fake_daemon: Callable[[Serve], str], serve: Serve, words: str
) -> None:
    path = fake_daemon(serve)
    with pytest.raises(DaemonCallError) as e:
        get_json(path, "/version", 5)
    assert docker_error(e.value) == words


def test_a_trickle_does_not_outlast_the_deadline(fake_daemon: Callable[[Serve], str]) -> None:
    path = fake_daemon(_trickle)
    t = time.monotonic()
    with pytest.raises(DaemonCallError) as e:
        get_json(path, "/version", 1.0)
    assert time.monotonic() - t < 5.0
    assert docker_error(e.value) == "no answer in time (the daemon is busy or hung)"


def test_a_silent_daemon_does_not_outlast_the_deadline(
    fake_daemon: Callable[[Serve], str],
) -> None:
    path = fake_daemon(lambda c: time.sleep(30))
    t = time.monotonic()
    with pytest.raises(DaemonCallError) as e:
        get_json(path, "/info", 0.5)
    assert time.monotonic() - t < 10  # the deadline, not the daemon's 30 s
    assert docker_error(e.value) == "no answer in time (the daemon is busy or hung)"


def test_a_huge_answer_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """A daemon sending 200 MB: refused past 4 MiB, peak memory well under 200 MB."""
    code = (
        "import socket, sys, threading\n"
        "from harborkit.dockerapi import DaemonCallError, get_json\n"
        f"path = {str(tmp_path / 'big.sock')!r}\n"
        "srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(1)\n"
        "def serve():\n"
        "    c, _ = srv.accept(); c.recv(9999)\n"
        '    c.sendall(b\'HTTP/1.1 200 OK\\r\\n\\r\\n{"a": "\')\n'
        "    try:\n"
        "        for _ in range(200): c.sendall(b'x' * 1000000)\n"
        "    except OSError: pass\n"
        "threading.Thread(target=serve, daemon=True).start()\n"
        "try:\n"
        "    get_json(path, '/info', 30)\n"
        "except DaemonCallError as e:\n"
        "    print(e)\n"
        "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM:')][0]\n"
        "print(hwm.split()[1])\n"
    )
    # the program's own peak: VmHWM is of this process's memory since exec (ru_maxrss
    # of RUSAGE_SELF keeps the forked parent's, RUSAGE_CHILDREN the session's largest)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    message, peak_kb = r.stdout.splitlines()
    assert message == "GET /info: answer larger than 4194304 bytes", r.stderr
    assert int(peak_kb) < 200 * 1024


# -- WarmLocalHost: the same facts as LocalHost ----------------------------------


def test_warmed_command_runs_once_others_each_time(tmp_path: Path) -> None:
    count = tmp_path / "count"
    argv = ["sh", "-c", f"echo x >> {count}; echo v1.2.3"]
    other = ["sh", "-c", f"echo y >> {count}"]
    host = WarmLocalHost()
    host.warm_run(argv)
    host.warm_run(argv)  # warming twice starts it once
    first, second = host.run(argv), host.run(argv)
    assert first == second
    assert (first.argv, first.rc, first.stdout) == (tuple(argv), 0, "v1.2.3\n")
    host.run(other)
    host.run(other)
    assert count.read_text().splitlines() == ["x", "y", "y"]


def test_processes_are_those_localhost_sees() -> None:
    proc = subprocess.Popen(["sleep", "300"])
    try:
        warm = WarmLocalHost()
        mine = [p for p in warm.processes("sleep") if p.pid == proc.pid]
        theirs = [p for p in LocalHost().processes("sleep") if p.pid == proc.pid]
        assert mine == theirs and len(mine) == 1
        assert mine[0].cmdline == ("sleep", "300")
        assert warm.processes("no-such-process-name") == []
    finally:
        proc.kill()
        proc.wait()


def test_tcp_daemon_goes_through_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a unix socket is asked directly; tcp:// (TLS, ssh ...) stays the SDK's."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    host = WarmLocalHost()
    assert host._daemon is None


# -- the command line: same report, no SDK -----------------------------------------

_NEVER = {"docker", "requests", "urllib3", "pydantic", "markdown_it", "jsonschema"}


def _check(env: dict[str, str], *only: str) -> tuple[dict[str, Any], list[Any]]:
    args = ["check", "-f", "json", *(a for o in only for a in ("--only", o))]
    r, code, loaded = run_listing_modules(args, _NEVER, cwd=REPO, env={**os.environ, **env})
    results = {x["id"]: x for x in json.loads(r.stdout)["results"]}
    return results, [code, loaded]


def test_unix_daemon_500_in_the_sdks_words(fake_daemon: Callable[[Serve], str]) -> None:
    path = fake_daemon(
        _answer("500 Internal Server Error", b'{"message": "daemon is shutting down"}')
    )
    results, (code, loaded) = _check({"DOCKER_HOST": f"unix://{path}"}, "docker.daemon")
    assert (code, loaded) == (ExitCode.FAILED, [])
    assert results["docker.daemon"]["message"] == (
        f"cannot reach the Docker daemon at unix://{path}: "
        "the daemon answered HTTP 500: daemon is shutting down"
    )


def test_unix_daemon_trickling_fails_within_its_deadline(
    fake_daemon: Callable[[Serve], str],
) -> None:
    path = fake_daemon(_trickle)
    t = time.monotonic()
    results, (code, loaded) = _check(
        {"DOCKER_HOST": f"unix://{path}", "HARBORKIT_DOCKER_TIMEOUT": "1"}, "docker.daemon"
    )
    assert time.monotonic() - t < 20.0  # a 1 s deadline, not the minute of trickle
    assert (code, loaded) == (ExitCode.FAILED, [])
    assert results["docker.daemon"]["message"] == (
        f"cannot reach the Docker daemon at unix://{path}: "
        "no answer in time (the daemon is busy or hung)"
    )


def test_real_daemon_judged_as_through_the_sdk(fresh_daemon: object) -> None:
    """A real private dockerd: the warm host's docker.daemon and
    docker.daemon_runtime findings are those of LocalHost's SDK client, and the
    whole check imports no Docker SDK."""
    from harborkit.checks.daemon_runtime import DaemonRuntime
    from harborkit.checks.docker import DockerDaemon
    from harborkit.engine.profile import load_profile
    from harborkit.model.check import CheckContext, CheckOptions

    url = fresh_daemon.url  # type: ignore[attr-defined]
    old = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = url
    try:
        outcomes = []
        for host in (LocalHost(), WarmLocalHost()):
            ctx = CheckContext(host=host, profile=load_profile().data, options=CheckOptions())
            outcomes.append([c().run(ctx) for c in (DockerDaemon, DaemonRuntime)])
    finally:
        if old is None:
            del os.environ["DOCKER_HOST"]
        else:
            os.environ["DOCKER_HOST"] = old
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0].message.startswith("Docker ") and url in outcomes[0][0].message
    results, (code, loaded) = _check({"DOCKER_HOST": url}, "docker.daemon", "docker.daemon_runtime")
    assert loaded == []
    assert results["docker.daemon"]["status"] == "pass"
    assert results["docker.daemon"]["message"] == outcomes[0][0].message


def _fake_compose(folder: Path, name: str, log: Path) -> None:
    folder.mkdir(exist_ok=True)
    exe = folder / name
    exe.write_text(f'#!/bin/sh\necho "$0 $*" >> {log}\necho 1.24.0\n')
    exe.chmod(0o755)


@pytest.mark.parametrize(
    "extra",
    [(), ("-f", "json"), ("--only", "docker.compose", "-f", "json"), ("-v", "-f", "json")],
)
def test_compose_asked_once_whether_warmed_early_or_not(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    """The early head start (commands/early.py) and check's own warming never
    both run docker-compose: it runs once, and its answer is judged."""
    log = tmp_path / "log"
    _fake_compose(tmp_path / "bin", "docker-compose", log)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    out = tmp_path / "r.json"
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "check", *extra, "-o", str(out), "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
    (compose,) = [x for x in json.loads(out.read_text())["results"] if x["id"] == "docker.compose"]
    assert compose["message"].startswith("docker-compose 1.24.0 at " + str(tmp_path / "bin"))
    assert log.read_text().splitlines() == [
        f"{tmp_path / 'bin' / 'docker-compose'} version --short"
    ]


def test_a_given_profiles_compose_is_the_one_asked(tmp_path: Path) -> None:
    from harborkit.resources import default_profile

    log = tmp_path / "log"
    _fake_compose(tmp_path / "bin", "docker-compose", log)
    _fake_compose(tmp_path / "bin", "my-compose", log)
    prof = tmp_path / "p.yaml"
    text = default_profile().read_text()
    assert text.count("binary: docker-compose") == 1
    prof.write_text(text.replace("binary: docker-compose", "binary: my-compose"))
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    out = tmp_path / "r.json"
    args = ["check", "-p", str(prof), "--only", "docker.compose", "-f", "json", "-o", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", *args], capture_output=True, text=True, env=env
    )
    assert r.returncode == ExitCode.OK, r.stderr
    assert log.read_text().splitlines() == [f"{tmp_path / 'bin' / 'my-compose'} version --short"]


def test_repeated_unit_queries_run_once_other_commands_each_time(tmp_path: Path) -> None:
    log = tmp_path / "log"
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("systemctl", "other"):
        (fake / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\necho enabled\n')
        (fake / name).chmod(0o755)
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{fake}:{old}"
    try:
        host = WarmLocalHost()
        answers = [host.run(["systemctl", "is-enabled", "chronyd.service"]) for _ in range(3)]
        answers += [host.run(["systemctl", "is-active", "chronyd.service"]) for _ in range(2)]
        for _ in range(2):
            host.run(["systemctl", "restart", "x"])  # not a query: each time
            host.run(["other", "is-enabled"])
    finally:
        os.environ["PATH"] = old
    assert {a.stdout for a in answers} == {"enabled\n"}
    assert log.read_text().splitlines() == [
        "systemctl is-enabled chronyd.service",
        "systemctl is-active chronyd.service",
        "systemctl restart x",
        "other is-enabled",
        "systemctl restart x",
        "other is-enabled",
    ]
