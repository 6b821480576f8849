"""Which dockerd a check should judge: the one that serves the Docker socket.

A machine may run several dockerd processes (rootless ones, test daemons, a
daemon per CI job); the one Harbor will use is the one ``docker`` talks to.
On this machine that is the daemon ``DOCKER_HOST`` names (the default
socket when unset): the kernel tells who listens on a unix socket
(``SO_PEERCRED``). On a host reached over SSH or from a snapshot it is the
dockerd holding the listening socket ``/var/run/docker.sock`` (``/proc/net/unix``
and the socket owners the collector lists). When that cannot be known the
caller says so and judges nothing, rather than every dockerd.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Collection
from typing import Any

#: where the Docker socket is on a host reached over SSH or from a snapshot
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
#: /proc/net/unix: a listening socket (``__SO_ACCEPTCON``)
_ACCEPTCON = 0x00010000


class Unknown(Exception):
    """Why the dockerd behind the socket cannot be told (one line)."""


def serving_dockerd(host: Any, dockerds: Collection[int]) -> int:
    """The pid, among ``dockerds`` (the host's dockerd processes), of the daemon
    behind the Docker socket; :class:`Unknown` with the reason otherwise."""
    from harborkit.host import LocalHost

    if isinstance(host, LocalHost):
        return _local(dockerds)
    if getattr(host, "snapshot", None) is not None:
        return _collected(host, dockerds)
    raise Unknown("this host cannot tell which process serves its Docker socket")


def _local(dockerds: Collection[int]) -> int:
    from harborkit.dockerapi import daemon_address

    address = daemon_address()
    if not address.startswith("unix://"):
        raise Unknown(
            f"DOCKER_HOST is {address}: which process serves it cannot be told "
            f"(only for a unix socket); {_running(dockerds)} not judged"
        )
    path = address[len("unix://") :]
    pid = _peer(path, address, dockerds)
    if pid in dockerds:
        return pid
    # systemd's docker.socket: systemd (pid 1) listens and hands the socket over
    holders = [p for p in _local_holders(path) if p in dockerds]
    if len(holders) == 1:
        return holders[0]
    raise Unknown(
        f"{address} is served by pid {pid} ({_name(pid)}), not by a dockerd; "
        f"{_running(dockerds)} not judged"
    )


def _peer(path: str, address: str, dockerds: Collection[int]) -> int:
    """The pid that listens on the unix socket ``path`` (the kernel's record)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(path)
        raw = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError as e:
        raise Unknown(
            f"no daemon answers at {address}: {e.strerror or e}; {_running(dockerds)} not judged"
        ) from e
    finally:
        s.close()
    pid, _uid, _gid = struct.unpack("3i", raw)
    return int(pid)


def _local_holders(path: str) -> list[int]:
    import psutil

    try:
        conns = psutil.net_connections(kind="unix")
    except (psutil.Error, OSError):
        return []
    return sorted({c.pid for c in conns if c.pid and c.laddr == path})


def _name(pid: int) -> str:
    import psutil

    try:
        return str(psutil.Process(pid).name())
    except psutil.Error:
        return "gone"


def _running(dockerds: Collection[int]) -> str:
    n = len(dockerds)
    return f"the {n} dockerd processes running" if n != 1 else "the dockerd running"


def listening_inodes(unix_table: str, paths: Collection[str]) -> set[int]:
    """The inodes of the listening sockets bound to ``paths`` in ``/proc/net/unix``."""
    out: set[int] = set()
    for line in unix_table.splitlines()[1:]:
        cols = line.split()
        # Num RefCount Protocol Flags Type St Inode Path
        if len(cols) < 8 or cols[7] not in paths:
            continue
        try:
            flags, inode = int(cols[3], 16), int(cols[6])
        except ValueError:
            continue
        if flags & _ACCEPTCON:
            out.add(inode)
    return out


def socket_holders(listing: str) -> dict[int, set[int]]:
    """inode -> every pid holding it, from ``ls -l /proc/*/fd`` output."""
    out: dict[int, set[int]] = {}
    pid = None
    for line in listing.splitlines():
        if line.startswith("/proc/"):
            head = line[len("/proc/") :].split("/", 1)[0]
            pid = int(head) if head.isdigit() else None
            continue
        i = line.find("socket:[")
        if i >= 0 and pid is not None:
            inode = line[i + 8 :].split("]", 1)[0]
            if inode.isdigit():
                out.setdefault(int(inode), set()).add(pid)
    return out


def _collected(host: Any, dockerds: Collection[int]) -> int:
    sock = " or ".join(DOCKER_SOCKETS)
    inodes = listening_inodes(host.read_text("/proc/net/unix"), DOCKER_SOCKETS)
    listing = host.snapshot.facts.get("sockets")
    if listing is None:
        raise Unknown(
            f"the snapshot from {host.snapshot.source} has no socket owners: which dockerd "
            f"serves {sock} cannot be told; {_running(dockerds)} not judged"
        )
    if not inodes:
        raise Unknown(f"nothing listens on {sock}; {_running(dockerds)} not judged")
    holders = socket_holders(listing)
    pids = sorted({p for i in inodes for p in holders.get(i, ()) if p in dockerds})
    if len(pids) == 1:
        return pids[0]
    if not pids:
        raise Unknown(
            f"no dockerd holds the socket listening on {sock} (the collector may lack "
            f"the rights to see it); {_running(dockerds)} not judged"
        )
    shown = ", ".join(str(p) for p in pids)
    raise Unknown(f"several dockerd processes ({shown}) hold {sock}; none judged")
