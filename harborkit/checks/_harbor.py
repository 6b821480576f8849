"""harbor.yml, located and parsed once per run for every check that needs it.

The file comes from ``--harbor-config FILE`` or, with ``--install-dir DIR``,
from ``DIR/<name>`` for the names of the profile's ``harbor.config_names``.
Paths are paths on the audited host (inside ``--root`` for a sysroot).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any

import yaml

from harborkit.engine.interface import CheckContext, SkipCheck
from harborkit.errors import InputError
from harborkit.host.interface import Host, UnreadableFile
from harborkit.yamlfile import Located, parse_yaml

NO_CONFIG = "no harbor.yml given (--harbor-config or --install-dir)"
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
