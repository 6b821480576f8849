"""Checks judged once across every audited node (group ``cluster``).

They run only when several hosts are audited in one run (``run_cluster``),
after each host's own checks, and read every host through the Host protocol
alone, so they work the same on live hosts, over SSH and on snapshots. Each
finding's ``subject`` is the name of the host it is about.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

from harborkit.checks._cluster import (
    GENERIC_NAMES,
    _fact,
    _first_routable,
    _hostname,
    _majority,
    _not_judged,
    _plural,
    _resolve,
    _summary,
)
from harborkit.checks.cluster_time import ClocksAgree, NtpMaster
from harborkit.checks.docker import DockerCompose, parse_compose_version
from harborkit.checks.names import hosts_entries
from harborkit.host.interface import NotAvailable
from harborkit.model.check import CheckContext, Finding, Outcome, Severity, SkipCheck, Status
from harborkit.model.cluster import ClusterCheck, ClusterContext


def _hosts_line(ctx: CheckContext, name: str) -> str | None:
    try:
        entries = hosts_entries(ctx)
    except NotAvailable:
        return None
    for n, _, names in entries:
        if name in names:
            return f"/etc/hosts:{n}"
    return None


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
        expected, answers = _names_expected(ctx)
        findings: list[Finding] = []
        for c in ctx.contexts:
            me = c.host.name
            own = _hostname(c)
            bad: list[Finding] = []
            for name, want in expected.items():
                finding = _name_finding(c, own, name, want, answers[name])
                if finding is not None:
                    bad.append(finding)
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


def _names_expected(
    ctx: ClusterContext,
) -> tuple[dict[str, str | None], dict[str, dict[str, list[str]]]]:
    """The node names and the address each should resolve to (None: no
    majority), and what every node answers for each name."""
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
    answers = {name: {c.host.name: _resolve(c, name) for c in ctx.contexts} for name in expected}
    for name, want in expected.items():
        if want is None:
            expected[name] = _majority(
                a for a in (_first_routable(v) for v in answers[name].values()) if a
            )
    return expected, answers


def _name_finding(
    c: CheckContext,
    own: str | NotAvailable,
    name: str,
    want: str | None,
    answers: dict[str, list[str]],
) -> Finding | None:
    """What is wrong with how the node of ``c`` resolves ``name``, or None."""
    me = c.host.name
    got = answers[me]
    shown = ", ".join(got) or "nothing"
    where = _hosts_line(c, name)
    if want is None and not any(_first_routable(v) for v in answers.values()):
        return Finding(
            Status.FAIL,
            me,
            f"{name} resolves to a node address on no node (here: {shown}); "
            f"add '<its address> {name}' to /etc/hosts on every node",
            actual=shown,
            location=where,
        )
    if want is None:
        others = sorted({f"{h}: {', '.join(v) or 'nothing'}" for h, v in answers.items()})
        return Finding(
            Status.FAIL,
            me,
            f"{name} resolves to {shown}; the nodes disagree with no majority "
            f"({'; '.join(others)})",
            actual=shown,
            location=where,
        )
    if not got:
        return Finding(
            Status.FAIL,
            me,
            f"{name} does not resolve (add '{want} {name}' to /etc/hosts)",
            expected=want,
            actual="nothing",
        )
    if want not in got:
        return Finding(
            Status.FAIL,
            me,
            f"{name} resolves to {shown}, the cluster uses {want}",
            expected=want,
            actual=shown,
            location=where,
        )
    if got[0] != want and name != own:
        return Finding(
            Status.WARN,
            me,
            f"{name} resolves to {got[0]} first, the cluster uses {want}",
            expected=want,
            actual=shown,
            location=where,
        )
    return None


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
    from harborkit.dockerapi import call_errors

    host = c.host
    why = ""
    try:
        client = host.docker_client()
        try:
            return str(client.version()["Version"])
        finally:
            client.close()
    except NotAvailable:
        pass
    except Exception as e:  # the client's errors (the SDK's, once it is loaded)
        if not isinstance(e, (*call_errors(), KeyError)):
            raise
        why = str(e)
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
