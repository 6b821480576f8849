"""post.containers, post.ports, post.network: the stack ``docker-compose up -d`` started."""

from __future__ import annotations

from typing import Any

from harborkit.checks import _harbor
from harborkit.checks.post import _stack
from harborkit.checks.post._stack import Stack, StackError, get
from harborkit.model.check import (
    POST_GROUP,
    Check,
    CheckContext,
    Finding,
    Outcome,
    Severity,
    Status,
)

GROUP = POST_GROUP
LOG_SERVICE = "log"
PROXY_SERVICE = "proxy"
LOG_PORT = "127.0.0.1:1514"


def _judge(ctx: CheckContext, judge: Any, ok: str) -> Outcome:
    ctx.require_live("the running containers")
    try:
        stack = _stack.load(ctx)
        first, second = _stack.inspect_twice(ctx, stack)
        return Outcome.from_findings(judge(ctx, stack, first, second), ok=ok)
    except StackError as e:
        return Outcome(Status.FAIL, str(e))


class PostContainers(Check):
    """Every service of ``DIR/docker-compose.yml`` has its container running.

    Each service's container (by ``container_name``) must exist, run, be
    ``healthy`` where it has a healthcheck, not restart (its restart count is
    read twice, ``HARBORKIT_POST_SETTLE`` seconds apart, default 2) and run
    the image the compose file names. A missing or exited service is named
    with its last log line.
    """

    id = "post.containers"
    title = "Harbor's containers running and healthy"
    group = GROUP
    severity = Severity.CRITICAL
    remediation = "cd DIR && docker-compose ps; docker-compose logs SERVICE; docker-compose up -d"

    def run(self, ctx: CheckContext) -> Outcome:
        return _judge(ctx, _containers, "every service running on its image, healthy")


def _containers(
    ctx: CheckContext, stack: Stack, first: dict[str, Any], second: dict[str, Any]
) -> list[Finding]:
    out = []
    for svc in stack.services:
        now = second.get(svc.container)
        if now is None:
            out.append(_bad(svc, "no such container", "running", "missing"))
        else:
            out.append(_container(ctx, svc, first.get(svc.container), now))
    return out


def _bad(svc: _stack.Service, message: str, expected: str, actual: str) -> Finding:
    subject = f"{svc.name} ({svc.container})"
    return Finding(Status.FAIL, subject, message, expected, actual, location=svc.where)


def _container(
    ctx: CheckContext, svc: _stack.Service, before: dict[str, Any] | None, now: dict[str, Any]
) -> Finding:
    """One service's container, read twice: running, steady, healthy, on its image."""
    state = get(now, "State") or {}
    status = str(state.get("Status", "?"))
    image = str(get(now, "Config", "Image") or "")
    health = str(get(state, "Health", "Status") or "")
    counts = (get(before, "RestartCount"), get(now, "RestartCount"))
    if status != "running" or state.get("Restarting"):
        if state.get("Restarting") or status == "restarting":
            msg = f"restarting (restart count {counts[1]})"
        else:
            code = state.get("ExitCode")
            msg = f"{status} (exit code {code})" if status == "exited" else status
        last = _stack.last_log_line(ctx, svc.container)
        if last:
            msg += f"; last log line: {last}"
        return _bad(svc, msg, "running", status)
    started = get(before, "State", "StartedAt") if before is not None else state.get("StartedAt")
    if counts[0] != counts[1] or started != state.get("StartedAt"):
        went = f"{counts[0]} -> {counts[1]}"
        return _bad(svc, f"restarting: restart count went {went}", "steady", went)
    if (svc.healthcheck or health) and health != "healthy":
        return _bad(
            svc, f"running but {health or 'without health status'}", "healthy", health or "none"
        )
    if svc.image and image != svc.image:
        return _bad(
            svc, f"runs image {image}, the compose file names {svc.image}", svc.image, image
        )
    subject = f"{svc.name} ({svc.container})"
    return Finding(
        Status.PASS, subject, "running" + (", healthy" if health else ""), location=svc.where
    )


class PostPorts(Check):
    """Only the proxy publishes host ports, harbor-log only on 127.0.0.1:1514.

    harbor-log publishes exactly ``127.0.0.1:1514``; the proxy (nginx)
    publishes harbor.yml's http port (and https port when https is on) on
    all addresses; no other service publishes a host port.
    """

    id = "post.ports"
    title = "Harbor's published ports"
    group = GROUP
    severity = Severity.HIGH
    remediation = "Publish only what ./prepare writes: ./prepare && docker-compose up -d"

    def run(self, ctx: CheckContext) -> Outcome:
        return _judge(ctx, _ports, "only harbor-log (loopback) and the proxy publish ports")


def _bindings(item: dict[str, Any]) -> list[str]:
    """``ADDRESS:PORT`` of every host port a container publishes (running: NetworkSettings)."""
    ports = get(item, "NetworkSettings", "Ports") or get(item, "HostConfig", "PortBindings") or {}
    found = []
    for binds in ports.values() if isinstance(ports, dict) else ():
        for b in binds or ():
            if isinstance(b, dict) and b.get("HostPort"):
                ip = str(b.get("HostIp") or "0.0.0.0")
                found.append(f"[{ip}]:{b['HostPort']}" if ":" in ip else f"{ip}:{b['HostPort']}")
    return sorted(set(found))


def _all_addresses(binding: str) -> bool:
    return binding.rpartition(":")[0] in ("0.0.0.0", "[::]", "")


def _ports(
    ctx: CheckContext, stack: Stack, _first: dict[str, Any], second: dict[str, Any]
) -> list[Finding]:
    cfg = stack.config
    want = [cfg.http_port] + ([cfg.https_port] if cfg.https_port is not None else [])
    out = []
    for svc in stack.services:
        item = second.get(svc.container)
        subject = f"{svc.name} ({svc.container})"
        if item is None:
            out.append(Finding(Status.SKIP, subject, "no container (see post.containers)"))
            continue
        have = _bindings(item)
        shown = ", ".join(have) or "nothing"
        if svc.name == LOG_SERVICE:
            ok = have == [LOG_PORT]
            out.append(
                Finding(
                    Status.PASS if ok else Status.FAIL,
                    subject,
                    f"publishes {shown}" if ok else f"publishes {shown}; only {LOG_PORT} expected",
                    expected=LOG_PORT,
                    actual=shown,
                )
            )
        elif svc.name == PROXY_SERVICE:
            ports = {int(b.rpartition(":")[2]) for b in have}
            narrow = [b for b in have if not _all_addresses(b)]
            missing = [p for p in want if p not in ports]
            optional = {_harbor.NOTARY_PORT} if cfg.https_port is not None else set()
            extra = sorted(ports - set(want) - optional)  # 4443: Notary, with https only
            problems = []
            if missing:
                problems.append(f"port {', '.join(map(str, missing))} not published")
            if narrow:
                problems.append(f"{', '.join(narrow)} not on all addresses")
            if extra:
                problems.append(f"also publishes port {', '.join(map(str, extra))}")
            expected = ", ".join(f"0.0.0.0:{p}" for p in want)
            out.append(
                Finding(
                    Status.FAIL if problems else Status.PASS,
                    subject,
                    "; ".join(problems) or f"publishes {shown}",
                    expected=expected,
                    actual=shown,
                )
            )
        elif have:
            out.append(
                Finding(
                    Status.FAIL,
                    subject,
                    f"publishes {shown}; only the proxy and harbor-log may",
                    expected="nothing",
                    actual=shown,
                )
            )
        else:
            out.append(Finding(Status.PASS, subject, "publishes no host port"))
    return out


class PostNetwork(Check):
    """The compose project's network exists, is a bridge, and every service is on it.

    For the guide's ``/opt/harbor`` (or any folder named ``harbor``) the
    network is ``harbor_harbor``: docker-compose names it after the folder
    and the compose file's network key.
    """

    id = "post.network"
    title = "Harbor's bridge network"
    group = GROUP
    severity = Severity.HIGH
    remediation = "cd DIR && docker-compose down && docker-compose up -d"

    def run(self, ctx: CheckContext) -> Outcome:
        return _judge(ctx, _network, "every service on the project's bridge network")


def _network(
    ctx: CheckContext, stack: Stack, _first: dict[str, Any], second: dict[str, Any]
) -> list[Finding]:
    keys = stack.networks or ("default",)
    names = [f"{stack.project}_{k}" for k in keys]
    nets, _ = _stack.docker_json(ctx, ["network", "inspect", *names])
    by_name = {str(n.get("Name")): n for n in nets}
    out = []
    for name in names:
        net = by_name.get(name)
        if net is None:
            out.append(Finding(Status.FAIL, name, "no such network", expected="bridge network"))
            continue
        driver = str(net.get("Driver", ""))
        out.append(
            Finding(
                Status.PASS if driver == "bridge" else Status.FAIL,
                name,
                f"driver {driver}",
                expected="bridge",
                actual=driver,
            )
        )
    for svc in stack.services:
        item = second.get(svc.container)
        if item is None:
            continue
        attached = sorted(get(item, "NetworkSettings", "Networks") or {})
        on = [n for n in names if n in attached]
        subject = f"{svc.name} ({svc.container})"
        if on:
            out.append(Finding(Status.PASS, subject, f"on {', '.join(on)}"))
        else:
            out.append(
                Finding(
                    Status.FAIL,
                    subject,
                    f"not on {' or '.join(names)} (on {', '.join(attached) or 'no network'})",
                    expected=names[0],
                    actual=", ".join(attached) or "none",
                )
            )
    return out
