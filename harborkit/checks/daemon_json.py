"""Checks of /etc/docker/daemon.json: the insecure-registries entry for a plain-HTTP Harbor."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from harborkit.checks import _harbor
from harborkit.checks.docker import DaemonUnreachable, connect, docker_address, docker_error
from harborkit.engine.interface import (
    Check,
    CheckContext,
    Finding,
    Outcome,
    Severity,
    SkipCheck,
    Status,
)
from harborkit.host.interface import Host
from harborkit.yamlfile import JsonRefused, parse_json

DEFAULT_PATH = "/etc/docker/daemon.json"
TYPOGRAPHIC_QUOTES = "\u201c\u201d\u2018\u2019"

#: docker.service and its drop-ins, where the guide adds its EnvironmentFile line
UNIT_GLOBS = (
    "/usr/lib/systemd/system/docker.service",
    "/lib/systemd/system/docker.service",
    "/etc/systemd/system/docker.service",
    "/usr/lib/systemd/system/docker.service.d/*.conf",
    "/etc/systemd/system/docker.service.d/*.conf",
    "/run/systemd/system/docker.service.d/*.conf",
)
_ENV_FILE = re.compile(r"^\s*EnvironmentFile\s*=\s*-?\s*(\S+)")

#: insecure ranges every dockerd has without being told
DOCKER_DEFAULT_CIDRS = frozenset({"127.0.0.0/8", "::1/128"})


@dataclass(frozen=True)
class DaemonJson:
    """daemon.json as read: absent, broken (``error``) or parsed (``data``)."""

    path: str
    exists: bool
    data: Any = None
    error: Finding | None = None

    @property
    def insecure_registries(self) -> list[str] | None:
        """The list when the file parsed and holds a list of strings, else None."""
        if not isinstance(self.data, dict):
            return None
        value = self.data.get("insecure-registries", [])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None


def daemon_json_path(ctx: CheckContext) -> str:
    return str((ctx.profile.get("daemon_json") or {}).get("path", DEFAULT_PATH))


def read_daemon_json(ctx: CheckContext) -> DaemonJson:
    path = daemon_json_path(ctx)
    return ctx.memo(f"daemon.json:{path}", lambda: _read(ctx.host, path))


def _read(host: Host, path: str) -> DaemonJson:
    try:
        text = host.read_text(path)
    except FileNotFoundError:
        return DaemonJson(path, exists=False)
    except OSError as e:
        return DaemonJson(
            path, True, error=Finding(Status.FAIL, "daemon.json", f"cannot read: {e.strerror}")
        )
    try:
        data = parse_json(text)
    except JsonRefused as e:
        return DaemonJson(
            path,
            True,
            error=Finding(
                Status.FAIL,
                "daemon.json",
                f"line {e.lineno} column {e.colno}: {e.msg}",
                location=f"{path}:{e.lineno}:{e.colno}",
            ),
        )
    except json.JSONDecodeError as e:
        message, location = json_problem(text, e, path)
        return DaemonJson(
            path, True, error=Finding(Status.FAIL, "daemon.json", message, location=location)
        )
    if not isinstance(data, dict):
        return DaemonJson(
            path,
            True,
            data,
            Finding(
                Status.FAIL,
                "daemon.json",
                f"must be a JSON object, not {type(data).__name__}",
                location=f"{path}:1",
            ),
        )
    return DaemonJson(path, True, data)


def json_problem(text: str, e: json.JSONDecodeError, path: str) -> tuple[str, str]:
    """The message and ``file:line:col`` of a JSON syntax error; typographic quotes named."""
    bad = text[e.pos : e.pos + 1]
    tail = "; dockerd will not start with this file"
    if bad and bad in TYPOGRAPHIC_QUOTES:
        count = sum(text.count(q) for q in TYPOGRAPHIC_QUOTES)
        more = f" ({count} typographic quotes in the file)" if count > 1 else ""
        message = (
            f"line {e.lineno} column {e.colno}: typographic quote {bad} (U+{ord(bad):04X}) "
            f'where JSON needs a plain "{more}{tail}'
        )
    else:
        message = f"line {e.lineno} column {e.colno}: {e.msg}{tail}"
    return message, f"{path}:{e.lineno}:{e.colno}"


def _strip_scheme(entry: str) -> str:
    entry = entry.strip()
    if "://" in entry:
        entry = entry.split("://", 1)[1]
    return entry.rstrip("/")


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in entry:
        return None
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def covers(entry: str, hostname: str, port: int) -> bool:
    """True when an insecure-registries entry makes docker talk HTTP to hostname:port."""
    e = _strip_scheme(entry)
    if e == f"{hostname}:{port}" or (port == 80 and e == hostname):
        return True
    net = _network(e)
    if net is None:
        return False
    try:
        return ipaddress.ip_address(hostname) in net
    except ValueError:
        return False


class DaemonJsonCheck(Check):
    """/etc/docker/daemon.json is valid and lists Harbor as an insecure registry.

    The file (profile ``daemon_json.path``) must be valid JSON: the guide's
    sample uses typographic quotes (“ ”), which stop dockerd from starting; the
    first one is reported with its line and column. It must be a JSON object.
    When harbor.yml has no ``https`` section Harbor serves plain HTTP, and
    docker pushes and pulls only if ``insecure-registries`` holds
    ``<hostname>:<http.port>`` (or a CIDR holding the address); a missing file
    then fails. Without a harbor.yml that part is skipped. A docker.service or
    drop-in with ``EnvironmentFile=-/etc/docker/daemon.json`` (the guide's
    step 1) is a warning: daemon.json is not an environment file, and dockerd
    reads it by itself.
    """

    id = "docker.daemon_json"
    title = "daemon.json valid, Harbor in insecure-registries"
    group = "docker"
    severity = Severity.HIGH
    remediation = (
        'Write /etc/docker/daemon.json with plain quotes: {"insecure-registries": '
        '["<harbor host>:<port>"]}, remove EnvironmentFile=-/etc/docker/daemon.json from '
        "docker.service, then systemctl daemon-reload && systemctl restart docker"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        dj = read_daemon_json(ctx)
        cfg, why_no_cfg = _harbor.load_optional(ctx)
        findings: list[Finding] = []
        if dj.error is not None:
            findings.append(dj.error)
        elif not dj.exists:
            findings.append(self._absent(dj.path, cfg, why_no_cfg))
        else:
            findings.append(
                Finding(Status.PASS, "daemon.json", f"{dj.path} is valid JSON", location=dj.path)
            )
            findings.append(self._registries(dj, cfg, why_no_cfg))
        findings += environment_file_lines(ctx.host, dj.path)
        return Outcome.from_findings(findings, ok=findings[0].message)

    @staticmethod
    def _absent(path: str, cfg: _harbor.HarborConfig | None, why: str) -> Finding:
        if cfg is None:
            return Finding(
                Status.PASS,
                "daemon.json",
                f"{path} absent; whether Harbor needs an insecure-registries entry is "
                f"unknown ({why})",
            )
        if cfg.https is not None:
            return Finding(
                Status.PASS, "daemon.json", f"{path} absent: not needed, Harbor serves HTTPS"
            )
        return Finding(
            Status.FAIL,
            "daemon.json",
            f"{path} missing: Harbor serves plain HTTP at {cfg.registry_address}, which "
            "docker must list in insecure-registries",
            expected=f'{{"insecure-registries": ["{cfg.registry_address}"]}}',
        )

    @staticmethod
    def _registries(dj: DaemonJson, cfg: _harbor.HarborConfig | None, why: str) -> Finding:
        entries = dj.insecure_registries
        if entries is None:
            return Finding(
                Status.FAIL,
                "insecure-registries",
                "must be a list of strings",
                actual=json.dumps(dj.data.get("insecure-registries")),
                location=dj.path,
            )
        shown = ", ".join(entries) or "(none)"
        if cfg is None:
            return Finding(Status.SKIP, "insecure-registries", f"cannot judge: {why}", actual=shown)
        if cfg.https is not None:
            return Finding(
                Status.PASS,
                "insecure-registries",
                "Harbor serves HTTPS: no entry needed",
                actual=shown,
            )
        if cfg.hostname is None:
            return Finding(Status.SKIP, "insecure-registries", "harbor.yml has no hostname")
        address = f"{cfg.hostname}:{cfg.http_port}"
        if any(covers(e, cfg.hostname, cfg.http_port) for e in entries):
            return Finding(
                Status.PASS,
                "insecure-registries",
                f"lists {address}",
                expected=address,
                actual=shown,
            )
        return Finding(
            Status.FAIL,
            "insecure-registries",
            f"does not list {address}, where Harbor serves plain HTTP (from {cfg.path})",
            expected=address,
            actual=shown,
            location=dj.path,
        )


def environment_file_lines(host: Host, path: str) -> list[Finding]:
    """A WARN for each docker unit line that loads daemon.json as an EnvironmentFile."""
    units: list[tuple[str, str]] = []
    for pattern in UNIT_GLOBS:
        for unit in host.glob(pattern):
            try:
                text = host.read_text(unit)
            except OSError:
                continue
            if any(t == text and u.endswith(unit.rsplit("/", 1)[1]) for u, t in units):
                continue  # /lib and /usr/lib are one folder on merged-/usr systems
            units.append((unit, text))
    found = []
    for unit, text in units:
        for n, line in enumerate(text.splitlines(), 1):
            m = _ENV_FILE.match(line)
            if m and (m.group(1) == path or m.group(1).endswith("/daemon.json")):
                found.append(
                    Finding(
                        Status.WARN,
                        "EnvironmentFile",
                        f"{unit} loads {m.group(1)}: daemon.json is not an environment file "
                        "(dockerd reads it by itself); remove the line",
                        actual=line.strip(),
                        location=f"{unit}:{n}",
                    )
                )
    return found


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

    def run(self, ctx: CheckContext) -> Outcome:
        ctx.require_live("the running Docker daemon")
        dj = read_daemon_json(ctx)
        if dj.error is not None:
            raise SkipCheck(f"{dj.path} is not usable (see docker.daemon_json)")
        entries = dj.insecure_registries if dj.exists else []
        if entries is None:
            raise SkipCheck(f"{dj.path}: insecure-registries is not a list of strings")
        try:
            client = connect(ctx.host)
        except DaemonUnreachable as e:
            return Outcome(Status.FAIL, str(e))
        import docker

        try:
            info = client.info()
        except docker.errors.DockerException as e:
            return Outcome(
                Status.FAIL, f"docker info failed at {docker_address()}: {docker_error(e)}"
            )
        finally:
            client.close()
        registry = info.get("RegistryConfig") or {}
        index = {
            name
            for name, conf in (registry.get("IndexConfigs") or {}).items()
            if conf and not conf.get("Secure", True)
        }
        cidrs = [str(c) for c in registry.get("InsecureRegistryCIDRs") or []]
        findings = [self._entry(e, index, cidrs) for e in entries]
        findings += self._extra(entries, index, cidrs)
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
        host = e.rsplit(":", 1)[0] if net is None else ""
        for c in cidrs:
            cn = _network(c)
            try:
                if cn is not None and host and ipaddress.ip_address(host) in cn:
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


CHECKS: list[type[Check]] = [DaemonJsonCheck, DaemonRuntime]
