"""Name resolution: the host's own name and every cluster node (guide: /etc/hosts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harborkit.host.etc_hosts import parse_hosts
from harborkit.ipaddr import is_loopback as _is_loopback
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, SkipCheck, Status

if TYPE_CHECKING:
    from harborkit.model.change import Change

HOSTS = "/etc/hosts"


def hosts_wanted(ctx: CheckContext) -> dict[str, str]:
    """Names /etc/hosts must give an address: every profile node that does not
    resolve to its address, and this host's own name when it resolves to
    loopback only (or not at all) and the nodes say its address."""

    def compute() -> dict[str, str]:
        nodes = {str(n["name"]): str(n["address"]) for n in ctx.profile.get("nodes") or []}
        wanted = {n: a for n, a in nodes.items() if a not in ctx.host.resolve(n)}
        if ctx.host.live or ctx.host.exists("/etc/hostname"):
            name = ctx.host.hostname()
            address = nodes.get(name) or nodes.get(name.split(".", 1)[0])
            addrs = ctx.host.resolve(name)
            if address and (not addrs or all(_is_loopback(a) for a in addrs)):
                wanted[name] = address
        return wanted

    return ctx.memo("hosts-wanted", compute)


def plan_hosts(ctx: CheckContext, check_id: str) -> list[Change]:
    """/etc/hosts giving each name of :func:`hosts_wanted` its address: the
    name is taken off lines that give it another address (a line left with no
    name is commented out), and ``address name`` lines are added."""
    from harborkit.model.change import edit_lines, file_change, read_bytes

    wanted = hosts_wanted(ctx)
    if not wanted:
        return []
    reason = "the addresses of the profile's nodes"

    text = (read_bytes(ctx.host, HOSTS) or b"").decode("utf-8", "surrogateescape")
    lines = text.splitlines()
    edits: dict[int, str | None] = {}
    ok: set[str] = set()
    for n, addr, names in hosts_entries(ctx):
        drop = [x for x in names if x in wanted and wanted[x] != addr]
        ok.update(x for x in names if wanted.get(x) == addr and x not in ok)
        if not drop:
            continue
        keep = [x for x in names if x not in drop]
        comment = lines[n - 1].split("#", 1)[1] if "#" in lines[n - 1] else ""
        if keep:
            edits[n] = f"{addr}\t{' '.join(keep)}" + (f"  #{comment}" if comment else "")
        else:
            edits[n] = f"# {lines[n - 1].strip()}  # harborkit: {', '.join(drop)} moved below"
    # a name already on a right line before any wrong one resolves already
    add = [f"{a}\t{name}" for name, a in wanted.items() if name not in ok]
    new = edit_lines(text, edits, add)
    c = file_change(check_id, ctx.host, HOSTS, new, reason)
    return [c] if c is not None else []


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

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        from harborkit.model.change import ManualStep

        name = ctx.host.hostname()
        if name not in hosts_wanted(ctx):
            short = name.split(".", 1)[0]
            return [
                ManualStep(
                    (self.id,),
                    f"give {name} this host's cluster address in {HOSTS} (name it in the "
                    f"profile's nodes, or --node {short}=ADDRESS, and harborkit fix writes it)",
                )
            ]
        return plan_hosts(ctx, self.id)


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

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        return plan_hosts(ctx, self.id)


CHECKS: list[type[Check]] = [HostnameResolves, NodesResolve]
