"""What the post-install checks know of the running stack: the services of
``DIR/docker-compose.yml`` (written by ``./prepare``) and what the audited
host's Docker says of their containers (``docker inspect``, run on that host)."""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from dataclasses import dataclass
from typing import Any

from harborkit.checks import _harbor
from harborkit.checks.ports import compose_file
from harborkit.host.interface import NotAvailable
from harborkit.model.check import CheckContext, SkipCheck

#: seconds between the two reads that tell a restarting container (HARBORKIT_POST_SETTLE)
DEFAULT_SETTLE = 2.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", re.ASCII)


class StackError(Exception):
    """The stack cannot be judged (compose file or Docker unusable); one line."""


@dataclass(frozen=True)
class Service:
    name: str  # the compose service (log, registry, proxy ...)
    container: str  # its container_name (harbor-log, registry, nginx ...)
    image: str
    healthcheck: bool
    where: str  # file:line of the service in docker-compose.yml


@dataclass(frozen=True)
class Stack:
    compose_path: str
    project: str  # docker-compose's project name: the folder's name
    services: tuple[Service, ...]
    networks: tuple[str, ...]  # the compose file's network keys
    config: _harbor.HarborConfig


def settle_seconds() -> float:
    try:
        value = float(os.environ.get("HARBORKIT_POST_SETTLE", DEFAULT_SETTLE))
    except ValueError:
        return DEFAULT_SETTLE
    return value if 0 <= value <= 60 else DEFAULT_SETTLE


def project_name(folder: str) -> str:
    """docker-compose 1.x: the folder's base name, lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", posixpath.basename(folder.rstrip("/")).lower())


def load(ctx: CheckContext) -> Stack:
    return ctx.memo("post.stack", lambda: _load(ctx))


def _load(ctx: CheckContext) -> Stack:
    cfg, why = _harbor.load_optional(ctx)
    if cfg is None:
        raise SkipCheck(f"{why} (the post-install checks read DIR/harbor.yml: --install-dir DIR)")
    path, doc, problem = compose_file(ctx.host, cfg)
    if doc is None:
        raise StackError(f"{path}: {problem}")
    services = doc.data.get("services") if isinstance(doc.data, dict) else None
    if not isinstance(services, dict) or not services:
        raise StackError(f"{path}: no services")
    found = []
    for name, spec in services.items():
        if not isinstance(spec, dict):
            raise StackError(f"{doc.where(('services', name))}: service {name!r} is not a mapping")
        # docker-compose 1.x names a container without container_name PROJECT_SERVICE_1
        container = (
            spec.get("container_name") or f"{project_name(posixpath.dirname(path))}_{name}_1"
        )
        if not isinstance(container, str) or not _NAME.fullmatch(container):
            raise StackError(
                f"{doc.where(('services', name))}: service {name!r} has no usable container_name"
            )
        hc = spec.get("healthcheck")
        has_hc = isinstance(hc, dict) and not hc.get("disable") and hc.get("test") != ["NONE"]
        found.append(
            Service(
                str(name),
                container,
                str(spec.get("image", "")),
                has_hc,
                doc.where(("services", name)),
            )
        )
    networks = doc.data.get("networks")
    keys = tuple(str(k) for k in networks) if isinstance(networks, dict) else ()
    folder = posixpath.dirname(path)
    return Stack(path, project_name(folder), tuple(found), keys, cfg)


def docker_json(ctx: CheckContext, argv: list[str]) -> tuple[list[dict[str, Any]], str]:
    """``docker ...`` on the audited host whose output is a JSON array; ``(items, stderr)``.
    :class:`StackError` when Docker cannot be asked or answers nonsense."""
    try:
        r = ctx.host.run(["docker", *argv], timeout=30)
    except NotAvailable:
        raise
    if r.rc == 127:
        raise StackError("the docker CLI is not installed on the host")
    text = r.stdout.strip()
    if not text:
        if r.rc == 0:
            return [], r.stderr
        last = (r.stderr.strip().splitlines() or [f"docker exited with {r.rc}"])[-1]
        if "No such" in last:
            return [], r.stderr
        raise StackError(
            f"docker {argv[0]} {argv[1] if len(argv) > 1 else ''}: {last[:200]}".strip()
        )
    try:
        items = json.loads(text)
    except ValueError:
        raise StackError(f"docker {argv[0]}: answered something that is not JSON") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise StackError(f"docker {argv[0]}: answered JSON that is not a list of objects")
    return items, r.stderr


def inspect(ctx: CheckContext, stack: Stack) -> dict[str, dict[str, Any]]:
    """Container name -> ``docker inspect`` of it, for the containers that exist."""
    names = [s.container for s in stack.services]
    items, _ = docker_json(ctx, ["inspect", "--type", "container", *names])
    by_name = {}
    for item in items:
        name = str(item.get("Name", "")).lstrip("/")
        if name in names:
            by_name[name] = item
    return by_name


def inspect_twice(ctx: CheckContext, stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    def both() -> tuple[dict[str, Any], dict[str, Any]]:
        first = inspect(ctx, stack)
        time.sleep(settle_seconds())
        return first, inspect(ctx, stack)

    return ctx.memo("post.inspect", both)


def last_log_line(ctx: CheckContext, container: str) -> str:
    try:
        r = ctx.host.run(["docker", "logs", "--tail", "1", container], timeout=15)
    except NotAvailable:
        return ""
    lines = (r.stdout + "\n" + r.stderr).strip().splitlines()
    return lines[-1].strip()[:200] if lines else ""


def get(item: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item
