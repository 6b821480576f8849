"""The daemon's ``docker save`` answer read in large pieces, its chunked framing decoded here.

dockerd sends the export as HTTP/1.1 chunks of 8-24 KiB. Read through urllib3 and
http.client, each chunk costs a dozen Python calls and a ``readline`` (100,000 of
them for 1.6 GB: over a second of CPU, on a build that competes with dockerd for
two cores). :class:`SaveReader` takes whatever one receive brings (up to 1 MiB)
and cuts the chunk framing out of it itself; the stall window and the deadline are
watched on every receive, as :class:`harborkit.dockerapi.StreamReader` does.
An answer that is not plainly chunked (a length, an encoding, a body already
begun) is read by :class:`~harborkit.dockerapi.StreamReader` instead.
"""

from __future__ import annotations

from typing import Any

from harborkit import dockerapi
from harborkit.bundle.errors import SaveFailed
from harborkit.dockerapi import _transport_error
from harborkit.watch import StreamWatch

#: the receive buffer: chunk framing and data received ahead; a read's answer is joined
#: from views of it (one copy of each byte), so it is never moved while a read holds them
SCRATCH_SIZE = 4 << 20
#: a chunk-size line (hex size and extensions) or trailer line longer than this is refused
MAX_LINE = 4096
_HEX = b"0123456789abcdefABCDEF"


class SaveReader:
    """``read(n)`` over a streamed, chunked daemon answer.

    Each byte is copied once in user space: received into one buffer, then joined
    into the answer of :meth:`read` (the framing cut out by slicing views of it).
    """

    def __init__(self, resp: Any, what: str) -> None:
        self._what = what
        self._fallback: dockerapi.StreamReader | None = None
        self._fp = _chunked_body(resp)
        if self._fp is None:
            self._fallback = dockerapi.StreamReader(resp, what)
            return
        self._watch = StreamWatch(
            window=dockerapi.STALL_TIMEOUT,
            deadline=dockerapi.STREAM_DEADLINE,
            min_bytes=1,
            fail=lambda why: dockerapi.DaemonTimeout(
                f"the Docker daemon at {dockerapi.daemon_address()} {why} while {what}"
            ),
        )
        self._scratch = bytearray(SCRATCH_SIZE)
        self._view = memoryview(self._scratch)
        self._pos = 0  # received, not yet handed out: self._scratch[_pos:_end]
        self._end = 0
        self._segments: list[memoryview] = []  # the current read's data, views of _scratch
        self._pieces: list[bytes] = []  # ... joined early when the buffer had to move
        self._left = 0  # data bytes left in the current chunk
        self._need_crlf = False  # the CRLF after a chunk's data is still to come
        self._done = False  # the last chunk and the trailer were read

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body (fewer only at its end)."""
        if self._fallback is not None:
            return self._fallback.read(n)
        if SCRATCH_SIZE - self._end < n + MAX_LINE:
            self._compact()
        got = 0
        try:
            while got < n and not self._done:
                if self._left:
                    if self._pos == self._end and not self._fill():
                        break
                    take = min(self._left, n - got, self._end - self._pos)
                    self._segments.append(self._view[self._pos : self._pos + take])
                    self._pos += take
                    got += take
                    self._left -= take
                    self._need_crlf = self._left == 0
                elif not self._frame():
                    break
            data = b"".join(self._segments)
            return b"".join([*self._pieces, data]) if self._pieces else data
        finally:
            for view in self._segments:
                view.release()
            self._segments.clear()
            self._pieces.clear()

    def _compact(self) -> None:
        """Move the bytes received ahead to the front of the buffer (the views of the
        current read are joined first: they would be overwritten)."""
        if self._segments:
            self._pieces.append(b"".join(self._segments))
            for view in self._segments:
                view.release()
            self._segments.clear()
        ahead = self._end - self._pos
        if self._pos:
            self._scratch[:ahead] = bytes(self._view[self._pos : self._end])
        self._pos, self._end = 0, ahead

    def _fill(self) -> bool:
        """Receive once more after the bytes held; ``False`` at the end of the connection."""
        if self._end == SCRATCH_SIZE:
            self._compact()
            if self._end == SCRATCH_SIZE:  # pragma: no cover - a line is bounded far below
                raise SaveFailed(f"the daemon's answer has a bad chunk header while {self._what}")
        self._watch.tick(0)
        try:
            got = self._fp.readinto1(self._view[self._end :])
        except Exception as e:
            raise _transport_error(e, self._what) from e
        if not got:
            return False
        self._watch.tick(got)
        self._end += got
        return True

    def _line(self) -> bytes | None:
        """The next CRLF-ended line (without it), or ``None`` if the connection ended."""
        while True:
            limit = min(self._end, self._pos + MAX_LINE + 2)
            end = self._scratch.find(b"\r\n", self._pos, limit)
            if end >= 0:
                break
            if self._end - self._pos > MAX_LINE:
                raise SaveFailed(f"the daemon's answer has a bad chunk header while {self._what}")
            if not self._fill():
                return None
        line = bytes(self._view[self._pos : end])
        self._pos = end + 2
        return line

    def _frame(self) -> bool:
        """Read the framing up to the next chunk's data; ``False`` if the connection ended."""
        if self._need_crlf:
            line = self._line()
            if line is None:
                return False
            if line:
                raise SaveFailed(f"the daemon's answer has a bad chunk end while {self._what}")
            self._need_crlf = False
        line = self._line()
        if line is None:
            return False
        size_text = line.split(b";", 1)[0].strip()
        if not 0 < len(size_text) <= 16 or size_text.strip(_HEX):  # int() takes '-', '_', '0x'
            raise SaveFailed(f"the daemon's answer has a bad chunk size while {self._what}")
        size = int(size_text, 16)
        if size == 0:
            while (trailer := self._line()) is not None and trailer:
                pass
            self._done = trailer is not None
            return False
        self._left = size
        return True


def _chunked_body(resp: Any) -> Any:
    """The buffered socket reader of a chunked answer whose body is untouched, or ``None``."""
    raw = getattr(resp, "raw", None)
    inner = getattr(raw, "_fp", None)  # urllib3's http.client response
    fp = getattr(inner, "fp", None)
    if (
        fp is None
        or not hasattr(fp, "readinto1")
        or getattr(inner, "chunked", False) is not True
        or getattr(inner, "chunk_left", 0) is not None  # a chunk was begun already
        or resp.headers.get("Content-Encoding", "identity") != "identity"
        or getattr(raw, "_fp_bytes_read", 0)
    ):
        return None
    return fp
