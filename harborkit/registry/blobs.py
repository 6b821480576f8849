"""Blobs: fetch (streamed to disk, hashed, bounded, resumable), push (upload or mount).

A fetched blob goes to ``dest`` + ``.partial`` (locked, so two builds sharing a
cache do not collide) and is renamed only once its digest matches. The stream
is cut as soon as it passes the size the manifest declared. An earlier partial
file is continued with ``Range``; if the result does not match the digest, the
fetch starts over from zero in the same call.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

import requests
import urllib3

from harborkit.registry.digest import check_digest, show
from harborkit.registry.errors import DigestMismatch, ProtocolError, RegistryUnreachable
from harborkit.registry.transport import (
    BLOB_DEADLINE_ENV,
    DEADLINE_ENV,
    STALL_ENV,
    Transport,
    blob_deadline,
    done,
    reason,
    request_deadline,
    stall_window,
)
from harborkit.registry.url import join_target
from harborkit.watch import StreamWatch

CHUNK = 1 << 20
Progress = Callable[[int], None]
#: opens the upload source positioned at the blob's first byte
OpenBody = Callable[[], contextlib.AbstractContextManager[BinaryIO]]


@dataclass(frozen=True)
class FetchResult:
    """Outcome of :func:`fetch_blob`."""

    digest: str
    path: Path
    size: int
    downloaded: int  # bytes transferred in this call
    cached: bool  # the complete file was already there
    resumed: bool  # an earlier partial download was continued


class PushOutcome(enum.Enum):
    """What :func:`push_blob` had to do."""

    EXISTS = "exists"  # the repository had it
    MOUNTED = "mounted"  # mounted from another repository of the registry
    UPLOADED = "uploaded"


class _SectionBody:
    """A request body: ``size`` bytes of ``f`` from its current position.

    Exposes ``__len__`` (so ``requests`` sends a Content-Length and no fileno
    trick reads the whole file's size) and returns 1 MiB per ``read`` whatever
    block size the HTTP layer asks for, which keeps uploads cheap in Python.
    """

    def __init__(self, f: BinaryIO, size: int, progress: Progress | None) -> None:
        self._f = f
        self._left = size
        self._size = size
        self._progress = progress

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(self._left, max(n, CHUNK))
        data = self._f.read(want)
        if not data:
            raise OSError("the upload source ended early")
        self._left -= len(data)
        if self._progress:
            self._progress(len(data))
        return data


# --------------------------------------------------------------------------- fetch


class _Download:
    """The state of one blob download into an open partial file."""

    def __init__(self, t: Transport, repository: str, digest: str, f: BinaryIO) -> None:
        self.t, self.repository, self.digest, self.f = t, repository, digest, f
        self.h = hashlib.sha256()
        self.offset = 0  # bytes already in the file when the request was sent
        self.got = 0  # bytes received since the file was last started over
        self.transferred = 0  # bytes received by this call

    def restart(self) -> None:
        self.f.seek(0)
        self.f.truncate()
        self.h, self.offset, self.got = hashlib.sha256(), 0, 0

    def hash_existing(self, size: int | None) -> None:
        """Hash what an earlier run left (dropped if longer than the blob)."""
        while chunk := self.f.read(CHUNK * 8):
            self.h.update(chunk)
            self.offset += len(chunk)
        if size is not None and self.offset > size:
            self.restart()

    def run(self, size: int | None, progress: Progress | None) -> None:
        what = f"fetch blob {self.digest} of {self.repository}"
        r = self.t.request(
            "GET",
            f"/v2/{self.repository}/blobs/{self.digest}",
            scope=f"repository:{self.repository}:pull",
            what=what,
            # identity: the bytes hashed are the blob's (requests asks for gzip by default,
            # and a server or proxy that compresses the answer would fail the digest)
            headers={"Accept-Encoding": "identity"}
            | ({"Range": f"bytes={self.offset}-"} if self.offset else {}),
            ok=(200, 206),
            allow=(416,) if self.offset else (),
        )
        with contextlib.closing(r):
            if r.status_code == 416:
                return  # the partial file is already complete: let the digest decide
            if r.status_code == 200 and self.offset:
                self.restart()  # the registry ignored the Range request
            if progress and self.offset:
                progress(self.offset)
            self._read(r, size, progress)

    def _read(self, r: requests.Response, size: int | None, progress: Progress | None) -> None:
        # read1: each read returns what one recv brought, so the watch ticks on a trickle
        # (a read of 1 MiB would wait for the whole MiB, whatever its pace)
        window = stall_window()
        watch = StreamWatch(
            window=window,
            deadline=1e9,  # the blob's deadline is the caller's (Transport.deadline)
            fail=lambda why: RegistryUnreachable(
                f"{self.t.host}: blob {self.digest} ({self.repository}) {why} after "
                f"{self.offset + self.got} bytes ({STALL_ENV}); rerun to resume"
            ),
        )
        while True:
            try:
                chunk = r.raw.read1(CHUNK, decode_content=False)
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise RegistryUnreachable(
                    f"{self.t.host}: connection lost after {self.offset + self.got} "
                    f"{'of ' + str(size) + ' ' if size else ''}bytes of blob {self.digest} "
                    f"({self.repository}): {reason(e)}; rerun to resume"
                ) from e
            if not chunk:
                break
            watch.tick(len(chunk))
            if size is not None and self.offset + self.got + len(chunk) > size:
                raise ProtocolError(
                    f"{self.t.host}: blob {self.digest} ({self.repository}) goes on past the "
                    f"{size} bytes its manifest declares; the download was removed"
                )
            self.h.update(chunk)
            self.f.write(chunk)
            self.got += len(chunk)
            self.transferred += len(chunk)
            if progress:
                progress(len(chunk))
        if size is not None and self.offset + self.got < size:
            raise RegistryUnreachable(
                f"{self.t.host}: blob {self.digest} ({self.repository}) ended after "
                f"{self.offset + self.got} of {size} bytes; rerun to resume"
            )

    def matches(self) -> bool:
        return "sha256:" + self.h.hexdigest() == self.digest


# --------------------------------------------------------------------------- push


class BlobAPI:
    """Blob operations of a registry (a part of :class:`~harborkit.registry.client.RegistryClient`)."""

    transport: Transport

    def fetch_blob(
        self,
        repository: str,
        digest: str,
        dest: Path,
        *,
        size: int | None = None,
        progress: Progress | None = None,
    ) -> FetchResult:
        """Stream blob ``digest`` into ``dest``, hashing as it streams (see the module docstring).

        A digest mismatch removes the partial file and raises :class:`DigestMismatch`;
        a stream past ``size`` removes it and raises :class:`ProtocolError`; a broken
        connection keeps it for the next run and raises :class:`RegistryUnreachable`.
        """
        t = self.transport
        check_digest(digest, f"{t.host}: {repository}: blob digest")
        if dest.exists():
            return FetchResult(digest, dest, dest.stat().st_size, 0, True, False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with open(fd, "r+b", buffering=0) as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            if dest.exists():  # another process finished it while we waited
                if os.fstat(f.fileno()).st_size == 0:
                    _unlink(partial)  # the empty partial file we just created
                return FetchResult(digest, dest, dest.stat().st_size, 0, True, False)
            d = _Download(t, repository, digest, f)
            d.hash_existing(size)
            resumed = d.offset > 0
            what = f"fetch blob {digest} of {repository}"
            try:
                with t.deadline(blob_deadline(), BLOB_DEADLINE_ENV, what):
                    d.run(size, progress)
                    if (
                        not d.matches() and resumed
                    ):  # the earlier partial file was not this blob's start
                        d.restart()
                        resumed = False
                        d.run(size, progress)
            except ProtocolError:
                _unlink(partial)
                raise
            total = f.tell()
            if not d.matches():
                _unlink(partial)
                raise DigestMismatch(
                    f"{t.host}: blob {digest} of {repository} does not match its digest "
                    f"(received {total} bytes hashing to sha256:{d.h.hexdigest()}); "
                    "the download was removed"
                )
            os.replace(partial, dest)
        return FetchResult(digest, dest, total, d.transferred, False, resumed and d.got < total)

    def blob_size(self, repository: str, digest: str) -> int | None:
        """Size of the blob if ``repository`` has it (HEAD), else ``None``."""
        t = self.transport
        what = f"check blob {digest} in {repository}"
        with t.deadline(request_deadline(), DEADLINE_ENV, what):
            r = t.request(
                "HEAD",
                f"/v2/{repository}/blobs/{digest}",
                scope=f"repository:{repository}:pull",
                what=what,
                allow=(404,),
            )
            done(r)
        if r.status_code == 404:
            return None
        length = r.headers.get("Content-Length") or ""
        if not (length.isascii() and length.isdigit() and len(length) <= 19):
            # a "yes" without a size is no answer (stricter than skopeo 1.x, which goes on)
            raise ProtocolError(
                f"{t.host}: {what}: the registry answered 200 without a valid Content-Length "
                f"({show(length[:40])})"
            )
        return int(length)

    def push_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_body: OpenBody,
        *,
        mount_from: str | None = None,
        chunk_size: int | None = None,
        progress: Progress | None = None,
    ) -> PushOutcome:
        """Make blob ``digest`` exist in ``repository``.

        HEAD first; then a cross-repository mount from ``mount_from`` when given;
        else an upload: monolithic (POST + one PUT) or, with ``chunk_size``, PATCH
        chunks then PUT. The upload ``Location`` may be on another origin: it then
        gets no credentials (:mod:`~harborkit.registry.transport`). The whole push of
        the blob ends within :func:`~harborkit.registry.transport.blob_deadline`.
        """
        what = f"push blob {digest} to {repository}"
        with self.transport.deadline(blob_deadline(), BLOB_DEADLINE_ENV, what):
            return self._push_blob(
                repository, digest, size, open_body, mount_from, chunk_size, progress
            )

    def _push_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_body: OpenBody,
        mount_from: str | None,
        chunk_size: int | None,
        progress: Progress | None,
    ) -> PushOutcome:
        t = self.transport
        what = f"push blob {digest} to {repository}"
        held = self.blob_size(repository, digest)
        if held is not None:
            if held != size:  # the same digest, another size: a lie or a broken store
                raise ProtocolError(
                    f"{t.host}: {what}: the registry says it holds this blob with {held} bytes, "
                    f"but it has {size}"
                )
            return PushOutcome.EXISTS
        scope = f"repository:{repository}:pull,push"
        params = ""
        if mount_from and mount_from != repository:
            scope += f" repository:{mount_from}:pull"
            params = "?" + urlencode({"mount": digest, "from": mount_from})
        r = t.request(
            "POST",
            f"/v2/{repository}/blobs/uploads/{params}",
            scope=scope,
            what=what,
            # 201 means "mounted": only when a mount was asked for (as skopeo: a plain
            # upload's POST must be 202, else nothing would be uploaded on its word)
            ok=(201, 202) if params else (202,),
        )
        done(r)
        if r.status_code == 201:
            return PushOutcome.MOUNTED
        location = _location(r, what, t.host)
        with open_body() as src:
            body: Callable[[], _SectionBody] | None = None
            if chunk_size:
                location = _patch_chunks(t, location, src, size, chunk_size, scope, what, progress)
            else:
                body = _rewinding(src, src.tell(), size, progress)
            r = t.request(
                "PUT",
                _add_query(location, {"digest": digest}),
                scope=scope,
                what=what,
                ok=(201,),
                headers={"Content-Type": "application/octet-stream"}
                if body
                else {"Content-Length": "0"},
                body=body,
            )
        served = r.headers.get("Docker-Content-Digest")
        done(r)
        if served is not None and served != digest:
            raise DigestMismatch(f"{t.host}: {what}: the registry stored {show(served)}")
        return PushOutcome.UPLOADED


def _patch_chunks(
    t: Transport,
    location: str,
    src: BinaryIO,
    size: int,
    chunk_size: int,
    scope: str,
    what: str,
    progress: Progress | None,
) -> str:
    """Send ``size`` bytes of ``src`` as PATCH chunks; the last upload location."""
    done_, base = 0, src.tell()
    while done_ < size:
        n = min(chunk_size, size - done_)

        r = t.request(
            "PATCH",
            location,
            scope=scope,
            what=what,
            ok=(202,),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{done_}-{done_ + n - 1}",
            },
            body=_rewinding(src, base + done_, n, progress),
        )
        done(r)
        location = _location(r, what, t.host)
        done_ += n
    return location


def _rewinding(
    src: BinaryIO, at: int, size: int, progress: Progress | None
) -> Callable[[], _SectionBody]:
    """A body factory: ``size`` bytes of ``src`` from ``at`` (re-sent whole after a challenge)."""

    def body() -> _SectionBody:
        src.seek(at)
        return _SectionBody(src, size, progress)

    return body


def _location(r: requests.Response, what: str, host: str) -> str:
    loc = r.headers.get("Location")
    if not loc:
        raise ProtocolError(f"{host}: {what}: the registry sent no upload Location")
    return join_target(r.url, loc, f"{host}: {what}: upload Location").url


def _add_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
