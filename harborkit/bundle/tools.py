"""Extra files a bundle carries (tools such as docker-compose): fetch, check, install.

A manifest lists each file with its source URL, its sha256 (or the URL of the
upstream checksum file), where it is installed and with which mode. At build
time the bytes are streamed into the bundle as ``files/<name>`` and checked;
``bundle load --install-tools`` writes each one next to its target under a
temporary name, checks the bytes again, sets the mode and renames it into place,
refusing to replace a different existing file unless forced.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import stat
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from harborkit.bundle.errors import DownloadError, InstallTargetExists, OutputError
from harborkit.bundle.format import FileRecord, file_member
from harborkit.errors import InputError
from harborkit.fsutil import AtomicFile, atomic_file, temp_name
from harborkit.netutil import env_seconds
from harborkit.transfer import WatchedReader, open_url

CHUNK = 1 << 20
_MAX_SUMS = 1 << 20
#: a carried file (``--file NAME=PATH|URL`` or the manifest's URL) larger than this is refused
MAX_FILE = 512 << 20
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class FileSpec:
    """An extra file as the manifest describes it."""

    name: str
    url: str
    install_path: str
    mode: int
    sha256: str | None = None
    sha256_url: str | None = None
    size: int | None = None  # bytes, when the manifest pins them


def parse_file_option(values: list[str]) -> dict[str, str]:
    """``--file NAME=PATH|URL`` options -> {name: source}."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, source = v.partition("=")
        if not sep or not name or not source:
            raise InputError(f"--file {v!r}: expected NAME=PATH or NAME=URL")
        if name in out:
            raise InputError(f"--file {name} is given twice")
        out[name] = source
    return out


# --------------------------------------------------------------------------- fetching


#: a download fails when fewer than 64 KiB arrive in this many seconds
DOWNLOAD_STALL = env_seconds("HARBORKIT_DOWNLOAD_STALL", 60.0)
#: and when it takes longer than this in all
DOWNLOAD_DEADLINE = env_seconds("HARBORKIT_DOWNLOAD_DEADLINE", 3600.0)


@contextlib.contextmanager
def open_source(source: str, what: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """A local path or http(s) URL as a stream and its length when known."""

    def fail(why: str) -> DownloadError:
        return DownloadError(f"download of {what} from {source} {why}")

    if source.startswith(("http://", "https://")):
        try:  # a trickle holds neither the answer nor a read past the deadline
            resp = open_url(source, timeout=DOWNLOAD_STALL, deadline=DOWNLOAD_DEADLINE,
                            max_bytes=MAX_FILE, fail=fail)  # fmt: skip
        except urllib.error.HTTPError as e:
            raise DownloadError(
                f"cannot download {what} from {source}: HTTP {e.code} {e.reason}"
            ) from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(f"cannot download {what} from {source}: {reason}") from e
        with resp:
            length = resp.headers.get("Content-Length")
            yield resp, int(length) if length and length.isdigit() else None  # type: ignore[misc]
        return
    if "://" in source:
        raise DownloadError(f"unsupported URL for {what}: {source} (only http and https)")
    try:  # O_NONBLOCK: a FIFO does not hang the open; only a regular file is read
        f = os.fdopen(os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb")
    except OSError as e:
        raise DownloadError(f"cannot read {what} {source}: {e.strerror or e}") from e
    with f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise DownloadError(f"cannot read {what} {source}: not a regular file")
        if st.st_size > MAX_FILE:
            raise DownloadError(f"{what} {source} is larger than {MAX_FILE >> 20} MiB")
        os.set_blocking(f.fileno(), True)
        with WatchedReader(
            f, stall=DOWNLOAD_STALL, deadline=DOWNLOAD_DEADLINE, max_bytes=MAX_FILE, fail=fail
        ) as src:
            yield src, st.st_size  # type: ignore[misc]


def parse_checksum_file(text: str, file_name: str, where: str) -> str:
    """The sha256 for ``file_name`` in an upstream checksum file (``<hex>  name`` lines or one hex)."""
    found: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or not _HEX.match(parts[0]):
            continue
        name = parts[1].lstrip("*") if len(parts) > 1 else None
        if name is None or posixpath.basename(name) == file_name:
            found.append(parts[0].lower())
    if len(set(found)) != 1:
        raise DownloadError(f"checksum file {where} has no single sha256 for {file_name}")
    return found[0]


def expected_sha256(spec: FileSpec) -> str | None:
    """The sha256 the manifest pins, or the one its upstream checksum file gives."""
    if spec.sha256:
        return spec.sha256
    if not spec.sha256_url:
        return None
    with open_source(spec.sha256_url, f"checksum file of {spec.name}") as (src, _):
        raw = src.read(_MAX_SUMS + 1)
    if len(raw) > _MAX_SUMS:
        raise DownloadError(f"checksum file {spec.sha256_url} is larger than 1 MiB")
    file_name = posixpath.basename(spec.url.split("?", 1)[0])
    return parse_checksum_file(raw.decode("utf-8", "replace"), file_name, spec.sha256_url)


def stream_file(
    source: str,
    what: str,
    write: Callable[[bytes], object],
    expected: str | None,
) -> tuple[int, str]:
    """Copy ``source`` through ``write``; return (size, sha256); :class:`DownloadError` on mismatch."""
    h = hashlib.sha256()
    size = 0
    with open_source(source, what) as (src, length):
        try:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                write(chunk)
                size += len(chunk)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise DownloadError(f"download of {what} from {source} failed: {e}") from e
        if length is not None and size != length:
            raise DownloadError(f"{what} from {source} is truncated: got {size} of {length} bytes")
    digest = h.hexdigest()
    if expected and digest != expected:
        raise DownloadError(f"{what} from {source} has sha256 {digest}, expected {expected}")
    return size, digest


# --------------------------------------------------------------------------- installing


@dataclass(frozen=True)
class Installed:
    """One file the load installed (or found already in place)."""

    record: FileRecord
    path: Path
    replaced: bool
    unchanged: bool


def target_path(record: FileRecord, prefix: Path) -> Path:
    """Where ``record`` goes under ``prefix``; the install path must be absolute and plain."""
    p = PurePosixPath(record.install_path)
    if not p.is_absolute() or ".." in p.parts:
        raise InputError(
            f"install path {record.install_path!r} of {record.name} is not a plain absolute path"
        )
    return prefix / p.relative_to("/")


def _sha256_path(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def plan_install(
    records: list[FileRecord], prefix: Path, *, force: bool
) -> list[tuple[FileRecord, Path, bool]]:
    """Check every target before anything is written: (record, target, exists-and-identical)."""
    plan: list[tuple[FileRecord, Path, bool]] = []
    for rec in records:
        target = target_path(rec, prefix)
        same = False
        if target.is_symlink() or target.exists():
            if not target.is_file() or target.is_symlink():
                if not force:
                    raise InstallTargetExists(
                        f"{target} exists and is not a regular file; not replacing it with "
                        f"{rec.name} (--force replaces it)"
                    )
            elif _sha256_path(target) == rec.sha256:
                same = True
            elif not force:
                raise InstallTargetExists(
                    f"{target} exists and differs from the bundle's {rec.name}; not replacing it "
                    "(--force replaces it)"
                )
        plan.append((rec, target, same))
    return plan


def install_one(rec: FileRecord, target: Path, read_member: Callable[[], Iterator[bytes]]) -> None:
    """Write ``target`` atomically from the member's bytes, checking them, with the record's mode."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {target.parent}: {e.strerror or e}") from e
    try:
        af = AtomicFile.at(target, mode=rec.mode)
        af.open()
    except OSError as e:
        raise OutputError(
            f"cannot write {target.with_name(temp_name(target.name))}: {e.strerror or e}"
        ) from e
    try:
        with atomic_file(af) as out:
            h = hashlib.sha256()
            for chunk in read_member():
                h.update(chunk)
                out.write(chunk)
            if h.hexdigest() != rec.sha256:
                from harborkit.bundle.errors import BundleCorrupt

                raise BundleCorrupt(
                    f"{rec.member} read back with sha256 {h.hexdigest()}, expected {rec.sha256}"
                )
    except OSError as e:
        raise OutputError(f"cannot install {target}: {e.strerror or e}") from e


# --------------------------------------------------------------------------- building


def _ways_out(spec: FileSpec) -> str:
    return (
        f" (offline: --file {spec.name}=PATH carries a local copy, "
        "--no-tools carries none of the manifest's files)"
    )


def _pin_hint(spec: FileSpec, source: str, override: str | None) -> str:
    path = override if override and "://" not in override else "PATH"
    return (
        f" (to carry another {spec.name}, pin it: harborkit bundle manifest init "
        f"--file {spec.name}={path} -o site.yaml, then bundle build --manifest site.yaml)"
    )


def add_file(writer: Any, spec: FileSpec, override: str | None, progress: Any) -> FileRecord:
    """Stream ``spec`` (or the local copy ``override``) into ``writer`` as ``files/<name>``.

    The bytes must match the manifest's sha256 (and size, when pinned), or the
    sha256 its upstream checksum file gives; a mismatch fails the build (the
    partial bundle is removed). A failed download of the manifest's own URL
    names the two ways out (``--file NAME=PATH``, ``--no-tools``); a mismatch
    says how to pin another file (``bundle manifest init``).
    """
    source = override or spec.url
    try:
        expected = expected_sha256(spec)
    except DownloadError as e:  # the pin's own checksum file: a local copy needs a pin too
        hint = _pin_hint(spec, source, override) if override else _ways_out(spec)
        raise DownloadError(e.message + hint) from e
    what = f"file {spec.name}"
    try:
        with open_source(source, what) as (src, length):
            if spec.size is not None and length is not None and length != spec.size:
                raise _Mismatch(f"{what} from {source} is {length} bytes, expected {spec.size}")
            task = progress.task(spec.name[:28], length)
            try:
                size, digest = writer.add_stream(file_member(spec.name), src, task=task)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                raise DownloadError(f"download of {what} from {source} failed: {e}") from e
            finally:
                task.done()
    except _Mismatch as e:
        raise DownloadError(e.message + _pin_hint(spec, source, override)) from e
    except DownloadError as e:
        raise DownloadError(e.message + ("" if override else _ways_out(spec))) from e
    if length is not None and size != length:
        raise DownloadError(f"{what} from {source} is truncated: got {size} of {length} bytes")
    if spec.size is not None and size != spec.size:
        raise DownloadError(
            f"{what} from {source} is {size} bytes, expected {spec.size}"
            + _pin_hint(spec, source, override)
        )
    if expected and digest != expected:
        raise DownloadError(
            f"{what} from {source} has sha256 {digest}, expected {expected}"
            + _pin_hint(spec, source, override)
        )
    return FileRecord(spec.name, size, digest, source, spec.install_path, spec.mode)


class _Mismatch(DownloadError):
    """The file's size differs from the manifest's pin (before a byte is read)."""
