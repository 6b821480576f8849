"""Reading /etc/docker/daemon.json as dockerd reads it: absent, broken or parsed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harborkit.host.interface import Host
from harborkit.model.check import CheckContext, Finding, Status
from harborkit.yamlfile import JsonRefused, parse_json

DEFAULT_PATH = "/etc/docker/daemon.json"
TYPOGRAPHIC_QUOTES = "\u201c\u201d\u2018\u2019"


@dataclass(frozen=True)
class DaemonJson:
    """daemon.json as read: absent, broken (``error``) or parsed (``data``)."""

    path: str
    exists: bool
    data: Any = None
    error: Finding | None = None
    #: findings about a file dockerd still starts with (more after its JSON value)
    notes: tuple[Finding, ...] = ()

    @property
    def insecure_registries(self) -> list[str] | None:
        """The list when the file parsed and holds a list of strings, else None."""
        if not isinstance(self.data, dict):
            return None
        value = self.data.get("insecure-registries")
        if value is None:  # absent or null: dockerd starts with none
            return []
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
        first = _first_value(text, e)
        if first is None:
            message, location = json_problem(text, e, path)
            return DaemonJson(
                path, True, error=Finding(Status.FAIL, "daemon.json", message, location=location)
            )
        data = first
        notes = (
            Finding(
                Status.WARN,
                "daemon.json",
                f"line {e.lineno} column {e.colno}: more after the JSON object; dockerd "
                "reads the first value and ignores the rest (remove it)",
                location=f"{path}:{e.lineno}:{e.colno}",
            ),
        )
        if isinstance(data, dict):
            return DaemonJson(path, True, data, notes=notes)
    if data is None:  # "null": dockerd starts as with an empty file of settings
        data = {}
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


def _first_value(text: str, e: json.JSONDecodeError) -> Any:
    """The first JSON value of ``text`` when what breaks it is more text after
    that value (dockerd decodes one value and ignores the rest), else None."""
    if e.msg != "Extra data":
        return None
    try:
        return parse_json(text[: e.pos])
    except (json.JSONDecodeError, JsonRefused):
        return None


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
