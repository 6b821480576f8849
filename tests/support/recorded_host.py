"""A live host answered from recorded output: the snapshot backend
(:class:`harborkit.host.snapshot.SnapshotHost`) over a snapshot built in the
test, the way a carried snapshot answers. Paths that are neither given nor
below a listed folder are absent (the listings say so), commands answer
what was recorded, programs not named are not installed."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable

from harborkit.collect.snapshot import CommandOutput, Snapshot
from harborkit.host.snapshot import SnapshotHost

#: folders a service or time check looks into; listed (empty) unless files say otherwise
FOLDERS = (
    "/etc/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/etc/rc.d",
    "/etc/rc.d/init.d",
    "/etc/init.d",
    "/etc/ntpsec",
    "/etc/chrony",
    "/etc/systemd",
    "/etc/systemd/timesyncd.conf.d",
    "/usr/lib/systemd",
    "/usr/local/lib/systemd",
    "/run/systemd",
)


def recorded_host(
    files: dict[str, str] | None = None,
    *,
    commands: dict[str, tuple[int, str, str]] | None = None,
    which: dict[str, str] | None = None,
    links: Iterable[str] = (),
    booted: bool = True,
    processes: list[tuple[int, str, str]] | None = None,
    hostname: str = "node1",
) -> SnapshotHost:
    """``files`` path -> text; ``commands`` shell line -> (rc, stdout, stderr);
    ``which`` program -> path (absent: not installed); ``links`` paths of
    symlinks (enable links, masked units); ``booted``: systemd is the init
    (``/run/systemd/system`` exists); ``processes`` (pid, comm, exe)."""
    files = {"/proc/sys/kernel/hostname": hostname + "\n", **(files or {})}
    snap = Snapshot(source="recorded")
    listings: dict[str, set[str]] = {"/": set()}

    def add(path: str) -> None:
        while path != "/":
            parent, base = posixpath.split(path)
            listings.setdefault(parent, set()).add(base)
            path = parent

    for d in FOLDERS:
        add(d)
        listings.setdefault(d, set())
    if booted:
        add("/run/systemd/system")
        listings.setdefault("/run/systemd/system", set())
    else:
        snap.kinds["/run/systemd/system"] = "n"
    for path, text in files.items():
        snap.files[path] = text.encode()
        add(path)
    for path in links:
        snap.kinds[path] = "L"
        add(path)
    snap.listings = {d: sorted(entries) for d, entries in listings.items()}
    for line, (rc, out, err) in (commands or {}).items():
        snap.commands[shlex.join(shlex.split(line))] = CommandOutput(rc, out.encode(), err.encode())
    names = ("systemctl", "timedatectl", "chronyc", "ntpstat", "ntpq", "ntpd", "chronyd", "getent")
    snap.which = {n: "" for n in names}
    snap.which.update(which or {})
    snap.processes = [(pid, comm) for pid, comm, _ in processes or []]
    snap.facts = {f"exe:{pid}": exe for pid, _, exe in processes or []}
    return SnapshotHost(snap)
