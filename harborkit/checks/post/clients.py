"""post.clients: each audited Docker host can use Harbor."""

from __future__ import annotations

from harborkit.checks.daemon_json import DaemonRuntime
from harborkit.checks.post import api_checks
from harborkit.checks.post._http import HttpError, deadline_seconds
from harborkit.dockerapi import (
    DaemonUnreachable,
    call_errors,
    docker_error,
    host_client,
    insecure_registries,
)
from harborkit.host.local import LocalHost
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, Status


def insecure_finding(ctx: CheckContext) -> Finding:
    where, _ = api_checks._harbor.address_of(ctx)
    assert where is not None and where.hostname is not None
    if where.https is not None:
        return Finding(Status.PASS, "insecure-registries", "Harbor serves https: no entry needed")
    try:
        client = host_client(ctx.host)
    except DaemonUnreachable as e:
        return Finding(Status.FAIL, "dockerd", str(e))
    try:
        info = client.info()
    except call_errors() as e:
        return Finding(Status.FAIL, "dockerd", f"docker info failed: {docker_error(e)}")
    finally:
        client.close()
    index, cidrs = insecure_registries(info)
    found = DaemonRuntime._harbor(where.hostname, where.http_port, index, cidrs)
    return Finding(found.status, "insecure-registries", found.message, found.expected, found.actual)


def reach_finding(ctx: CheckContext, url: str) -> Finding:
    """Any HTTP answer from ``<harbor>/v2/`` counts as reached."""
    target = f"{url}/v2/"
    if isinstance(ctx.host, LocalHost):
        try:
            answer = api_checks.call(ctx, target)
        except HttpError as e:
            return Finding(Status.FAIL, "reach", e.message)
        return Finding(Status.PASS, "reach", f"{target} answers (HTTP {answer.status})")
    limit = f"{deadline_seconds():g}"
    for argv in (
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", limit, target],
        ["wget", "-q", "-S", "-O", "/dev/null", "-T", limit, target],
    ):
        r = ctx.host.run(argv, timeout=deadline_seconds() + 5)
        if r.rc == 127:
            continue
        code = r.stdout.strip() if argv[0] == "curl" else ""
        if argv[0] == "curl" and code.isdigit() and code != "000":
            return Finding(Status.PASS, "reach", f"{target} answers (HTTP {code})")
        if argv[0] == "wget" and "HTTP/" in r.stderr:
            return Finding(Status.PASS, "reach", f"{target} answers")
        why = (r.stderr.strip().splitlines() or [f"{argv[0]} exited with {r.rc}"])[-1][:160]
        return Finding(Status.FAIL, "reach", f"{target} not reached from {ctx.host.name}: {why}")
    return Finding(Status.SKIP, "reach", f"neither curl nor wget on {ctx.host.name}")


class PostClients(Check):
    """The audited host (this one, ``--host`` or ``-i``) can use Harbor: its
    running dockerd lists Harbor's address in ``insecure-registries`` when
    Harbor serves plain http (``docker info``; 127.0.0.0/8 is insecure by
    default), and the host reaches ``<harbor>/v2/`` (any HTTP answer)."""

    id = "post.clients"
    title = "Docker clients can use Harbor"
    group = "post"
    severity = Severity.HIGH
    remediation = (
        "List Harbor's host:port in insecure-registries of /etc/docker/daemon.json, restart docker"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        ctx.require_live("the running Docker daemon")
        url = api_checks.harbor_url(ctx)
        findings = [insecure_finding(ctx), reach_finding(ctx, url)]
        return Outcome.from_findings(findings, ok=f"{ctx.host.name} can use Harbor at {url}")
