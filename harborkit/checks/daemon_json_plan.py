"""The fix of daemon.json: the file repaired as valid JSON dockerd accepts, with
Harbor's address, and the restart of docker that makes dockerd read it."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from harborkit.checks import _harbor
from harborkit.checks.daemon_json_file import read_daemon_json
from harborkit.checks.dockerd_registry import covers, refused_entries, refused_keys
from harborkit.model.check import CheckContext
from harborkit.yamlfile import parse_json

if TYPE_CHECKING:
    from harborkit.model.change import Change


def _same_json(old: bytes, data: Any) -> bool:
    """``old`` is exactly one JSON value equal to ``data`` (nothing after it)."""
    try:
        return bool(json.loads(old) == data)
    except ValueError:
        return False


def repaired_json(ctx: CheckContext) -> tuple[dict[str, Any] | None, str]:
    """daemon.json as it should be: parsed (typographic quotes made plain),
    without the registry entries dockerd refuses (the guide's ``x.x.x.x:port``),
    with Harbor's address merged into insecure-registries when Harbor serves
    HTTP. (None, why) when the file cannot be repaired safely."""
    data, why, _ = _repair(ctx)
    return data, why


def _drop_refused(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Remove, in place, every registry entry dockerd refuses; return them."""
    dropped = refused_entries(data)
    for key in {key for key, _, _ in dropped}:
        gone = {entry for k, entry, _ in dropped if k == key}
        data[key] = [v for v in data[key] if v not in gone]
    return dropped


def _repair(ctx: CheckContext) -> tuple[dict[str, Any] | None, str, list[tuple[str, str, str]]]:
    dj = read_daemon_json(ctx)
    if not dj.exists:
        data: Any = {}
    elif dj.data is not None:
        data = dj.data
    else:
        try:
            text = ctx.host.read_text(dj.path)
        except OSError as e:
            return None, f"{dj.path}: cannot read: {e.strerror}", []
        plain = re.sub("[\u201c\u201d]", '"', re.sub("[\u2018\u2019]", "'", text))
        try:
            data = parse_json(plain, duplicates=True)
        except json.JSONDecodeError as e:  # JsonRefused too: NaN, a number out of range
            where = f"line {e.lineno} column {e.colno}: {e.msg}"
            return (
                None,
                f"{dj.path} is not JSON even with plain quotes ({where}): "
                "rewrite it by hand, keeping the keys it should have",
                [],
            )
    if not isinstance(data, dict):
        return (
            None,
            f"{dj.path} holds a JSON {type(data).__name__}, not an object: rewrite it by hand",
            [],
        )
    data = dict(data)
    dropped = _drop_refused(data)
    cfg, _ = _harbor.address_of(ctx)
    if cfg is not None and cfg.https is None and cfg.hostname is not None:
        entries = data.get("insecure-registries")
        if entries is None:  # absent or null
            entries = []
        if isinstance(entries, str):
            entries = [entries]
        if not isinstance(entries, list) or not all(isinstance(v, str) for v in entries):
            return (
                None,
                f"{dj.path}: insecure-registries is {json.dumps(entries)}, not a list of "
                "strings: rewrite it by hand",
                dropped,
            )
        if not any(covers(e, cfg.hostname, cfg.http_port) for e in entries):
            entries = [*entries, f"{cfg.hostname}:{cfg.http_port}"]
        data["insecure-registries"] = entries
    return data, "", dropped


def plan_daemon_json(ctx: CheckContext, check_id: str) -> list[Change]:
    """daemon.json rewritten as valid JSON keeping every other key, then a restart of docker."""
    from harborkit.model.change import ManualStep, file_change, read_bytes

    dj = read_daemon_json(ctx)
    data, why, dropped = _repair(ctx)
    if data is None:
        return [ManualStep((check_id,), why)]
    bad_keys = refused_keys(data)
    if bad_keys:  # never restart docker with a file it refuses
        key, reason = bad_keys[0]
        shown = json.dumps(key, ensure_ascii=False)
        return [
            ManualStep(
                (check_id,),
                f"{dj.path}: key {shown} is refused by dockerd ({reason}): correct it by hand",
            )
        ]
    still = refused_entries(data)
    if still:  # never restart docker with a file it refuses
        key, entry, reason = still[0]
        return [
            ManualStep(
                (check_id,),
                f"{dj.path}: {key} entry {json.dumps(entry)} is refused by dockerd ({reason}): correct it by hand",
            )
        ]
    changes: list[Change] = []
    cfg, _ = _harbor.address_of(ctx)
    harbor_known = cfg is not None and cfg.hostname is not None
    for key, entry, reason in dropped:
        shown = json.dumps(entry, ensure_ascii=False)
        if key == "insecure-registries" and harbor_known:
            continue  # replaced by Harbor's own address (or Harbor serves HTTPS)
        if key == "insecure-registries":
            todo = (
                'add Harbor\'s "<hostname>:<port>" to insecure-registries (harborkit does '
                "not know it here: give --install-dir or --harbor-config)"
            )
        else:
            todo = "add a valid mirror (http[s]://host[:port]) if this host needs one"
        changes.append(
            ManualStep(
                (check_id,),
                f"{dj.path} lists {key} {shown}, which dockerd refuses ({reason}): "
                f"the fix removes it; {todo}",
            )
        )
    if dj.exists or data:
        old = read_bytes(ctx.host, dj.path)
        if old is not None and dj.data is not None and _same_json(old, data):
            pass  # same content: keep the file's own formatting
        else:
            new = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
            c = file_change(
                check_id, ctx.host, dj.path, new, "valid JSON, every other key kept", whole=True
            )
            if c is not None:
                changes.append(c)
    return changes


def docker_restart(check_id: str, *, reload: bool) -> list[Change]:
    from harborkit.model.change import Command

    out: list[Change] = []
    if reload:
        out.append(
            Command(
                (check_id,),
                ("systemctl", "daemon-reload"),
                "read the changed docker.service drop-ins",
            )
        )
    out.append(
        Command(
            (check_id,),
            ("systemctl", "restart", "docker"),
            "dockerd reads daemon.json and its unit only at start",
            restarts_docker=True,
        )
    )
    return out
