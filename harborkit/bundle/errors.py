"""The bundle layer's exceptions: one class per failure, each with its exit code."""

from __future__ import annotations

# the Docker daemon does not answer / stops answering (exit 3): one class, shared with the checks
from harborkit.errors import DaemonTimeout as DaemonTimeout
from harborkit.errors import DaemonUnreachable as DaemonUnreachable
from harborkit.errors import ExitCode, HarborkitError


class BundleError(HarborkitError):
    """Base of every error raised by ``harborkit.bundle``."""

    exit_code = ExitCode.FAILED


class ManifestError(BundleError):
    """The bundle manifest (YAML) is unreadable or fails its schema (exit 2)."""

    exit_code = ExitCode.USAGE


class MetadataError(BundleError):
    """``harbor-bundle.json`` inside a bundle fails its schema (exit 2)."""

    exit_code = ExitCode.USAGE


class BundleCorrupt(BundleError):
    """A member is missing, extra, altered or truncated (exit 4)."""

    exit_code = ExitCode.BUNDLE_CORRUPT


class BundleHostile(BundleError):
    """A tar member is unsafe: absolute path, ``..``, link, device, duplicate (exit 5)."""

    exit_code = ExitCode.BUNDLE_HOSTILE


class ImageMissing(BundleError):
    """An image named by the manifest is not in the daemon and cannot be pulled (exit 6)."""

    exit_code = ExitCode.IMAGE_MISSING


class DownloadError(BundleError):
    """The installer could not be fetched or its checksum does not match (exit 7)."""

    exit_code = ExitCode.DOWNLOAD


class NoSpace(BundleError):
    """Not enough free space for the output (exit 8)."""

    exit_code = ExitCode.NO_SPACE


class LoadFailed(BundleError):
    """The daemon refused the images, or ids/tags differ after the load (exit 9)."""

    exit_code = ExitCode.LOAD_FAILED


class SaveFailed(BundleError):
    """The daemon's image export stopped or produced something unexpected (exit 1)."""

    exit_code = ExitCode.FAILED


class InstallTargetExists(BundleError):
    """Extracting the installer would overwrite an existing file (exit 2)."""

    exit_code = ExitCode.USAGE


class OutputError(BundleError):
    """The output file cannot be created or written (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


class BundleUnreadable(BundleError):
    """The bundle file does not exist or cannot be opened (exit 2)."""

    exit_code = ExitCode.USAGE


class InstallerInvalid(BundleError):
    """The installer given to ``build`` is no safe, complete gzip tar (exit 2)."""

    exit_code = ExitCode.USAGE
