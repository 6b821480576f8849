"""Checks of the Docker engine and docker-compose that Harbor v1.8.0's install.sh needs."""

from __future__ import annotations

import re

from harborkit.checks._compare import version_at_least
from harborkit.dockerapi import DaemonUnreachable, call_errors, docker_error, host_client
from harborkit.dockerapi import daemon_address as docker_address
from harborkit.host.interface import Host
from harborkit.model.check import (
    Check,
    CheckContext,
    Finding,
    NotAvailable,
    Outcome,
    Severity,
    Status,
)

#: where the docker CLI looks for plugins (docker/cli: cli-plugins/manager)
PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
    "/root/.docker/cli-plugins",
)

_VERSION = re.compile(r"v?(\d+\.\d+(?:\.\d+)?)")


class DockerEngine(Check):
    """The Docker engine is installed.

    Looks for ``dockerd`` and the ``docker`` CLI in the usual binary folders
    (and ``PATH`` on the live system); either one present passes, each is
    reported. On a sysroot this is judged from the files alone. Whether the
    daemon runs, and its version, is ``docker.daemon``.
    """

    id = "docker.engine"
    title = "Docker engine installed"
    group = "docker"
    severity = Severity.CRITICAL
    remediation = (
        "Install Docker CE 17.06.0 or newer (yum install docker-ce / apt install docker-ce)"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        found = [(p, ctx.host.which(p)) for p in ("dockerd", "docker")]
        findings = [Finding(Status.PASS, name, f"found at {path}") for name, path in found if path]
        if not findings:
            return Outcome(
                Status.FAIL,
                "Docker is not installed: neither dockerd nor docker found",
                (Finding(Status.FAIL, "dockerd", "not found", expected="installed"),),
            )
        return Outcome.from_findings(findings, ok="; ".join(f"{n} at {p}" for n, p in found if p))


class DockerDaemon(Check):
    """The Docker daemon answers and is recent enough.

    Connects through the Docker SDK exactly as ``docker`` would (``DOCKER_HOST``
    is honoured, else ``/var/run/docker.sock``). An unreachable daemon fails,
    naming the address and the error. The server version must be at least the
    profile's ``docker.min_version`` (17.06.0: Harbor v1.8.0's install.sh
    refuses older engines). Live system only.
    """

    id = "docker.daemon"
    title = "Docker daemon reachable, version >= 17.06.0"
    group = "docker"
    severity = Severity.CRITICAL
    remediation = "systemctl enable --now docker; upgrade Docker to 17.06.0 or newer"
    requires = ("docker.engine",)

    def run(self, ctx: CheckContext) -> Outcome:
        minimum = str(ctx.section("docker").get("min_version", "17.06.0"))
        ctx.require_live("the Docker daemon")
        try:
            client = host_client(ctx.host)
        except DaemonUnreachable as e:
            return Outcome(Status.FAIL, str(e), (Finding(Status.FAIL, docker_address(), str(e)),))
        try:
            info = client.version()
        except call_errors() as e:
            message = (
                f"the Docker daemon at {docker_address()} did not report its version: "
                f"{docker_error(e)}"
            )
            return Outcome(Status.FAIL, message, (Finding(Status.FAIL, docker_address(), message),))
        finally:
            client.close()
        version = str(info.get("Version", "?"))
        api = info.get("ApiVersion", "?")
        address = docker_address()
        ok = version_at_least(version, minimum)
        finding = Finding(
            Status.PASS if ok else Status.FAIL,
            "server version",
            f"Docker {version} (API {api})"
            + ("" if ok else f": older than {minimum}, which install.sh refuses"),
            expected=f">= {minimum}",
            actual=version,
        )
        return Outcome.from_findings(
            [finding], ok=f"Docker {version} (API {api}) answering at {address}"
        )


def parse_compose_version(output: str) -> str | None:
    """The version in ``docker-compose version --short`` or ``--version`` output.

    ``docker-compose version 1.24.0, build 0aa59064`` -> ``1.24.0``;
    ``Docker Compose version v2.24.1`` -> ``2.24.1``; ``1.24.0`` -> ``1.24.0``.
    """
    m = _VERSION.search(output)
    return m.group(1) if m else None


def compose_plugin(host: Host) -> str | None:
    """Path of a Compose v2 CLI plugin, if one is installed."""
    for d in PLUGIN_DIRS:
        path = f"{d}/docker-compose"
        if host.exists(path) and not host.is_dir(path):
            return path
    return None


class DockerCompose(Check):
    """The ``docker-compose`` binary is installed and at least 1.18.0.

    Harbor v1.8.0's install.sh runs ``docker-compose`` (the binary named in the
    profile's ``compose.binary``) and refuses versions older than
    ``compose.min_version`` (1.18.0); a Compose v2 binary installed under that
    name reports 2.x and is accepted. A Compose v2 *plugin* alone (``docker
    compose``, in a cli-plugins folder) does not satisfy install.sh, which
    looks only for the binary: that fails with the fix (link the plugin binary
    as /usr/local/bin/docker-compose, or install 1.24.0 as the guide does). On
    a sysroot presence is judged from the files; the version needs a live
    system.
    """

    id = "docker.compose"
    title = "docker-compose >= 1.18.0 installed"
    group = "docker"
    severity = Severity.CRITICAL
    remediation = (
        "Install docker-compose 1.24.0 as /usr/local/bin/docker-compose (mode 0755) from "
        "the copy carried with the bundle; no download is needed on the target"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        settings = ctx.section("compose")
        binary = str(settings.get("binary", "docker-compose"))
        minimum = str(settings.get("min_version", "1.18.0"))
        path = ctx.host.which(binary)
        if path is None:
            return self._missing(ctx, binary)
        findings = [Finding(Status.PASS, binary, f"found at {path}", actual=path)]
        try:
            output = self._version_output(ctx.host, path)
        except NotAvailable as e:
            findings.append(Finding(Status.SKIP, "version", e.reason))
            return Outcome.from_findings(findings, ok=f"{binary} at {path}")
        version = parse_compose_version(output)
        if version is None:
            findings.append(
                Finding(
                    Status.FAIL,
                    "version",
                    f"{path} does not report a version: {output.strip()[:120] or 'no output'}",
                    expected=f">= {minimum}",
                )
            )
        elif version_at_least(version, minimum):
            findings.append(
                Finding(Status.PASS, "version", version, expected=f">= {minimum}", actual=version)
            )
        else:
            findings.append(
                Finding(
                    Status.FAIL,
                    "version",
                    f"{version} is older than {minimum}, which install.sh refuses",
                    expected=f">= {minimum}",
                    actual=version,
                )
            )
        return Outcome.from_findings(findings, ok=f"{binary} {version} at {path}")

    @staticmethod
    def _version_output(host: Host, path: str) -> str:
        for argv in ([path, "version", "--short"], [path, "--version"]):
            result = host.run(argv)
            if result.ok and result.stdout.strip():
                return result.stdout
        return result.stdout + result.stderr

    @staticmethod
    def _missing(ctx: CheckContext, binary: str) -> Outcome:
        plugin = compose_plugin(ctx.host)
        if plugin is None and ctx.host.live:
            probe = ctx.host.run(["docker", "compose", "version", "--short"])
            if probe.ok and probe.stdout.strip():
                plugin = "docker compose " + probe.stdout.strip()
        if plugin is not None:
            message = (
                f"only the Compose v2 plugin is installed ({plugin}); Harbor v1.8.0's "
                f"install.sh looks only for the {binary} binary: link the plugin binary as "
                f"/usr/local/bin/{binary}, or install docker-compose 1.24.0"
            )
            return Outcome(
                Status.FAIL,
                message,
                (
                    Finding(
                        Status.FAIL, binary, message, expected="a binary on PATH", actual=plugin
                    ),
                ),
            )
        message = f"{binary} not found"
        return Outcome(
            Status.FAIL,
            message,
            (Finding(Status.FAIL, binary, message, expected="a binary on PATH"),),
        )


CHECKS: list[type[Check]] = [DockerEngine, DockerDaemon, DockerCompose]
