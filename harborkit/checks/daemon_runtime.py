"""docker.daemon_runtime: the running dockerd uses daemon.json's insecure-registries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harborkit.checks import _harbor
from harborkit.checks.daemon_json_file import read_daemon_json
from harborkit.checks.daemon_json_plan import docker_restart
from harborkit.checks.docker import DaemonUnreachable, docker_address, docker_error
from harborkit.checks.dockerd_registry import _network, _registry_host, _strip_scheme, covers
from harborkit.dockerapi import call_errors, host_client, insecure_registries
from harborkit.ipaddr import parse_ip
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, SkipCheck, Status

if TYPE_CHECKING:
    from harborkit.model.change import Change

#: insecure ranges every dockerd has without being told
DOCKER_DEFAULT_CIDRS = frozenset({"127.0.0.0/8", "::1/128"})


class DaemonRuntime(Check):
    """The running daemon uses daemon.json's insecure-registries.

    ``docker info`` (through the SDK: ``RegistryConfig.IndexConfigs`` and
    ``InsecureRegistryCIDRs``) must show every entry of the file's
    ``insecure-registries``: an entry the daemon lacks means the file was
    edited but docker not restarted (fail). An entry already covered by one of
    the daemon's insecure CIDRs (127.0.0.0/8 is always one) passes. Insecure
    registries the daemon has but the file lacks (a dockerd flag, or a file
    changed since start) are a warning. Needs a reachable daemon.
    """

    id = "docker.daemon_runtime"
    title = "Running daemon agrees with daemon.json"
    group = "docker"
    severity = Severity.HIGH
    remediation = "systemctl restart docker (after fixing daemon.json)"
    requires = ("docker.daemon",)

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        if not any(f.status is Status.FAIL for f in outcome.findings):
            return ()
        return docker_restart(self.id, reload=False)

    def run(self, ctx: CheckContext) -> Outcome:
        ctx.require_live("the running Docker daemon")
        dj = read_daemon_json(ctx)
        if dj.error is not None:
            raise SkipCheck(f"{dj.path} is not usable (see docker.daemon_json)")
        entries = dj.insecure_registries if dj.exists else []
        if entries is None:
            raise SkipCheck(f"{dj.path}: insecure-registries is not a list of strings")
        try:
            client = host_client(ctx.host)
        except DaemonUnreachable as e:
            return Outcome(Status.FAIL, str(e))
        try:
            info = client.info()
        except call_errors() as e:
            return Outcome(
                Status.FAIL, f"docker info failed at {docker_address()}: {docker_error(e)}"
            )
        finally:
            client.close()
        index, cidrs = insecure_registries(info)
        findings = [self._entry(e, index, cidrs) for e in entries]
        findings += self._extra(entries, index, cidrs)
        harbor, _ = _harbor.address_of(ctx)
        if harbor is not None and harbor.https is None and harbor.hostname is not None:
            findings.append(self._harbor(harbor.hostname, harbor.http_port, index, cidrs))
        live = sorted(index) + [c for c in cidrs if c not in DOCKER_DEFAULT_CIDRS]
        return Outcome.from_findings(
            findings,
            ok=f"running daemon's insecure registries: {', '.join(live) or '(defaults only)'}",
        )

    @staticmethod
    def _entry(entry: str, index: set[str], cidrs: list[str]) -> Finding:
        e = _strip_scheme(entry)
        net = _network(e)
        ok = any(_network(c) == net for c in cidrs) if net is not None else e in index
        if ok:
            return Finding(Status.PASS, entry, "in effect", actual=entry)
        host = _registry_host(e) if net is None else ""
        for c in cidrs:
            cn = _network(c)
            try:
                if cn is not None and host and parse_ip(host) in cn:
                    return Finding(
                        Status.PASS, entry, f"in effect through the daemon's insecure range {c}"
                    )
            except ValueError:
                break
        return Finding(
            Status.FAIL,
            entry,
            f"daemon.json lists {entry} but the running daemon does not: restart docker",
            expected="insecure in docker info",
            actual="not listed",
        )

    @staticmethod
    def _harbor(hostname: str, port: int, index: set[str], cidrs: list[str]) -> Finding:
        """Whether the running daemon talks plain HTTP to Harbor (push and pull work)."""
        address = f"{hostname}:{port}"
        if any(covers(e, hostname, port) for e in (*index, *cidrs)):
            return Finding(
                Status.PASS, "Harbor", f"the running daemon treats {address} as insecure"
            )
        return Finding(
            Status.FAIL,
            "Harbor",
            f"the running daemon does not treat Harbor's {address} as insecure: docker "
            "login, push and pull to it fail (list it in daemon.json, restart docker)",
            expected=address,
            actual=", ".join(sorted(index)) or "(defaults only)",
        )

    @staticmethod
    def _extra(entries: list[str], index: set[str], cidrs: list[str]) -> list[Finding]:
        listed = {_strip_scheme(e) for e in entries}
        nets = [n for n in (_network(e) for e in listed) if n is not None]
        out = []
        for name in sorted(index):
            if name not in listed:
                out.append(
                    Finding(
                        Status.WARN,
                        name,
                        f"the running daemon treats {name} as insecure but daemon.json does "
                        "not list it (a dockerd flag, or the file changed since docker started)",
                    )
                )
        for c in cidrs:
            if c in DOCKER_DEFAULT_CIDRS or _network(c) in nets:
                continue
            out.append(
                Finding(
                    Status.WARN,
                    c,
                    f"the running daemon treats {c} as insecure but daemon.json does not "
                    "list it (a dockerd flag, or the file changed since docker started)",
                )
            )
        return out
