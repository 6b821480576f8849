"""Transport and auth: sessions, proxy rules, challenges, tokens, bounded bodies, error decoding.

The layer under :mod:`~harborkit.registry.manifests` and
:mod:`~harborkit.registry.blobs` (as go-containerregistry keeps
``remote/transport`` apart from fetching and pushing). One ``requests.Session``
per thread (safe parallel transfers, pooled connections), tokens cached per
scope under a lock.

Credentials go only where the Docker client sends them: the registry's own
origin (scheme, host, port) and the token realm that origin challenged with.
A URL on any other origin (an upload ``Location``, a redirect) gets no
``Authorization`` header, and a challenge from it is refused. Every body read
here is bounded; every response is streamed so that nothing is read unbounded
by ``requests`` itself.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3

from harborkit.ipaddr import parse_ip
from harborkit.netutil import basic_auth, env_seconds
from harborkit.registry.auth import Challenge, Credentials, parse_challenges, parse_token
from harborkit.registry.errors import (
    AccessDenied,
    AuthenticationFailed,
    NotFound,
    ProtocolError,
    RegistryError,
    RegistryUnreachable,
)
from harborkit.registry.reference import check_host
from harborkit.registry.sessions import NoRedirectSession, TrackingAdapter
from harborkit.registry.strictjson import clean_text, strict_json
from harborkit.registry.url import AmbiguousURL, Target, join_target, parse_target, shown
from harborkit.transfer import Deadline, shutdown_socket

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection as HTTPConnection

USER_AGENT = "harborkit-registry/1"
#: token responses and error bodies: more is refused (a token is a few KiB)
MAX_SMALL_BODY = 256 << 10
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)


#: one request (its answer and any small body: token, error, manifest) ends by this deadline
DEADLINE_ENV = "HARBORKIT_REGISTRY_DEADLINE"
#: one blob, fetched or uploaded, ends by this deadline
BLOB_DEADLINE_ENV = "HARBORKIT_REGISTRY_BLOB_DEADLINE"
#: a read that brings nothing for this long fails; a blob bringing less than 64 KiB in it too
STALL_ENV = "HARBORKIT_REGISTRY_STALL"


def request_deadline() -> float:
    """Seconds one request may take in all (``HARBORKIT_REGISTRY_DEADLINE``, default 300)."""
    return env_seconds(DEADLINE_ENV, 300.0)


def blob_deadline() -> float:
    """Seconds one blob may take in all (``HARBORKIT_REGISTRY_BLOB_DEADLINE``, default 3600)."""
    return env_seconds(BLOB_DEADLINE_ENV, 3600.0)


def stall_window() -> float:
    """Seconds without progress that fail a read (``HARBORKIT_REGISTRY_STALL``, default 60)."""
    return env_seconds(STALL_ENV, 60.0)


class BodySource(Protocol):
    """A streamed request body of known length."""

    def read(self, n: int = -1) -> bytes: ...

    def __len__(self) -> int: ...


#: a request body factory (called again when the request is re-sent after a challenge)
BodyFactory = Callable[[], "bytes | BodySource"]


class TransportOptions(TypedDict, total=False):
    """How to reach a registry: the keyword arguments of :class:`Transport`."""

    insecure: bool  # plain HTTP
    ca_file: Path | None  # CA bundle for the registry's TLS
    credentials: Credentials | None
    timeout: float  # seconds per connect / read
    pool_size: int  # connections kept per thread
    auth_hint: str | None  # appended when credentials are needed and none were given


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port of a URL: where credentials may go."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of ``url`` (default ports filled in); an ambiguous URL has none.

        Read by :func:`~harborkit.registry.url.parse_target`, the reading ``requests``
        connects with: an ambiguous URL is never "mine" (and is refused where it enters).
        """
        try:
            t = parse_target(url, "")
        except AmbiguousURL:
            return cls("", "", -1)
        return cls(t.scheme, t.host, t.port)


class Transport:
    """Requests to one registry (``host[:port]``), shared by all threads of a transfer."""

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
        self.host = check_host(host)
        self.base_url = f"{'http' if insecure else 'https'}://{host}"
        self.origin = Origin.of(self.base_url)
        if ca_file is not None and not Path(ca_file).is_file():
            raise RegistryError(f"CA file {ca_file} does not exist")
        self._verify: bool | str = str(ca_file) if ca_file else True
        self._credentials = credentials
        self.timeout = timeout
        self._pool_size = pool_size
        self._auth_hint = auth_hint  # appended when credentials are needed and none were given
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._conns: weakref.WeakSet[HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._realms: set[Origin] = set()  # token services this registry challenged with
        self._basic = False

    # ------------------------------------------------------------------ sessions

    def close(self) -> None:
        """Close every thread's session."""
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

    def abort(self) -> None:
        """Break every connection (threads using one get a connection error).

        Used when a transfer is cancelled: a thread blocked on a stalled registry
        would otherwise wait for its read timeout.
        """
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            shutdown_socket(conn)

    def _track(self, conn: HTTPConnection) -> None:
        with self._lock:
            self._conns.add(conn)
        for d in getattr(self._local, "deadlines", ()):
            d.add(conn)

    @contextlib.contextmanager
    def deadline(self, seconds: float, env: str, what: str) -> Iterator[Deadline]:
        """Everything this thread does inside ends within ``seconds`` (see :class:`Deadline`);
        past it, whatever failed becomes one line naming ``what`` and ``env``."""
        d = Deadline(seconds)
        stack: list[Deadline] = self._local.__dict__.setdefault("deadlines", [])
        stack.append(d)
        late = RegistryUnreachable(
            f"{self.host}: {what}: no complete answer within {seconds:g} s ({env})"
        )
        try:
            yield d
        except Exception as e:
            # (a connect timeout cut to the time left ends as it runs out, maybe before
            # the watch marks it expired)
            if d.expired or d.remaining() <= 0:
                raise late from e
            raise
        finally:
            d.close()
            stack.remove(d)
        if d.expired:  # what was read may have been cut off by the shutdown
            raise late

    def session(self) -> requests.Session:
        """This thread's session."""
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            s = NoRedirectSession()
            adapter = TrackingAdapter(
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
            # no cookie jar (as Docker's and skopeo's clients): a cookie a registry sets would
            # otherwise go to any port of its host name (cookies ignore ports) and its redirects
            s.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def _timeouts(self) -> tuple[float, float]:
        """Connect and read timeouts for one request.

        The connect timeout also bounds a TLS handshake as a whole (CPython keeps one
        deadline for it), and a handshake is the one moment a :class:`Deadline` cannot cut:
        the socket being wrapped is not yet the connection's. So it never outlasts the
        deadlines this thread is under (a handshake trickled a byte at a time).
        """
        connect = self.timeout
        for d in getattr(self._local, "deadlines", ()):
            connect = min(connect, d.remaining())
        return max(connect, 0.05), min(self.timeout, stall_window())

    def no_downgrade(self, target: Target, where: str) -> Target:
        """``target``, unless it is plain http while the registry is https (:class:`ProtocolError`)."""
        if target.scheme == "http" and self.origin.scheme == "https":
            raise ProtocolError(
                f"{where}: the URL {shown(target.url)} is refused: it is plain http while the "
                "registry is served over https"
            )
        return target

    def url(self, path: str) -> str:
        """``path`` on this registry (an absolute URL is kept)."""
        return path if "://" in path else urljoin(self.base_url + "/", path.lstrip("/"))

    def is_mine(self, url: str) -> bool:
        """True when ``url`` is on the registry's own origin (credentials may go there)."""
        origin = Origin.of(url)
        return origin.port > 0 and origin == self.origin

    # ------------------------------------------------------------------ auth

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

    def _fetch_token(self, challenge: Challenge, scope: str, what: str) -> None:
        realm = challenge.params.get("realm")
        if not realm:
            raise ProtocolError(f"{self.host}: bearer challenge without a usable realm for {what}")
        target = parse_target(realm, f"{self.host}: the token realm (to {what})")
        if target.scheme == "http" and self.origin.scheme == "https":
            raise ProtocolError(
                f"{self.host}: the registry is served over https but names the plain-http "
                f"token service {shown(realm)} (to {what}): credentials would travel in clear; "
                "refused (use --insecure only for a plain-http registry)"
            )
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        for s in (scope or challenge.params.get("scope", "")).split():
            query.append(("scope", s))
        # the query goes before any fragment (appended after one, it never reached the service)
        parts = urlsplit(target.url)
        extra = urlencode(query)
        url = urlunsplit(
            (
                parts.scheme,
                parts.netloc,
                parts.path,
                "&".join(filter(None, (parts.query, extra))),
                "",
            )
        )
        with self._lock:
            self._realms.add(Origin.of(realm))
        headers = {"Authorization": _basic(self._credentials)} if self._credentials else {}
        service = f"token service {_clip(realm)} (to {what})"
        try:
            r = self.session().get(
                url,
                headers=headers,
                timeout=self._timeouts(),
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as e:
            raise RegistryUnreachable(
                f"{self.host}: cannot reach the {service}: {reason(e)}"
            ) from e
        with contextlib.closing(r):
            if r.status_code in (401, 403):
                raise self.auth_failure(r.status_code, what, token_service=realm)
            if r.status_code != 200:
                raise ProtocolError(f"{self.host}: {service} answered HTTP {r.status_code}")
            body = read_limited(r, MAX_SMALL_BODY, f"{self.host}: {service}: the token response")
        token, expires = parse_token(body, f"{self.host}: {service}")
        with self._lock:
            self._tokens[scope] = (token, time.monotonic() + max(expires, 10))

    def auth_failure(
        self, status: int, what: str, token_service: str | None = None
    ) -> RegistryError:
        """The error for a 401/403 answer to ``what``."""
        via = f" (token service {_clip(token_service)})" if token_service else ""
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

    def _answer_challenge(self, r: requests.Response, scope: str, what: str, sent: bool) -> None:
        """After a first 401: get a token or switch to Basic, or raise."""
        challenges = parse_challenges(r.headers.get("WWW-Authenticate", "")[:4096])
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            self._fetch_token(bearer, scope, what)
        elif any(c.scheme == "basic" for c in challenges):
            if not self._credentials or sent:
                raise self.auth_failure(401, what)  # none to give, or sent and refused
            with self._lock:
                self._basic = True  # (another thread may have set it meanwhile)
        elif challenges:  # (was "rejected the credentials": none had been sent)
            names = ", ".join(sorted({c.scheme for c in challenges})[:4])
            raise AuthenticationFailed(
                f"{self.host}: {what}: the registry asks for {clean_text(names, 80)} authentication; "
                "harborkit speaks Basic and Bearer only (401)"
            )
        else:
            raise self.auth_failure(401, what)

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        what: str,
        ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        body: BodyFactory | None = None,
        allow: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send a request, answering auth challenges once; raise a :class:`RegistryError`.

        The response is streamed: the caller reads it (bounded) and closes it.
        ``body`` is a factory so that the request can be re-sent after a challenge.
        Statuses in ``allow`` are returned to the caller instead of raising.
        """
        url = self.url(path)
        if url is path:  # an absolute URL the registry sent (an upload Location)
            where = f"{self.host}: {what}"
            url = self.no_downgrade(parse_target(url, where), where).url
        # a request that sends a body (a blob upload) may take as long as a blob
        seconds, env = (
            (blob_deadline(), BLOB_DEADLINE_ENV) if body else (request_deadline(), DEADLINE_ENV)
        )
        with self.deadline(seconds, env, what):
            return self._request(method, url, scope, what, ok, headers, body, allow)

    def _request(
        self,
        method: str,
        url: str,
        scope: str,
        what: str,
        ok: tuple[int, ...],
        headers: Mapping[str, str] | None,
        body: BodyFactory | None,
        allow: tuple[int, ...],
    ) -> requests.Response:
        mine = self.is_mine(url)
        for attempt in range(2):
            hdrs = dict(headers or {})
            auth = self._auth_header(scope) if mine else {}
            hdrs.update(auth)
            r = self._send(method, url, hdrs, body, what)
            if r.status_code != 401:
                break
            if not self.is_mine(r.url):  # a Location or a redirect elsewhere
                r.close()
                raise AuthenticationFailed(
                    f"{self.host}: {what}: {_clip(r.url)} asked for credentials; harborkit sends "
                    f"them only to {self.base_url} and its token service"
                )
            if attempt == 1:
                challenges = parse_challenges(r.headers.get("WWW-Authenticate", "")[:4096])
                if any(c.params.get("error") == "insufficient_scope" for c in challenges):
                    r.close()
                    raise self.auth_failure(403, what)  # authenticated, but not allowed
                break
            r.close()
            self._answer_challenge(
                r, scope, what, auth.get("Authorization", "").startswith("Basic ")
            )
        if r.status_code in ok or r.status_code in allow:
            return r
        raise self.status_error(r, what)

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: BodyFactory | None,
        what: str,
    ) -> requests.Response:
        """One request, following redirects here (not in ``requests``, which reads
        each redirect's whole body): ``Authorization`` only to the registry's origin."""
        for _ in range(MAX_REDIRECTS + 1):
            try:
                r = self.session().request(
                    method,
                    url,
                    headers=headers,
                    data=body() if body else None,
                    stream=True,
                    timeout=self._timeouts(),
                    allow_redirects=False,
                )
            except requests.RequestException as e:
                raise self._unreachable(e, what) from e
            location = r.headers.get("Location")
            if r.status_code not in _REDIRECTS or not location:
                return r
            r.close()  # its body is not read
            where = f"{self.host}: {what}: redirect"
            url = self.no_downgrade(join_target(url, location, where), where).url
            if not self.is_mine(url):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if r.status_code == 303 or (r.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise ProtocolError(f"{self.host}: {what}: more than {MAX_REDIRECTS} redirects")

    def _unreachable(self, e: requests.RequestException, what: str) -> RegistryUnreachable:
        if isinstance(e, requests.exceptions.SSLError):
            return RegistryUnreachable(
                f"{self.host}: TLS verification failed for {what} ({reason(e)}); "
                "give the registry's CA with --ca FILE, or --insecure for plain HTTP"
            )
        return RegistryUnreachable(
            f"{self.host}: cannot reach the registry for {what}: {reason(e)}"
        )

    def status_error(self, r: requests.Response, what: str) -> RegistryError:
        """The error for an unexpected status (the body is read bounded, then closed)."""
        with contextlib.closing(r):
            try:
                raw = read_limited(r, MAX_SMALL_BODY, "")
            except RegistryError:
                raw = b""  # an error body that never ends: the status says enough
        code, message = _error_detail(raw)
        if r.status_code in (401, 403):
            return self.auth_failure(r.status_code, what)
        if r.status_code == 404:
            return NotFound(f"{self.host}: {what}: not found ({code or 'HTTP 404'})")
        detail = f"{code}: {message}" if code else (message or clean_text(r.reason or ""))
        return ProtocolError(f"{self.host}: {what} failed: HTTP {r.status_code} {detail}")

    def connection_lost(self, e: BaseException, what: str) -> RegistryUnreachable:
        """A connection that broke while a body was read."""
        return RegistryUnreachable(f"{self.host}: {what}: {reason(e)}")


def read_limited(r: requests.Response, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``r``'s (decoded) body; :class:`ProtocolError` if longer.

    Reading the whole body hands the connection back to the pool.
    """
    try:
        raw = r.raw.read(limit + 1, decode_content=True)
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise RegistryUnreachable(f"{what}: {reason(e)}") from e
    if len(raw) > limit:
        r.close()
        raise ProtocolError(f"{what} is larger than {limit >> 10} KiB")
    return bytes(raw)


def done(r: requests.Response) -> None:
    """Finish with a response whose body is not needed (kept small: the connection is reused)."""
    with contextlib.closing(r), contextlib.suppress(RegistryError):
        read_limited(r, MAX_SMALL_BODY, "")


# --------------------------------------------------------------------------- helpers


def _environ_proxies(host: str) -> dict[str, str]:
    """``HTTP(S)_PROXY`` / ``NO_PROXY`` for ``host``; loopback and localhost never use a proxy."""
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or "]" in host else host
    if name == "localhost" or name.endswith(".localhost"):
        return {}
    with contextlib.suppress(ValueError):
        if parse_ip(name).is_loopback:
            return {}
    return dict(requests.utils.get_environ_proxies(f"https://{host}"))


def _basic(c: Credentials | None) -> str:
    assert c is not None
    return basic_auth(c.username, c.password)


def _error_detail(raw: bytes) -> tuple[str, str]:
    """Code and message of a registry error body (cleaned: one short line each)."""
    try:
        doc = strict_json(raw)
    except ValueError:
        return "", ""
    errs = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errs, list) and errs and isinstance(errs[0], dict):
        return clean_text(str(errs[0].get("code", ""))), clean_text(str(errs[0].get("message", "")))
    return "", ""


def _clip(url: str | None) -> str:
    """A URL for a message: without its query (which may carry anything), cleaned."""
    return clean_text((url or "").split("?", 1)[0], 120)


def reason(e: BaseException) -> str:
    """A short one-line reason from a requests/urllib3 exception chain."""
    inner: BaseException = e
    while inner.__context__ is not None and str(inner.__context__):
        inner = inner.__context__
    text = str(inner) or str(e) or type(e).__name__
    text = re.sub(r"<urllib3\.connection\.\w+ object at 0x[0-9a-f]+>: ", "", text)
    text = re.sub(r"HTTPConnectionPool\(.*?\): ", "", text)
    return clean_text(text.splitlines()[0] if text.splitlines() else text)
