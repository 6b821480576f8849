"""harbor.yml, located and parsed once per run for every check that needs it.

The file comes from ``--harbor-config FILE`` or, with ``--install-dir DIR``,
from ``DIR/<name>`` for the names of the profile's ``harbor.config_names``.
Paths are paths on the audited host (inside ``--root`` for a sysroot).
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any

import yaml

from harborkit.checks.dockerd_registry import insecure_entry_refused
from harborkit.errors import InputError
from harborkit.host.interface import Host, UnreadableFile
from harborkit.model.check import CheckContext, SkipCheck
from harborkit.yamlfile import Located, parse_yaml

NO_CONFIG = "no harbor.yml given (--harbor-config or --install-dir)"
#: why Harbor's address is unknown on a host without harbor.yml
NO_ADDRESS = "no harbor.yml given (--harbor-config or --install-dir) and no --harbor address"
DEFAULT_HTTP_PORT = 80
DEFAULT_HTTPS_PORT = 443
NOTARY_PORT = 4443


class HarborConfigError(Exception):
    """harbor.yml was named but cannot be used: missing, unreadable, not YAML."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


@dataclass(frozen=True)
class HarborConfig:
    """A parsed harbor.yml (a mapping) and where each key sits in it."""

    path: str
    doc: Located

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data  # type: ignore[no-any-return]

    def get(self, *key: str) -> Any:
        """The value at a dotted path, or None when any part is missing."""
        node: Any = self.data
        for part in key:
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return node

    def where(self, *key: str | int) -> str:
        return self.doc.where(key)

    @property
    def hostname(self) -> str | None:
        value = self.get("hostname")
        return str(value) if value is not None else None

    @property
    def https(self) -> dict[str, Any] | None:
        """The https section when HTTPS is on (prepare treats an empty one as off)."""
        value = self.get("https")
        return value if isinstance(value, dict) and value else None

    @property
    def http_port(self) -> int:
        port = self.get("http", "port")
        return port if isinstance(port, int) else DEFAULT_HTTP_PORT

    @property
    def https_port(self) -> int | None:
        if self.https is None:
            return None
        port = self.https.get("port")
        return port if isinstance(port, int) else DEFAULT_HTTPS_PORT

    @property
    def registry_address(self) -> str | None:
        """``host:port`` that docker clients use for a plain-HTTP Harbor."""
        if self.hostname is None:
            return None
        return f"{self.hostname}:{self.http_port}"

    def ports(self) -> list[int]:
        """Ports Harbor's nginx publishes: http, and https plus Notary's 4443 when on."""
        ports = [self.http_port]
        if self.https_port is not None:
            ports += [self.https_port, NOTARY_PORT]
        return list(dict.fromkeys(ports))

    def path_setting(self, *key: str) -> str | None:
        """A path-valued setting when it is an absolute path, else None."""
        value = self.get(*key)
        return value if isinstance(value, str) and value.startswith("/") else None


def config_path(ctx: CheckContext) -> str | None:
    """Where harbor.yml should be on the audited host, or None when not given."""
    if ctx.options.harbor_config:
        return _absolute(ctx.host, ctx.options.harbor_config)
    if ctx.options.install_dir:
        base = _absolute(ctx.host, ctx.options.install_dir)
        names = (ctx.profile.get("harbor") or {}).get("config_names") or ["harbor.yml"]
        candidates = [posixpath.join(base, n) for n in names]
        for candidate in candidates:
            if ctx.host.exists(candidate):
                return candidate
        return candidates[0]
    return None


def find_install_dir(host: Host, path: str, names: list[str] | None = None) -> str:
    """The Harbor folder that ``--install-dir path`` means: ``path`` itself when it
    holds harbor.yml, else ``path/harbor`` (``bundle load --install-dir`` unpacks
    there). :class:`InputError` (exit 2) naming what was looked for otherwise."""
    names = names or ["harbor.yml"]
    if not host.is_dir(path):
        what = "no such folder" if not host.exists(path) else "not a folder"
        raise InputError(f"--install-dir {path}: {what}")
    candidates = [path, posixpath.join(path, "harbor")]
    for folder in candidates:
        if any(host.exists(posixpath.join(folder, n)) for n in names):
            return folder
    looked = " or ".join(posixpath.join(f, n) for f in candidates for n in names)
    raise InputError(
        f"--install-dir {path}: no {' or '.join(names)} found (looked for {looked}); "
        "give the folder holding harbor.yml or the one bundle load unpacked into"
    )


def _absolute(host: Host, path: str) -> str:
    if path.startswith("/") or not host.live:
        return path if path.startswith("/") else "/" + path
    return os.path.abspath(path)


def load(ctx: CheckContext) -> HarborConfig:
    """The run's harbor.yml. Raises :class:`SkipCheck` when none was given and
    :class:`HarborConfigError` when it was given but cannot be used."""
    path = config_path(ctx)
    if path is None:
        raise SkipCheck(NO_CONFIG)
    return ctx.memo(f"harbor.yml:{path}", lambda: read(ctx.host, path))


def load_optional(ctx: CheckContext) -> tuple[HarborConfig | None, str]:
    """``(config, "")`` or ``(None, why there is none)`` for checks that can do without."""
    try:
        return load(ctx), ""
    except SkipCheck as e:
        return None, str(e)
    except HarborConfigError as e:
        return None, f"harbor.yml unusable: {e.message}"


def read(host: Host, path: str) -> HarborConfig:
    try:
        text = host.read_text(path)
    except FileNotFoundError:
        raise HarborConfigError(f"{path}: no such file", path) from None
    except UnreadableFile as e:
        raise HarborConfigError(str(e), path) from None
    except OSError as e:
        raise HarborConfigError(f"{path}: cannot read: {e.strerror}", path) from e
    try:
        doc = parse_yaml(text, path)
    except InputError as e:
        cause = e.__cause__
        location = path
        if isinstance(cause, yaml.MarkedYAMLError):
            mark = cause.problem_mark or cause.context_mark
            if mark is not None:
                location = f"{path}:{mark.line + 1}:{mark.column + 1}"
        raise HarborConfigError(e.message, location) from e
    if not isinstance(doc.data, dict):
        raise HarborConfigError(f"{path}: not a mapping of settings", doc.where())
    return HarborConfig(path, doc)


@dataclass(frozen=True)
class HarborAddress:
    """Harbor's address where no harbor.yml is at hand (a Docker client node):
    ``--harbor`` or the profile's ``harbor.address``. It answers what the
    client-side checks ask of a harbor.yml: host, port, plain HTTP or not."""

    hostname: str
    port: int
    secure: bool
    path: str  # where it came from, as the findings name it

    @property
    def https(self) -> dict[str, Any] | None:
        return {"port": self.port} if self.secure else None

    @property
    def http_port(self) -> int:
        return DEFAULT_HTTP_PORT if self.secure else self.port

    @property
    def registry_address(self) -> str:
        return f"{self.hostname}:{self.port}"


_ADDRESS = re.compile(
    r"(?:(?P<scheme>(?i:https?))://)?(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?/?",
    re.ASCII,
)


def parse_address(text: str, source: str = "--harbor") -> HarborAddress:
    """``http[s]://HOST[:PORT]`` or ``HOST[:PORT]`` (plain HTTP, Harbor v1.8.0's
    default); :class:`InputError` (exit 2) naming ``source`` otherwise."""
    m = _ADDRESS.fullmatch(text.strip())
    port = int(m.group("port")) if m and m.group("port") else None
    # a name dockerd cannot list (a..b, a.-b) is no address docker can reach either
    if (
        m is None
        or (port is not None and not 1 <= port <= 65535)
        or insecure_entry_refused(f"{m.group('host')}:{port or 80}") is not None
    ):
        raise InputError(
            f"{source} {text!r}: not a Harbor address (http[s]://HOST[:PORT] or HOST[:PORT])"
        )
    secure = (m.group("scheme") or "").lower() == "https"
    default = DEFAULT_HTTPS_PORT if secure else DEFAULT_HTTP_PORT
    return HarborAddress(m.group("host"), port or default, secure, source)


def address_of(ctx: CheckContext) -> tuple[HarborConfig | HarborAddress | None, str]:
    """Harbor as a Docker client sees it: the run's harbor.yml when one is given,
    else ``--harbor`` / the profile's ``harbor.address``; ``(None, why)`` when
    neither is known."""
    cfg, why = load_optional(ctx)
    if cfg is not None or why != NO_CONFIG:
        return cfg, why
    given = (ctx.profile.get("harbor") or {}).get("address")
    if not given:
        return None, NO_ADDRESS
    try:
        return parse_address(str(given), "--harbor"), ""
    except InputError as e:
        return None, e.message
