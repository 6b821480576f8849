"""A small HTTP client for the post-install checks: every call has a deadline.

``http.client`` on a socket that :class:`~harborkit.transfer.Deadline` (the
registry transport's deadline too) shuts down when the overall deadline passes,
so neither a peer that never answers nor one that trickles a byte a second
(TLS handshake, headers or body) can hold a check past it. Answers are read up to a
bound; credentials go in headers only and never into a message.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harborkit.netutil import basic_auth, env_seconds

if TYPE_CHECKING:
    from harborkit.transfer import Deadline

#: overall deadline of one HTTP call in seconds (HARBORKIT_POST_TIMEOUT overrides)
DEFAULT_DEADLINE = 10.0
MAX_BODY = 4 << 20


class HttpError(Exception):
    """A call that got no usable HTTP answer; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def deadline_seconds() -> float:
    """``HARBORKIT_POST_TIMEOUT`` (up to 600 s), else :data:`DEFAULT_DEADLINE`."""
    return env_seconds("HARBORKIT_POST_TIMEOUT", DEFAULT_DEADLINE, most=600)


basic = basic_auth


def shown(data: bytes | str, limit: int = 60) -> str:
    """What a peer said, printable and short, for a one-line message."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def request(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    ca: str | None = None,
    deadline: float | None = None,
    max_body: int = MAX_BODY,
) -> Answer:
    """One HTTP(S) call, no redirects followed; :class:`HttpError` when there is
    no complete answer within ``deadline`` seconds (the whole call)."""
    import http.client  # here: a pre-install audit loads this module, never calls it
    import ssl

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"{url}: not an http(s) URL")
    limit = deadline if deadline is not None else deadline_seconds()
    end = time.monotonic() + limit
    port = parts.port or (443 if parts.scheme == "https" else 80)
    what = f"{parts.scheme}://{parts.netloc}"
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=limit)
    except TimeoutError:
        raise HttpError(f"{what}: no connection within {limit:g}s") from None
    except OSError as e:
        raise HttpError(f"{what}: cannot connect: {e.strerror or e}") from None
    from harborkit.transfer import Deadline  # (urllib.request and threads: only when called)

    watch = Deadline(max(0.0, end - time.monotonic()))
    watch.add(sock)
    try:
        answer = _exchange(sock, parts, port, method, headers, body, ca, end, max_body, what, watch)
        if watch.expired:  # the watch's shutdown reads as an early end of the body
            raise TimeoutError
        return answer
    except HttpError:
        if watch.expired:
            raise HttpError(f"{what}: no complete answer within {limit:g}s") from None
        raise
    except ssl.SSLCertVerificationError as e:
        raise HttpError(f"{what}: certificate not valid: {e.verify_message or e.reason}") from None
    except Exception as e:
        if watch.expired or time.monotonic() >= end:
            raise HttpError(f"{what}: no complete answer within {limit:g}s") from None
        if isinstance(e, http.client.BadStatusLine):
            raise HttpError(
                f"{what}: answered something that is not HTTP: {shown(str(e))}"
            ) from None
        if isinstance(e, http.client.HTTPException):
            raise HttpError(f"{what}: broken HTTP answer: {type(e).__name__}") from None
        if isinstance(e, ssl.SSLError):
            raise HttpError(f"{what}: TLS failed: {e.reason or e}") from None
        if isinstance(e, OSError):
            raise HttpError(f"{what}: connection failed: {e.strerror or e}") from None
        raise HttpError(f"{what}: failed: {type(e).__name__}") from None
    finally:
        watch.close()
        sock.close()


def _exchange(
    sock: socket.socket,
    parts: object,
    port: int,
    method: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    ca: str | None,
    end: float,
    max_body: int,
    what: str,
    watch: Deadline,
) -> Answer:
    import http.client
    import ssl
    from urllib.parse import SplitResult

    assert isinstance(parts, SplitResult)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca)
        tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        watch.add(tls)  # (wrap_socket detached ``sock``: shutting that down cuts nothing)
        tls.do_handshake()
        conn = http.client.HTTPSConnection(host, port, context=context)
        conn.sock = tls
    else:
        conn = http.client.HTTPConnection(host, port)
        conn.sock = sock
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn.request(method, path, body=body, headers=dict(headers or {}))
    resp = conn.getresponse()
    data = bytearray()
    while True:
        if time.monotonic() >= end:
            raise TimeoutError
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > max_body:
            raise HttpError(f"{what}: answer larger than {max_body} bytes")
    if resp.length:  # Content-Length promised more than came
        raise HttpError(
            f"{what}: answer cut short ({len(data)} bytes of {len(data) + resp.length})"
        )
    return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, bytes(data))
