"""The installer archive a bundle carries: where it comes from, fetching it, checking it.

A download has a deadline and a floor under its speed (a server that stalls or
trickles fails with :class:`DownloadError` naming it). Whatever the source, the
archive must be what ``verify`` accepts: a plain ``*.tgz`` name, a complete
gzip stream of a tar whose members are safe; the build refuses anything else
before a byte of it enters the bundle.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import tempfile
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from harborkit.bundle.errors import BundleError, DownloadError, InstallerInvalid
from harborkit.bundle.manifest import BundleManifest
from harborkit.bundle.progress import Progress
from harborkit.bundle.tarsafe import check_installer, installer_name_reason
from harborkit.bundle.tools import DOWNLOAD_DEADLINE, DOWNLOAD_STALL
from harborkit.dockerapi import short_reason
from harborkit.transfer import open_url
from harborkit.watch import StreamWatch

CHUNK = 1 << 20
#: in memory up to this size, then in an unnamed temporary file
_SPOOL_MEMORY = 64 << 20


@dataclass(frozen=True)
class InstallerSource:
    """Where the installer comes from: a local path or an http(s) URL."""

    source: str
    name: str
    expected_sha256: str | None

    @property
    def is_url(self) -> bool:
        """True for ``http://`` and ``https://`` sources."""
        return "://" in self.source

    @property
    def local_size(self) -> int:
        """Size of a local file (0 for a URL or a missing file): for the space estimate."""
        if self.is_url:
            return 0
        with contextlib.suppress(OSError):
            return Path(self.source).stat().st_size
        return 0


def installer_source(manifest: BundleManifest, override: str | None) -> InstallerSource:
    """The manifest's installer, or ``override`` (a path or URL) in its place."""
    spec = manifest.installer
    if override is None:
        return InstallerSource(spec.url, spec.name, spec.sha256)
    if "://" in override:
        name = posixpath.basename(override.split("?", 1)[0].rstrip("/"))
    else:
        name = Path(override).name
    expected = spec.sha256 if name == spec.name else None
    return InstallerSource(override, name or spec.name, expected)


@dataclass
class FetchedInstaller:
    """The installer's bytes (rewound), their size and sha256."""

    file: BinaryIO
    size: int
    sha256: str


def _copy_download(
    src: BinaryIO, dst: BinaryIO, source: str, progress: Progress, length: int | None
) -> tuple[int, str]:
    task = progress.task("installer", length)
    watch = StreamWatch(
        window=DOWNLOAD_STALL,
        deadline=DOWNLOAD_DEADLINE,
        fail=lambda why: DownloadError(f"download of installer {source} {why}"),
    )
    h = hashlib.sha256()
    size = 0
    try:
        while True:
            watch.tick(0)
            chunk = src.read(CHUNK)
            if not chunk:
                break
            watch.tick(len(chunk))
            h.update(chunk)
            dst.write(chunk)
            size += len(chunk)
            task.advance(len(chunk))
    except BundleError:
        raise
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        if isinstance(e, TimeoutError) or "timed out" in str(e):
            raise DownloadError(
                f"download of installer {source} stalled: nothing for {DOWNLOAD_STALL:g} s"
            ) from e
        raise DownloadError(f"download of installer {source} failed: {short_reason(e)}") from e
    finally:
        task.done()
    return size, h.hexdigest()


@contextlib.contextmanager
def _open_url(source: str) -> Iterator[tuple[BinaryIO, int | None]]:
    if not source.startswith(("http://", "https://")):
        raise DownloadError(f"unsupported installer URL {source}: only http and https")
    try:
        resp = open_url(  # a trickle holds neither the answer nor a read past the deadline
            source,
            timeout=DOWNLOAD_STALL,
            deadline=DOWNLOAD_DEADLINE,
            fail=lambda why: DownloadError(f"download of installer {source} {why}"),
        )
    except urllib.error.HTTPError as e:
        raise DownloadError(f"cannot download installer {source}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            reason = f"no answer within {DOWNLOAD_STALL:g} s"
        raise DownloadError(f"cannot download installer {source}: {reason}") from e
    with resp:
        length = resp.headers.get("Content-Length")
        yield resp, int(length) if length and length.isdigit() else None  # type: ignore[misc]


def fetch_installer(src: InstallerSource, progress: Progress, spool_dir: Path) -> FetchedInstaller:
    """The installer, downloaded (or opened), size- and sha256-checked and safety-checked.

    A download is kept in memory or an unnamed file in ``spool_dir`` (nothing is
    left behind). :class:`InstallerInvalid` when verify would refuse it.
    """
    reason = installer_name_reason(src.name)
    if reason:
        raise InstallerInvalid(f"installer name {src.name!r} {reason}")
    if src.is_url:
        spool = tempfile.SpooledTemporaryFile(_SPOOL_MEMORY, dir=str(spool_dir))  # noqa: SIM115
        with _open_url(src.source) as (resp, length):
            size, digest = _copy_download(resp, spool, src.source, progress, length)  # type: ignore[arg-type]
        if length is not None and size != length:
            raise DownloadError(
                f"installer {src.source} is truncated: got {size} of {length} bytes"
            )
        f: BinaryIO = spool  # type: ignore[assignment]
    else:
        try:
            f = open(src.source, "rb")  # noqa: SIM115 - handed to the caller
        except OSError as e:
            raise DownloadError(f"cannot read installer {src.source}: {e.strerror or e}") from e
        h = hashlib.sha256()
        while chunk := f.read(CHUNK):
            h.update(chunk)
        size, digest = f.tell(), h.hexdigest()
    if src.expected_sha256 and digest != src.expected_sha256:
        f.close()
        raise DownloadError(
            f"installer {src.source} has sha256 {digest}, expected {src.expected_sha256}"
        )
    try:
        check_installer(f, f"installer {src.source}", size=size)
    except BundleError as e:
        f.close()
        raise InstallerInvalid(f"{e.message}; a bundle must carry a safe, complete gzip tar") from e
    f.seek(0)
    return FetchedInstaller(f, size, digest)
