"""Checks of /etc/docker/daemon.json: the insecure-registries entry for a plain-HTTP Harbor."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harborkit.checks import _harbor
from harborkit.checks.daemon_json_file import DaemonJson, read_daemon_json
from harborkit.checks.daemon_json_plan import docker_restart, plan_daemon_json
from harborkit.checks.daemon_runtime import DaemonRuntime
from harborkit.checks.docker_units import environment_file_lines, plan_environment_file
from harborkit.checks.dockerd_registry import (
    covers,
    insecure_entry_refused,
    refused_entries,
    refused_keys,
)
from harborkit.host.interface import Host
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, Status

if TYPE_CHECKING:
    from harborkit.model.change import Change

#: findings whose skip means Harbor's entry was not judged
_JUDGED_SUBJECTS = ("daemon.json", "insecure-registries")


def _entry_line(text: str, entry: str) -> int | None:
    quoted = json.dumps(entry)
    for number, line in enumerate(text.splitlines(), 1):
        if quoted in line or quoted[1:-1] in line:
            return number
    return None


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
        "Write /etc/docker/daemon.json as valid JSON with plain quotes, listing Harbor's "
        '"<hostname>:<port>" in "insecure-registries" when Harbor serves HTTP, then '
        "systemctl restart docker"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        dj = read_daemon_json(ctx)
        cfg, why_no_cfg = _harbor.address_of(ctx)
        findings: list[Finding] = []
        if dj.error is not None:
            findings.append(dj.error)
        elif not dj.exists:
            findings.append(self._absent(dj.path, cfg, why_no_cfg))
        else:
            valid = (
                "starts with a JSON object, as dockerd reads it" if dj.notes else "is valid JSON"
            )
            findings.append(
                Finding(Status.PASS, "daemon.json", f"{dj.path} {valid}", location=dj.path)
            )
            findings += dj.notes
            findings += self._refused(ctx.host, dj)
            findings.append(self._registries(dj, cfg, why_no_cfg))
        findings += environment_file_lines(ctx.host, dj.path)
        outcome = Outcome.from_findings(findings, ok=findings[0].message)
        unjudged = [
            f for f in findings if f.status is Status.SKIP and f.subject in _JUDGED_SUBJECTS
        ]
        if outcome.status is Status.PASS and unjudged:
            # "unknown" is never a pass: the title promises Harbor's entry
            first = findings[0].message if findings[0].status is Status.PASS else ""
            lead = f"{first}; " if first else ""
            return Outcome(
                Status.SKIP,
                f"{lead}insecure-registries not judged: {unjudged[0].message.removeprefix('cannot judge: ')}",
                tuple(findings),
            )
        return outcome

    @staticmethod
    def _refused(host: Host, dj: DaemonJson) -> list[Finding]:
        """A fail for every registry entry dockerd refuses at start."""
        try:
            text = host.read_text(dj.path)
        except OSError:
            text = ""
        out = [
            Finding(
                Status.FAIL,
                key,
                f"{json.dumps(key, ensure_ascii=False)}: dockerd refuses it ({why}) and will not "
                "start with this file",
                location=f"{dj.path}:{line}" if (line := _entry_line(text, key)) else dj.path,
            )
            for key, why in refused_keys(dj.data)
        ]
        for key, entry, why in refused_entries(dj.data):
            line = _entry_line(text, entry)
            out.append(
                Finding(
                    Status.FAIL,
                    key,
                    f"{json.dumps(entry, ensure_ascii=False)}: dockerd refuses it ({why}) "
                    "and will not start with this file",
                    actual=entry,
                    location=f"{dj.path}:{line}" if line else dj.path,
                )
            )
        return out

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        from harborkit.model.change import FileChange

        json_bad = any(
            f.status is Status.FAIL and f.subject != "EnvironmentFile" for f in outcome.findings
        )
        changes = plan_daemon_json(ctx, self.id) if json_bad else []
        changes += plan_environment_file(ctx, self.id)
        files = [c for c in changes if isinstance(c, FileChange)]
        if files:
            reload = any(c.path.startswith("/etc/systemd/") for c in files)
            changes += docker_restart(self.id, reload=reload)
        return changes

    @staticmethod
    def _absent(
        path: str, cfg: _harbor.HarborConfig | _harbor.HarborAddress | None, why: str
    ) -> Finding:
        if cfg is None:
            return Finding(
                Status.SKIP,
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
    def _registries(
        dj: DaemonJson, cfg: _harbor.HarborConfig | _harbor.HarborAddress | None, why: str
    ) -> Finding:
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
        usable = [e for e in entries if insecure_entry_refused(e) is None]
        if any(covers(e, cfg.hostname, cfg.http_port) for e in usable):
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


CHECKS: list[type[Check]] = [DaemonJsonCheck, DaemonRuntime]
