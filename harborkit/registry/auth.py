"""Credentials (options or the Docker config file) and ``WWW-Authenticate`` parsing."""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from harborkit.errors import InputError
from harborkit.registry.errors import ProtocolError
from harborkit.registry.reference import is_docker_hub
from harborkit.registry.strictjson import JSONRefused, strict_json

#: the key ``docker login`` uses for Docker Hub in ``auths``
HUB_CONFIG_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for one registry."""

    username: str
    password: str
    source: str = "options"  # where they came from, for error messages

    def __repr__(self) -> str:  # never print the password
        return f"Credentials(username={self.username!r}, source={self.source!r})"


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` challenge."""

    scheme: str  # lower case: "basic" or "bearer"
    params: dict[str, str]


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value such as ``Bearer realm="...",service="..."``."""
    out: list[Challenge] = []
    pos = 0
    header = header.strip()
    while pos < len(header):
        # (commas between challenges: "Negotiate, Bearer realm=..." lost the Bearer one)
        m = re.match(r"[\s,]*([A-Za-z][A-Za-z0-9_-]*)\s*", header[pos:])
        if not m:
            break
        scheme = m.group(1).lower()
        pos += m.end()
        params: dict[str, str] = {}
        while pos < len(header):
            pm = _PARAM.match(header, pos)
            if not pm:
                break
            # a bare word followed by '=' is a parameter; a new scheme has no '='
            params[pm.group(1).lower()] = (
                re.sub(r"\\(.)", r"\1", pm.group(2)) if pm.group(2) is not None else pm.group(3)
            )
            pos = pm.end()
        out.append(Challenge(scheme, params))
    return out


def docker_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


#: a Docker config file is a few KiB: a larger one is refused unread
MAX_DOCKER_CONFIG = 4 << 20


def _load_docker_config(path: Path) -> object | None:
    """The Docker config file parsed (``None`` if absent); :class:`InputError` if it is not a
    regular file (a FIFO would hang the read), is larger than 4 MiB or is not JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"cannot read Docker config {path}: {e.strerror}") from e
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError(f"cannot read Docker config {path}: not a regular file")
        data = f.read(MAX_DOCKER_CONFIG + 1)
    if len(data) > MAX_DOCKER_CONFIG:
        raise InputError(f"cannot read Docker config {path}: larger than 4 MiB")
    try:
        return json.loads(data)
    except RecursionError as e:  # (nested 100,000 deep was a traceback)
        raise InputError(f"cannot read Docker config {path}: nested too deep") from e
    except ValueError as e:
        raise InputError(f"cannot read Docker config {path}: {e}") from e


def _config_keys(host: str) -> list[str]:
    if is_docker_hub(host):
        return [HUB_CONFIG_KEY, "index.docker.io", "docker.io", "registry-1.docker.io"]
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def credentials_from_docker_config(host: str, path: Path | None = None) -> Credentials | None:
    """Credentials for ``host`` from the Docker config file, as ``docker login`` writes them.

    Reads ``auths.<host>.auth`` (base64 ``user:password``) or ``username``/``password``.
    Returns ``None`` when the file or the entry is absent. Credential helpers
    (``credsStore``/``credHelpers``) are not consulted.
    """
    path = path or docker_config_path()
    data = _load_docker_config(path)
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        return None
    for key in _config_keys(host):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        where = f"{path} ({key})"
        if entry.get("auth"):
            try:
                user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError) as e:
                raise InputError(f"Docker config {where} has a malformed 'auth' value") from e
            if not sep:
                raise InputError(f"Docker config {where}: 'auth' is not base64 of user:password")
            return Credentials(user, password, where)
        if entry.get("username") and entry.get("password"):
            return Credentials(entry["username"], entry["password"], where)
    return None


def resolve_credentials(
    host: str,
    username: str | None = None,
    password: str | None = None,
    config: Path | None = None,
) -> Credentials | None:
    """Explicit ``username``/``password`` win; else the Docker config file; else anonymous."""
    if username is not None or password is not None:
        if not username or password is None:
            raise InputError("give both --username and --password, or neither")
        return Credentials(username, password, "options")
    return credentials_from_docker_config(host, config)


def credential_helper(host: str, path: Path | None = None) -> str | None:
    """The ``docker-credential-*`` helper the Docker config names for ``host``, if any.

    harborkit does not run credential helpers; this only lets an auth error say why
    a ``docker login`` made with a helper gave no credentials.
    """
    path = path or docker_config_path()
    try:
        data = _load_docker_config(path)
    except InputError:
        return None
    if not isinstance(data, dict):
        return None
    helpers = data.get("credHelpers") or {}
    for key in _config_keys(host):
        if isinstance(helpers, dict) and isinstance(helpers.get(key), str):
            return f"docker-credential-{helpers[key]}"
    store = data.get("credsStore")
    return f"docker-credential-{store}" if isinstance(store, str) and store else None


#: a bearer token as RFC 6750 writes it (token68): what goes in the Authorization header
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")


def parse_token(body: bytes, where: str) -> tuple[str, float]:
    """Token text and lifetime from a token response (the token is never echoed)."""
    try:
        doc = strict_json(body)
    except JSONRefused as e:
        raise ProtocolError(f"{where}: the token response {e}") from e
    except ValueError as e:
        raise ProtocolError(f"{where}: the token response is not JSON") from e
    if not isinstance(doc, dict):
        raise ProtocolError(f"{where}: the token response is not a JSON object")
    token, access = doc.get("token"), doc.get("access_token")
    if token and access and token != access:
        # the spec leaves the choice open (Docker takes access_token): two readers, two tokens
        raise ProtocolError(f"{where}: the token response holds a token and another access_token")
    token = token or access
    if not token:
        raise ProtocolError(f"{where}: the token response holds no token")
    if not isinstance(token, str) or len(token) > 64 << 10 or not _TOKEN68.fullmatch(token):
        # (a token is sent as a header: "中文" was a UnicodeEncodeError traceback there)
        raise ProtocolError(
            f"{where}: the token response holds a token that is not a bearer token "
            "(RFC 6750: letters, digits, '-._~+/', then '=')"
        )
    expires = doc.get("expires_in")
    if expires is None:
        return token, 60.0
    if (
        isinstance(expires, bool)
        or not isinstance(expires, (int, float))
        or not math.isfinite(expires)
    ):
        raise ProtocolError(f"{where}: the token response's expires_in is not a number")
    return token, float(expires)
