"""The project's exception family.

Every layer raises a subclass of :class:`HarborkitError`; only the CLI turns
one into a message and an exit code. Each subclass carries its exit code so
that the CLI never has to know the layer it came from.
"""

from __future__ import annotations


class ExitCode:
    """Process exit codes shared by every command."""

    OK = 0
    FAILED = 1  # the audit found failures / the bundle is not intact
    USAGE = 2  # bad command line or bad input file (profile, waivers, harbor.yml ...)
    ENVIRONMENT = 3  # the machine is not as needed: daemon unreachable, disk full ...
    # bundle-specific codes (distinct so that scripts can tell them apart)
    BUNDLE_CORRUPT = 4  # checksum mismatch, truncated, missing or extra member
    BUNDLE_HOSTILE = 5  # unsafe member: absolute path, '..', link, device
    IMAGE_MISSING = 6  # an image named by the manifest is not available
    DOWNLOAD = 7  # installer download failed or its checksum does not match
    NO_SPACE = 8  # not enough free space for the output
    LOAD_FAILED = 9  # the daemon refused an image or ids do not match after load
    REGISTRY = 10  # registry protocol / auth failure
    UNREACHABLE = 11  # check: a host could not be audited (the others are reported)
    FIX_REFUSED = 12  # fix: a file changed since the plan, or a restart needs --restart-docker
    SIGNATURE = 13  # bundle unsigned, signed by another key, or its signature does not match
    DELTA_BASE = 14  # a delta bundle's base images are not on the target
    FIX_LOCKED = 15  # fix --host: another fix holds the host's lock, or left it (stale)
    INTERRUPTED = 130


class HarborkitError(Exception):
    """Base of every error harborkit reports to the user."""

    exit_code: int = ExitCode.USAGE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class InputError(HarborkitError):
    """A file or option given by the user is malformed (exit 2)."""

    exit_code = ExitCode.USAGE


class EnvironmentProblem(HarborkitError):
    """The machine lacks something harborkit needs to do its job (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


class DaemonUnreachable(EnvironmentProblem):
    """The Docker daemon does not answer (exit 3). Here, not in :mod:`harborkit.dockerapi`
    (which re-exports it), so that the bundle layer names it without the daemon client."""


class DaemonTimeout(EnvironmentProblem):
    """The Docker daemon stopped answering in the middle of a call (exit 3)."""
