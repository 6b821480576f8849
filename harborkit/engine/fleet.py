"""The hosts of one ``check`` run: SSH targets, carried snapshots, inventories.

Turns the command line (``--host``, ``--snapshot``, ``--inventory``) into the
targets that :func:`harborkit.engine.cluster.run_fleet` audits: a Host, a
Deferred one (an SSH host is connected inside the worker pool) or an
Unreachable record with the reason. Each failure remembers its exit code so the
CLI can say why the run was incomplete.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harborkit.collect.snapshot import SnapshotError, read_file
from harborkit.compat import zip_strict
from harborkit.engine import audit
from harborkit.engine.audit import Session
from harborkit.engine.cluster import Deferred, Target, Unreachable
from harborkit.engine.wants import wants_for
from harborkit.errors import HarborkitError, InputError
from harborkit.host.snapshot import SnapshotHost
from harborkit.host.ssh import (
    ControlDir,
    SshConnection,
    SshError,
    SshHost,
    SshOptions,
    SshTarget,
)
from harborkit.model.check import CheckOptions

#: the suffix ``collect`` and the Ansible playbook give snapshots
SUFFIX = ".hksnap"
#: dry runs that gather what the checks asked for, before the real run
PRIME_PASSES = 3


@dataclass
class Failures:
    """Targets that could not be audited: name -> (exit code, one-line reason)."""

    items: dict[str, tuple[int, str]] = field(default_factory=dict)

    def add(self, name: str, error: HarborkitError) -> Unreachable:
        self.items[name] = (error.exit_code, error.message)
        return Unreachable(name, error.message)

    @property
    def exit_code(self) -> int:
        return max((code for code, _ in self.items.values()), default=0)


def load_snapshot(path: Path) -> SnapshotHost:
    """A carried snapshot file as a host (its name: the hostname it recorded)."""
    return SnapshotHost(read_file(path, str(path)))


def snapshot_files(paths: Sequence[str]) -> list[Path]:
    """Each FILE, and the ``*.hksnap`` files of each DIR (sorted)."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            # every *.hksnap entry: one that is not a regular file (a FIFO, a link
            # to a device) is reported by read_file, never skipped silently
            found = sorted(f for f in path.iterdir() if f.name.endswith(SUFFIX))
            if not found:
                raise InputError(f"--snapshot {p}: no *{SUFFIX} files in this folder")
            out += found
        elif path.exists():
            out.append(path)
        else:
            raise InputError(f"--snapshot {p}: no such file or folder")
    return out


def snapshot_targets(paths: Sequence[str], failures: Failures) -> list[Target]:
    targets: list[Target] = []
    for path in snapshot_files(paths):
        try:
            targets.append(load_snapshot(path))
        except SnapshotError as e:
            name = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name
            targets.append(failures.add(name, e))
    return targets


def prime(host: SshHost, session: Session, options: CheckOptions) -> None:
    """Dry-run the checks on the snapshot and gather every fact they missed in
    one more round trip (repeated while new misses appear, at most a few times)."""
    for _ in range(PRIME_PASSES):
        host.record_misses = True
        host.misses = []
        try:
            audit.run(session, session.context(host, options), waivers=())
        finally:
            host.record_misses = False
        if not host.misses:
            return
        host.fetch_all(list(host.misses))


def ssh_targets(
    targets: Sequence[SshTarget],
    ssh: SshOptions,
    control: ControlDir,
    *,
    session: Session,
    options: CheckOptions,
    connections: list[SshConnection],
    failures: Failures,
    duplicates: list[tuple[str, str]] | None = None,
    forks: int = 10,
) -> list[Target]:
    """Deferred SSH hosts: connected, collected and primed inside the pool.

    Targets that reach the same user, address and port once ssh_config is
    applied (an alias and its HostName, ``h`` and ``root@h:22``) are audited
    once: the first one given; each other is added to ``duplicates`` as
    ``(how it was given, the label audited)``. ``connections`` gets one connection per
    target audited, in order."""
    conns = [SshConnection(t, ssh, control) for t in targets]
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(conns)))) as pool:
        for conn, where in zip_strict(conns, pool.map(SshConnection.resolve, conns)):
            conn.resolved = where
    kept: list[SshConnection] = []
    first: dict[object, SshConnection] = {}
    for conn in conns:
        key: object = conn.resolved or ("as given", conn.target.destination)
        if key in first:
            if duplicates is not None:
                t = conn.target
                given = f"{t.name} ({t.destination})" if t.name else t.destination
                duplicates.append((given, first[key].target.label))
            continue
        first[key] = conn
        kept.append(conn)
    labels = [c.target.label for c in kept]
    for conn in kept:
        if labels.count(conn.target.label) > 1:  # another user or port of one address
            conn.label = f"{conn.target.label} ({conn.target.destination})"
    names = [c.target.label for c in kept]
    wants = wants_for(session.profile.data, options, [lc.cls for lc in session.loaded])
    wants += [f"h {n}" for n in names if n.replace("-", "").replace(".", "").isalnum()]
    out: list[Target] = []
    for conn in kept:
        connections.append(conn)

        def open_host(conn: SshConnection = conn) -> SshHost:
            try:
                host = SshHost(conn, wants)
                prime(host, session, options)
            except SshError as e:
                failures.add(conn.label, e)
                raise
            conn.answered = host.answered_name()
            return host

        out.append(Deferred(conn.label, open_host))
    return out


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP end the run as Ctrl-C does (exit 130),
    through the cleanup below: killed outright, harborkit left its ssh clients
    (their own sessions) running against hosts that may never end them."""
    previous: dict[int, Any] = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _interrupt)
    except ValueError:  # not the main thread: signals are not ours to set
        pass
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def ssh_session() -> Iterator[tuple[ControlDir, list[SshConnection]]]:
    """A control folder and the connections opened in it, all closed at the end."""
    control = ControlDir()
    conns: list[SshConnection] = []
    try:
        with _terminate_as_interrupt():
            yield control, conns
    finally:
        close_all(conns)
        control.cleanup()  # any master left (one that hung) is killed with it


def close_all(conns: Sequence[SshConnection]) -> None:
    """End every connection: running clients killed (an interrupted run), then
    the ControlMasters stopped all at once, so a few that hang cost one
    :data:`~harborkit.host.ssh.CLOSE_TIMEOUT`, not one each."""
    for c in conns:
        c.abort()
    used = [c for c in conns if c.round_trips and c.failed is None]  # a failed one is closed
    if not used:
        return
    with ThreadPoolExecutor(max_workers=min(16, len(used))) as pool:
        for _ in pool.map(lambda c: c.close(), used):
            pass
