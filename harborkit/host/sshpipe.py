"""One ``ssh`` client process: started in its own process group, fed its stdin and
drained of stdout and stderr at once against one deadline (a trickle of bytes
does not extend it), both bounded while read, and killed whole when it must stop.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import time
from typing import IO, Any

from harborkit.host.interface import ClockSample

#: the collector's stdout (a whole snapshot) is read up to this size
MAX_STDOUT = 64 << 20
#: a remote call's stderr (ssh's messages, the clock line, a few warnings) up to this size
MAX_STDERR = 1 << 20
_CHUNK = 1 << 16


class Stopped(Exception):
    """A remote call stopped before its end: its one-line reason."""

    def __init__(self, why: str, stderr: bytes = b"") -> None:
        super().__init__(why)
        self.why = why
        self.stderr = stderr


class Deadline(Stopped):
    def __init__(self, stderr: bytes) -> None:
        super().__init__("deadline", stderr)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``ssh`` and everything it started (ProxyJump, ProxyCommand)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start ``ssh`` in its own process group (killed whole on expiry), all pipes ours."""
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "LC_ALL": "C"},
            start_new_session=True,  # its own process group: killed whole on expiry
        )
    except FileNotFoundError as e:
        from harborkit.errors import EnvironmentProblem

        raise EnvironmentProblem("the OpenSSH client 'ssh' is not installed") from e


def _exit_watch(proc: subprocess.Popen[bytes]) -> int | None:
    """A descriptor that becomes readable when ``proc`` exits (a pidfd), or None
    where the system has none (then the loop asks ``proc.poll()`` each turn)."""
    try:
        return os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return None


def pump(
    proc: subprocess.Popen[bytes], payload: bytes, out: IO[bytes], deadline: float, t0: float
) -> tuple[int, bytes, ClockSample | None]:
    """Write ``payload`` to the process and read its stdout (into ``out``) and
    stderr at once, until both end or the process has exited: the size of
    stdout, stderr (without the clock line) and the clock the collector
    reported first on stderr.

    Once ``ssh`` itself has exited, what is left in its pipes is read and the
    call ends: a process that outlived it and holds a copy of a pipe (the
    ControlMaster it left running with ``ControlPersist``, which some OpenSSH
    versions leave holding stderr; a ``LocalCommand`` or ``ProxyCommand``
    helper) would otherwise keep the call waiting until that process ends or
    the deadline.

    Raises :class:`Deadline` at ``deadline`` (monotonic) and :class:`Stopped`
    when stdout passes :data:`MAX_STDOUT` or stderr :data:`MAX_STDERR`."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    todo = memoryview(payload)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        os.set_blocking(pipe.fileno(), False)
    if todo:
        sel.register(proc.stdin, selectors.EVENT_WRITE, "in")
    else:
        proc.stdin.close()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    watch = _exit_watch(proc)
    if watch is not None:
        sel.register(watch, selectors.EVENT_READ, "exit")
    sink = _Sink(out)
    exited = False
    try:
        while not exited and any(k.data in ("out", "err") for k in sel.get_map().values()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline(bytes(sink.err))
            events = sel.select(min(left, 1.0 if watch is not None else 0.1))
            exited = any(key.data == "exit" for key, _ in events) or (
                watch is None and proc.poll() is not None
            )
            for key, _ in events:
                if key.data == "in":
                    todo = _feed(proc, sel, key, todo)
                elif key.data != "exit":
                    sink.read(sel, key, t0)
        if exited:  # ssh is gone: what it wrote is in the pipes; take it and stop
            for key in list(sel.get_map().values()):
                if key.data in ("out", "err"):
                    while time.monotonic() < deadline and sink.read(sel, key, t0):
                        pass
    finally:
        sel.close()
        if watch is not None:
            os.close(watch)
    return sink.result()


def _feed(
    proc: subprocess.Popen[bytes], sel: selectors.BaseSelector, key: Any, todo: memoryview
) -> memoryview:
    """Write the next chunk of stdin; close it once all is written (or ssh is gone)."""
    assert proc.stdin is not None
    try:
        n = os.write(proc.stdin.fileno(), todo[:_CHUNK])
    except BlockingIOError:
        return todo
    except OSError:  # the connection failed: stderr says why
        n = len(todo)
    todo = todo[n:]
    if not todo:
        sel.unregister(key.fileobj)
        with contextlib.suppress(OSError):
            proc.stdin.close()
    return todo


class _Sink:
    """stdout into ``out`` (counted, bounded), stderr kept (bounded), the clock line found."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.size = 0
        self.err = bytearray()
        self.scanned = 0  # stderr before this offset has been searched for the clock line
        self.clock: ClockSample | None = None
        self.clock_line: tuple[int, int] | None = None

    def read(self, sel: selectors.BaseSelector, key: Any, t0: float) -> bool:
        """Read one chunk of ``key``'s pipe; False when there is nothing more now
        (its end: unregistered; or nothing waiting)."""
        try:
            chunk = os.read(key.fd, _CHUNK)
        except BlockingIOError:
            return False
        if not chunk:
            sel.unregister(key.fileobj)
            return False
        if key.data == "out":
            self.size += len(chunk)
            if self.size > MAX_STDOUT:
                raise Stopped(
                    f"the collector sent more than {MAX_STDOUT >> 20} MiB: too large "
                    "for a snapshot (stopped reading)"
                )
            self.out.write(chunk)
            return True
        self.err += chunk
        if len(self.err) > MAX_STDERR:
            raise Stopped(
                f"the remote side wrote more than {MAX_STDERR >> 20} MiB on stderr "
                "(stopped reading)"
            )
        self._find_clock(t0)
        return True

    def _find_clock(self, t0: float) -> None:
        err = self.err
        while self.clock is None and (nl := err.find(b"\n", self.scanned)) >= 0:
            line = bytes(err[self.scanned : nl])
            m = re.match(rb"HKCLOCK (\d{1,12})(\.\d{1,12})?", line)
            if m:
                now = time.time()
                whole = m.group(2) is None
                host_time = float(m.group(1) + (m.group(2) or b""))
                spread = (now - t0) / 2 + (1.0 if whole else 0.0)
                self.clock = ClockSample(host_time, (t0 + now) / 2, spread)
                self.clock_line = (self.scanned, nl + 1)
            self.scanned = nl + 1

    def result(self) -> tuple[int, bytes, ClockSample | None]:
        if self.clock_line is not None:
            del self.err[self.clock_line[0] : self.clock_line[1]]
        return self.size, bytes(self.err), self.clock
