"""Where to talk to: a registry host with its TLS and credential options (from the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harborkit.errors import InputError
from harborkit.registry.reference import DOCKER_HUB, check_host, normalize_registry

if TYPE_CHECKING:
    from harborkit.registry.client import RegistryClient


@dataclass(frozen=True)
class Endpoint:
    """A registry and how to reach it; credentials are resolved when a client is made."""

    host: str = DOCKER_HUB
    insecure: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    docker_config: Path | None = None

    def client(self, host: str | None = None, *, pool_size: int = 16) -> RegistryClient:
        """A client for ``host`` (default: this endpoint's host).

        Explicit ``username``/``password`` apply to this endpoint's host only;
        other hosts (an image reference naming its own registry) get the Docker
        config file's credentials, if any.
        """
        from harborkit.registry.auth import resolve_credentials
        from harborkit.registry.client import RegistryClient

        host = normalize_registry(host or self.host)
        mine = host == normalize_registry(self.host)
        creds = resolve_credentials(
            host,
            self.username if mine else None,
            self.password if mine else None,
            self.docker_config,
        )
        hint = None
        if creds is None:
            from harborkit.registry.auth import credential_helper

            helper = credential_helper(host, self.docker_config)
            if helper:
                hint = (
                    f"the Docker config keeps credentials in {helper}, which harborkit does not run"
                )
        return RegistryClient(
            host,
            insecure=self.insecure and mine,
            ca_file=self.ca_file if mine else None,
            credentials=creds,
            pool_size=pool_size,
            auth_hint=hint,
        )


def parse_from(value: str) -> str:
    """``registry`` -> Docker Hub; ``registry://HOST[:PORT]`` -> ``HOST[:PORT]``."""
    if value == "registry":
        return DOCKER_HUB
    prefix = "registry://"
    if "@" in value:
        check_host(value.removeprefix(prefix).split("/", 1)[0])  # refused, without echoing it
    if value.startswith(prefix) and len(value) > len(prefix) and "/" not in value[len(prefix) :]:
        return check_host(normalize_registry(value[len(prefix) :]))
    raise InputError(f"--from must be 'registry' or 'registry://HOST[:PORT]', not {value!r}")


def parse_host(value: str) -> str:
    """``HOST[:PORT]`` as given to ``--registry`` (a scheme or a path is refused)."""
    v = value.strip()
    if "@" in v:
        check_host(v)  # refuses credentials without echoing them
    if not v or "://" in v or "/" in v:
        raise InputError(f"--registry takes HOST[:PORT], not {value!r}")
    return check_host(normalize_registry(v))
