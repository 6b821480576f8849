"""Service state and OS family, read through the host.

Two facts about a service are kept apart, as the guide's "stop and disable"
asks: *active* (running now) and *enabled* (started at boot).

- On a live host with systemd as init (``/run/systemd/system`` exists, the
  test ``sd_booted()`` uses), ``systemctl is-active`` and ``systemctl
  is-enabled`` answer. Without systemd as init (a container), ``is-enabled``
  still reads the unit files, and *active* falls back to the process list.
- On a sysroot nothing runs: *enabled* is read from the files (a symlink under
  ``/etc/systemd/system/*.wants/``, or a SysV ``S??name`` link under
  ``/etc/rc.d/rc[2-5].d`` / ``/etc/rc[2-5].d`` as chkconfig/update-rc.d make),
  and *active* is unknown with the reason.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from harborkit.host.interface import Host
from harborkit.model.check import CheckContext

UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
INIT_DIRS = ("/etc/rc.d/init.d", "/etc/init.d")
RC_DIRS = ("/etc/rc.d/rc{n}.d", "/etc/rc{n}.d")


@dataclass(frozen=True)
class Fact:
    """A yes/no fact about a service; ``value`` None when the host cannot tell."""

    value: bool | None
    detail: str  # how it was established, or why it is unknown
    location: str | None = None


@dataclass(frozen=True)
class Service:
    """What is known of one service."""

    name: str
    installed: bool
    unit_path: str | None  # the unit file or init script found
    enabled: Fact
    active: Fact


def _unit(name: str) -> str:
    return name if "." in name else f"{name}.service"


def unit_file(host: Host, name: str) -> str | None:
    """The systemd unit file or SysV init script of ``name``, if any."""
    unit = _unit(name)
    for d in UNIT_DIRS:
        # glob lists dangling symlinks too (a sysroot's absolute links point
        # outside the sysroot, and /dev/null for masked units)
        found = host.glob(f"{d}/{unit}")
        if found:
            return found[0]
    for d in INIT_DIRS:
        if host.glob(f"{d}/{name}"):
            return f"{d}/{name}"
    return None


def systemd_booted(host: Host) -> bool:
    """True when systemd is the running init (``sd_booted()``'s test)."""
    return host.live and host.is_dir("/run/systemd/system")


def _enabled_from_files(host: Host, name: str) -> Fact:
    unit = _unit(name)
    wants = host.glob(f"/etc/systemd/system/*.wants/{unit}") + host.glob(
        f"/etc/systemd/system/*.requires/{unit}"
    )
    if wants:
        return Fact(True, f"enabled: {wants[0]}", wants[0])
    for pattern in RC_DIRS:
        for n in (2, 3, 4, 5):
            links = host.glob(pattern.format(n=n) + f"/S[0-9][0-9]{name}")
            if links:
                return Fact(True, f"enabled (SysV): {links[0]}", links[0])
    return Fact(False, f"no link to {unit} under /etc/systemd/system/*.wants or rc?.d")


def enabled(host: Host, name: str) -> Fact:
    """Whether ``name`` starts at boot."""
    if host.live and host.which("systemctl"):
        r = host.run(["systemctl", "is-enabled", _unit(name)])
        state = r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""
        if state in ("enabled", "enabled-runtime", "alias", "linked", "linked-runtime"):
            return Fact(True, f"systemctl is-enabled: {state}")
        if state in ("disabled", "masked", "masked-runtime", "static", "indirect", "generated"):
            return Fact(False, f"systemctl is-enabled: {state}")
    return _enabled_from_files(host, name)


def active(host: Host, name: str, processes: tuple[str, ...] = ()) -> Fact:
    """Whether ``name`` runs now; ``processes`` are the daemon's process names
    used when systemd is not the init."""
    unit = _unit(name)
    if not host.live:
        return Fact(None, "whether it runs needs a running system; auditing a sysroot")
    if systemd_booted(host) and host.which("systemctl"):
        r = host.run(["systemctl", "is-active", unit])
        state = r.stdout.strip() or "unknown"
        return Fact(state in ("active", "activating", "reloading"), f"systemctl is-active: {state}")
    for proc in processes:
        found = host.processes(proc)
        if found:
            return Fact(True, f"process {proc} running (pid {found[0].pid})")
    if processes:
        return Fact(False, f"no {' or '.join(processes)} process; systemd is not the init")
    return Fact(None, f"systemd is not the init here, so the state of {unit} is unknown")


def service(host: Host, name: str, processes: tuple[str, ...] = ()) -> Service:
    """Installed / enabled / active of one service."""
    path = unit_file(host, name)
    return Service(
        name=name,
        installed=path is not None,
        unit_path=path,
        enabled=enabled(host, name),
        active=active(host, name, processes),
    )


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of os-release(5), shell quoting removed."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        out[key.strip()] = parts[0] if parts else ""
    return out


def os_release(ctx: CheckContext) -> dict[str, str]:
    """The audited host's os-release (``/etc/os-release``, else ``/usr/lib/os-release``)."""

    def read() -> dict[str, str]:
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            try:
                return parse_os_release(ctx.host.read_text(path))
            except OSError:
                continue
        return {}

    return ctx.memo("os-release", read)


RHEL_IDS = {"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "scientific"}
DEBIAN_IDS = {"debian", "ubuntu", "raspbian", "linuxmint"}


def os_family(ctx: CheckContext) -> str:
    """``rhel``, ``debian`` or ``other``, from ID and ID_LIKE."""
    info = os_release(ctx)
    ids = {info.get("ID", "").lower(), *info.get("ID_LIKE", "").lower().split()}
    if ids & DEBIAN_IDS:
        return "debian"
    if ids & RHEL_IDS:
        return "rhel"
    return "other"


def os_name(ctx: CheckContext) -> str:
    info = os_release(ctx)
    return info.get("PRETTY_NAME") or info.get("ID") or "an unknown OS (no /etc/os-release)"
