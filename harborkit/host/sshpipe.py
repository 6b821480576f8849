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
from typing import IO

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


def pump(
    proc: subprocess.Popen[bytes], payload: bytes, out: IO[bytes], deadline: float, t0: float
) -> tuple[int, bytes, ClockSample | None]:
    """Write ``payload`` to the process and read its stdout (into ``out``) and
    stderr at once, until both end: the size of stdout, stderr (without the
    clock line) and the clock the collector reported first on stderr.

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
    size = 0
    err = bytearray()
    scanned = 0  # stderr before this offset has been searched for the clock line
    clock: ClockSample | None = None
    clock_line: tuple[int, int] | None = None
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline(bytes(err))
            for key, _ in sel.select(min(left, 1.0)):
                fd = key.fileobj
                if key.data == "in":
                    try:
                        n = os.write(proc.stdin.fileno(), todo[:_CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError:  # the connection failed: stderr says why
                        n = len(todo)
                    todo = todo[n:]
                    if not todo:
                        sel.unregister(fd)
                        with contextlib.suppress(OSError):
                            proc.stdin.close()
                    continue
                try:
                    chunk = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    continue
                if key.data == "out":
                    size += len(chunk)
                    if size > MAX_STDOUT:
                        raise Stopped(
                            f"the collector sent more than {MAX_STDOUT >> 20} MiB: too large "
                            "for a snapshot (stopped reading)"
                        )
                    out.write(chunk)
                    continue
                err += chunk
                if len(err) > MAX_STDERR:
                    raise Stopped(
                        f"the remote side wrote more than {MAX_STDERR >> 20} MiB on stderr "
                        "(stopped reading)"
                    )
                while clock is None and (nl := err.find(b"\n", scanned)) >= 0:
                    line = bytes(err[scanned:nl])
                    m = re.match(rb"HKCLOCK (\d{1,12})(\.\d{1,12})?", line)
                    if m:
                        now = time.time()
                        whole = m.group(2) is None
                        host_time = float(m.group(1) + (m.group(2) or b""))
                        spread = (now - t0) / 2 + (1.0 if whole else 0.0)
                        clock = ClockSample(host_time, (t0 + now) / 2, spread)
                        clock_line = (scanned, nl + 1)
                    scanned = nl + 1
    finally:
        sel.close()
    if clock_line is not None:
        del err[clock_line[0] : clock_line[1]]
    return size, bytes(err), clock
