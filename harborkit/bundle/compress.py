"""Layer compression: a reader thread feeds a diff-id hasher and a gzip compressor.

Layer tars are handed, in 1 MiB chunks, to two worker threads: one computes the
diff id (sha256 of the raw tar), the other gzip-compresses with ISA-L (blocks
on several threads, pigz-style), hashes the gzip bytes and writes them into the
bundle as a blob. Both release the GIL, so reading, hashing and compressing
overlap on all cores, and memory stays bounded by the queues.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harborkit.bundle.progress import Task

CHUNK = 1 << 20
#: gzip level for layers (ISA-L levels 0-3). Measured on the bench's 1.62 GB of Debian
#: layers (one core, memLevel 8, the best of 1-9 for size): level 1 0.4244 of the input
#: at 3.1-3.9 s of CPU, level 2 0.4206 at 3.6-4.0 s (the same cost within noise), level
#: 3 0.4123 at 6.4-7.5 s (twice the CPU: on two cores shared with dockerd's export,
#: that is the build's pace).
COMPRESS_LEVEL = 2
#: threads compressing one layer's blocks in parallel (pigz-style)
COMPRESS_THREADS = max(1, os.cpu_count() or 1)
#: input bytes per block of the threaded compressor. ISA-L makes one set of Huffman codes
#: per block, so smaller blocks fit the data better; each is primed with the 32 KiB
#: before it, which costs CPU. On the bench's 1.62 GB at level 2 (CPU seconds, under
#: load): 1 MiB blocks 0.4208 of the input at 3.4 s, 512 KiB 0.4206 at 3.9 s, 256 KiB
#: 0.4200 at 3.6 s, 128 KiB 0.4187 at 4.1 s, 64 KiB 0.4170 at 4.9 s (issue 24: the bundle
#: at most 0.42 of docker save). One stream on one thread at ISA-L memLevel 3 (smaller
#: blocks, no priming) gave 0.4179 at 3.5 s of CPU, but a build 8-15 % slower in the
#: same runs under a load of 3 (the one thread is the pace then), against 2-6 % for
#: 128 KiB blocks on two threads, which also lowered the build's peak RSS (73 -> 62 MB).
BLOCK = 128 << 10
#: chunks waiting for each worker: a few keep the reader ahead of the workers; each one
#: is a MiB of peak memory when the daemon sends faster than the workers take (with 16
#: a build from a fast source peaked at 75 MB, with 4 at 63 MB)
QUEUE_DEPTH = 4


class BlobSink(Protocol):
    """Where compressed layers go: one streamed blob at a time (the bundle writer)."""

    def begin_blob(self) -> None:
        """Open a blob member whose digest is not known yet."""

    def write(self, data: bytes | memoryview) -> None:
        """Append to the open blob."""

    def end_blob(self, digest: str, size: int) -> bool:
        """Close the open blob as ``digest``; ``False`` if that blob was stored already."""
        ...

    def drop_blob(self) -> None:
        """Drop the open blob (a delta leaves it to its base bundle)."""


#: ``LayerOut.size`` of a layer a delta build left out
LEFT_OUT = -2


@dataclass(frozen=True)
class LayerOut:
    """A compressed layer: stored digest and size, diff id and raw size."""

    digest: str
    size: int  # -1: the same blob was stored before (take its size from there)
    diff_id: str
    uncompressed_size: int


class _HashingSink:
    """File-like end of the compressor: hashes, counts and appends to the open blob."""

    def __init__(self, out: BlobSink) -> None:
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self._out.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing buffered here."""


def compress_bytes(data: bytes, level: int = COMPRESS_LEVEL) -> tuple[bytes, str]:
    """``(gzip bytes, their sha256 hex)`` of a small layer held in memory."""
    from isal import isal_zlib

    comp = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
    out = comp.compress(data) + comp.flush()
    return out, hashlib.sha256(out).hexdigest()


class LayerPipeline:
    """Reader -> (diff-id hasher, compressor/writer) threads over bounded queues."""

    _STOP = ("stop",)

    def __init__(
        self,
        out: BlobSink,
        level: int = COMPRESS_LEVEL,
        *,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        self._out = out
        self._level = level
        # a delta build: layers whose diff id ``skip`` names are compressed but dropped
        # (the diff id is known only once the whole layer is hashed)
        self._skip = skip
        self._diff_ready = threading.Condition()
        self._q_hash: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._q_write: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=QUEUE_DEPTH)
        self.error: BaseException | None = None
        self._diff: dict[str, tuple[str, int]] = {}
        self._compressed: dict[str, tuple[str, int]] = {}
        self._threads = [
            threading.Thread(target=self._hash_loop, name="hk-hash", daemon=True),
            threading.Thread(target=self._write_loop, name="hk-write", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _hash_loop(self) -> None:
        h = hashlib.sha256()
        size = 0
        while (msg := self._q_hash.get())[0] != "stop":
            if self.error is not None:
                continue
            try:
                if msg[0] == "begin":
                    h, size = hashlib.sha256(), 0
                elif msg[0] == "data":
                    h.update(msg[1])
                    size += len(msg[1])
                elif msg[0] == "end":
                    with self._diff_ready:
                        self._diff[msg[1]] = ("sha256:" + h.hexdigest(), size)
                        self._diff_ready.notify_all()
            except BaseException as e:
                self.error = e

    def _write_loop(self) -> None:
        from isal import igzip_threaded

        gz: Any = None
        sink: _HashingSink | None = None
        while (msg := self._q_write.get())[0] != "stop":
            if self.error is not None:
                continue
            try:
                if msg[0] == "data":
                    # past the buffered writer: the compressor cuts the chunk into
                    # blocks and queues them for its threads
                    gz.raw.write(msg[1])
                elif msg[0] == "begin":
                    self._out.begin_blob()
                    sink = _HashingSink(self._out)
                    # pigz-style: blocks compressed on several threads, each primed with
                    # the previous 32 KiB, one gzip member, written in order
                    gz = igzip_threaded.open(
                        sink,
                        "wb",
                        compresslevel=self._level,
                        threads=COMPRESS_THREADS,
                        block_size=BLOCK,
                    )
                elif msg[0] == "end":
                    assert sink is not None
                    gz.close()
                    gz = None
                    digest = "sha256:" + sink.hash.hexdigest()
                    if self._skip is not None and self._skip(self._wait_diff(msg[1])):
                        self._out.drop_blob()
                        self._compressed[msg[1]] = (digest, LEFT_OUT)
                        continue
                    new = self._out.end_blob(digest, sink.size)
                    self._compressed[msg[1]] = (digest, sink.size if new else -1)
            except BaseException as e:
                self.error = e
        if gz is not None:
            with contextlib.suppress(Exception):
                gz.close()

    def _wait_diff(self, key: str) -> str:
        with self._diff_ready:
            while key not in self._diff and self.error is None:
                self._diff_ready.wait(1.0)
            if key not in self._diff:
                raise RuntimeError("the diff-id hasher stopped")
            return self._diff[key][0]

    def check(self) -> None:
        """Re-raise a worker's error in the calling thread."""
        if self.error is not None:
            raise self.error

    def layer(self, key: str, read: Callable[[int], bytes], task: Task) -> None:
        """Feed one layer (read with ``read``) through both workers."""
        self._q_hash.put(("begin",))
        self._q_write.put(("begin",))
        while chunk := read(CHUNK):
            self.check()
            self._q_hash.put(("data", chunk))
            self._q_write.put(("data", chunk))
            task.advance(len(chunk))
        self._q_hash.put(("end", key))
        self._q_write.put(("end", key))

    def close(self) -> None:
        """Stop the workers and wait for them."""
        for q in (self._q_hash, self._q_write):
            q.put(self._STOP)
        for t in self._threads:
            t.join()

    def result(self, key: str) -> LayerOut:
        """Digest/size of a streamed layer (after :meth:`close`)."""
        diff_id, usize = self._diff[key]
        digest, size = self._compressed[key]
        return LayerOut(digest, size, diff_id, usize)
