"""Image references: ``[registry/]repository[:tag][@digest]`` with Docker's defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harborkit.errors import InputError
from harborkit.ipaddr import parse_ip

DOCKER_HUB = "registry-1.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)  # \w as Docker's (Go's) grammar: ASCII
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?", re.ASCII
)


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference; ``tag`` or ``digest`` (or both) is set."""

    registry: str  # host[:port]; Docker Hub is ``registry-1.docker.io``
    repository: str  # e.g. ``goharbor/harbor-core``, ``library/busybox``
    tag: str | None = None
    digest: str | None = None

    @property
    def ref(self) -> str:
        """What to ask the manifest endpoint for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def short(self) -> str:
        """``repository:tag`` without the registry (the name an image has in a bundle)."""
        return f"{self.repository}:{self.tag or 'latest'}"


def check_host(host: str) -> str:
    """``host[:port]`` or refuse it (credentials, paths and schemes have no place in it)."""
    if "@" in host:
        raise InputError(
            f"registry {host.rsplit('@', 1)[1]!r}: credentials in the registry address are "
            "not accepted (they would be printed and stored); give --username and the password "
            "in HARBORKIT_REGISTRY_PASSWORD (or --password)"
        )
    if not _HOST.fullmatch(host):  # (ASCII digits: int() reads any, "５０００" too)
        raise InputError(f"registry address {host!r} is not HOST[:PORT]")
    port = host.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in host.rsplit("]", 1)[-1] else ""
    if port and not 0 < int(port) < 65536:
        raise InputError(f"registry address {host!r}: port {port} is not from 1 to 65535")
    if host.startswith("["):  # only an IPv6 address goes in brackets ([127.0.0.1] is refused)
        try:
            parse_ip(host[1 : host.index("]")], version=6)
        except ValueError:
            raise InputError(
                f"registry address {host!r} is not HOST[:PORT] (brackets hold an IPv6 address)"
            ) from None
    return host


def is_path_component(text: str) -> bool:
    """True for one component of a repository path by the distribution grammar
    (``[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*``), e.g. a Harbor project name."""
    return len(text) <= 255 and bool(_COMPONENT.fullmatch(text))


def is_docker_hub(host: str) -> bool:
    """True for any of Docker Hub's names."""
    return host in _HUB_ALIASES


def normalize_registry(host: str) -> str:
    """Docker Hub's aliases -> ``registry-1.docker.io``; others unchanged (lower-cased)."""
    host = host.strip().lower().rstrip("/")
    return DOCKER_HUB if is_docker_hub(host) else host


def _looks_like_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def parse_reference(text: str, *, default_registry: str = DOCKER_HUB) -> ImageReference:
    """Parse ``text`` the way ``docker pull`` does.

    The first path component is a registry when it contains ``.`` or ``:`` or is
    ``localhost``; otherwise the image lives on ``default_registry``. On Docker
    Hub a single-component name gets the ``library/`` prefix. No tag and no
    digest means ``latest``.
    """
    original = text
    text = text.strip()
    if not text.isascii() or any(c.isspace() or not c.isprintable() for c in text):
        # (``$`` matches before a final newline: "a/b\n:v1" passed as repository "a/b\n")
        raise InputError(
            f"image reference {original!r} holds whitespace, a control or a non-ASCII character"
        )
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise InputError(f"image reference {original!r} has a malformed digest")
    first, sep, rest = text.partition("/")
    if sep and _looks_like_host(first):
        registry, path = normalize_registry(first), rest
    else:
        registry, path = normalize_registry(default_registry), text
    tag: str | None = None
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise InputError(f"image reference {original!r} has a malformed tag")
    if not path or not all(_COMPONENT.fullmatch(c) for c in path.split("/")):
        raise InputError(f"image reference {original!r} has a malformed repository name")
    if is_docker_hub(registry) and "/" not in path:
        path = f"library/{path}"
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(registry=registry, repository=path, tag=tag, digest=digest)
