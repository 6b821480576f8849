"""post.registry, post.version, post.default_password, post.login: Harbor over HTTP.

Every call goes through :mod:`harborkit.checks.post._http` (an overall
deadline per call); a Harbor that answers nonsense is a ``fail`` naming what
it said. Passwords travel in headers only, never into findings.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from harborkit.checks import _harbor
from harborkit.checks.post._http import Answer, HttpError, basic, request, shown
from harborkit.model.check import (
    POST_GROUP,
    Check,
    CheckContext,
    Finding,
    Outcome,
    Severity,
    SkipCheck,
    Status,
)

GROUP = POST_GROUP
DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "Harbor12345"  # printed by the guide, Harbor v1.8.0's default
PASSWORD_ENV = "HARBORKIT_HARBOR_PASSWORD"
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]+\]?", re.ASCII)
_CHALLENGE = re.compile(r'([A-Za-z_]+)="([^"]*)"')


def options(ctx: CheckContext) -> dict[str, Any]:
    """The run's post options (--smoke, --harbor-user, --ca, --replication-*)."""
    value = ctx.profile.get("post_run")
    return value if isinstance(value, dict) else {}


def harbor_url(ctx: CheckContext) -> str:
    """``http[s]://host:port`` of Harbor, from harbor.yml or ``--harbor``; a
    sysroot or a carried snapshot is no running Harbor to call (skip)."""
    ctx.require_live("Harbor's API")
    where, why = _harbor.address_of(ctx)
    if where is None:
        raise SkipCheck(
            f"{why} (the post-install checks need harbor.yml: --install-dir DIR, or --harbor)"
        )
    host = where.hostname
    if not host:
        raise SkipCheck(f"{where.path}: no hostname")
    if not _HOST.fullmatch(host):
        raise SkipCheck(f"{where.path}: hostname {shown(host, 60)} is not a host name or address")
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if where.https is not None:
        port = where.https_port if isinstance(where, _harbor.HarborConfig) else where.port
        return f"https://{host}:{port}"
    return f"http://{host}:{where.http_port}"


def call(ctx: CheckContext, url: str, **kw: Any) -> Answer:
    return request(url, ca=options(ctx).get("ca"), **kw)


@dataclass(frozen=True)
class Challenge:
    status: int
    realm: str
    service: str
    answer: Answer


def challenge(ctx: CheckContext) -> Challenge:
    """``GET <harbor>/v2/`` and its Bearer challenge (memoised per run)."""

    def ask() -> Challenge:
        base = harbor_url(ctx)
        answer = call(ctx, f"{base}/v2/")
        header = answer.header("www-authenticate")
        fields = dict(_CHALLENGE.findall(header))
        if answer.status == 401 and header.lower().startswith("bearer "):
            return Challenge(401, fields.get("realm", ""), fields.get("service", ""), answer)
        return Challenge(answer.status, "", "", answer)

    return ctx.memo("post.challenge", ask)


def _said(answer: Answer) -> str:
    return f"HTTP {answer.status} {shown(answer.body, 80) if answer.body else '(empty body)'}"


def _origin(url: str) -> tuple[str, str, int]:
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port or (443 if p.scheme == "https" else 80)


class PostRegistry(Check):
    """``GET <harbor>/v2/`` answers 401 with a Bearer challenge on Harbor's own origin.

    The realm (Harbor's token service) must be on the same scheme, host and
    port as Harbor itself, or clients would send credentials elsewhere; a
    200 (no auth) passes too. With https the certificate chain and name must
    be valid (``--ca FILE`` adds a CA).
    """

    id = "post.registry"
    title = "Harbor's registry API answers"
    group = GROUP
    severity = Severity.CRITICAL
    remediation = "docker-compose ps; docker-compose logs proxy registry core"

    def run(self, ctx: CheckContext) -> Outcome:
        base = harbor_url(ctx)
        try:
            ch = challenge(ctx)
        except HttpError as e:
            return Outcome(Status.FAIL, e.message)
        if ch.status == 200:
            return Outcome(Status.PASS, f"{base}/v2/ answers 200 (no authentication)")
        if ch.status != 401 or not ch.realm:
            return Outcome(
                Status.FAIL, f"{base}/v2/ answered {_said(ch.answer)}, not a 401 Bearer challenge"
            )
        if _origin(ch.realm) != _origin(base):
            return Outcome(
                Status.FAIL, f"token realm {shown(ch.realm, 120)} is not on Harbor's origin {base}"
            )
        return Outcome(Status.PASS, f"{base}/v2/ asks for a token from {ch.realm}")


def token(
    ctx: CheckContext, user: str, password: str, scope: str | None
) -> tuple[Answer, dict[str, Any] | None]:
    """Ask the realm for a token as ``user``; the answer and the token's claims (unverified)."""
    ch = challenge(ctx)
    if ch.status != 401 or not ch.realm:
        raise SkipCheck(f"no token service: /v2/ answered HTTP {ch.status} (see post.registry)")
    if _origin(ch.realm) != _origin(harbor_url(ctx)):
        raise HttpError(
            f"token realm {shown(ch.realm, 120)} is not on Harbor's origin "
            f"{harbor_url(ctx)}: no credentials sent there (see post.registry)"
        )
    query = {"service": ch.service} if ch.service else {}
    if scope:
        query["scope"] = scope
    sep = "&" if "?" in ch.realm else "?"
    url = ch.realm + (sep + urlencode(query) if query else "")
    answer = call(ctx, url, headers={"Authorization": basic(user, password)})
    return answer, _claims(answer) if answer.status == 200 else None


def _claims(answer: Answer) -> dict[str, Any] | None:
    try:
        doc = json.loads(answer.body)
        jwt = doc.get("token") or doc.get("access_token")
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, AttributeError, IndexError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


class PostDefaultPassword(Check):
    """Harbor refuses ``admin`` / ``Harbor12345``, the default the guide prints.

    One token request to Harbor's token service as ``admin`` with the default
    password; an issued token is a critical failure. Nothing is written.
    """

    id = "post.default_password"
    title = "admin's default password changed"
    group = GROUP
    severity = Severity.CRITICAL
    remediation = "Log in to Harbor's portal as admin and change the password (Users > admin)"

    def run(self, ctx: CheckContext) -> Outcome:
        try:
            answer, claims = token(ctx, DEFAULT_USER, DEFAULT_PASSWORD, None)
        except HttpError as e:
            return Outcome(Status.FAIL, e.message)
        if answer.status in (401, 403):
            return Outcome(
                Status.PASS,
                f"the token service refuses admin with the default password (HTTP {answer.status})",
            )
        if answer.status == 200 and claims is not None:
            return Outcome(
                Status.FAIL,
                "admin still logs in with the default password Harbor12345",
                (
                    Finding(
                        Status.FAIL,
                        "admin",
                        "default password accepted",
                        expected="refused",
                        actual="token issued",
                    ),
                ),
            )
        return Outcome(
            Status.FAIL,
            f"the token service answered {_said(answer)}, neither a token nor a refusal",
        )


class PostLogin(Check):
    """With ``--harbor-user USER`` and ``HARBORKIT_HARBOR_PASSWORD``, a token
    with pull and push scope is issued (on the ``--smoke`` project, else ``library``)."""

    id = "post.login"
    title = "Harbor login with pull/push"
    group = GROUP
    severity = Severity.HIGH
    remediation = "Check the user's password and its role (developer or above) on the project"

    def run(self, ctx: CheckContext) -> Outcome:
        user = options(ctx).get("user")
        if not user:
            raise SkipCheck("no --harbor-user given")
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise SkipCheck(f"--harbor-user {user}: {PASSWORD_ENV} is not set")
        project = options(ctx).get("smoke") or "library"
        repo = f"{project}/harborkit-probe"
        try:
            answer, claims = token(ctx, user, password, f"repository:{repo}:pull,push")
        except HttpError as e:
            return Outcome(Status.FAIL, e.message)
        if answer.status in (401, 403):
            return Outcome(Status.FAIL, f"{user}: login refused (HTTP {answer.status})")
        if answer.status != 200 or claims is None:
            return Outcome(Status.FAIL, f"the token service answered {_said(answer)}, not a token")
        granted: set[str] = set()
        for item in claims.get("access") or []:
            if isinstance(item, dict) and item.get("name") == repo:
                granted.update(str(a) for a in item.get("actions") or [])
        if {"pull", "push"} <= granted:
            return Outcome(Status.PASS, f"{user}: token with pull and push on {project}")
        return Outcome(
            Status.FAIL,
            f"{user}: logged in, but granted {', '.join(sorted(granted)) or 'nothing'} on {repo}, not pull and push",
        )


class PostVersion(Check):
    """``GET /api/systeminfo`` reports the Harbor version the profile expects
    (``harbor.version``, v1.8.0)."""

    id = "post.version"
    title = "Harbor version"
    group = GROUP
    severity = Severity.MEDIUM
    remediation = "Install the Harbor version of the profile (harborkit bundle load)"

    def run(self, ctx: CheckContext) -> Outcome:
        want = str(ctx.section("harbor").get("version", "")).lstrip("v")
        base = harbor_url(ctx)
        try:
            answer = call(ctx, f"{base}/api/systeminfo", headers={"Accept": "application/json"})
        except HttpError as e:
            return Outcome(Status.FAIL, e.message)
        if answer.status != 200:
            return Outcome(Status.FAIL, f"{base}/api/systeminfo answered {_said(answer)}")
        try:
            doc = json.loads(answer.body)
        except ValueError:
            doc = None
        version = doc.get("harbor_version") if isinstance(doc, dict) else None
        if not isinstance(version, str):
            return Outcome(
                Status.FAIL,
                f"{base}/api/systeminfo answered no harbor_version: {shown(answer.body, 80)}",
            )
        core = version.lstrip("v").split("-")[0]
        if core == want:
            return Outcome(Status.PASS, f"Harbor {version}")
        return Outcome(
            Status.FAIL,
            f"Harbor reports {shown(version, 40)}, the profile expects v{want}",
            (
                Finding(
                    Status.FAIL,
                    "harbor_version",
                    "other version",
                    expected=f"v{want}",
                    actual=version[:40],
                ),
            ),
        )
