"""docker.service and its drop-ins: the ``EnvironmentFile=`` lines that load
daemon.json as an environment file, and the fix that neutralises them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harborkit.checks.daemon_json_file import daemon_json_path
from harborkit.host.interface import Host
from harborkit.model.check import CheckContext, Finding, Status

if TYPE_CHECKING:
    from harborkit.model.change import Change

#: the drop-in that clears daemon.json from docker.service's EnvironmentFile= list
ENVFILE_DROPIN = "/etc/systemd/system/docker.service.d/90-harbor-environmentfile.conf"


def _unit_files(host: Host) -> list[str]:
    """docker.service and its drop-ins in systemd's order: the unit file
    (/etc hides /usr/lib), then drop-ins sorted by name (a name in /etc hides
    the same name in /run and /usr/lib)."""
    main = None
    for d in (
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ):
        if host.glob(f"{d}/docker.service"):
            main = f"{d}/docker.service"
            break
    dropins: dict[str, str] = {}
    for d in (
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ):
        for p in host.glob(f"{d}/docker.service.d/*.conf"):
            dropins.setdefault(p.rsplit("/", 1)[-1], p)
    return ([main] if main else []) + [dropins[n] for n in sorted(dropins)]


@dataclass(frozen=True)
class EnvFileLine:
    unit: str
    line: int
    text: str
    target: str  # "" for a reset line


def environment_files(host: Host) -> list[EnvFileLine]:
    """The ``EnvironmentFile=`` lines in effect: an empty assignment in a
    later file (or line) clears the ones before it, as systemd does."""
    effective: list[EnvFileLine] = []
    for unit in _unit_files(host):
        try:
            text = host.read_text(unit)
        except OSError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            m = re.match(r"^\s*EnvironmentFile\s*=\s*(.*?)\s*$", line)
            if not m:
                continue
            if not m.group(1):
                effective = []
                continue
            effective.append(EnvFileLine(unit, n, line.strip(), m.group(1).lstrip("-").strip()))
    return effective


def _loads_daemon_json(e: EnvFileLine, path: str) -> bool:
    return e.target == path or e.target.endswith("/daemon.json")


def environment_file_lines(host: Host, path: str) -> list[Finding]:
    """A WARN for each docker unit line in effect that loads daemon.json as an EnvironmentFile."""
    found = []
    for e in environment_files(host):
        if _loads_daemon_json(e, path):
            found.append(
                Finding(
                    Status.WARN,
                    "EnvironmentFile",
                    f"{e.unit} loads {e.target}: daemon.json is not an environment file "
                    "(dockerd reads it by itself); remove the line",
                    actual=e.text,
                    location=f"{e.unit}:{e.line}",
                )
            )
    return found


def plan_environment_file(ctx: CheckContext, check_id: str) -> list[Change]:
    """Neutralise ``EnvironmentFile=`` lines that load daemon.json: a line in a
    drop-in under /etc is commented out there; a line in a vendor unit (never
    edited) is cleared by a drop-in that resets the list and names the other
    environment files again."""
    from harborkit.model.change import edit_lines, file_change, read_bytes

    path = daemon_json_path(ctx)
    lines = environment_files(ctx.host)
    bad = [e for e in lines if _loads_daemon_json(e, path)]
    if not bad:
        return []
    changes: list[Change] = []
    edits: dict[str, dict[int, str | None]] = {}
    vendor = False
    for e in bad:
        if e.unit.startswith("/etc/systemd/system/docker.service.d/") and e.unit != ENVFILE_DROPIN:
            edits.setdefault(e.unit, {})[e.line] = (
                f"# {e.text}  # harborkit: daemon.json is not an environment file"
            )
        else:
            vendor = True
    for unit, ed in edits.items():
        text = (read_bytes(ctx.host, unit) or b"").decode("utf-8", "surrogateescape")
        c = file_change(
            check_id, ctx.host, unit, edit_lines(text, ed), "dockerd reads daemon.json by itself"
        )
        if c is not None:
            changes.append(c)
    if vendor:
        keep = [e.text for e in lines if not _loads_daemon_json(e, path)]
        body = "\n".join(
            [
                "# written by harborkit fix: daemon.json is not an environment file",
                "[Service]",
                "EnvironmentFile=",
                *keep,
            ]
        )
        c = file_change(
            check_id,
            ctx.host,
            ENVFILE_DROPIN,
            body + "\n",
            f"clears the EnvironmentFile= list of {bad[0].unit} without editing it",
            owned=True,
        )
        if c is not None:
            changes.append(c)
    return changes
