"""The cross-node time checks: the clocks agree, the clients use the master."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from harborkit.checks import timesync
from harborkit.checks._cluster import (
    _fact,
    _hostname,
    _is_loopback,
    _not_judged,
    _plural,
    _resolve,
    _summary,
)
from harborkit.host.interface import NotAvailable
from harborkit.model.check import CheckContext, Finding, Outcome, Severity, SkipCheck, Status
from harborkit.model.cluster import ClusterCheck, ClusterContext


@dataclass(frozen=True)
class _Clock:
    offset: float
    uncertainty: float
    host_time: float


class ClocksAgree(ClusterCheck):
    """The nodes' clocks agree within the profile's tolerance.

    Each node's clock is read against the auditing machine's clock (over SSH
    the read's own uncertainty, half its round trip, is allowed for). Nodes
    are compared with the cluster's median clock: the spread must stay within
    ``time.max_offset_seconds`` (default 1 s), and a node more than half of
    that from the median fails. With two nodes that disagree both fail: it
    cannot be told which one is wrong. A node whose clock cannot be read now
    (a sysroot, a carried snapshot) is not judged.
    """

    id = "cluster.clock"
    title = "Clocks agree across the nodes"
    group = "cluster"
    severity = Severity.HIGH
    remediation = (
        "Synchronise every node with the same NTP master (time.sync), then check "
        "'ntpq -p' / 'chronyc tracking' on the node that is off"
    )

    def run(self, ctx: ClusterContext) -> Outcome:
        tolerance = float((ctx.profile.get("time") or {}).get("max_offset_seconds", 1.0))
        clocks: list[tuple[str, _Clock]] = []
        findings: list[Finding] = []
        for c in ctx.contexts:
            sample = _fact(c, "cluster:clock", c.host.clock)
            if isinstance(sample, NotAvailable):
                findings.append(Finding(Status.SKIP, c.host.name, sample.reason))
            else:
                clocks.append(
                    (c.host.name, _Clock(sample.offset, sample.uncertainty, sample.host_time))
                )
        if len(clocks) < 2:
            return _not_judged("fewer than two clocks could be read", findings)
        import statistics  # here: it imports fractions and decimal, for a fleet's clocks only

        offsets = [k.offset for _, k in clocks]
        median = statistics.median(offsets)
        spread = max(offsets) - min(offsets)
        worst_doubt = sum(sorted((k.uncertainty for _, k in clocks), reverse=True)[:2])
        in_tolerance = spread - worst_doubt <= tolerance
        for host, k in clocks:
            delta = k.offset - median
            off = abs(delta) - k.uncertainty > tolerance / 2 and not in_tolerance
            when = dt.datetime.fromtimestamp(k.host_time, dt.timezone.utc).isoformat(
                timespec="milliseconds"
            )
            doubt = f" (± {k.uncertainty:.3f} s)" if k.uncertainty else ""
            findings.append(
                Finding(
                    Status.FAIL if off else Status.PASS,
                    host,
                    f"{delta:+.3f} s from the cluster's median clock{doubt}",
                    expected=f"within ±{tolerance / 2:g} s",
                    actual=f"{when.replace('+00:00', 'Z')} ({delta:+.3f} s)",
                )
            )
        if in_tolerance:
            return Outcome(
                Status.PASS,
                f"{_plural(len(clocks), 'clock')} within {spread:.3f} s of each other "
                f"(tolerance {tolerance:g} s)",
                tuple(findings),
            )
        out = _summary(findings, ok="")
        return Outcome(
            out.status,
            f"clocks differ by {spread:.3f} s (tolerance {tolerance:g} s): {out.message}",
            out.findings,
        )


def _time_sources(c: CheckContext) -> tuple[str, list[tuple[str, str]]]:
    """The time daemon a node uses (as time.sync picks it) and its sources."""
    _, chosen = timesync.chosen_daemon(c)
    if chosen is None:
        return "", []
    return chosen.name, list(chosen.config.sources)


def _master_sources_refused(c: CheckContext, master: str, named: bool) -> Finding | None:
    """time.sync's verdict on the master's sources when it refuses them (public
    servers on an air-gapped site; no local clock where the profile names the
    master): the master cannot pass here where time.sync fails it."""
    _, chosen = timesync.chosen_daemon(c)
    if chosen is None:
        return None
    air = bool((c.profile.get("time") or {}).get("air_gapped", True))
    role = "master" if named else "any"
    exp = timesync.Expectation(role, (), air, f"this host is the time master ({master})")
    verdict = timesync.judge_sources(chosen, exp)
    return verdict if verdict.status is Status.FAIL else None


def _serves_local_clock(sources: Sequence[tuple[str, str]]) -> bool:
    return any(s.startswith("local clock") for s, _ in sources)


class NtpMaster(ClusterCheck):
    """The NTP clients point at the profile's master.

    The guide makes one node the time master (``server 127.127.1.0`` with
    ``fudge 127.127.1.0 stratum 11``: it serves its own clock) and every other
    node its client (``server 192.168.3.58``). The master is the profile's
    ``time.master`` (a node name or address); when unset, the one audited
    node that serves its local clock is taken as the master (none or several:
    not judged). The master must have a time source; every other node must
    name the master among its sources, by name or by an address the master
    has (from the profile's ``nodes`` or from how the client resolves it).
    Sources are read as ``time.sync`` reads them (ntp.conf, chrony.conf,
    timesyncd.conf), with their file:line.
    """

    id = "cluster.ntp"
    title = "NTP clients use the master"
    group = "cluster"
    severity = Severity.HIGH
    remediation = (
        "On each client, replace the server lines of /etc/ntp.conf (or chrony.conf) with "
        "'server <master address> iburst' and restart the time daemon; on the master keep "
        "'server 127.127.1.0' and 'fudge 127.127.1.0 stratum 11'"
    )

    def run(self, ctx: ClusterContext) -> Outcome:
        sources = {c.host.name: _time_sources(c) for c in ctx.contexts}
        master, inferred = _find_master(ctx, sources)
        names, masters = _master_names(ctx, master)
        findings: list[Finding] = []
        for c in ctx.contexts:
            daemon, srcs = sources[c.host.name]
            if c in masters:
                findings.append(_master_finding(c, master, inferred, daemon, srcs))
            else:
                findings.append(_client_finding(c, master, names, daemon, srcs))
        where = "" if masters else f" (not among the audited nodes){inferred}"
        return _summary(
            findings,
            ok=f"master {master}{where if where else inferred}; "
            f"{_plural(len(ctx.contexts) - len(masters), 'client')} use it",
        )


def _find_master(
    ctx: ClusterContext, sources: dict[str, tuple[str, list[tuple[str, str]]]]
) -> tuple[str, str]:
    """The profile's ``time.master``, else the one node serving its local
    clock (with the note that says so); SkipCheck when there is none or several."""
    time_section = ctx.profile.get("time") or {}
    master = str(time_section.get("master") or "")
    if master:
        return master, ""
    local = [c for c in ctx.contexts if _serves_local_clock(sources[c.host.name][1])]
    if len(local) != 1:
        raise SkipCheck(
            "no NTP master in the profile (time.master) and "
            + (
                "no node serves its local clock"
                if not local
                else f"{len(local)} nodes serve their local clock: "
                + ", ".join(c.host.name for c in local)
            )
        )
    own = _hostname(local[0])
    master = local[0].host.name if isinstance(own, NotAvailable) else own
    return master, " (inferred: the only node serving its local clock)"


def _master_names(ctx: ClusterContext, master: str) -> tuple[set[str], list[CheckContext]]:
    """Every name and address of the master, and the audited nodes that are it."""
    names = {master}
    for node in ctx.profile.get("nodes") or []:
        if str(node["name"]) == master:
            names.add(str(node["address"]))
        if str(node["address"]) == master:
            names.add(str(node["name"]))

    def is_master(c: CheckContext) -> bool:
        own = _hostname(c)
        return c.host.name in names or (not isinstance(own, NotAvailable) and own in names)

    masters = [c for c in ctx.contexts if is_master(c)]
    for m in masters:
        own = _hostname(m)
        if not isinstance(own, NotAvailable):
            names.add(own)
            names |= {a for a in _resolve(m, own) if not _is_loopback(a)}
    return names, masters


def _master_finding(
    c: CheckContext, master: str, inferred: str, daemon: str, srcs: list[tuple[str, str]]
) -> Finding:
    """The master: it has a time source that time.sync accepts."""
    me = c.host.name
    listed = ", ".join(s for s, _ in srcs)
    refused = _master_sources_refused(c, master, not inferred) if srcs else None
    if refused is not None:
        return Finding(
            Status.FAIL,
            me,
            f"the master{inferred}: {refused.message} (as time.sync judges it)",
            expected=refused.expected,
            actual=listed,
            location=refused.location or srcs[0][1],
        )
    if srcs:
        return Finding(
            Status.PASS,
            me,
            f"the master{inferred}: {daemon} uses {listed}",
            actual=listed,
            location=srcs[0][1],
        )
    return Finding(
        Status.FAIL,
        me,
        f"the master has no time source ({daemon or 'no time daemon'}); "
        "serve the local clock: server 127.127.1.0 + fudge 127.127.1.0 stratum 11",
        expected="a time source",
    )


def _client_finding(
    c: CheckContext, master: str, names: set[str], daemon: str, srcs: list[tuple[str, str]]
) -> Finding:
    """A client: one of its sources is the master, by a name or an address."""
    me = c.host.name
    listed = ", ".join(s for s, _ in srcs)
    hit = next(
        ((s, where) for s, where in srcs if s in names or any(a in names for a in _resolve(c, s))),
        None,
    )
    if hit is not None:
        return Finding(
            Status.PASS,
            me,
            f"{daemon} uses the master {hit[0]}",
            expected=master,
            actual=listed,
            location=hit[1],
        )
    if not srcs:
        return Finding(
            Status.FAIL,
            me,
            f"no time source configured ({daemon or 'no time daemon installed'})",
            expected=master,
        )
    return Finding(
        Status.FAIL,
        me,
        f"{daemon} uses {listed}, not the master {master}",
        expected=master,
        actual=listed,
        location=srcs[0][1],
    )


CHECKS: list[type[ClusterCheck]] = [ClocksAgree, NtpMaster]
