"""The ``requests`` pieces under :class:`~harborkit.registry.transport.Transport`: a session
that follows no redirect itself, and an adapter that reports each connection it hands
out (so a cancel can break them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool, HTTPConnectionPool

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection as HTTPConnection


class NoRedirectSession(requests.Session):
    """A session that never reads a ``Location`` itself (redirects are followed in ``_send``).

    ``requests`` parses the ``Location`` of every redirect answer, even with
    ``allow_redirects=False``, with ``urlparse``, which raises on some hostile
    values (``http://[127.0.0.2]/``) before our own strict check could name them.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


class TrackingAdapter(HTTPAdapter):
    """An adapter that reports each connection it hands out (so they can be aborted)."""

    def __init__(
        self,
        track: Callable[[HTTPConnection], None],
        *,
        pool_connections: int,
        pool_maxsize: int,
        max_retries: int,
    ) -> None:
        self._hk_track = track
        super().__init__(
            pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=max_retries
        )

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: tuple[str, str] | str | None = None,
    ) -> ConnectionPool:
        pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        if isinstance(pool, HTTPConnectionPool) and not getattr(pool, "_hk_tracked", False):
            get_conn = pool._get_conn
            track = self._hk_track

            def _get_conn(timeout: float | None = None) -> HTTPConnection:
                conn = get_conn(timeout=timeout)
                track(conn)
                return conn

            pool._get_conn = _get_conn  # type: ignore[method-assign]
            pool._hk_tracked = True  # type: ignore[attr-defined]
        return pool
