"""Registry HTTP API v2 client on ``requests``: auth, manifests, streamed blobs, uploads.

Why not a library (evaluated for issue 4):

* python-dxf 12: forces the token realm to ``https`` (a plain-HTTP token
  service breaks), refuses any auth on an ``--insecure`` registry, keeps one
  mutable auth header shared by all threads, uses module-level ``requests``
  calls (no connection reuse), no ``Range`` resume, monolithic upload only, and
  handles manifests as ``str`` (decoded and re-encoded: byte identity is not
  guaranteed); depends on the unmaintained ``www-authenticate`` package.
* oras-py 0.2: ``download_blob`` writes blobs without checking their digest,
  its model is OCI artifacts (files with title annotations), not image pulls,
  and no docker-config ``auths`` decoding beyond its own login flow.

So this module is a focused client: one ``requests.Session`` per thread (safe
parallel transfers, pooled connections), tokens cached per scope under a lock,
blobs streamed to disk and hashed as they stream, resumable with ``Range``,
manifests kept as the exact bytes the registry served.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin

import requests
import urllib3

from harborkit.registry.auth import Challenge, Credentials, parse_challenges
from harborkit.registry.errors import (
    AccessDenied,
    AuthenticationFailed,
    DigestMismatch,
    NotFound,
    ProtocolError,
    RegistryError,
    RegistryUnreachable,
    UnsupportedManifest,
)
from harborkit.registry.reference import ImageReference

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX))

CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20
USER_AGENT = "harborkit-registry/1"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as served: its bytes, media type and digest (sha256 of the bytes)."""

    digest: str
    media_type: str
    raw: bytes

    def parsed(self) -> dict[str, Any]:
        """The manifest as JSON."""
        data: dict[str, Any] = json.loads(self.raw)
        return data


@dataclass(frozen=True)
class BlobRef:
    """A blob named by a manifest."""

    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class ResolvedImage:
    """An image manifest for one platform, with the index it was picked from, if any."""

    reference: ImageReference
    manifest: Manifest
    index: Manifest | None
    config: BlobRef
    layers: tuple[BlobRef, ...]

    @property
    def blobs(self) -> tuple[BlobRef, ...]:
        """Config then layers."""
        return (self.config, *self.layers)


@dataclass(frozen=True)
class FetchResult:
    """Outcome of :meth:`RegistryClient.fetch_blob`."""

    digest: str
    path: Path
    size: int
    downloaded: int  # bytes transferred in this call
    cached: bool  # the complete file was already there
    resumed: bool  # an earlier partial download was continued


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _SectionBody:
    """A request body: ``size`` bytes of ``f`` from its current position.

    Exposes ``__len__`` (so ``requests`` sends a Content-Length and no fileno
    trick reads the whole file's size) and returns 1 MiB per ``read`` whatever
    block size the HTTP layer asks for, which keeps uploads cheap in Python.
    """

    def __init__(self, f: BinaryIO, size: int, progress: Callable[[int], None] | None) -> None:
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


# --------------------------------------------------------------------------- client


class RegistryClient:
    """One registry (``host[:port]``), shared by all threads of a transfer."""

    def __init__(
        self,
        host: str,
        *,
        insecure: bool = False,
        ca_file: Path | None = None,
        credentials: Credentials | None = None,
        timeout: float = 60.0,
        pool_size: int = 16,
        auth_hint: str | None = None,
    ) -> None:
        self.host = host
        self.insecure = insecure
        self.base_url = f"{'http' if insecure else 'https'}://{host}"
        self._verify: bool | str = str(ca_file) if ca_file else True
        self._credentials = credentials
        self._timeout = timeout
        self._pool_size = pool_size
        self._auth_hint = auth_hint  # appended when credentials are needed and none were given
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._conns: weakref.WeakSet[Any] = weakref.WeakSet()  # every connection handed out
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic = False
        if ca_file is not None and not Path(ca_file).is_file():
            raise RegistryError(f"CA file {ca_file} does not exist")

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close every thread's session."""
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

    def abort(self) -> None:
        """Break every connection of this client (threads using one get a connection error).

        Used when a transfer is cancelled: a thread blocked on a stalled registry
        (waiting for headers or body bytes) would otherwise wait for its read timeout.
        """
        import socket

        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _track(self, conn: Any) -> None:
        with self._lock:
            self._conns.add(conn)

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> requests.Session:
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            adapter = _TrackingAdapter(
                self._track, pool_connections=2, pool_maxsize=self._pool_size, max_retries=0
            )
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers["User-Agent"] = USER_AGENT
            s.verify = self._verify
            # no ~/.netrc (it would replace our Authorization header); proxies from the
            # environment as Go's ProxyFromEnvironment reads them: never for loopback
            s.trust_env = False
            s.proxies = _environ_proxies(self.host)
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def _url(self, path: str) -> str:
        return path if "://" in path else urljoin(self.base_url + "/", path.lstrip("/"))

    def _who(self) -> str:
        c = self._credentials
        return f"user {c.username!r} (from {c.source})" if c else "anonymous access"

    def _auth_header(self, scope: str) -> dict[str, str]:
        with self._lock:
            tok = self._tokens.get(scope)
            basic = self._basic
        if tok and tok[1] > time.monotonic() + 5:
            return {"Authorization": f"Bearer {tok[0]}"}
        if basic and self._credentials:
            return {"Authorization": _basic(self._credentials)}
        return {}

    def _connection_error(self, e: Exception, what: str) -> RegistryError:
        if isinstance(e, requests.exceptions.SSLError):
            return RegistryUnreachable(
                f"{self.host}: TLS verification failed for {what} ({_reason(e)}); "
                "give the registry's CA with --ca FILE, or --insecure for plain HTTP"
            )
        return RegistryUnreachable(
            f"{self.host}: cannot reach the registry for {what}: {_reason(e)}"
        )

    def _fetch_token(self, challenge: Challenge, scope: str, what: str) -> None:
        realm = challenge.params.get("realm")
        if not realm:
            raise ProtocolError(f"{self.host}: bearer challenge without a realm for {what}")
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        for s in (scope or challenge.params.get("scope", "")).split():
            query.append(("scope", s))
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        headers = {"Authorization": _basic(self._credentials)} if self._credentials else {}
        try:
            r = self._session().get(url, headers=headers, timeout=self._timeout)
        except requests.RequestException as e:
            raise RegistryUnreachable(
                f"{self.host}: cannot reach the token service {realm}: {_reason(e)}"
            ) from e
        if r.status_code in (401, 403):
            raise self._auth_failure(r.status_code, what, token_service=realm)
        if r.status_code != 200:
            raise ProtocolError(
                f"{self.host}: token service {realm} answered HTTP {r.status_code} for {what}"
            )
        try:
            body = r.json()
            token = body.get("token") or body.get("access_token")
            expires = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError) as e:
            raise ProtocolError(f"{self.host}: token service {realm} sent no JSON token") from e
        if not token:
            raise ProtocolError(f"{self.host}: token service {realm} sent no token")
        with self._lock:
            self._tokens[scope] = (token, time.monotonic() + max(expires, 10))

    def _auth_failure(
        self, status: int, what: str, token_service: str | None = None
    ) -> RegistryError:
        via = f" (token service {token_service})" if token_service else ""
        if status == 403:
            return AccessDenied(f"{self.host}: {self._who()} is not allowed to {what}{via} (403)")
        if self._credentials:
            return AuthenticationFailed(
                f"{self.host}: the registry rejected the credentials of {self._who()} "
                f"for {what}{via} (401: wrong user name or password?)"
            )
        hint = f"; {self._auth_hint}" if self._auth_hint else ""
        return AuthenticationFailed(
            f"{self.host}: {what} needs credentials{via} (401); give --username/--password "
            f"or run docker login{hint}"
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        what: str,
        ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        body: Callable[[], Any] | None = None,
        stream: bool = False,
        allow: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send a request, answering auth challenges once; raise a :class:`RegistryError`.

        ``body`` is a factory so that the request can be re-sent after a challenge.
        Statuses in ``allow`` are returned to the caller instead of raising.
        """
        url = self._url(path)
        for attempt in range(2):
            hdrs = dict(headers or {})
            hdrs.update(self._auth_header(scope))
            try:
                r = self._session().request(
                    method,
                    url,
                    headers=hdrs,
                    data=body() if body else None,
                    stream=stream,
                    timeout=self._timeout,
                    allow_redirects=True,
                )
            except requests.RequestException as e:
                raise self._connection_error(e, what) from e
            if r.status_code != 401:
                break
            challenges = parse_challenges(r.headers.get("WWW-Authenticate", ""))
            if attempt == 1:
                if any(c.params.get("error") == "insufficient_scope" for c in challenges):
                    r.close()
                    raise self._auth_failure(403, what)  # authenticated, but not allowed
                break
            r.close()
            bearer = next((c for c in challenges if c.scheme == "bearer"), None)
            if bearer is not None:
                self._fetch_token(bearer, scope, what)
            elif any(c.scheme == "basic" for c in challenges):
                if not self._credentials:
                    raise self._auth_failure(401, what)
                if hdrs.get("Authorization", "").startswith("Basic "):
                    raise self._auth_failure(401, what)  # sent and refused: wrong credentials
                with self._lock:
                    self._basic = True  # (another thread may have set it meanwhile)
            else:
                raise self._auth_failure(401, what)
        if r.status_code in ok or r.status_code in allow:
            return r
        raise self._status_error(r, what)

    def _status_error(self, r: requests.Response, what: str) -> RegistryError:
        try:
            code, message = _error_detail(r)
        finally:
            r.close()
        if r.status_code in (401, 403):
            return self._auth_failure(r.status_code, what)
        if r.status_code == 404:
            return NotFound(f"{self.host}: {what}: not found ({code or 'HTTP 404'})")
        detail = f"{code}: {message}" if code else (message or r.reason)
        return ProtocolError(f"{self.host}: {what} failed: HTTP {r.status_code} {detail}")

    # ------------------------------------------------------------------ manifests

    def get_manifest(self, repository: str, ref: str) -> Manifest:
        """The manifest ``repository:ref`` (tag or digest), its bytes exactly as served."""
        what = (
            f"get manifest {repository}:{ref}"
            if ":" not in ref
            else f"get manifest {repository}@{ref}"
        )
        r = self.request(
            "GET",
            f"/v2/{repository}/manifests/{ref}",
            scope=f"repository:{repository}:pull",
            what=what,
            headers={"Accept": ACCEPT},
            stream=True,
        )
        with contextlib.closing(r):
            try:
                raw = r.raw.read(MAX_MANIFEST + 1, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise RegistryUnreachable(f"{self.host}: {what}: {_reason(e)}") from e
        if len(raw) > MAX_MANIFEST:
            raise ProtocolError(f"{self.host}: manifest {repository}:{ref} is larger than 4 MiB")
        digest = sha256_digest(raw)
        served = r.headers.get("Docker-Content-Digest")
        if ref.startswith("sha256:") and digest != ref:
            raise DigestMismatch(
                f"{self.host}: manifest {repository}@{ref} does not match its digest (got {digest})"
            )
        if served and served.startswith("sha256:") and served != digest:
            raise DigestMismatch(
                f"{self.host}: manifest {repository}:{ref} hashes to {digest}, "
                f"the registry says {served}"
            )
        try:
            media_type = json.loads(raw).get("mediaType") or ""
        except ValueError as e:
            raise ProtocolError(f"{self.host}: manifest {repository}:{ref} is not JSON") from e
        if not media_type:
            media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(digest=digest, media_type=media_type, raw=raw)

    def resolve(
        self, ref: ImageReference, *, os_name: str = "linux", arch: str = "amd64"
    ) -> ResolvedImage:
        """The image manifest of ``ref`` for one platform (a list/index is resolved)."""
        top = self.get_manifest(ref.repository, ref.ref)
        index: Manifest | None = None
        manifest = top
        if top.media_type in INDEXES:
            index = top
            entries = top.parsed().get("manifests") or []
            chosen = next(
                (
                    e
                    for e in entries
                    if (e.get("platform") or {}).get("os") == os_name
                    and (e.get("platform") or {}).get("architecture") == arch
                ),
                None,
            )
            if chosen is None:
                raise UnsupportedManifest(
                    f"{self.host}: {ref.repository}:{ref.ref} has no {os_name}/{arch} image"
                )
            manifest = self.get_manifest(ref.repository, chosen["digest"])
        if manifest.media_type in SCHEMA1:
            raise UnsupportedManifest(
                f"{self.host}: {ref.repository}:{ref.ref} is a schema 1 manifest (not supported)"
            )
        if manifest.media_type not in IMAGE_MANIFESTS:
            raise UnsupportedManifest(
                f"{self.host}: {ref.repository}:{ref.ref} has manifest type "
                f"{manifest.media_type or 'unknown'}"
            )
        data = manifest.parsed()
        try:
            config = _blob_ref(data["config"])
            layers = tuple(_blob_ref(x) for x in data["layers"])
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError(
                f"{self.host}: manifest {ref.repository}@{manifest.digest} is malformed"
            ) from e
        return ResolvedImage(ref, manifest, index, config, layers)

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        """Push ``manifest``'s exact bytes as ``repository:tag``; its digest must not change."""
        what = f"push manifest {repository}:{tag}"
        r = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            scope=f"repository:{repository}:pull,push",
            what=what,
            ok=(200, 201),
            headers={"Content-Type": manifest.media_type},
            body=lambda: manifest.raw,
        )
        served = r.headers.get("Docker-Content-Digest")
        r.close()
        if served and served != manifest.digest:
            raise DigestMismatch(
                f"{self.host}: {what}: the registry stored digest {served}, "
                f"expected {manifest.digest}"
            )
        return manifest.digest

    # ------------------------------------------------------------------ blobs

    def blob_size(self, repository: str, digest: str) -> int | None:
        """Size of the blob if ``repository`` has it (HEAD), else ``None``."""
        r = self.request(
            "HEAD",
            f"/v2/{repository}/blobs/{digest}",
            scope=f"repository:{repository}:pull",
            what=f"check blob {digest} in {repository}",
            allow=(404,),
        )
        r.close()
        if r.status_code == 404:
            return None
        return int(r.headers.get("Content-Length") or 0)

    def fetch_blob(
        self,
        repository: str,
        digest: str,
        dest: Path,
        *,
        size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> FetchResult:
        """Stream blob ``digest`` into ``dest``, hashing as it streams.

        The data goes to ``dest`` + ``.partial`` (locked, so two builds sharing a
        cache do not collide) and is renamed only once its digest matches. An
        existing partial file is continued with a ``Range`` request (restarted
        if the registry ignores ranges). A digest mismatch removes the partial
        file and raises :class:`DigestMismatch`; a broken connection keeps it
        for the next run and raises :class:`RegistryUnreachable`.
        """
        if dest.exists():
            return FetchResult(digest, dest, dest.stat().st_size, 0, True, False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
        with open(fd, "r+b", buffering=0) as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            if dest.exists():  # another process finished it while we waited
                if os.fstat(f.fileno()).st_size == 0:
                    _unlink(partial)  # the empty partial file we just created
                return FetchResult(digest, dest, dest.stat().st_size, 0, True, False)
            h = hashlib.sha256()
            offset = 0
            while True:  # hash what an earlier run left
                chunk = f.read(CHUNK * 8)
                if not chunk:
                    break
                h.update(chunk)
                offset += len(chunk)
            if size is not None and offset > size:
                f.seek(0)
                f.truncate()
                h, offset = hashlib.sha256(), 0
            try:
                got = self._stream_into(repository, digest, f, h, offset, size, progress)
            except _Restart:  # the registry ignored the Range request
                h, offset = hashlib.sha256(), 0
                got = self._stream_into(repository, digest, f, h, 0, size, progress)
            actual = "sha256:" + h.hexdigest()
            total = f.tell()
            if actual != digest:
                _unlink(partial)
                raise DigestMismatch(
                    f"{self.host}: blob {digest} of {repository} does not match its digest "
                    f"(received {total} bytes hashing to {actual}); the download was removed"
                )
            os.replace(partial, dest)
        return FetchResult(digest, dest, total, got, False, offset > 0 and got < total)

    def _stream_into(
        self,
        repository: str,
        digest: str,
        f: BinaryIO,
        h: Any,
        offset: int,
        size: int | None,
        progress: Callable[[int], None] | None,
    ) -> int:
        what = f"fetch blob {digest} of {repository}"
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        r = self.request(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            scope=f"repository:{repository}:pull",
            what=what,
            headers=headers,
            stream=True,
            ok=(200, 206),
            allow=(416,) if offset else (),
        )
        return self._read_body(r, repository, digest, f, h, offset, size, progress)

    def _read_body(
        self,
        r: requests.Response,
        repository: str,
        digest: str,
        f: BinaryIO,
        h: Any,
        offset: int,
        size: int | None,
        progress: Callable[[int], None] | None,
    ) -> int:
        with contextlib.closing(r):
            if r.status_code == 416:
                return 0  # the partial file is already complete: let the digest decide
            if r.status_code == 200 and offset:
                f.seek(0)
                f.truncate()
                raise _Restart
            if progress and offset:
                progress(offset)
            got = 0
            chunks = r.raw.stream(CHUNK, decode_content=False)
            while True:
                try:
                    chunk = next(chunks, None)
                except (urllib3.exceptions.HTTPError, OSError) as e:
                    raise RegistryUnreachable(
                        f"{self.host}: connection lost after {offset + got} "
                        f"{'of ' + str(size) + ' ' if size else ''}bytes of blob {digest} "
                        f"({repository}): {_reason(e)}; rerun to resume"
                    ) from e
                if chunk is None:
                    break
                h.update(chunk)
                f.write(chunk)
                got += len(chunk)
                if progress:
                    progress(len(chunk))
            if size is not None and offset + got < size:
                raise RegistryUnreachable(
                    f"{self.host}: blob {digest} ({repository}) ended after {offset + got} of "
                    f"{size} bytes; rerun to resume"
                )
            return got

    def push_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_body: Callable[[], contextlib.AbstractContextManager[BinaryIO]],
        *,
        mount_from: str | None = None,
        chunk_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> str:
        """Make blob ``digest`` exist in ``repository``: ``"exists"``, ``"mounted"`` or ``"uploaded"``.

        HEAD first; then a cross-repository mount from ``mount_from`` when given;
        else an upload: monolithic (POST + one PUT) or, with ``chunk_size``,
        PATCH chunks then PUT. ``open_body`` yields a file positioned at the
        blob's first byte.
        """
        if self.blob_size(repository, digest) is not None:
            return "exists"
        scope = f"repository:{repository}:pull,push"
        what = f"push blob {digest} to {repository}"
        params = ""
        if mount_from and mount_from != repository:
            scope += f" repository:{mount_from}:pull"
            params = "?" + urlencode({"mount": digest, "from": mount_from})
        r = self.request(
            "POST",
            f"/v2/{repository}/blobs/uploads/{params}",
            scope=scope,
            what=what,
            ok=(201, 202),
        )
        r.close()
        if r.status_code == 201:
            return "mounted"
        location = _location(r, what, self.host)
        if chunk_size:
            with open_body() as src:
                done = 0
                base = src.tell()
                while done < size:
                    n = min(chunk_size, size - done)

                    def chunk_body(at: int = base + done, n: int = n) -> _SectionBody:
                        src.seek(at)  # re-sent from the start after an auth challenge
                        return _SectionBody(src, n, progress)

                    r = self.request(
                        "PATCH",
                        location,
                        scope=scope,
                        what=what,
                        ok=(202,),
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Range": f"{done}-{done + n - 1}",
                        },
                        body=chunk_body,
                    )
                    r.close()
                    location = _location(r, what, self.host)
                    done += n
            r = self.request(
                "PUT",
                _add_query(location, {"digest": digest}),
                scope=scope,
                what=what,
                ok=(201,),
                headers={"Content-Length": "0"},
            )
        else:
            with open_body() as src:
                start = src.tell()

                def make_body() -> _SectionBody:
                    src.seek(start)
                    return _SectionBody(src, size, progress)

                r = self.request(
                    "PUT",
                    _add_query(location, {"digest": digest}),
                    scope=scope,
                    what=what,
                    ok=(201,),
                    headers={"Content-Type": "application/octet-stream"},
                    body=make_body,
                )
        served = r.headers.get("Docker-Content-Digest")
        r.close()
        if served and served != digest:
            raise DigestMismatch(f"{self.host}: {what}: the registry stored {served}")
        return "uploaded"


class _TrackingAdapter(requests.adapters.HTTPAdapter):
    """An adapter that reports each connection it hands out (so they can be aborted)."""

    def __init__(self, track: Callable[[Any], None], **kwargs: Any) -> None:
        self._hk_track = track
        super().__init__(**kwargs)

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
        pool: Any = super().get_connection_with_tls_context(*args, **kwargs)
        if not getattr(pool, "_hk_tracked", False):
            get_conn = pool._get_conn
            track = self._hk_track

            def _get_conn(timeout: float | None = None) -> Any:
                conn = get_conn(timeout=timeout)
                track(conn)
                return conn

            pool._get_conn = _get_conn
            pool._hk_tracked = True
        return pool


class _Restart(Exception):
    """The registry ignored our Range request: start the blob over."""


# --------------------------------------------------------------------------- helpers


def _environ_proxies(host: str) -> dict[str, str]:
    """``HTTP(S)_PROXY`` / ``NO_PROXY`` for ``host``; loopback and localhost never use a proxy."""
    import ipaddress

    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or "]" in host else host
    if name == "localhost" or name.endswith(".localhost"):
        return {}
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(name).is_loopback:
            return {}
    return dict(requests.utils.get_environ_proxies(f"https://{host}"))


def _basic(c: Credentials | None) -> str:
    import base64

    assert c is not None
    return "Basic " + base64.b64encode(f"{c.username}:{c.password}".encode()).decode()


def _blob_ref(d: dict[str, Any]) -> BlobRef:
    digest = str(d["digest"])
    if not digest.startswith("sha256:") or len(digest) != 71:
        raise ValueError(digest)
    return BlobRef(digest, int(d["size"]), str(d.get("mediaType") or ""))


def _location(r: requests.Response, what: str, host: str) -> str:
    loc = r.headers.get("Location")
    if not loc:
        raise ProtocolError(f"{host}: {what}: the registry sent no upload Location")
    return loc if "://" in loc else urljoin(r.url, loc)


def _add_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _error_detail(r: requests.Response) -> tuple[str, str]:
    try:
        errs = r.json().get("errors") or []
        if errs:
            return str(errs[0].get("code", "")), str(errs[0].get("message", ""))
    except (ValueError, AttributeError):
        pass
    return "", ""


def _reason(e: BaseException) -> str:
    """A short one-line reason from a requests/urllib3 exception chain."""
    inner: BaseException = e
    while inner.__context__ is not None and str(inner.__context__):
        inner = inner.__context__
    text = str(inner) or str(e) or type(e).__name__
    text = re.sub(r"<urllib3\.connection\.\w+ object at 0x[0-9a-f]+>: ", "", text)
    text = re.sub(r"HTTPConnectionPool\(.*?\): ", "", text)
    return text.splitlines()[0][:200]


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
