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

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from harborkit.collect import script
from harborkit.collect.snapshot import Snapshot, SnapshotError, parse
from harborkit.errors import ExitCode, HarborkitError, InputError
from harborkit.host.interface import ClockSample, NotAvailable
from harborkit.host.snapshot import SnapshotHost

#: exit code of a run in which some host could not be audited
UNREACHABLE_EXIT = ExitCode.UNREACHABLE


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
    command_timeout: float = 300.0


@dataclass
class ControlDir:
    """A private folder for the ControlMaster sockets of one run."""

    # a short folder: a unix socket path must stay under ~104 bytes, whatever TMPDIR is
    path: str = field(
        default_factory=lambda: tempfile.mkdtemp(
            prefix="hk-ssh-", dir="/tmp" if os.path.isdir("/tmp") else None
        )
    )

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _classify(stderr: str, target: SshTarget, options: SshOptions) -> str:
    """One line saying why ``ssh`` failed."""
    text = stderr.replace("\r", "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("@@@")]
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


class SshConnection:
    """``ssh`` invocations for one target, sharing one ControlMaster connection."""

    def __init__(self, target: SshTarget, options: SshOptions, control: ControlDir) -> None:
        self.target = target
        self.options = options
        self.control = control
        self.round_trips = 0
        self.fetched: list[str] = []  # facts asked for after the collector's pass
        self.become = options.become if target.become is None else target.become

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
            f"ControlPath={self.control.path}/%C",
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

    def remote_shell(self) -> str:
        return "exec sudo -n /bin/sh -s clock" if self.become else "exec /bin/sh -s clock"

    def run_script(self, text: str) -> tuple[bytes, ClockSample | None]:
        """Run ``text`` with the remote ``sh``; its stdout, and the clock it reported."""
        argv = [*self.base_argv(), self.remote_shell()]
        self.round_trips += 1
        t0 = time.time()
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv list, never a local shell
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "LC_ALL": "C"},
            )
        except FileNotFoundError as e:
            from harborkit.errors import EnvironmentProblem

            raise EnvironmentProblem("the OpenSSH client 'ssh' is not installed") from e
        out = bytearray()
        err_lines: list[bytes] = []
        clock: list[ClockSample] = []

        def feed() -> None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(text.encode())
                proc.stdin.close()
            except OSError:
                pass  # the connection failed: stderr says why

        def drain() -> None:
            assert proc.stdout is not None
            while chunk := proc.stdout.read(65536):
                out.extend(chunk)

        threads = [threading.Thread(target=feed), threading.Thread(target=drain)]
        for th in threads:
            th.daemon = True
            th.start()
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(b"HKCLOCK ") and not clock:
                now = time.time()
                m = re.match(rb"HKCLOCK (\d+)(\.\d+)?", line)
                if not m:
                    continue
                whole = m.group(2) is None
                host_time = float(m.group(1) + (m.group(2) or b""))
                clock.append(
                    ClockSample(host_time, (t0 + now) / 2, (now - t0) / 2 + (1.0 if whole else 0.0))
                )
            else:
                err_lines.append(line)
        try:
            proc.wait(timeout=self.options.command_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise SshError(
                f"{self.target.label}: the collector did not finish within "
                f"{self.options.command_timeout:g}s"
            ) from None
        for th in threads:
            th.join()
        stderr = b"".join(err_lines).decode("utf-8", "replace")
        if proc.returncode == 255:
            if clock or out:  # the collector had started: the connection broke under it
                got = f", {len(out)} bytes received" if out else ""
                last = (stderr.strip().splitlines() or ["closed"])[-1].strip()
                reason = (
                    f"connection to {self.target.destination} dropped while collecting "
                    f"(no complete snapshot{got}): {last}"
                )
            else:
                reason = _classify(stderr, self.target, self.options)
            raise SshError(f"{self.target.label}: {reason}")
        if self.become and "a password is required" in stderr:
            raise SshError(
                f"{self.target.label}: --become: sudo on {self.target.destination} wants a "
                "password (harborkit runs sudo -n): allow this user NOPASSWD in sudoers, or "
                "log in as root"
            )
        if proc.returncode != 0:
            last = (stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise SshError(f"{self.target.label}: the collector failed: {last}")
        return bytes(out), (clock[0] if clock else None)

    def close(self) -> None:
        """Stop this target's ControlMaster (if one runs)."""
        subprocess.run(  # noqa: S603
            [*self.base_argv()[:-2], "-O", "exit", "--", self.target.host],
            capture_output=True,
            check=False,
            timeout=15,
        )


class SshHost(SnapshotHost):
    """A live host over SSH: answered from its snapshot, a miss fetched on the spot."""

    def __init__(self, conn: SshConnection, wants: Sequence[str]) -> None:
        self.conn = conn
        data, clock = conn.run_script(script(wants))
        source = conn.target.label
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
            more: Snapshot = parse(data, self.conn.target.label)
        except SnapshotError as e:
            raise SshError(e.message) from e
        self.snapshot.merge(more)

    def fetch_all(self, wants: list[str]) -> None:
        """Gather several missing facts in one round trip."""
        self._fetched.update(wants)
        self._fetch(wants)

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
