"""This machine for one ``check``: the slow facts asked at once, in the background.

A local audit used to wait, one after the other, on the Docker daemon (through
the SDK: its imports and three connections), on ``docker-compose version``
(itself a Python program that starts slowly) and on a scan of the whole process
table for every process name a check asks about. :class:`WarmLocalHost` is a
:class:`~harborkit.host.local.LocalHost` that starts those in threads as
soon as it is made and warmed (the daemon at once, then
:meth:`~WarmLocalHost.warm_profile` and :meth:`~WarmLocalHost.warm_processes`),
before the checks are even loaded, so they overlap with each other and with
the rest of the run; each check then takes the answer, waiting
only for what is not there yet.

Only what was warmed is shared: a command not warmed runs when asked, as on
:class:`LocalHost`. What is warmed is read-only (versions, the process table),
so one answer serves the whole audit, which also makes it one consistent view.
Threads are daemon threads: an answer nobody waits for never delays the exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from harborkit import childproc
from harborkit.host.interface import CommandResult, ProcessInfo
from harborkit.host.local import LocalHost, finish

T = TypeVar("T")

#: read-only queries asked more than once in an audit (a check, then its fix
#: plan, then the next check of the same unit): run once, the answer shared
SHARED_QUERIES = (("systemctl", "is-enabled"), ("systemctl", "is-active"))

#: the deadline of a warmed command: LocalHost.run's default, which the checks use
RUN_TIMEOUT = 10.0

#: the deadline of each request to the daemon: LocalHost's SDK client's 10 s, or
#: HARBORKIT_DOCKER_TIMEOUT when that is shorter
DAEMON_TIMEOUT = 10.0


class _Later(Generic[T]):
    """A value computed in a daemon thread; :meth:`get` waits for it (or its error)."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._work = work
        threading.Thread(target=self._run, daemon=True, name="hk-warm").start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as e:  # handed to whoever asks, as raised
            self._error = e
        finally:
            self._done.set()

    def get(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class WarmLocalHost(LocalHost):
    """:class:`LocalHost` for one read-only audit, its slow facts asked up front."""

    def __init__(self) -> None:
        super().__init__()
        from harborkit.dockerapi import unix_socket

        self._runs: dict[tuple[str, ...], _Later[CommandResult]] = {}
        self._lock = threading.Lock()
        self._table: _Later[list[ProcessInfo]] | None = None
        path = unix_socket()
        self._daemon: _Later[dict[str, Any]] | None = None
        if path is not None:
            self._daemon = _Later(lambda: _ask_daemon(path))

    def warm_profile(self, profile: Mapping[str, Any]) -> None:
        """Start what the profile's checks will ask: the Compose binary's version."""
        compose = profile.get("compose") if isinstance(profile, Mapping) else None
        binary = str((compose or {}).get("binary", "docker-compose"))
        path = self.which(binary)
        if path is not None:
            self.warm_run([path, "version", "--short"])

    def warm_run(self, argv: Sequence[str]) -> None:
        """Run ``argv`` now in the background (or take it, when it was started
        before harborkit loaded: :func:`harborkit.childproc.prestart`); :meth:`run`
        of the same argv takes its result."""
        key = tuple(argv)
        with self._lock:
            if key not in self._runs:
                child = childproc.adopt(key)
                if child is None:
                    self._runs[key] = _Later(lambda: LocalHost.run(self, key))
                else:  # the same command, its deadline counted from its start
                    self._runs[key] = _Later(lambda: finish(child, RUN_TIMEOUT))

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        if tuple(argv[:2]) in SHARED_QUERIES and timeout == RUN_TIMEOUT:
            self.warm_run(argv)  # the first asker runs it, the others share its answer
        warmed = self._runs.get(tuple(argv))
        if warmed is not None and timeout == RUN_TIMEOUT:  # warmed with the default deadline
            return warmed.get()
        return super().run(argv, timeout=timeout)

    def warm_processes(self) -> None:
        """Scan the process table now, in the background (once)."""
        with self._lock:
            if self._table is None:
                self._table = _Later(self._scan)

    def _scan(self) -> list[ProcessInfo]:
        import psutil

        out = []
        for proc in psutil.process_iter(["pid", "name", "exe", "cmdline"]):
            info = proc.info
            out.append(
                ProcessInfo(
                    pid=info["pid"],
                    name=info["name"],
                    exe=info["exe"] or "",
                    cmdline=tuple(info["cmdline"] or ()),
                )
            )
        return out

    def processes(self, name: str) -> list[ProcessInfo]:
        self.warm_processes()
        assert self._table is not None
        return [p for p in self._table.get() if p.name == name]

    def docker_client(self) -> Any:
        if self._daemon is None:  # tcp://, ssh:// ...: the SDK, as LocalHost does
            return super().docker_client()
        answers = self._daemon.get()  # raises DaemonCallError when /version failed
        return _Answers(answers)


_EARLY: list[WarmLocalHost] = []


def keep_early(host: WarmLocalHost) -> None:
    """Keep a host warmed before the command line was parsed, for :func:`take_early`."""
    _EARLY.append(host)


def take_early() -> WarmLocalHost | None:
    """The host :func:`warm_early` made, once; None when there is none."""
    return _EARLY.pop() if _EARLY else None


def _ask_daemon(socket_path: str) -> dict[str, Any]:
    """The daemon's /version, then its /info (or the error of /info, kept for info())."""
    from harborkit.dockerapi import CALL_TIMEOUT, DaemonCallError, get_json

    seconds = min(DAEMON_TIMEOUT, CALL_TIMEOUT)
    out: dict[str, Any] = {"version": get_json(socket_path, "/version", seconds)}
    try:
        out["info"] = get_json(socket_path, "/info", seconds)
    except DaemonCallError as e:
        out["info_error"] = e
    return out


class _Answers:
    """The two calls the checks make of a Docker client, answered from what was asked."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self._answers = answers

    def version(self) -> dict[str, Any]:
        return dict(self._answers["version"])

    def info(self) -> dict[str, Any]:
        if "info_error" in self._answers:
            raise self._answers["info_error"]
        return dict(self._answers["info"])

    def close(self) -> None:
        return None
