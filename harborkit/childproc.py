"""Commands of this machine: started, then read within a deadline and a bound.

:meth:`harborkit.host.local.LocalHost.run` runs every command of a local audit
through here, and a local ``check`` starts its slowest one (``docker-compose
version``, a Python program: ~0.4 s of CPU) through here before anything else
is imported (:mod:`harborkit.commands.early`), so that it runs while harborkit
loads. Whichever path starts a command, it is the same: the same argv and
environment (``LC_ALL=C``), its output read the same way, within the same
deadline counted from its start, at most :data:`MAX_OUTPUT` bytes of each
stream (a command that prints more is stopped: its output is not judged).

Only the standard library's subprocess is imported here (not even dataclasses,
which imports inspect): :func:`prestart` runs first thing in the process. A child nobody collected (an early start the run did not
need, a collection cut short by the exit) is killed when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import subprocess
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (early: see above)
if TYPE_CHECKING:  # annotations only
    from collections.abc import Sequence

#: the most of each stream of a command read (the project's bound for a host's files)
MAX_OUTPUT = 4 * 1024 * 1024


class Child:
    """A started command: its argv, its process, when it started (``time.monotonic``)."""

    __slots__ = ("argv", "owner", "proc", "started")

    def __init__(
        self, argv: tuple[str, ...], proc: subprocess.Popen[bytes], started: float
    ) -> None:
        self.argv = argv
        self.proc = proc
        self.started = started
        self.owner = os.getpid()  # a forked copy of this process kills none of them


class Output:
    """What a command said, or that it was stopped (``timed_out``, ``too_large``)."""

    __slots__ = ("rc", "stderr", "stdout", "timed_out", "too_large")

    def __init__(
        self,
        rc: int,
        stdout: str,
        stderr: str,
        timed_out: bool = False,
        too_large: bool = False,
    ) -> None:
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.too_large = too_large


#: children started and not collected yet (killed at exit), by id
_LIVE: dict[int, Child] = {}
#: children started before they were asked for (:func:`prestart`), by argv
_EARLY: dict[tuple[str, ...], Child] = {}


def spawn(argv: Sequence[str]) -> Child:
    """Start ``argv`` (``FileNotFoundError`` when there is no such program):
    stdout and stderr piped, stdin inherited, ``LC_ALL=C``."""
    args = tuple(argv)
    started = time.monotonic()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "LC_ALL": "C"},
    )
    child = Child(args, proc, started)
    _LIVE[id(child)] = child
    return child


def prestart(argv: Sequence[str]) -> None:
    """Start ``argv`` now, for whoever asks for it later (:func:`adopt`)."""
    args = tuple(argv)
    if args in _EARLY:
        return
    with contextlib.suppress(OSError):  # not started: who asks runs it then, sees why
        _EARLY[args] = spawn(args)


def adopt(argv: Sequence[str]) -> Child | None:
    """The child :func:`prestart` started for ``argv``, once; else None."""
    return _EARLY.pop(tuple(argv), None)


def collect(child: Child, timeout: float, limit: int = MAX_OUTPUT) -> Output:
    """Read the child's output to its end, its exit status: all of it within
    ``timeout`` seconds of its start, at most ``limit`` bytes of each stream.
    A child past either is killed (``timed_out``, ``too_large``)."""
    deadline = child.started + timeout
    proc = child.proc
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    buffers = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    try:
        with selectors.DefaultSelector() as sel:
            for fd in buffers:
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    return _stop(child, timed_out=True)
                for key, _ in sel.select(left):
                    try:
                        data = os.read(key.fd, 65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(key.fd)
                        continue
                    buffers[key.fd] += data
                    if len(buffers[key.fd]) > limit:
                        return _stop(child, too_large=True)
        try:
            rc = proc.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            return _stop(child, timed_out=True)
    finally:
        if proc.returncode is None:  # interrupted (Ctrl-C ...): killed, as subprocess.run does
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        _LIVE.pop(id(child), None)
    return Output(rc, _text(bytes(out)), _text(bytes(err)))


def _stop(child: Child, *, timed_out: bool = False, too_large: bool = False) -> Output:
    child.proc.kill()
    rc = child.proc.wait()
    return Output(rc, "", "", timed_out, too_large)


def _text(data: bytes) -> str:
    """As ``subprocess.run(text=True)`` decodes (its encoding, its newlines), a
    byte that is not of the encoding replaced rather than an error."""
    if sys.flags.utf8_mode:
        encoding = "utf-8"
    else:
        import locale

        get = getattr(locale, "getencoding", None)  # 3.11; before: the preferred one
        encoding = get() if get is not None else locale.getpreferredencoding(False)
    return data.decode(encoding, errors="replace").replace("\r\n", "\n").replace("\r", "\n")


@atexit.register
def _kill_uncollected() -> None:
    for child in list(_LIVE.values()):
        if child.owner == os.getpid() and child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()
    _LIVE.clear()
    _EARLY.clear()
