"""Check that Harbor's ports are free (or already Harbor's)."""

from __future__ import annotations

from harborkit.checks import _harbor
from harborkit.engine.interface import Check, CheckContext, Finding, Outcome, Severity, Status
from harborkit.host.interface import Listener


def _holder(listeners: list[Listener]) -> str:
    seen: dict[tuple[str | None, int | None], list[str]] = {}
    for item in listeners:
        seen.setdefault((item.process, item.pid), []).append(f"{item.address}")
    parts = []
    for (name, pid), addresses in seen.items():
        who = f"{name or 'unknown process'} (pid {pid})" if pid else (name or "unknown process")
        parts.append(f"{who} on {', '.join(sorted(set(addresses)))}")
    return "; ".join(parts)


class HarborPorts(Check):
    """Harbor's ports are free, or held by Harbor itself.

    The ports are those harbor.yml names (``http.port``; with ``https`` on,
    ``https.port`` and 4443 for Notary), else the profile's ``ports.default``
    (80, 443, 4443). A port with no listening socket passes; one held only by
    a process named in ``ports.harbor_processes`` (docker-proxy, nginx: Harbor
    already running) passes with a note; one held by any other process fails,
    naming the process and its pid. Live system only.
    """

    id = "ports.harbor"
    title = "Harbor ports free"
    group = "ports"
    severity = Severity.HIGH
    remediation = "Stop the program holding the port, or choose another port in harbor.yml"

    def run(self, ctx: CheckContext) -> Outcome:
        settings = ctx.section("ports")
        harbor_procs = set(settings.get("harbor_processes", []))
        cfg, why = _harbor.load_optional(ctx)
        if cfg is not None:
            ports, source = cfg.ports(), cfg.path
        else:
            ports = [int(p) for p in settings.get("default", [80, 443, 4443])]
            source = f"profile defaults: {why}"
        listeners = ctx.host.listeners()
        findings = []
        for port in ports:
            held = [item for item in listeners if item.port == port]
            subject = f"port {port}"
            if not held:
                findings.append(Finding(Status.PASS, subject, "free", actual="free"))
                continue
            holder = _holder(held)
            if all(item.process in harbor_procs for item in held):
                findings.append(
                    Finding(
                        Status.PASS,
                        subject,
                        f"held by {holder}: counted as Harbor itself (ports.harbor_processes)",
                        actual=holder,
                    )
                )
            else:
                findings.append(
                    Finding(
                        Status.FAIL,
                        subject,
                        f"in use by {holder}",
                        expected="free, or held by " + ", ".join(sorted(harbor_procs)),
                        actual=holder,
                    )
                )
        shown = ", ".join(str(p) for p in ports)
        return Outcome.from_findings(findings, ok=f"ports {shown} free ({source})")


CHECKS: list[type[Check]] = [HarborPorts]
