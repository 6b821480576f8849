"""Start and stop private ``dockerd`` instances for tests and benchmarks.

Each daemon gets its own data root, exec root, pid file and unix socket under a
short temporary directory, no iptables and no bridge, so several can run side by
side without touching the host's Docker. Storage is overlay2 when the kernel
allows it, vfs otherwise.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"


class DaemonStartError(RuntimeError):
    """The private daemon did not answer ``/_ping`` in time."""


@dataclass(frozen=True)
class Daemon:
    """A running private daemon."""

    root: Path
    socket_path: Path
    pid: int
    storage_driver: str

    @property
    def url(self) -> str:
        """``DOCKER_HOST`` value for this daemon."""
        return f"unix://{self.socket_path}"

    @property
    def socket_url(self) -> str:
        """Alias of :attr:`url`."""
        return self.url

    def env(self) -> dict[str, str]:
        """A copy of ``os.environ`` with ``DOCKER_HOST`` set to this daemon."""
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.url
        return env

    def client(self):
        """A Docker SDK client for this daemon."""
        import docker

        return docker.DockerClient(base_url=self.url, timeout=600)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=2)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(2)
        sock.connect(self._path)
        self.sock = sock


def ping(socket_path: Path) -> bool:
    """True when the daemon at ``socket_path`` answers ``GET /_ping`` with OK."""
    try:
        conn = _UnixHTTPConnection(str(socket_path))
        conn.request("GET", "/_ping")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def _spawn(
    root: Path, driver: str, extra_args: Sequence[str]
) -> tuple[subprocess.Popen[bytes], Path]:
    sock = root / "d.sock"
    log = open(root / f"dockerd-{driver}.log", "wb")  # noqa: SIM115 - owned by the process
    argv = [
        DOCKERD,
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "--pidfile",
        str(root / "d.pid"),
        "-H",
        f"unix://{sock}",
        "--storage-driver",
        driver,
        *extra_args,
    ]
    try:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    return proc, sock


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _remove_tree(root: Path) -> None:
    # overlay2 may leave mounts behind if the daemon died; unmount what we own.
    with contextlib.suppress(OSError), open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f]
    for m in sorted((m for m in mounts if m.startswith(str(root) + "/")), reverse=True):
        subprocess.run(["umount", "-l", m], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


#: daemons being stopped in the background (start_dockerd(stop_in_background=True))
_STOPPING: list[threading.Thread] = []


def _stop_and_remove(proc: subprocess.Popen[bytes] | None, root: Path) -> None:
    if proc is not None:
        _stop(proc)
    _remove_tree(root)


def wait_for_background_stops() -> None:
    """Wait until every daemon stopped in the background is gone (its directory
    removed): the end of a test session calls it."""
    while _STOPPING:
        _STOPPING.pop().join()


@contextlib.contextmanager
def start_dockerd(
    parent: Path | None = None,
    *,
    timeout: float = 60,
    extra_args: Sequence[str] = (),
    stop_in_background: bool = False,
) -> Iterator[Daemon]:
    """Run a private dockerd for the duration of the ``with`` block.

    ``parent`` is where the short-named state directory goes (default ``/tmp``);
    the unix socket path must stay under ~108 characters. ``extra_args`` are
    added to the dockerd command line (e.g. ``["--insecure-registry", "127.0.0.1:5000"]``). The daemon is stopped
    with SIGTERM and its directory removed on exit; with ``stop_in_background``
    (a fixture's daemon that nothing looks at after its block) that happens in
    a thread, which :func:`wait_for_background_stops` waits for: a daemon's
    shutdown takes seconds that the next tests need not wait.
    """
    root = Path(tempfile.mkdtemp(prefix="hk-", dir=str(parent) if parent else "/tmp"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for driver in ("overlay2", "vfs"):
            proc, sock = _spawn(root, driver, extra_args)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if ping(sock):
                    break
                time.sleep(0.1)
            if proc.poll() is None and ping(sock):
                yield Daemon(root=root, socket_path=sock, pid=proc.pid, storage_driver=driver)
                return
            _stop(proc)
            proc = None
            shutil.rmtree(root / "data", ignore_errors=True)
        logs = b"".join(p.read_bytes()[-2000:] for p in sorted(root.glob("dockerd-*.log")))
        raise DaemonStartError(f"dockerd did not start: {logs.decode(errors='replace')}")
    finally:
        if stop_in_background:
            reaper = threading.Thread(
                target=_stop_and_remove, args=(proc, root), name=f"hk-stop-{root.name}"
            )
            reaper.start()
            _STOPPING.append(reaper)
        else:
            _stop_and_remove(proc, root)


def dockerd_accepts_config(config: Path, *, timeout: float = 60) -> tuple[bool, str]:
    """Start a private dockerd with ``--config-file config``: (True, "") when it
    comes up and answers a ping, else (False, its "failed to start daemon" line).
    The daemon is stopped at once either way."""
    root = Path(tempfile.mkdtemp(prefix="hk-cfg-", dir="/tmp"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc, sock = _spawn(root, "vfs", ["--config-file", str(config)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if ping(sock):
                return True, ""
            time.sleep(0.05)
        _stop(proc)
        log = (root / "dockerd-vfs.log").read_text(errors="replace").splitlines()
        lines = [line for line in log if "failed to start daemon" in line] or log[-1:]
        return False, lines[-1] if lines else "dockerd exited without a word"
    finally:
        if proc is not None:
            _stop(proc)
        _remove_tree(root)


def dockerd_accepts_configs(
    configs: Sequence[Path], *, timeout: float = 60
) -> list[tuple[bool, str]]:
    """:func:`dockerd_accepts_config` for each file, the daemons started side by
    side (each its own private root and socket): the answers in ``configs`` order.
    A start is mostly waiting on the daemon, so N files take about one start."""
    if not configs:
        return []
    with ThreadPoolExecutor(max_workers=len(configs)) as pool:
        return list(pool.map(lambda c: dockerd_accepts_config(c, timeout=timeout), configs))


class SpareDaemons:
    """Fresh private daemons for tests that each need their own, one started
    ahead: while a test uses its daemon, the next test's starts in the
    background, and a used one is stopped (and its directory removed) in the
    background too. Every daemon is new and empty, as :func:`start_dockerd`
    makes it; only the waiting moves out of the tests."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hk-spare-dockerd")
        self._spare: Future[tuple[AbstractContextManager[Daemon], Daemon]] | None = None
        self._stops: list[Future[object]] = []

    @staticmethod
    def _start() -> tuple[AbstractContextManager[Daemon], Daemon]:
        cm = start_dockerd()
        return cm, cm.__enter__()

    @contextlib.contextmanager
    def fresh(self) -> Iterator[Daemon]:
        """A new daemon of its own for the ``with`` block; stopped after it."""
        ahead = self._spare if self._spare is not None else self._pool.submit(self._start)
        self._spare = None
        cm, daemon = ahead.result()
        self._spare = self._pool.submit(self._start)  # the next one, while this one is used
        try:
            yield daemon
        finally:
            self._stops.append(self._pool.submit(cm.__exit__, None, None, None))

    def close(self) -> None:
        """Stop the spare and wait for every stop."""
        if self._spare is not None:
            spare, self._spare = self._spare, None
            with contextlib.suppress(Exception):
                cm, _ = spare.result()
                self._stops.append(self._pool.submit(cm.__exit__, None, None, None))
        for stop in self._stops:
            stop.result()
        self._pool.shutdown()
