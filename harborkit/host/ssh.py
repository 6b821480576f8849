"""Hosts reached over SSH, through the OpenSSH client.

Why the ``ssh`` program rather than a Python SSH library: it is what operators
have already set up and trust. ``~/.ssh/config`` (User, Port, IdentityFile,
ProxyJump, Match), the agent, ``known_hosts`` and hardware keys work exactly as
in their shell, with no parser of ours in between; ControlMaster multiplexes
the few round trips of one host over one authenticated connection; a fleet is
just N small processes; and it adds no crypto dependency (OpenSSH is BSD
licensed and on every admin machine). asyncssh or paramiko would have to
re-implement config and ProxyJump handling and differ from ``ssh`` in subtle
ways (host key algorithms, agent forwarding, GSSAPI).

One round trip runs the collector (``sh -s`` with the script on stdin) and
brings back the snapshot; a fact a check asks for that the collector did not
gather costs one more round trip over the same connection, never a guess.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from harborkit.collect import script
from harborkit.collect.snapshot import Snapshot, SnapshotError, parse
from harborkit.errors import ExitCode, HarborkitError, InputError
from harborkit.host.interface import ClockSample, NotAvailable
from harborkit.host.snapshot import SnapshotHost
from harborkit.host.sshmux import terminate
from harborkit.host.sshpipe import Deadline, Stopped, kill_group, pump, spawn
from harborkit.textsafe import terminal_text

#: exit code of a run in which some host could not be audited
UNREACHABLE_EXIT = ExitCode.UNREACHABLE
#: default overall deadline of one remote call, connecting included (--command-timeout)
COMMAND_TIMEOUT = 45.0
#: how long stopping a ControlMaster (ssh -O exit) may take
CLOSE_TIMEOUT = 5.0
#: how long ``ssh -G`` (ssh_config applied, no connection) may take
RESOLVE_TIMEOUT = 10.0


class SshError(HarborkitError):
    """A host could not be reached or refused the collector (one line, exit 11)."""

    exit_code = UNREACHABLE_EXIT


@dataclass(frozen=True)
class SshTarget:
    """Where to log in; ``name`` is the host's name in reports (inventory name)."""

    host: str
    user: str | None = None
    port: int | None = None
    name: str | None = None
    become: bool | None = None  # None: the run's --become
    identity: str | None = None
    ssh_args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name or self.host

    @property
    def destination(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"


_TARGET = re.compile(
    r"^(?:ssh://)?(?:(?P<user>[^@/\s]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:@/\s\[\]]+))"
    r"(?::(?P<port>\d{1,5}))?/?$"
)


def parse_target(text: str) -> SshTarget:
    """``[ssh://][USER@]HOST[:PORT]`` (an IPv6 address in brackets)."""
    m = _TARGET.match(text.strip())
    if not m:
        raise InputError(f"--host {text}: not [ssh://][USER@]HOST[:PORT]")
    port = int(m.group("port")) if m.group("port") else None
    if port is not None and not 0 < port < 65536:
        raise InputError(f"--host {text}: port {port} is out of range")
    return SshTarget(host=m.group("v6") or m.group("host"), user=m.group("user"), port=port)


@dataclass(frozen=True)
class SshOptions:
    """Run-wide SSH settings (``check`` options)."""

    config_file: str | None = None
    become: bool = False
    connect_timeout: float = 10.0
    accept_new_host_keys: bool = False
    command_timeout: float = COMMAND_TIMEOUT


@dataclass
class ControlDir:
    """A private folder for the ControlMaster sockets of one run."""

    # a short folder: a unix socket path must stay under ~104 bytes, whatever TMPDIR is
    path: str = field(
        default_factory=lambda: tempfile.mkdtemp(
            prefix="hk-ssh-", dir="/tmp" if os.path.isdir("/tmp") else None
        )
    )

    _count: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def socket_path(self) -> str:
        """A socket path of its own for one connection: its ControlMaster is
        then known by its command line (``ssh: PATH [mux]``)."""
        with self._lock:
            self._count += 1
            return f"{self.path}/{self._count}"

    def cleanup(self) -> None:
        """Kill every ControlMaster still serving this folder, then remove it."""
        kill_masters(f"{self.path}/")
        shutil.rmtree(self.path, ignore_errors=True)


def kill_masters(prefix: str) -> int:
    """SIGKILL every ssh ControlMaster of ours whose socket path starts with
    ``prefix`` (a backgrounded master renames itself ``ssh: PATH [mux]`` and
    leaves ssh's process group: killing the client does not reach it, and
    ``ssh -O exit`` cannot stop one that hangs). How many were killed."""
    want = f"ssh: {prefix}".encode()
    killed = 0
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:  # no /proc: only ssh -O exit stops a master here
        return 0
    uid = os.getuid()
    for pid in pids:
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read(4096)
        except OSError:
            continue
        if cmdline.startswith(want):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


def _classify(stderr: str, target: SshTarget, options: SshOptions) -> str:
    """One line saying why ``ssh`` failed."""
    text = stderr.replace("\r", "")
    lines = [_safe(ln) for ln in text.splitlines() if ln.strip() and not ln.startswith("@@@")]
    dest = target.destination
    if "IDENTIFICATION HAS CHANGED" in text:
        return (
            f"host key of {dest} changed: it does not match known_hosts (possible "
            "man-in-the-middle); if the host was reinstalled, remove the old key with "
            f"ssh-keygen -R {target.host} and check the new one"
        )
    if "host key is known" in text or "Host key verification failed" in text:
        return (
            f"host key of {dest} is not in known_hosts (strict checking): verify it and add it, "
            "or pass --accept-new-host-keys to accept first-seen keys"
        )
    if "Permission denied" in text and "sudo" not in text:
        return f"authentication to {dest} failed: {lines[-1] if lines else 'permission denied'}"
    if "Connection refused" in text:
        return f"connection to {dest} refused (no sshd listening?)"
    if "timed out" in text:
        return f"connection to {dest} timed out after {options.connect_timeout:g}s"
    if "Could not resolve hostname" in text:
        return f"cannot resolve {target.host}: {lines[-1] if lines else ''}"
    if "closed by remote host" in text or "Connection reset" in text or "Broken pipe" in text:
        return f"connection to {dest} dropped: {lines[-1] if lines else 'closed'}"
    return f"ssh to {dest} failed: {lines[-1] if lines else 'no error message'}"


def _safe(text: str, limit: int = 200) -> str:
    """Remote text in a one-line error: controls shown escaped, abridged."""
    return terminal_text(" ".join(text.split()), limit)


def _last_line(stderr: str, default: str) -> str:
    lines = [ln.strip() for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]
    return _safe(lines[-1]) if lines else default


def _prompt_hint(stderr: bytes) -> str:
    """Say so when the host's last words look like a password prompt."""
    tail = stderr.decode("utf-8", "replace").replace("\r", "\n").rstrip().rsplit("\n", 1)[-1]
    if re.search(r"(?i)(password|passphrase|passcode|pin)[^\n]{0,40}:\s*$", tail + " "):
        return f"; it stopped at a prompt: {_safe(tail, 80)!r}"
    return ""


class SshConnection:
    """``ssh`` invocations for one target, sharing one ControlMaster connection."""

    def __init__(self, target: SshTarget, options: SshOptions, control: ControlDir) -> None:
        self.target = target
        self.options = options
        self.control = control
        self.round_trips = 0
        self.fetched: list[str] = []  # facts asked for after the collector's pass
        self.become = options.become if target.become is None else target.become
        self.failed: str | None = None  # why a call was stopped: later calls fail at once
        self.resolved: tuple[str, str, int] | None = None  # (user, address, port): ssh -G
        self.answered: str | None = None  # the hostname the host reported
        #: the name of this target in error lines (the fleet makes it unique)
        self.label = target.label
        self.control_path = control.socket_path()
        self._live: set[subprocess.Popen[bytes]] = set()  # ssh clients running now
        self._live_lock = threading.Lock()

    def base_argv(self) -> list[str]:
        o = self.options
        argv = [
            "ssh",
            "-T",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=" + ("accept-new" if o.accept_new_host_keys else "yes"),
            "-o",
            f"ConnectTimeout={max(1, round(o.connect_timeout))}",
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={self.control_path}",
            "-o",
            "ControlPersist=60",
            "-o",
            "ServerAliveInterval=10",
            "-o",
            "ServerAliveCountMax=3",
        ]
        if o.config_file:
            argv += ["-F", o.config_file]
        t = self.target
        if t.port:
            argv += ["-p", str(t.port)]
        if t.user:
            argv += ["-l", t.user]
        if t.identity:
            argv += ["-i", t.identity]
        argv += list(t.ssh_args)
        return [*argv, "--", t.host]

    def resolve(self) -> tuple[str, str, int] | None:
        """(user, address, port) this target reaches once ssh_config is applied
        (``ssh -G``: aliases, HostName, User, Port; no connection is made), or
        None when ``ssh`` cannot say (the real call will tell why)."""
        argv = ["ssh", "-G", *self.base_argv()[1:]]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "LC_ALL": "C"},
                start_new_session=True,  # a "Match exec" command goes with it on expiry
            )
        except OSError:
            return None
        try:
            out, _ = proc.communicate(timeout=min(RESOLVE_TIMEOUT, self.options.command_timeout))
        except subprocess.TimeoutExpired:
            kill_group(proc)
            with contextlib.suppress(OSError, ValueError):
                proc.communicate(timeout=1)
            return None
        if proc.returncode != 0:
            return None
        seen: dict[str, str] = {}
        for line in out[: 1 << 20].decode("utf-8", "replace").splitlines()[:10000]:
            key, _, value = line.partition(" ")
            if key in ("hostname", "user", "port") and key not in seen:
                seen[key] = value.strip()
        try:
            port = int(seen.get("port", "22"))
        except ValueError:
            return None
        if not seen.get("hostname"):
            return None
        return seen.get("user", ""), seen["hostname"].lower(), port

    def remote_shell(self) -> str:
        return "exec sudo -n /bin/sh -s clock" if self.become else "exec /bin/sh -s clock"

    def run_script(self, text: str) -> tuple[bytes, ClockSample | None]:
        """Run ``text`` with the remote ``sh``; its stdout, and the clock it reported.

        The whole call (connecting included) ends within ``command_timeout``
        seconds whatever the host does: stdout and stderr are read together,
        without blocking, against one deadline (a trickle of bytes does not
        extend it), and both are bounded while read. On expiry the ``ssh``
        process group is killed and the host is one error line."""
        if self.failed is not None:  # a call already timed out or overflowed
            raise SshError(self.failed)
        argv = [*self.base_argv(), self.remote_shell()]
        self.round_trips += 1
        limit = self.options.command_timeout
        t0 = time.time()
        deadline = time.monotonic() + limit
        proc = spawn(argv)
        with self._live_lock:
            self._live.add(proc)
        problem: Stopped | None = None
        size, err, clock = 0, b"", None
        with tempfile.TemporaryFile(prefix="hk-ssh-out-") as out:
            try:
                size, err, clock = pump(proc, text.encode(), out, deadline, t0)
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problem = Deadline(err)
            except Stopped as e:
                problem = e
            except BaseException:
                kill_group(proc)
                raise
            finally:
                for pipe in (proc.stdin, proc.stdout, proc.stderr):
                    if pipe is not None:
                        with contextlib.suppress(OSError):
                            pipe.close()
                with self._live_lock:
                    self._live.discard(proc)
            if problem is not None:
                self._give_up(proc, problem, limit)
            out.seek(0)
            data = out.read() if size else b""
        self._check_exit(proc.returncode, err.decode("utf-8", "replace"), clock, size)
        return data, clock

    def _give_up(self, proc: subprocess.Popen[bytes], problem: Stopped, limit: float) -> NoReturn:
        """Kill ``ssh`` past its deadline or bound; the target fails from now on."""
        kill_group(proc)
        if isinstance(problem, Deadline):
            why = (
                f"the collector did not finish within {limit:g} s (--command-timeout)"
                + _prompt_hint(problem.stderr)
            )
        else:
            why = problem.why
        reason = f"{self.label}: {why}"
        self.failed = reason
        # its ControlMaster too, which may be what hangs: killed, not asked
        self.close(ask=False)
        raise SshError(reason)

    def _check_exit(
        self, returncode: int, stderr: str, clock: ClockSample | None, size: int
    ) -> None:
        """Raise :class:`SshError` saying why ``ssh`` (or the collector) failed, if it did."""
        if returncode == 255:
            if clock or size:  # the collector had started: the connection broke under it
                got = f", {size} bytes received" if size else ""
                last = _last_line(stderr, "closed")
                reason = (
                    f"connection to {self.target.destination} dropped while collecting "
                    f"(no complete snapshot{got}): {last}"
                )
            else:
                reason = _classify(stderr, self.target, self.options)
            raise SshError(f"{self.label}: {reason}")
        if self.become and "a password is required" in stderr:
            raise SshError(
                f"{self.label}: --become: sudo on {self.target.destination} wants a "
                "password (harborkit runs sudo -n): allow this user NOPASSWD in sudoers, or "
                "log in as root"
            )
        if returncode != 0:
            last = _last_line(stderr, f"exit status {returncode}")
            raise SshError(f"{self.label}: the collector failed: {last}")

    def abort(self) -> None:
        """Kill the ssh clients of this connection that are running now (an
        interrupted run): the calls waiting on them end at once."""
        with self._live_lock:
            live = list(self._live)
        for proc in live:
            kill_group(proc)

    def close(self, *, ask: bool = True) -> None:
        """Stop this target's ControlMaster (if one runs); bounded, never raises.

        It is asked to stop over its control socket (``ask``: the request
        ``ssh -O exit`` makes, without starting another ``ssh``); a master that
        does not answer within :data:`CLOSE_TIMEOUT`, or any when not asked, is
        killed by its socket path."""
        limit = min(CLOSE_TIMEOUT, self.options.command_timeout)
        deadline = time.monotonic() + limit
        if ask and terminate(self.control_path, limit):
            # it removes its socket as it exits: wait for that (bounded)
            while os.path.exists(self.control_path) and time.monotonic() < deadline:
                time.sleep(0.005)
            if not os.path.exists(self.control_path):
                return
        kill_masters(f"{self.control_path} ")
        # a killed master cannot remove its socket: the path is ours, so it goes
        # (a later ssh must not meet a socket nothing listens on)
        with contextlib.suppress(OSError):
            os.unlink(self.control_path)


class SshHost(SnapshotHost):
    """A live host over SSH: answered from its snapshot, a miss fetched on the spot."""

    def __init__(self, conn: SshConnection, wants: Sequence[str]) -> None:
        self.conn = conn
        data, clock = conn.run_script(script(wants))
        source = conn.label
        try:
            snap = parse(data, source)
        except SnapshotError as e:
            raise SshError(e.message) from e
        super().__init__(snap, name=conn.target.name, fetch=self._fetch)
        self._clock = clock

    def _fetch(self, wants: list[str]) -> None:
        self.conn.fetched += wants
        data, _ = self.conn.run_script(script(wants))
        try:
            more: Snapshot = parse(data, self.conn.label)
        except SnapshotError as e:
            raise SshError(e.message) from e
        self.snapshot.merge(more)

    def fetch_all(self, wants: list[str]) -> None:
        """Gather several missing facts in one round trip."""
        self._fetched.update(wants)
        self._fetch(wants)

    def answered_name(self) -> str | None:
        """The hostname the host itself reported (None when it did not say)."""
        return self._hostname_or("") or None

    def clock(self) -> ClockSample:
        if self._clock is None:
            raise NotAvailable(f"{self.name}: the collector did not report the clock")
        return self._clock


__all__ = [
    "ControlDir",
    "ExitCode",
    "SshConnection",
    "SshError",
    "SshHost",
    "SshOptions",
    "SshTarget",
    "parse_target",
]
