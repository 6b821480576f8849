"""post.replication: the registries Harbor replicates to and from answer and
accept their credentials."""

from __future__ import annotations

import base64
import json
import os
from urllib.parse import urlencode, urlsplit

from harborkit.checks.post import api_checks
from harborkit.checks.post._http import HttpError, basic, request
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, SkipCheck, Status

PASSWORD_ENV = "HARBORKIT_REPLICATION_PASSWORD"
MAX_CONFIG = 4 << 20


def docker_credentials(netloc: str) -> tuple[str, str] | None:
    """``(user, password)`` for ``netloc`` from the Docker config file of the
    user running harborkit (``$DOCKER_CONFIG/config.json`` or ``~/.docker``)."""
    folder = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        with open(os.path.join(folder, "config.json"), "rb") as f:
            doc = json.loads(f.read(MAX_CONFIG))
    except (OSError, ValueError):
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        host = urlsplit(key if "//" in key else f"//{key}").netloc
        if host == netloc and isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            try:
                user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except ValueError:
                return None
            return (user, password) if sep else None
    return None


def judge(url: str, creds: tuple[str, str] | None, ca: str | None) -> Finding:
    """One target: ``/v2/`` answers, and the credentials (when any) are accepted."""
    base = url.rstrip("/")
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).hostname:
        return Finding(Status.FAIL, url, "not an http(s):// URL")
    try:
        first = request(f"{base}/v2/", ca=ca)
        if first.status == 200:
            return Finding(Status.PASS, url, "answers without authentication")
        challenge = first.header("www-authenticate")
        if first.status != 401 or not challenge:
            return Finding(Status.FAIL, url, f"/v2/ answered HTTP {first.status}, not a registry")
        if creds is None:
            return Finding(
                Status.FAIL,
                url,
                "asks for credentials; none given (--replication-user, or docker login)",
            )
        auth = {"Authorization": basic(*creds)}
        if challenge.lower().startswith("bearer "):
            fields = dict(api_checks._CHALLENGE.findall(challenge))
            query = urlencode({"service": fields.get("service", "")})
            answer = request(f"{fields.get('realm', '')}?{query}", headers=auth, ca=ca)
        else:
            answer = request(f"{base}/v2/", headers=auth, ca=ca)
    except HttpError as e:
        return Finding(Status.FAIL, url, e.message)
    if answer.status == 200:
        return Finding(Status.PASS, url, f"reachable, {creds[0]} accepted")
    return Finding(Status.FAIL, url, f"reachable, but {creds[0]} refused (HTTP {answer.status})")


class PostReplication(Check):
    """Each ``--replication-target URL`` answers ``/v2/`` from the machine
    running harborkit, and accepts its credentials: ``--replication-user``
    with ``HARBORKIT_REPLICATION_PASSWORD``, else the entry of the Docker
    config file (``docker login``; credential helpers are not read)."""

    id = "post.replication"
    title = "Replication targets reachable"
    group = "post"
    severity = Severity.MEDIUM
    remediation = "Check the target's address, firewall and the replication account"

    def run(self, ctx: CheckContext) -> Outcome:
        opts = api_checks.options(ctx)
        targets = opts.get("replication") or []
        if not targets:
            raise SkipCheck("no --replication-target given")
        user = opts.get("replication_user")
        findings = []
        for url in targets:
            if user:
                password = os.environ.get(PASSWORD_ENV)
                if password is None:
                    findings.append(
                        Finding(
                            Status.FAIL,
                            url,
                            f"--replication-user {user}: {PASSWORD_ENV} is not set",
                        )
                    )
                    continue
                creds: tuple[str, str] | None = (user, password)
            else:
                creds = docker_credentials(urlsplit(url).netloc)
            findings.append(judge(url, creds, opts.get("ca")))
        return Outcome.from_findings(
            findings, ok=f"{len(findings)} target(s) reachable, credentials accepted"
        )
