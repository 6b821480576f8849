"""One remote command over an :class:`~harborkit.host.ssh.SshConnection`, its stdin fed
from an iterator of chunks (a stream of any size: nothing is spooled on either side).

The command is one string for the host's login shell, built by the caller with
every argument ``shlex.quote``-d; with ``--become`` it runs as ``sudo -n sh -c
COMMAND`` (never a prompt). stdout and stderr are read while stdin is written,
both bounded; the whole call ends by one deadline (monotonic: a peer that
trickles does not extend it), and the ``ssh`` process group is killed when it
passes, when a bound is passed, or when the iterator raises (the remote side
then sees its stdin end early).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import shlex
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from harborkit.host.ssh import SshConnection, SshError, _classify, _last_line, _prompt_hint
from harborkit.host.sshpipe import kill_group, spawn

_CHUNK = 1 << 16
#: the stdin pipe of a stream is made this large (Linux), and written in pieces this large
_PIPE = 1 << 20
#: how long the pipes are still read after the ssh client has ended
_GRACE = 0.5


@dataclass(frozen=True)
class Reply:
    """What a remote command left: its exit status, stdout and stderr (both bounded)."""

    status: int
    out: bytes
    err: bytes

    def last_line(self, default: str = "") -> str:
        """The last line of stderr, made safe for a one-line message."""
        return _last_line(self.err.decode("utf-8", "replace"), default or f"exit {self.status}")


class Stream:
    """Remote commands of one host (the :class:`~harborkit.bundle.remote_load.Remote`
    the bundle layer drives), over ``conn``'s ControlMaster."""

    def __init__(self, conn: SshConnection, *, max_out: int = 4 << 20) -> None:
        self.conn = conn
        self.label = conn.label
        self.max_out = max_out

    def run(self, command: str, *, stdin: Iterable[bytes] | None = None, timeout: float) -> Reply:
        """Run ``command`` (a quoted shell line); its reply. Raises
        :class:`~harborkit.host.ssh.SshError` when ssh itself fails (exit 255), the
        deadline passes or an output bound is passed; re-raises what ``stdin`` raised."""
        conn = self.conn
        remote = f"sudo -n sh -c {shlex.quote(command)}" if conn.become else command
        conn.round_trips += 1
        proc = spawn([*conn.base_argv(), remote])
        if stdin is not None and proc.stdin is not None:  # fewer, larger writes for a stream
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE)
        deadline = time.monotonic() + timeout
        try:
            out, err = self._pump(proc, iter(stdin or ()), deadline, timeout)
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as e:
            kill_group(proc)
            why = f"{self.label}: a remote call did not finish within {timeout:g} s"
            raise SshError(why) from e
        except BaseException:
            kill_group(proc)
            raise
        finally:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        text = err.decode("utf-8", "replace")
        if proc.returncode < 0:  # the client was killed (not by us): the call is cut
            raise SshError(
                f"{self.label}: the connection to {conn.target.destination} was cut during "
                f"the call (ssh ended by signal {-proc.returncode})"
            )
        if proc.returncode == 255:
            raise SshError(f"{self.label}: {_classify(text, conn.target, conn.options)}")
        if conn.become and "a password is required" in text:
            raise SshError(
                f"{self.label}: --become: sudo on {conn.target.destination} wants a password "
                "(harborkit runs sudo -n): allow this user NOPASSWD in sudoers, or log in as root"
            )
        return Reply(proc.returncode, out, err)

    def _pump(
        self,
        proc: subprocess.Popen[bytes],
        chunks: Iterator[bytes],
        deadline: float,
        timeout: float,
    ) -> tuple[bytes, bytes]:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            os.set_blocking(pipe.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE, "in")
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        got = {"out": bytearray(), "err": bytearray()}
        todo = memoryview(b"")
        gone: float | None = None  # when the ssh client was first seen to have ended
        try:
            while sel.get_map():
                # a ControlMaster holds the client's pipes (they are passed to it): once the
                # client has ended, what is left to read comes at once or not at all
                if gone is None and proc.poll() is not None:
                    gone = time.monotonic()
                if gone is not None and time.monotonic() - gone > _GRACE:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    hint = _prompt_hint(bytes(got["err"]))
                    raise SshError(
                        f"{self.label}: a remote call did not finish within {timeout:g} s{hint}"
                    )
                for key, _ in sel.select(min(left, 0.2 if gone is None else 0.05)):
                    if key.data == "in":
                        if not todo:
                            nxt = next(chunks, None)
                            if nxt is None:
                                sel.unregister(proc.stdin)
                                proc.stdin.close()
                                continue
                            todo = memoryview(nxt)
                        try:
                            n = os.write(proc.stdin.fileno(), todo[:_PIPE])
                        except BlockingIOError:
                            continue
                        except OSError:  # the far end went away: stderr and the status say why
                            sel.unregister(proc.stdin)
                            with contextlib.suppress(OSError):
                                proc.stdin.close()
                            continue
                        todo = todo[n:]
                        continue
                    try:
                        data = os.read(key.fd, _CHUNK)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(key.fileobj)
                        continue
                    buf = got[key.data]
                    buf += data
                    if len(buf) > self.max_out:
                        raise SshError(
                            f"{self.label}: the host wrote more than {self.max_out >> 20} MiB "
                            f"on std{key.data} (stopped reading)"
                        )
        finally:
            sel.close()
        return bytes(got["out"]), bytes(got["err"])
