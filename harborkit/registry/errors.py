"""The registry layer's exceptions, all exiting with :data:`ExitCode.REGISTRY` (10)."""

from __future__ import annotations

from harborkit.errors import ExitCode, HarborkitError


class RegistryError(HarborkitError):
    """Base of every error raised by ``harborkit.registry``."""

    exit_code = ExitCode.REGISTRY


class RegistryUnreachable(RegistryError):
    """The registry cannot be reached, or the connection broke mid-transfer."""


class AuthenticationFailed(RegistryError):
    """401: the credentials are wrong, or credentials are needed and none were given."""


class AccessDenied(RegistryError):
    """403: the credentials are valid but do not allow this operation."""


class NotFound(RegistryError):
    """404: unknown repository, tag, manifest or blob."""


class DigestMismatch(RegistryError):
    """The bytes received do not hash to the digest that named them."""


class UnsupportedManifest(RegistryError):
    """A manifest type harborkit does not handle (schema 1, no linux/amd64 entry...)."""


class ProtocolError(RegistryError):
    """The registry answered something the API does not allow."""
