"""Checks judged once across every audited node (group ``cluster``).

They run only when several hosts are audited in one run (``run_cluster``),
after each host's own checks, and read every host through the Host protocol
alone, so they work the same on live hosts, over SSH and on snapshots. Each
finding's ``subject`` is the name of the host it is about.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from harborkit.checks import timesync
from harborkit.checks.docker import DockerCompose, parse_compose_version
from harborkit.checks.names import hosts_entries
from harborkit.host.interface import NotAvailable
from harborkit.model.check import CheckContext, Finding, Outcome, Severity, SkipCheck, Status
from harborkit.model.cluster import ClusterCheck, ClusterContext

T = TypeVar("T")

#: names every machine has: they cannot tell nodes apart
GENERIC_NAMES = {"localhost", "localhost.localdomain", "localhost4", "localhost6"}


def _fact(ctx: CheckContext, key: str, compute: Callable[[], T]) -> T | NotAvailable:
    """A per-host fact (memoised in the host's context), or why it is unknown."""
    try:
        return ctx.memo(key, compute)
    except NotAvailable as e:
        return e


def _hostname(ctx: CheckContext) -> str | NotAvailable:
    return _fact(ctx, "cluster:hostname", ctx.host.hostname)


def _resolve(ctx: CheckContext, name: str) -> list[str]:
    value = _fact(ctx, f"cluster:resolve:{name}", lambda: ctx.host.resolve(name))
    return [] if isinstance(value, NotAvailable) else value


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _first_routable(addrs: Sequence[str]) -> str | None:
    return next((a for a in addrs if not _is_loopback(a)), None)


def _hosts_line(ctx: CheckContext, name: str) -> str | None:
    try:
        entries = hosts_entries(ctx)
    except NotAvailable:
        return None
    for n, _, names in entries:
        if name in names:
            return f"/etc/hosts:{n}"
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _majority(values: Iterable[str]) -> str | None:
    """The most common value; None when there is none or a tie at the top."""
    ranked = Counter(values).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _summary(findings: Sequence[Finding], ok: str) -> Outcome:
    """Worst status wins; the message names the hosts in trouble."""
    status = Status.worst(f.status for f in findings)
    if status in (Status.PASS, Status.SKIP):
        return Outcome.from_findings(findings, ok=ok)
    bad = [f for f in findings if f.status is status]
    if len(bad) == 1:
        return Outcome(status, f"{bad[0].subject}: {bad[0].message}", tuple(findings))
    hosts = list(dict.fromkeys(f.subject for f in bad))
    first = f"{bad[0].subject}: {bad[0].message}"
    return Outcome(
        status,
        f"{_plural(len(bad), 'problem')} on {', '.join(hosts)}; first: {first}",
        tuple(findings),
    )


def _not_judged(why: str, findings: Sequence[Finding]) -> Outcome:
    """Skip, keeping each host's reason as a finding; the message quotes the first."""
    reasons = [f for f in findings if f.status is Status.SKIP]
    if reasons:
        more = f"; and {len(reasons) - 1} more" if len(reasons) > 1 else ""
        why += f" ({reasons[0].subject}: {reasons[0].message}{more})"
    return Outcome(Status.SKIP, why, tuple(findings))


class NamesAgree(ClusterCheck):
    """Every node resolves every node's name to the same address.

    The guide's ``/etc/hosts`` step, judged across the cluster: the names are
    each audited host's own hostname plus the profile's ``nodes``. On every
    node each name must resolve, and to the same address: the profile's
    address for a listed node, else the address most nodes agree on (no
    majority: the disagreement fails on every node). A node may resolve its
    own name to loopback first (Debian's ``127.0.1.1`` line) as long as the
    cluster's address is among the answers; another node resolving it to a
    different address first is a warning, to the wrong one or none a
    failure. Findings point at the ``/etc/hosts`` line of the node concerned.
    """

    id = "cluster.names"
    title = "Every node resolves every node's name to the same address"
    group = "cluster"
    severity = Severity.HIGH
    remediation = (
        "Put the same '<address> <name>' line for every node into /etc/hosts on every node"
    )

    def run(self, ctx: ClusterContext) -> Outcome:
        expected: dict[str, str | None] = {}
        for c in ctx.contexts:
            own = _hostname(c)
            if not isinstance(own, NotAvailable) and own.lower() not in GENERIC_NAMES:
                expected.setdefault(own, None)
        for node in ctx.profile.get("nodes") or []:
            expected[str(node["name"])] = str(node["address"])
        if not expected:
            raise SkipCheck(
                "no node names: the hosts' names are unknown and the profile lists no nodes"
            )
        answers = {
            name: {c.host.name: _resolve(c, name) for c in ctx.contexts} for name in expected
        }
        for name, want in expected.items():
            if want is None:
                expected[name] = _majority(
                    a for a in (_first_routable(v) for v in answers[name].values()) if a
                )

        findings: list[Finding] = []
        for c in ctx.contexts:
            me = c.host.name
            own = _hostname(c)
            bad: list[Finding] = []
            for name, want in expected.items():
                got = answers[name][me]
                shown = ", ".join(got) or "nothing"
                where = _hosts_line(c, name)
                if want is None and not any(_first_routable(v) for v in answers[name].values()):
                    bad.append(
                        Finding(
                            Status.FAIL,
                            me,
                            f"{name} resolves to a node address on no node (here: {shown}); "
                            f"add '<its address> {name}' to /etc/hosts on every node",
                            actual=shown,
                            location=where,
                        )
                    )
                elif want is None:
                    others = sorted(
                        {f"{h}: {', '.join(v) or 'nothing'}" for h, v in answers[name].items()}
                    )
                    bad.append(
                        Finding(
                            Status.FAIL,
                            me,
                            f"{name} resolves to {shown}; the nodes disagree with no majority "
                            f"({'; '.join(others)})",
                            actual=shown,
                            location=where,
                        )
                    )
                elif not got:
                    bad.append(
                        Finding(
                            Status.FAIL,
                            me,
                            f"{name} does not resolve (add '{want} {name}' to /etc/hosts)",
                            expected=want,
                            actual="nothing",
                        )
                    )
                elif want not in got:
                    bad.append(
                        Finding(
                            Status.FAIL,
                            me,
                            f"{name} resolves to {shown}, the cluster uses {want}",
                            expected=want,
                            actual=shown,
                            location=where,
                        )
                    )
                elif got[0] != want and name != own:
                    bad.append(
                        Finding(
                            Status.WARN,
                            me,
                            f"{name} resolves to {got[0]} first, the cluster uses {want}",
                            expected=want,
                            actual=shown,
                            location=where,
                        )
                    )
            if bad:
                findings += bad
            else:
                findings.append(
                    Finding(
                        Status.PASS,
                        me,
                        f"resolves {_plural(len(expected), 'node name')} like the cluster",
                    )
                )
        listing = ", ".join(f"{n} {a}" for n, a in expected.items())
        return _summary(
            findings,
            ok=f"{_plural(len(ctx.contexts), 'node')} agree: {listing}",
        )


class HostnamesUnique(ClusterCheck):
    """Every node has its own hostname.

    Two nodes with the same name (compared case-insensitively, as DNS does)
    cannot both be in ``/etc/hosts``; a generic name such as ``localhost``
    names every machine. Both fail. Nodes that share only the short name
    (``harbor.a.lan`` and ``harbor.b.lan``) warn: the short name is
    ambiguous.
    """

    id = "cluster.hostnames"
    title = "Hostnames are unique across the nodes"
    group = "cluster"
    severity = Severity.HIGH
    remediation = "Give each node its own name: hostnamectl set-hostname <name>"

    def run(self, ctx: ClusterContext) -> Outcome:
        named: list[tuple[str, str]] = []  # (host as reports name it, its hostname)
        findings: list[Finding] = []
        for c in ctx.contexts:
            own = _hostname(c)
            if isinstance(own, NotAvailable):
                findings.append(
                    Finding(Status.SKIP, c.host.name, f"hostname unknown: {own.reason}")
                )
            else:
                named.append((c.host.name, own))

        def short(name: str) -> str:
            return name.lower().split(".", 1)[0]

        for i, (host, name) in enumerate(named):
            others = [(h, n) for j, (h, n) in enumerate(named) if j != i]
            same = [n for _, n in others if n.lower() == name.lower()]
            twins = [n for _, n in others if short(n) == short(name)]
            if name.lower() in GENERIC_NAMES:
                status, message = Status.FAIL, f"hostname {name} is every machine's name"
            elif same:
                status, message = (
                    Status.FAIL,
                    f"hostname {name} is also the name of {_plural(len(same), 'other node')}",
                )
            elif twins:
                status = Status.WARN
                message = f"short name {short(name)} is shared with {', '.join(twins)}"
            else:
                status, message = Status.PASS, f"hostname {name}"
            expected = None if status is Status.PASS else "a name of its own"
            findings.append(Finding(status, host, message, expected=expected, actual=name))
        if len(named) < 2:
            return _not_judged("fewer than two hostnames are known", findings)
        return _summary(findings, ok=f"{_plural(len(named), 'hostname')}, all different")


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
        offsets = [k.offset for _, k in clocks]
        median = statistics.median(offsets)
        spread = max(offsets) - min(offsets)
        worst_doubt = sum(sorted((k.uncertainty for _, k in clocks), reverse=True)[:2])
        in_tolerance = spread - worst_doubt <= tolerance
        for host, k in clocks:
            delta = k.offset - median
            off = abs(delta) - k.uncertainty > tolerance / 2 and not in_tolerance
            when = dt.datetime.fromtimestamp(k.host_time, dt.UTC).isoformat(timespec="milliseconds")
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
        time_section = ctx.profile.get("time") or {}
        sources = {c.host.name: _time_sources(c) for c in ctx.contexts}
        master = str(time_section.get("master") or "")
        inferred = ""
        if not master:
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
            inferred = " (inferred: the only node serving its local clock)"
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
        findings: list[Finding] = []
        for c in ctx.contexts:
            me = c.host.name
            daemon, srcs = sources[me]
            listed = ", ".join(s for s, _ in srcs)
            refused = (
                _master_sources_refused(c, master, not inferred) if c in masters and srcs else None
            )
            if refused is not None:
                findings.append(
                    Finding(
                        Status.FAIL,
                        me,
                        f"the master{inferred}: {refused.message} (as time.sync judges it)",
                        expected=refused.expected,
                        actual=listed,
                        location=refused.location or srcs[0][1],
                    )
                )
                continue
            if c in masters:
                if srcs:
                    findings.append(
                        Finding(
                            Status.PASS,
                            me,
                            f"the master{inferred}: {daemon} uses {listed}",
                            actual=listed,
                            location=srcs[0][1],
                        )
                    )
                else:
                    findings.append(
                        Finding(
                            Status.FAIL,
                            me,
                            f"the master has no time source ({daemon or 'no time daemon'}); "
                            "serve the local clock: server 127.127.1.0 + fudge 127.127.1.0 stratum 11",
                            expected="a time source",
                        )
                    )
                continue
            hit = next(
                (
                    (s, where)
                    for s, where in srcs
                    if s in names or any(a in names for a in _resolve(c, s))
                ),
                None,
            )
            if hit is not None:
                findings.append(
                    Finding(
                        Status.PASS,
                        me,
                        f"{daemon} uses the master {hit[0]}",
                        expected=master,
                        actual=listed,
                        location=hit[1],
                    )
                )
            elif not srcs:
                findings.append(
                    Finding(
                        Status.FAIL,
                        me,
                        f"no time source configured ({daemon or 'no time daemon installed'})",
                        expected=master,
                    )
                )
            else:
                findings.append(
                    Finding(
                        Status.FAIL,
                        me,
                        f"{daemon} uses {listed}, not the master {master}",
                        expected=master,
                        actual=listed,
                        location=srcs[0][1],
                    )
                )
        where = "" if masters else f" (not among the audited nodes){inferred}"
        return _summary(
            findings,
            ok=f"master {master}{where if where else inferred}; "
            f"{_plural(len(ctx.contexts) - len(masters), 'client')} use it",
        )


def _compare_versions(
    ctx: ClusterContext, what: str, read: Callable[[CheckContext], str | None]
) -> Outcome:
    versions: list[tuple[str, str]] = []
    findings: list[Finding] = []
    for c in ctx.contexts:
        value = _fact(c, f"cluster-version:{what}", partial(read, c))
        if isinstance(value, NotAvailable):
            findings.append(Finding(Status.SKIP, c.host.name, f"version unknown: {value.reason}"))
        elif value is None:
            findings.append(Finding(Status.SKIP, c.host.name, f"{what} not found"))
        else:
            versions.append((c.host.name, value))
    if len(versions) < 2:
        return _not_judged(f"fewer than two nodes report a {what} version", findings)
    distinct = {v for _, v in versions}
    common = _majority(v for _, v in versions)
    for host, v in versions:
        if len(distinct) == 1 or v == common:
            findings.append(Finding(Status.PASS, host, f"{what} {v}", actual=v))
        else:
            by_other: dict[str, list[str]] = {}
            for h, o in versions:
                if o != v:
                    by_other.setdefault(o, []).append(h)
            others = [f"{o} on {', '.join(hs)}" for o, hs in by_other.items()]
            findings.append(
                Finding(
                    Status.FAIL,
                    host,
                    f"{what} {v}, other nodes run {'; '.join(others)}",
                    expected=common,
                    actual=v,
                )
            )
    if len(distinct) == 1:
        v = versions[0][1]
        return Outcome.from_findings(
            findings, ok=f"{_plural(len(versions), 'node')} run {what} {v}"
        )
    by_version: dict[str, list[str]] = {}
    for h, v in versions:
        by_version.setdefault(v, []).append(h)
    listing = "; ".join(f"{v} on {', '.join(hs)}" for v, hs in by_version.items())
    return Outcome(Status.FAIL, f"{what} versions differ: {listing}", tuple(findings))


def docker_version(c: CheckContext) -> str | None:
    """The Docker engine's version, as ``docker.daemon`` reads it (the Docker
    SDK, which a snapshot or SSH backend answers from its collected ``docker
    version``), else ``docker version --format '{{json .Server}}'``.
    None: the docker CLI is not installed."""
    import docker

    host = c.host
    why = ""
    try:
        client = host.docker_client()
        try:
            return str(client.version()["Version"])
        finally:
            client.close()
    except (docker.errors.DockerException, KeyError) as e:
        why = str(e)
    except NotAvailable:
        pass
    r = host.run(["docker", "version", "--format", "{{json .Server}}"])
    text = r.stdout.strip()
    if r.ok and text.startswith("{"):
        try:
            version = json.loads(text).get("Version")
        except ValueError:
            version = None
        if version:
            return str(version)
    if r.rc == 127:
        return None
    if r.ok:
        said = text.splitlines()[0][:100] if text else "nothing"
        raise NotAvailable(f"'docker version' gave no server version (it said: {said})")
    stderr = (r.stderr.strip().splitlines() or [why or f"docker exited with {r.rc}"])[-1]
    raise NotAvailable(f"the Docker daemon did not report its version: {stderr}")


def compose_version(c: CheckContext) -> str | None:
    """``docker-compose`` (the profile's compose.binary) version; None: not installed."""
    binary = str((c.profile.get("compose") or {}).get("binary", "docker-compose"))
    path = c.host.which(binary)
    if path is None:
        return None
    out = DockerCompose._version_output(c.host, path)
    version = parse_compose_version(out) if out else None
    if version is None:
        raise NotAvailable(f"{path} does not report a version")
    return version


class DockerVersionsMatch(ClusterCheck):
    """The nodes run the same Docker engine version.

    Read from ``docker version`` (the server's version; on a live host the
    Docker SDK when the CLI cannot tell). Nodes whose engine is missing or
    silent are not judged here (``docker.engine``/``docker.daemon`` fail on
    them). The version most nodes run is the reference; the others fail (two
    nodes that differ both fail).
    """

    id = "cluster.docker_version"
    title = "Docker versions match across the nodes"
    group = "cluster"
    severity = Severity.MEDIUM
    remediation = (
        "Install the same docker-ce version on every node (yum install docker-ce-<version>)"
    )

    def run(self, ctx: ClusterContext) -> Outcome:
        return _compare_versions(ctx, "Docker", docker_version)


class ComposeVersionsMatch(ClusterCheck):
    """The nodes run the same ``docker-compose`` version.

    Read as ``docker.compose`` reads it (``docker-compose version --short``).
    Nodes without the binary are not judged here (``docker.compose`` fails on
    them). The version most nodes run is the reference.
    """

    id = "cluster.compose_version"
    title = "docker-compose versions match across the nodes"
    group = "cluster"
    severity = Severity.MEDIUM
    remediation = "Install the same docker-compose release on every node (the guide uses 1.24.0)"

    def run(self, ctx: ClusterContext) -> Outcome:
        return _compare_versions(ctx, "docker-compose", compose_version)


CHECKS: list[type[ClusterCheck]] = [
    NamesAgree,
    HostnamesUnique,
    ClocksAgree,
    NtpMaster,
    DockerVersionsMatch,
    ComposeVersionsMatch,
]
