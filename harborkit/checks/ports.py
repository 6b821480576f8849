"""Check that the ports Harbor publishes are free (or already Harbor's)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from harborkit.checks import _harbor
from harborkit.errors import InputError
from harborkit.host.interface import Host, Listener, UnreadableFile
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, Status
from harborkit.yamlfile import Located, parse_yaml

COMPOSE_FILE = "docker-compose.yml"
_ANY_V4 = {"0.0.0.0", "::", "*", ""}  # a listener here holds the port on every IPv4 address
_SHORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?P<host>[0-9]+(?:-[0-9]+)?):"
    r"(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>tcp|udp|sctp))?$"
)


@dataclass(frozen=True)
class Published:
    """A host port Harbor's containers publish: on every address (``address``
    empty) or on one."""

    port: int
    address: str
    location: str | None = None  # file:line of the setting, when it comes from a file

    @property
    def label(self) -> str:
        return f"{self.address}:{self.port}" if self.address else f"port {self.port}"

    def held_by(self, listener: Listener) -> bool:
        if listener.port != self.port:
            return False
        if not self.address:
            return True
        addr = listener.address.removeprefix("::ffff:")
        return addr == self.address or listener.address in _ANY_V4


def _holder(listeners: list[Listener]) -> str:
    seen: dict[tuple[str | None, int | None], list[str]] = {}
    for item in listeners:
        seen.setdefault((item.process, item.pid), []).append(f"{item.address}")
    parts = []
    for (name, pid), addresses in seen.items():
        who = f"{name or 'unknown process'} (pid {pid})" if pid else (name or "unknown process")
        parts.append(f"{who} on {', '.join(sorted(set(addresses)))}")
    return "; ".join(parts)


def parse_address(spec: str) -> Published:
    """``"127.0.0.1:1514"`` or ``"8080"`` from the profile."""
    address, _, port = str(spec).rpartition(":")
    return Published(int(port), address.strip("[]"))


def _compose_ports(doc: Located) -> tuple[list[Published], list[str]]:
    """The TCP host ports a compose file publishes, and what could not be read."""
    found: list[Published] = []
    odd: list[str] = []
    services = doc.data.get("services") if isinstance(doc.data, dict) else None
    for name, service in (services or {}).items() if isinstance(services, dict) else ():
        ports = service.get("ports") if isinstance(service, dict) else None
        for i, entry in enumerate(ports if isinstance(ports, list) else []):
            where = doc.where(("services", name, "ports", i))
            host, address, proto = _compose_entry(entry)
            if host is None:
                if entry is not None and not _container_only(entry):
                    odd.append(f"{where}: {entry!r} is not a port mapping harborkit reads")
                continue
            if proto != "tcp":
                continue  # Harbor publishes TCP only; listeners() are TCP
            found.extend(Published(p, address, where) for p in host)
    return found, odd


def _container_only(entry: Any) -> bool:
    return isinstance(entry, int) or (isinstance(entry, str) and entry.isdigit())


def _compose_entry(entry: Any) -> tuple[list[int] | None, str, str]:
    """(host ports, host address, protocol) of one ``ports:`` entry (short or long syntax)."""
    if isinstance(entry, dict):
        published = entry.get("published")
        if published is None:
            return None, "", "tcp"
        ports = _port_range(str(published))
        return ports, str(entry.get("host_ip") or ""), str(entry.get("protocol") or "tcp")
    if not isinstance(entry, str):
        return None, "", "tcp"
    m = _SHORT.match(entry.strip())
    if not m:
        return None, "", "tcp"
    return _port_range(m["host"]), (m["ip"] or "").strip("[]"), m["proto"] or "tcp"


def _port_range(text: str) -> list[int] | None:
    first, _, last = text.partition("-")
    if not (first + last).isascii() or not first.isdigit() or (last and not last.isdigit()):
        return None
    lo, hi = int(first), int(last or first)
    if not 0 < lo <= hi <= 65535 or hi - lo > 1000:
        return None
    return list(range(lo, hi + 1))


def compose_file(host: Host, cfg: _harbor.HarborConfig) -> tuple[str, Located | None, str]:
    """``(path, parsed or None, why not)`` of the docker-compose.yml beside harbor.yml
    (``./prepare`` writes it there)."""
    path = posixpath.join(posixpath.dirname(cfg.path), COMPOSE_FILE)
    try:
        text = host.read_text(path)
    except FileNotFoundError:
        return path, None, "not generated yet (./prepare writes it)"
    except (OSError, UnreadableFile) as e:
        return path, None, f"cannot read: {e}"
    try:
        return path, parse_yaml(text, path), ""
    except InputError as e:
        return path, None, e.message


def published_ports(ctx: CheckContext) -> tuple[list[Published], list[Finding], str]:
    """Every port Harbor will publish, notes about the compose file, and the source."""
    settings = ctx.section("ports")
    cfg, why = _harbor.load_optional(ctx)
    notes: list[Finding] = []
    if cfg is not None:
        ports = [Published(cfg.http_port, "", cfg.where("http", "port"))]
        if cfg.https_port is not None:
            ports.append(Published(cfg.https_port, "", cfg.where("https", "port")))
            ports.append(Published(_harbor.NOTARY_PORT, "", cfg.where("https")))
        source = cfg.path
    else:
        ports = [Published(int(p), "") for p in settings.get("default", [80, 443, 4443])]
        source = f"profile defaults: {why}"
    ports += [parse_address(a) for a in settings.get("always", [])]
    if cfg is not None:
        path, compose, why_not = compose_file(ctx.host, cfg)
        if compose is None:
            if why_not.startswith("not generated"):
                source += f"; {COMPOSE_FILE} {why_not}"
            else:
                notes.append(Finding(Status.WARN, COMPOSE_FILE, why_not, location=path))
        else:
            extra, odd = _compose_ports(compose)
            ports += extra
            notes += [Finding(Status.WARN, COMPOSE_FILE, o) for o in odd]
            source += f", {path}"
    unique: dict[tuple[int, str], Published] = {}
    for p in ports:
        unique.setdefault((p.port, p.address), p)
    # a port published on all addresses covers the same port on one address
    kept = [p for (port, addr), p in unique.items() if not (addr and (port, "") in unique)]
    return kept, notes, source


class HarborPorts(Check):
    """Harbor's ports are free, or held by Harbor itself.

    The ports are those harbor.yml names (``http.port``; with ``https`` on,
    ``https.port`` and 4443 for Notary), else the profile's ``ports.default``
    (80, 443, 4443); plus the profile's ``ports.always``: ``127.0.0.1:1514``,
    where harbor-log takes the containers' syslog. When ``./prepare`` has
    written ``docker-compose.yml`` beside harbor.yml, every TCP port it
    publishes is judged too. A port published on one address (127.0.0.1) is
    taken by a listener on that address or on all addresses. A port with no
    listening socket passes; one held only by a process named in
    ``ports.harbor_processes`` (docker-proxy, nginx: Harbor already running)
    passes with a note; one held by any other process fails, naming the
    process and its pid. Live system only.
    """

    id = "ports.harbor"
    title = "Harbor ports free"
    group = "ports"
    severity = Severity.HIGH
    remediation = "Stop the program holding the port, or choose another port in harbor.yml"

    def run(self, ctx: CheckContext) -> Outcome:
        settings = ctx.section("ports")
        harbor_procs = set(settings.get("harbor_processes", []))
        ports, notes, source = published_ports(ctx)
        listeners = ctx.host.listeners()
        findings = []
        for pub in ports:
            held = [item for item in listeners if pub.held_by(item)]
            where = pub.location
            if not held:
                findings.append(
                    Finding(Status.PASS, pub.label, "free", actual="free", location=where)
                )
                continue
            holder = _holder(held)
            if all(item.process in harbor_procs for item in held):
                findings.append(
                    Finding(
                        Status.PASS,
                        pub.label,
                        f"held by {holder}: counted as Harbor itself (ports.harbor_processes)",
                        actual=holder,
                        location=where,
                    )
                )
            else:
                findings.append(
                    Finding(
                        Status.FAIL,
                        pub.label,
                        f"in use by {holder}",
                        expected="free, or held by " + ", ".join(sorted(harbor_procs)),
                        actual=holder,
                        location=where,
                    )
                )
        shown = ", ".join(p.label.removeprefix("port ") for p in ports)
        return Outcome.from_findings(findings + notes, ok=f"ports {shown} free ({source})")


CHECKS: list[type[Check]] = [HarborPorts]
