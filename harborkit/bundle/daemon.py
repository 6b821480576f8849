"""Connecting to the Docker daemon (the SDK is imported here, lazily)."""

from __future__ import annotations

import os
from typing import Any

from harborkit.bundle.errors import DaemonUnreachable

DEFAULT_HOST = "unix:///var/run/docker.sock"


def daemon_address() -> str:
    """The daemon address the SDK will use (``DOCKER_HOST`` or the default socket)."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def short_reason(e: BaseException) -> str:
    """First line of an exception's text, without the SDK's long URL prefixes."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300]


def connect(timeout: int = 600) -> Any:
    """A ``docker.DockerClient`` from the environment, checked with ``/_ping``.

    Raises :class:`DaemonUnreachable` naming the address when it does not answer.
    """
    import docker

    address = daemon_address()
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:  # the SDK raises DockerException, requests' and OS errors
        raise DaemonUnreachable(
            f"cannot reach the Docker daemon at {address}: {short_reason(e)}"
        ) from e
    return client
