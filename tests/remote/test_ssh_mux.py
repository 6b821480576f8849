"""Stopping a ControlMaster over its socket (harborkit.host.sshmux): no ``ssh -O
exit`` process per host, the same request, bounded against a master that hangs,
trickles or lies."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from harborkit.host.sshmux import MUX_C_TERMINATE, MUX_MSG_HELLO, MUX_S_OK, terminate
from tests.remote.conftest import Lab, hk

MUX_S_PERMISSION_DENIED = 0x80000002


def _packet(*words: int, tail: bytes = b"") -> bytes:
    body = b"".join(struct.pack(">I", w) for w in words) + tail
    return struct.pack(">I", len(body)) + body


@pytest.fixture
def fake_master(tmp_path: Path) -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """A unix socket served by ``behave(conn)`` in a thread: its path."""
    servers: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(behave: Callable[[socket.socket], None]) -> str:
        path = str(tmp_path / f"m{len(servers)}")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        servers.append(srv)

        def serve() -> None:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                behave(conn)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        threads.append(t)
        return path

    yield start
    for srv in servers:
        srv.close()


def _recv_all(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def test_terminate_sends_what_ssh_O_exit_sends(fake_master: Callable[..., str]) -> None:
    got: list[bytes] = []

    def master(conn: socket.socket) -> None:
        conn.sendall(_packet(MUX_MSG_HELLO, 4))
        got.append(_recv_all(conn, 12))  # the client's hello
        got.append(_recv_all(conn, 12))  # MUX_C_TERMINATE, request id
        conn.sendall(_packet(MUX_S_OK, 1))

    assert terminate(fake_master(master), 2.0) is True
    assert got == [_packet(MUX_MSG_HELLO, 4), _packet(MUX_C_TERMINATE, 1)]


@pytest.mark.parametrize(
    "reply",
    [
        _packet(MUX_S_PERMISSION_DENIED, 1, tail=b"\x00\x00\x00\x02no"),
        _packet(0x80000003, 1, tail=b"\x00\x00\x00\x02no"),  # MUX_S_FAILURE
        struct.pack(">I", 0xFFFFFFFF),  # a length no reply has (nothing that large is read)
        struct.pack(">I", 2) + b"xx",  # shorter than a message type
        b"",  # closed without a word
    ],
    ids=["denied", "failure", "huge-length", "short", "closed"],
)
def test_terminate_is_false_when_the_master_does_not_agree(
    fake_master: Callable[..., str], reply: bytes
) -> None:
    def master(conn: socket.socket) -> None:
        conn.sendall(_packet(MUX_MSG_HELLO, 4))
        _recv_all(conn, 24)
        conn.sendall(reply)

    t0 = time.monotonic()
    assert terminate(fake_master(master), 10.0) is False
    assert time.monotonic() - t0 < 5  # at the answer, not at the deadline


def test_terminate_with_no_master_is_false_at_once(tmp_path: Path) -> None:
    t0 = time.monotonic()
    assert terminate(str(tmp_path / "none"), 10.0) is False
    plain = tmp_path / "file"
    plain.write_text("not a socket")
    assert terminate(str(plain), 10.0) is False
    assert time.monotonic() - t0 < 5  # not at either deadline


@pytest.mark.parametrize("how", ["silent", "trickle", "hello-then-silent"])
def test_terminate_holds_its_deadline(fake_master: Callable[..., str], how: str) -> None:
    stop = threading.Event()

    def master(conn: socket.socket) -> None:
        if how == "silent":
            stop.wait(10)
        elif how == "trickle":  # a byte every 0.1 s of a hello that never completes
            for b in _packet(MUX_MSG_HELLO, 4, tail=b"x" * 100):
                if stop.wait(0.1):
                    return
                conn.sendall(bytes([b]))
        else:
            conn.sendall(_packet(MUX_MSG_HELLO, 4))
            stop.wait(10)

    path = fake_master(master)
    t0 = time.monotonic()
    try:
        assert terminate(path, 1.0) is False
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
    # the deadline, with room for a loaded machine: the master would hold it 10 s
    assert 1.0 <= elapsed < 1.0 + 4, elapsed


def _ssh_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``ssh`` first on PATH that logs its arguments, then runs the real one."""
    real = "/usr/bin/ssh"
    log = tmp_path / "ssh.log"
    wrap = tmp_path / "bin"
    wrap.mkdir()
    (wrap / "ssh").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (wrap / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrap}:{os.environ['PATH']}")
    return log


def _masters(control: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(f"ssh: {control}/".encode()):
            out.append(int(d))
    return out


def test_close_stops_the_master_without_another_ssh(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harborkit.host.ssh import ControlDir, SshConnection, SshOptions, parse_target

    log = _ssh_log(tmp_path, monkeypatch)
    control = ControlDir()
    conn = SshConnection(
        parse_target(lab.compliant.target),
        SshOptions(config_file=str(lab.client.config)),
        control,
    )
    try:
        assert conn.run_script("echo ok")[0] == b"ok\n"
        assert len(_masters(control.path)) == 1
        t0 = time.monotonic()
        conn.close()
        assert time.monotonic() - t0 < 4  # not CLOSE_TIMEOUT (5 s) and a kill
        assert not os.path.exists(conn.control_path)
        deadline = time.monotonic() + 2
        while _masters(control.path) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _masters(control.path) == []
        calls = log.read_text().splitlines()
        assert len(calls) == 1 and "-O" not in calls[0].split(), calls
    finally:
        for pid in _masters(control.path):
            os.kill(pid, signal.SIGKILL)
        control.cleanup()


def test_close_kills_a_master_that_hangs_within_the_deadline(lab: Lab) -> None:
    from harborkit.host.ssh import ControlDir, SshConnection, SshOptions, parse_target

    control = ControlDir()
    conn = SshConnection(
        parse_target(lab.compliant.target),
        SshOptions(config_file=str(lab.client.config), command_timeout=1),
        control,
    )
    try:
        assert conn.run_script("echo ok")[0] == b"ok\n"
        (master,) = _masters(control.path)
        os.kill(master, signal.SIGSTOP)  # it accepts on its socket but never answers
        t0 = time.monotonic()
        conn.close()
        elapsed = time.monotonic() - t0
        # min(CLOSE_TIMEOUT, --command-timeout), with room for a loaded machine: not 5 s
        assert 1 <= elapsed < 1 + 3, elapsed
        # the killed master could not remove its socket: close did
        assert not os.path.exists(conn.control_path)
        deadline = time.monotonic() + 2
        while _masters(control.path) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _masters(control.path) == []
    finally:
        for pid in _masters(control.path):
            os.kill(pid, signal.SIGKILL)
        control.cleanup()


def test_a_fleet_run_starts_one_ssh_per_host_and_no_O_exit(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # per host: ssh -G (the duplicate check) and the one connection; stopping the
    # ControlMasters starts no ssh at all, and none is left running
    log = _ssh_log(tmp_path, monkeypatch)
    hosts = f"{lab.guide.target},{lab.compliant.target}"
    r = hk("check", "--host", hosts, "--only", "kernel", config=lab.client.config)
    assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
    calls = [c.split() for c in log.read_text().splitlines()]
    resolves = [c for c in calls if "-G" in c]
    runs = [c for c in calls if "-G" not in c]
    assert len(resolves) == 2 and len(runs) == 2, calls
    assert not [c for c in calls if "-O" in c], calls
    for address in (lab.guide.address, lab.compliant.address):
        assert sum(c[c.index("--") + 1] == address for c in runs) == 1, (address, runs)
    paths = {a.split("=", 1)[1] for c in runs for a in c if a.startswith("ControlPath=")}
    (control,) = {p.rsplit("/", 1)[0] for p in paths}
    assert _masters(control) == []
    assert not os.path.exists(control)
