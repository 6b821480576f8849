"""Host firewall services stopped and disabled (guide: firewalld and iptables; ufw on Debian)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harborkit.checks import _services
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, SkipCheck, Status

if TYPE_CHECKING:
    from harborkit.model.change import Change

UFW_CONF = "/etc/ufw/ufw.conf"


def _plan_service_off(check_id: str, unit: str, outcome: Outcome) -> list[Change]:
    from harborkit.model.change import Command

    bad = {f.subject for f in outcome.findings if f.status is Status.FAIL}
    out: list[Change] = []
    if f"{unit} stopped" in bad:
        out.append(
            Command(
                (check_id,),
                ("systemctl", "stop", unit),
                f"{unit} runs now",
                irreversible=f"{unit} stays stopped (systemctl start {unit} to undo)",
            )
        )
    if f"{unit} disabled" in bad:
        out.append(
            Command(
                (check_id,),
                ("systemctl", "disable", unit),
                f"{unit} starts at boot",
                irreversible=f"{unit} stays disabled (systemctl enable {unit} to undo)",
            )
        )
    return out


def _stopped(name: str, fact: _services.Fact) -> Finding:
    subject = f"{name} stopped"
    if fact.value is None:
        return Finding(Status.SKIP, subject, fact.detail)
    if fact.value:
        return Finding(Status.FAIL, subject, f"running ({fact.detail})", expected="stopped")
    return Finding(Status.PASS, subject, f"not running ({fact.detail})")


def _ok_message(name: str, findings: list[Finding]) -> str:
    """Claim only what was judged: "stopped" needs a running system."""
    unjudged = [f.subject.removeprefix(f"{name} ") for f in findings if f.status is Status.SKIP]
    if unjudged:
        return f"{name} is disabled; {', '.join(unjudged)} not judged ({findings[0].message})"
    return f"{name} is stopped and disabled"


def _disabled(name: str, fact: _services.Fact) -> Finding:
    subject = f"{name} disabled"
    if fact.value:
        return Finding(
            Status.FAIL,
            subject,
            f"starts at boot ({fact.detail})",
            expected="disabled",
            location=fact.location,
        )
    return Finding(Status.PASS, subject, f"does not start at boot ({fact.detail})")


class _ServiceOff(Check):
    """Base: one RHEL-family firewall service must be stopped and disabled."""

    unit: str = ""
    service_name: str = ""  # how messages name it, when the unit name alone misleads
    processes: tuple[str, ...] = ()
    group = "firewall"
    severity = Severity.HIGH

    def run(self, ctx: CheckContext) -> Outcome:
        svc = _services.service(ctx.host, self.unit, self.processes)
        what = self.service_name or self.unit
        if not svc.installed:
            detail = f"no {self.unit}.service unit or init script"
            command = ctx.host.which(self.unit)
            if command:  # say what is judged: the service, not the command
                detail += f"; the {self.unit} command ({command}) is not a service, not judged"
            f = Finding(Status.PASS, self.unit, f"not installed ({detail})")
            return Outcome.from_findings([f], ok=f"{what} is not installed ({detail})")
        findings = [_stopped(self.unit, svc.active), _disabled(self.unit, svc.enabled)]
        ok = _ok_message(self.unit, findings)
        return Outcome.from_findings(findings, ok=ok.replace(self.unit, what, 1))

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        return _plan_service_off(self.id, self.unit, outcome)


class FirewalldOff(_ServiceOff):
    """firewalld is stopped and disabled.

    The guide stops and disables firewalld on every host (Harbor publishes its
    ports through Docker, and firewalld reloads can drop Docker's rules).
    "Stopped" (running now) and "disabled" (started at boot) are two facts,
    reported on their own; running is known only on a running system.
    Not installed passes.
    """

    id = "firewall.firewalld"
    title = "firewalld stopped and disabled"
    remediation = "systemctl stop firewalld && systemctl disable firewalld"
    unit = "firewalld"
    processes = ("firewalld",)

    def run(self, ctx: CheckContext) -> Outcome:
        out = super().run(ctx)
        stopped = f"{self.unit} stopped"
        if (
            any(f.subject == stopped for f in out.findings)  # installed
            and ctx.host.live
            and ctx.host.which("firewall-cmd")
            and not _services.systemd_booted(ctx.host)
        ):
            # without systemd as init, firewall-cmd --state is the truth
            r = ctx.host.run(["firewall-cmd", "--state"])
            running = r.stdout.strip() == "running"
            fact = _services.Fact(running, f"firewall-cmd --state: {r.stdout.strip() or r.rc}")
            findings = [
                _stopped(self.unit, fact) if f.subject == stopped else f for f in out.findings
            ]
            return Outcome.from_findings(findings, ok=_ok_message(self.unit, findings))
        return out


class IptablesOff(_ServiceOff):
    """The iptables service (iptables-services) is stopped and disabled.

    On the RHEL family the ``iptables`` service loads
    ``/etc/sysconfig/iptables`` at boot, which can block Harbor's ports; the
    guide stops and disables it. Not installed passes (the ``iptables``
    command itself is needed by Docker and stays). Stopped and disabled are
    two findings.
    """

    id = "firewall.iptables"
    title = "iptables service stopped and disabled"
    remediation = "systemctl stop iptables && systemctl disable iptables"
    unit = "iptables"
    service_name = "the iptables service"


class UfwOff(Check):
    """ufw (the Debian/Ubuntu firewall) is stopped and disabled.

    The Debian-family equivalent of the guide's firewalld/iptables step. ufw
    loads its rules at boot only when ``/etc/ufw/ufw.conf`` says
    ``ENABLED=yes`` (``ufw.service`` itself is enabled on every install and
    does nothing otherwise), so "disabled" is judged from that line; "stopped"
    from ``ufw status`` (or ``systemctl is-active ufw``) on a running system.
    Skipped on other OS families; not installed passes.
    """

    id = "firewall.ufw"
    title = "ufw stopped and disabled"
    group = "firewall"
    severity = Severity.HIGH
    remediation = "ufw disable (sets ENABLED=no in /etc/ufw/ufw.conf and unloads the rules)"

    def run(self, ctx: CheckContext) -> Outcome:
        if _services.os_family(ctx) != "debian":
            raise SkipCheck(
                f"ufw is the Debian/Ubuntu firewall; this host is {_services.os_name(ctx)}"
            )
        host = ctx.host
        try:
            text = host.read_text(UFW_CONF)
        except OSError:
            text = None
        if text is None and not _services.unit_file(host, "ufw") and not host.which("ufw"):
            f = Finding(Status.PASS, "ufw", "not installed")
            return Outcome.from_findings([f], ok="ufw is not installed")
        findings = [self._stopped(ctx), self._disabled(text)]
        return Outcome.from_findings(findings, ok=_ok_message("ufw", findings))

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        """ENABLED=no in ufw.conf (what ``ufw disable`` writes), and ``ufw
        disable`` to unload the rules where ufw runs now."""
        from harborkit.model.change import Command, edit_lines, file_change, read_bytes

        by = {f.subject: f for f in outcome.findings}
        out: list[Change] = []
        dis = by.get("ufw disabled")
        if dis is not None and dis.status is Status.FAIL and dis.location:
            text = (read_bytes(ctx.host, UFW_CONF) or b"").decode("utf-8", "surrogateescape")
            n = dis.location.rpartition(":")[2]
            new = edit_lines(text, {int(n): "ENABLED=no"}) if n.isdigit() else text
            c = file_change(self.id, ctx.host, UFW_CONF, new, "ufw loads no rules at boot")
            if c is not None:
                out.append(c)
        stop = by.get("ufw stopped")
        if stop is not None and stop.status is Status.FAIL:
            out.append(
                Command(
                    (self.id,),
                    ("ufw", "disable"),
                    "unload ufw's rules now",
                    irreversible="ufw's rules stay unloaded (ufw enable to undo)",
                )
            )
        return out

    @staticmethod
    def _disabled(text: str | None) -> Finding:
        subject = "ufw disabled"
        if text is None:
            return Finding(Status.PASS, subject, f"no {UFW_CONF}: ufw loads no rules at boot")
        value, line = "no", None
        for n, raw in enumerate(text.splitlines(), 1):
            m = re.match(r"\s*ENABLED\s*=\s*(\S*)", raw)
            if m:
                value, line = m.group(1).strip("\"'").lower(), n
        where = f"{UFW_CONF}:{line}" if line else UFW_CONF
        if value == "yes":
            return Finding(
                Status.FAIL,
                subject,
                "ENABLED=yes: ufw loads its rules at boot",
                expected="ENABLED=no",
                actual="ENABLED=yes",
                location=where,
            )
        return Finding(
            Status.PASS,
            subject,
            f"ENABLED={value}: ufw loads no rules at boot",
            actual=f"ENABLED={value}",
            location=where,
        )

    @staticmethod
    def _stopped(ctx: CheckContext) -> Finding:
        host = ctx.host
        if host.live and host.which("ufw"):
            r = host.run(["ufw", "status"])
            m = re.search(r"^Status:\s*(\w+)", r.stdout, re.M)
            if m:
                state = m.group(1)
                fact = _services.Fact(state == "active", f"ufw status: {state}")
                return _stopped("ufw", fact)
        return _stopped("ufw", _services.active(host, "ufw"))


CHECKS: list[type[Check]] = [FirewalldOff, IptablesOff, UfwOff]
