"""Name resolution: the host's own name and every cluster node (guide: /etc/hosts)."""

from __future__ import annotations

import ipaddress

from harborkit.engine.interface import (
    Check,
    CheckContext,
    Finding,
    Outcome,
    Severity,
    SkipCheck,
    Status,
)
from harborkit.host.etc_hosts import parse_hosts

HOSTS = "/etc/hosts"


def hosts_entries(ctx: CheckContext) -> list[tuple[int, str, list[str]]]:
    """``/etc/hosts`` as (line number, address, names), comments dropped."""

    def parse() -> list[tuple[int, str, list[str]]]:
        try:
            text = ctx.host.read_text(HOSTS)
        except OSError:
            return []
        return [(e.line, e.address, list(e.names)) for e in parse_hosts(text)]

    return ctx.memo("etc-hosts", parse)


def _hosts_line(ctx: CheckContext, name: str, address: str | None = None) -> str | None:
    """``/etc/hosts:N`` of the first line naming ``name`` (with ``address``)."""
    for n, addr, names in hosts_entries(ctx):
        if name in names and (address is None or addr == address):
            return f"{HOSTS}:{n}"
    return None


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class HostnameResolves(Check):
    """The host's own name resolves.

    On a running system the name from ``gethostname()`` is looked up the way
    programs do (``getaddrinfo``: ``/etc/hosts``, then DNS); on a sysroot the
    name from ``/etc/hostname`` is looked up in its ``/etc/hosts``. A name that
    resolves only to a loopback address (Debian's ``127.0.1.1`` line) is a
    warning: the other cluster nodes cannot reach this host by that name.
    """

    id = "network.hostname"
    title = "The host's own name resolves"
    group = "network"
    severity = Severity.MEDIUM
    remediation = "Add '<this host's IP> <hostname>' to /etc/hosts on every node"

    def run(self, ctx: CheckContext) -> Outcome:
        if not ctx.host.live and not ctx.host.exists("/etc/hostname"):
            raise SkipCheck("the sysroot has no /etc/hostname: its host name is unknown")
        name = ctx.host.hostname()
        addrs = ctx.host.resolve(name)
        where = _hosts_line(ctx, name)
        if not addrs:
            f = Finding(Status.FAIL, name, "does not resolve", expected="an address")
        elif all(_is_loopback(a) for a in addrs):
            f = Finding(
                Status.WARN,
                name,
                f"resolves only to loopback {', '.join(addrs)}: other nodes cannot use this name",
                actual=", ".join(addrs),
                location=where,
            )
        else:
            f = Finding(
                Status.PASS,
                name,
                f"resolves to {', '.join(addrs)}",
                actual=", ".join(addrs),
                location=where,
            )
        return Outcome.from_findings([f], ok=f"{name}: {f.message}")


class NodesResolve(Check):
    """Every cluster node of the profile resolves to its address.

    The guide puts each node in ``/etc/hosts`` (``192.168.3.58 server58``).
    The node list is site data: the profile's ``nodes`` or ``--node
    NAME=ADDRESS``. Each node is one finding: it resolves to its address
    (pass), resolves to other addresses only (fail), or does not resolve
    (fail).
    """

    id = "network.nodes"
    title = "Cluster nodes resolve to their addresses"
    group = "network"
    severity = Severity.MEDIUM
    remediation = "Add '<address> <name>' for every cluster node to /etc/hosts on every node"

    def run(self, ctx: CheckContext) -> Outcome:
        nodes = ctx.profile.get("nodes") or []
        if not nodes:
            raise SkipCheck("no cluster nodes in the profile (add with --node NAME=ADDRESS)")
        findings = []
        for node in nodes:
            name, address = str(node["name"]), str(node["address"])
            addrs = ctx.host.resolve(name)
            if address in addrs:
                findings.append(
                    Finding(
                        Status.PASS,
                        name,
                        f"resolves to {address}",
                        expected=address,
                        actual=", ".join(addrs),
                        location=_hosts_line(ctx, name, address),
                    )
                )
            elif addrs:
                findings.append(
                    Finding(
                        Status.FAIL,
                        name,
                        f"resolves to {', '.join(addrs)}, not {address}",
                        expected=address,
                        actual=", ".join(addrs),
                        location=_hosts_line(ctx, name),
                    )
                )
            else:
                findings.append(
                    Finding(
                        Status.FAIL,
                        name,
                        f"does not resolve (add '{address} {name}' to {HOSTS})",
                        expected=address,
                    )
                )
        n = len(findings)
        return Outcome.from_findings(findings, ok=f"{n} node{'s' if n != 1 else ''} resolve")


CHECKS: list[type[Check]] = [HostnameResolves, NodesResolve]
