"""Cluster nodes answered from snapshots, built in memory (no files, no programs).

A :class:`~harborkit.host.snapshot.SnapshotHost` is what harborkit judges for a
carried snapshot and, with a clock and a fetch, for an SSH host: these nodes
are the same backend with the facts each test needs. Command output has the
real tools' form: ``getent ahosts`` as captured on Debian 12, systemd 252's
``systemctl is-enabled``/``is-active`` words and messages, the fields of
``docker version --format '{{json .Server}}'``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from harborkit.collect.snapshot import CommandOutput, Snapshot
from harborkit.engine.cluster import run_cluster_check
from harborkit.host.interface import ClockSample, Host
from harborkit.host.snapshot import SnapshotHost
from harborkit.model.check import CheckContext, Outcome
from harborkit.model.cluster import ClusterCheck, ClusterContext

#: folders and files a node in these tests does not have (so a lookup is an
#: answer, "not there", rather than a fact the collector did not gather)
ABSENT = (
    "/etc/ntpsec",
    "/etc/chrony",
    "/etc/systemd/timesyncd.conf.d",
    "/usr/lib/systemd/timesyncd.conf.d",
    "/usr/local/lib/systemd/timesyncd.conf.d",
    "/run/systemd/timesyncd.conf.d",
    "/usr/lib/systemd/systemd-timesyncd",
    "/lib/systemd/systemd-timesyncd",
    "/etc/rc.d",
    "/etc/init.d",
    "/etc/rc2.d",
    "/etc/rc3.d",
    "/etc/rc4.d",
    "/etc/rc5.d",
)
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)


def hosts_file(*lines: str) -> str:
    return "127.0.0.1   localhost localhost.localdomain\n" + "".join(f"{ln}\n" for ln in lines)


def getent(*addresses: str, name: str = "") -> CommandOutput:
    """``getent ahosts NAME`` output: each address three times (STREAM, DGRAM, RAW)."""
    if not addresses:
        return CommandOutput(2, b"", b"")
    text = "".join(f"{a:<15} STREAM {name}\n{a:<15} DGRAM  \n{a:<15} RAW    \n" for a in addresses)
    return CommandOutput(0, text.encode(), b"")


def docker_version(server: str | None, rc: int = 0, stderr: str = "") -> CommandOutput:
    """``docker version --format '{{json .Server}}'`` output."""
    if server is None:
        return CommandOutput(rc, b"null\n", stderr.encode())
    body = json.dumps({"Version": server, "ApiVersion": "1.39", "Os": "linux"})
    return CommandOutput(rc, (body + "\n").encode(), stderr.encode())


DOCKER_VERSION = "docker version --format '{{json .Server}}'"


def snapshot(
    hostname: str | None,
    *,
    hosts: str | None = None,
    files: dict[str, str] | None = None,
    which: dict[str, str] | None = None,
    commands: dict[str, CommandOutput] | None = None,
    units: list[str] | None = None,
    booted: bool = True,
) -> Snapshot:
    """A snapshot of a running node: ``hostname`` (None: not recorded), its
    /etc/hosts, other files, programs (``which``; getent missing unless given),
    command output and unit files (in /usr/lib/systemd/system)."""
    snap = Snapshot(source=f"{hostname or 'unnamed'}.hksnap")
    if hostname is not None:
        snap.files["/etc/hostname"] = f"{hostname}\n".encode()
    snap.files["/etc/hosts"] = (hosts if hosts is not None else hosts_file()).encode()
    for path, text in (files or {}).items():
        snap.files[path] = text.encode()
    snap.listings["/etc"] = sorted(p.split("/")[2] for p in snap.files if p.count("/") == 2)
    for d in UNIT_DIRS:
        snap.listings[d] = []
    snap.listings["/usr/lib/systemd/system"] = list(units or [])
    snap.listings["/etc/systemd/system"] = []
    for path in (*ABSENT, "/etc/systemd/timesyncd.conf"):
        if path not in snap.files:
            snap.kinds[path] = "n"
    if not booted:
        snap.kinds["/run/systemd/system"] = "n"
        del snap.listings["/run/systemd/system"]
    snap.which.update({"getent": "", "systemctl": "", "timedatectl": ""})
    snap.which.update(which or {})
    snap.commands.update(commands or {})
    return snap


def node(hostname: str | None, **kw: object) -> SnapshotHost:
    return SnapshotHost(snapshot(hostname, **kw))  # type: ignore[arg-type]


class ClockedNode(SnapshotHost):
    """A snapshot node whose clock was read when it was collected, as an SSH
    host's is (its collector reports the clock on the way)."""

    def __init__(self, snap: Snapshot, sample: ClockSample) -> None:
        super().__init__(snap)
        self._sample = sample

    def clock(self) -> ClockSample:
        return self._sample


def clocked(hostname: str, offset: float, uncertainty: float = 0.0) -> ClockedNode:
    """A node whose clock is ``offset`` s ahead of the auditing machine's."""
    local = 1_700_000_000.0
    return ClockedNode(snapshot(hostname), ClockSample(local + offset, local, uncertainty))


def contexts(hosts: Sequence[Host], profile: Mapping[str, Any]) -> ClusterContext:
    data = dict(profile)
    return ClusterContext([CheckContext(host=h, profile=data) for h in hosts], data)


def judge(
    check: type[ClusterCheck], hosts: Sequence[Host], profile: Mapping[str, Any] | None = None
) -> Outcome:
    return run_cluster_check(check, contexts(hosts, profile or {}))


def full(out: Outcome) -> list[tuple[str, str, str, str | None, str | None, str | None]]:
    return [
        (f.status.value, f.subject, f.message, f.expected, f.actual, f.location)
        for f in out.findings
    ]
