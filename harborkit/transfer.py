"""Transfers: parallel ones that stop together, deadlines that hold, downloads that time out.

* :class:`Transfers` / :func:`run_all`: parallel transfers that stop together;
* :class:`Deadline`: a deadline that holds against a trickle (a socket timeout
  restarts with every byte; this shuts the connections down when time is up);
* :func:`open_url`: an http(s) download whose header wait and every read hold a
  speed floor and an overall deadline.

Parallel transfers that stop together: the stop/abort code, written once.

Used wherever blobs move on several threads (registry fetches and uploads,
layer saves): the first failure, or an interrupt, sets ``stop`` (transfers end
at their next chunk by calling :meth:`Transfers.checkpoint`), cancels what has
not started, and calls ``abort`` until every running transfer has returned
(``abort`` breaks connections blocked on a stalled peer, which would otherwise
wait for their read timeout).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, Generic, TypeVar

from harborkit.watch import StreamWatch

T = TypeVar("T")
U = TypeVar("U")


class Cancelled(Exception):
    """Another transfer failed or the user interrupted: this one stopped (its partial file stays)."""


def _nothing() -> None:
    return None


class Transfers(Generic[T]):
    """A thread pool whose transfers stop together (see the module docstring)."""

    def __init__(
        self,
        workers: int,
        abort: Callable[[], None] = _nothing,
        *,
        stop: threading.Event | None = None,
        name: str = "hk-transfer",
    ) -> None:
        self.stop = stop or threading.Event()
        self._abort = abort
        self._ex = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)
        self._pending: set[Future[T]] = set()
        self._lock = threading.Lock()
        #: (stopping already, when, error) of every transfer that raised
        self._failures: list[tuple[bool, float, BaseException]] = []

    def checkpoint(self) -> None:
        """Raise :class:`Cancelled` once the transfers are stopping."""
        if self.stop.is_set():
            raise Cancelled

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        """Start ``fn(*args)`` on the pool."""

        def call() -> T:
            try:
                return fn(*args)
            except BaseException as e:
                with self._lock:
                    self._failures.append((self.stop.is_set(), time.monotonic(), e))
                raise

        fut = self._ex.submit(call)
        self._pending.add(fut)
        return fut

    def first_failure(self) -> BaseException | None:
        """The error that stopped the transfers: the first in time that is not a consequence
        of stopping (a :class:`Cancelled`, or a sibling whose connection was broken after)."""
        with self._lock:
            failures = sorted(self._failures, key=lambda f: (f[0], f[1]))
        real = [e for _, _, e in failures if not isinstance(e, Cancelled)]
        return real[0] if real else (failures[0][2] if failures else None)

    def as_completed(self) -> Iterator[Future[T]]:
        """Every submitted transfer as it completes (successfully or not)."""
        while self._pending:
            finished, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            yield from finished

    def stop_all(self) -> None:
        """Stop every transfer and wait until none runs any more."""
        self.stop.set()
        for fut in self._pending:
            fut.cancel()
        running = {f for f in self._pending if not f.done()}
        while running:
            self._abort()
            _, running = wait(running, timeout=0.2)

    def __enter__(self) -> Transfers[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.stop_all()
        self._ex.shutdown(wait=True)


def run_all(
    fn: Callable[[U], T],
    items: Iterable[U],
    workers: int,
    abort: Callable[[], None] = _nothing,
    *,
    stop: threading.Event | None = None,
) -> list[T]:
    """``fn`` over ``items`` on ``workers`` threads, results in order; the first error stops the rest.

    The error raised is the first in time that is not a consequence of stopping
    (:meth:`Transfers.first_failure`), not the first in ``items``' order. ``stop`` (set when they stop) lets ``fn`` check in.
    """
    items = list(items)
    if not items:
        return []
    with Transfers[T](min(workers, len(items)), abort, stop=stop) as tr:
        futures = [tr.submit(fn, i) for i in items]
        for fut in tr.as_completed():
            if fut.exception() is not None:
                tr.stop_all()
                raise tr.first_failure() or fut.exception() or Cancelled()
        return [f.result() for f in futures]


# --------------------------------------------------------------------------- deadlines


def shutdown_socket(conn: object) -> None:
    """Shut down a socket, or the ``sock`` of a connection (a blocked read or write returns)."""
    sock = conn if isinstance(conn, socket.socket) else getattr(conn, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class Deadline:
    """A deadline that holds against a trickle.

    When ``seconds`` pass before :meth:`close`, every connection (or socket) given
    to :meth:`add` is shut down, again every 0.2 s until :meth:`close` (one may
    get its socket only later), so any blocking read or write returns at once: a
    socket timeout alone restarts with each byte, and a read of 1 MiB at a byte a
    second never lets a watch between reads tick.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._ends = time.monotonic() + seconds
        self._conns: list[object] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hk-deadline", daemon=True)
        self._thread.start()

    def remaining(self) -> float:
        """Seconds left (0 once past it)."""
        return max(0.0, self._ends - time.monotonic())

    def add(self, conn: object) -> None:
        """Watch ``conn`` (a socket or an object with a ``sock``) until :meth:`close`."""
        with self._lock:
            self._conns.append(conn)
            expired = self.expired
        if expired:
            shutdown_socket(conn)

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        with self._lock:
            self.expired = True
        while True:
            with self._lock:
                conns = list(self._conns)
            for conn in conns:
                shutdown_socket(conn)
            if self._done.wait(0.2):
                return

    def close(self) -> None:
        """The work ended: stop watching."""
        self._done.set()


# --------------------------------------------------------------------------- downloads

_LOCAL = threading.local()


def _register(conn: object) -> None:
    for d in getattr(_LOCAL, "deadlines", ()):
        d.add(conn)


@contextlib.contextmanager
def watching(seconds: float) -> Iterator[Deadline]:
    """A :class:`Deadline` for what this thread does inside: every connection it opens or
    takes from a pool hooked by :func:`watch_pools` (or :func:`open_url`) is watched."""
    d = Deadline(seconds)
    stack: list[Deadline] = _LOCAL.__dict__.setdefault("deadlines", [])
    stack.append(d)
    try:
        yield d
    finally:
        stack.remove(d)
        d.close()


def watch_pools(adapter: Any) -> None:
    """Hook a ``requests`` adapter: each connection its pools hand out is watched by the
    thread's :func:`watching` deadlines."""
    get_pool = adapter.get_connection_with_tls_context

    def hooked(*args: Any, **kwargs: Any) -> Any:
        pool = get_pool(*args, **kwargs)
        if not getattr(pool, "_hk_watched", False):
            get_conn = pool._get_conn

            def _get_conn(*a: Any, **kw: Any) -> Any:
                conn = get_conn(*a, **kw)
                _register(conn)
                return conn

            pool._get_conn = _get_conn
            pool._hk_watched = True
        return pool

    adapter.get_connection_with_tls_context = hooked


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _register(self)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        # A TLS handshake is the one moment a Deadline cannot shut the connection down (the
        # socket being wrapped is not yet ``self.sock``); CPython bounds the whole handshake
        # by the socket timeout, so that is cut to the time left (then put back for reads).
        timeout = self.timeout
        left = [d.remaining() for d in getattr(_LOCAL, "deadlines", ())]
        if left and isinstance(timeout, (int, float)):
            self.timeout = max(0.05, min(timeout, *left))
        try:
            super().connect()
        finally:
            self.timeout = timeout
        if self.sock is not None and isinstance(timeout, (int, float)):
            self.sock.settimeout(timeout)
        _register(self)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


#: read from the socket at a time (a trickle is seen after each recv, not after 1 MiB)
_PIECE = 64 << 10


class WatchedReader:
    """A reader whose ``read(n)`` (up to ``n`` bytes, fewer only at the end) is watched
    piece by piece: less than ``min_bytes`` in ``stall`` seconds, a total time past
    ``deadline`` or more than ``max_bytes`` in all raises ``fail(why)``."""

    def __init__(
        self,
        src: Any,
        *,
        stall: float,
        deadline: float,
        fail: Callable[[str], Exception],
        max_bytes: int | None = None,
        min_bytes: int = 64 << 10,
        timer: Deadline | None = None,
    ) -> None:
        self._src = src
        self._read1 = getattr(src, "read1", src.read)
        self._fail = fail
        self._max = max_bytes
        self._timer = timer or Deadline(deadline)
        self._watch = StreamWatch(window=stall, deadline=deadline, fail=fail, min_bytes=min_bytes)
        self.got = 0

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left if ``n < 0``); fewer only at the end."""
        out = bytearray()
        while n < 0 or len(out) < n:
            want = _PIECE if n < 0 else min(_PIECE, n - len(out))
            self._watch.tick(0)
            try:
                piece = self._read1(want)
            except (OSError, http.client.HTTPException) as e:
                if self._timer.expired:
                    raise self._fail(f"took longer than {self._timer.seconds:g} s") from e
                raise
            if not piece:
                if self._timer.expired:  # cut off by the deadline, not the end
                    raise self._fail(f"took longer than {self._timer.seconds:g} s")
                break
            self.got += len(piece)
            if self._max is not None and self.got > self._max:
                raise self._fail(f"is larger than {_size(self._max)}")
            self._watch.tick(len(piece))
            out += piece
        return bytes(out)

    def close(self) -> None:
        """Close the source and stop its deadline."""
        self._timer.close()
        self._src.close()

    def __enter__(self) -> WatchedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n} bytes"


class TimedResponse(WatchedReader):
    """An open download (see :func:`open_url`): its ``headers`` and a watched ``read``."""

    def __init__(self, resp: http.client.HTTPResponse, **kwargs: Any) -> None:
        super().__init__(resp, **kwargs)
        self.headers = resp.headers
        self.status = resp.status


def open_url(
    url: str,
    *,
    timeout: float,
    deadline: float,
    fail: Callable[[str], Exception],
    min_bytes: int = 64 << 10,
    max_bytes: int | None = None,
    **kwargs: Any,
) -> TimedResponse:
    """``urllib.request.urlopen(url)`` (proxies from the environment, redirects followed)
    whose answer and body must come within ``deadline`` seconds in all, and whose body
    must bring ``min_bytes`` every ``timeout`` seconds; each socket read waits at most
    ``timeout``. Errors before the answer are urlopen's (``HTTPError``, ``URLError``,
    ``OSError``) except the deadline, which is ``fail("took longer than N s")``; a body
    past ``max_bytes`` is ``fail("is larger than ...")``."""
    opener = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)
    d = Deadline(deadline)  # lives on with the response (closed with it)
    stack: list[Deadline] = _LOCAL.__dict__.setdefault("deadlines", [])
    stack.append(d)
    try:
        resp = opener.open(url, timeout=timeout, **kwargs)
    except Exception as e:
        d.close()
        if d.expired or d.remaining() <= 0:  # (a handshake cut to the time left ends as it does)
            raise fail(f"took longer than {deadline:g} s") from e
        raise
    finally:
        stack.remove(d)
    if d.expired:  # http.client takes headers cut off by the shutdown for an answer
        resp.close()
        d.close()
        raise fail(f"took longer than {deadline:g} s")
    return TimedResponse(
        resp, stall=timeout, deadline=deadline, fail=fail, max_bytes=max_bytes,
        min_bytes=min_bytes, timer=d,
    )  # fmt: skip
