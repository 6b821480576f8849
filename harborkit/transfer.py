"""Parallel transfers that stop together: the stop/abort code, written once.

Used wherever blobs move on several threads (registry fetches and uploads,
layer saves): the first failure, or an interrupt, sets ``stop`` (transfers end
at their next chunk by calling :meth:`Transfers.checkpoint`), cancels what has
not started, and calls ``abort`` until every running transfer has returned
(``abort`` breaks connections blocked on a stalled peer, which would otherwise
wait for their read timeout).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Generic, TypeVar

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
