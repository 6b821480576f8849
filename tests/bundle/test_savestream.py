"""The build's reader of the daemon's chunked ``docker save`` answer (savestream.py),
against a real HTTP server on loopback that writes the framing byte for byte."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
import requests

from harborkit.bundle.errors import SaveFailed
from harborkit.bundle.savestream import SaveReader


def _serve(pieces: Sequence[bytes], pause: float = 0.0) -> Iterator[str]:
    """A one-shot server: sends ``pieces`` (the raw answer) one send each, then closes."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def answer() -> None:
        conn, _ = srv.accept()
        with conn, contextlib.suppress(OSError):  # the reader may hang up first
            conn.recv(65536)
            for p in pieces:
                conn.sendall(p)
                if pause:
                    time.sleep(pause)

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/images/get"
    finally:
        srv.close()
        t.join(5)


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunked(body: bytes, sizes: Sequence[int], ext: bytes = b"") -> bytes:
    out, pos, i = bytearray(), 0, 0
    while pos < len(body):
        n = sizes[i % len(sizes)]
        out += b"%x%s\r\n" % (n if pos + n <= len(body) else len(body) - pos, ext)
        out += body[pos : pos + n] + b"\r\n"
        pos, i = pos + n, i + 1
    return bytes(out) + b"0\r\n\r\n"


def _split(raw: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``raw`` cut into sends of the given sizes, round robin (one byte: every byte alone)."""
    out, pos, i = [], 0, 0
    while pos < len(raw):
        n = cuts[i % len(cuts)]
        out.append(raw[pos : pos + n])
        pos, i = pos + n, i + 1
    return out


def _read_all(url: str, n: int = 1 << 20) -> tuple[bytes, SaveReader]:
    with requests.get(url, stream=True, timeout=10) as resp:
        reader = SaveReader(resp, "exporting the images")
        parts = []
        while chunk := reader.read(n):
            assert len(chunk) <= n
            parts.append(chunk)
        assert reader.read(n) == b""
        return b"".join(parts), reader


BODY = os.urandom(3 << 20) + b"\r\n0\r\n\r\n" + os.urandom(1000)  # framing-like bytes inside


@pytest.mark.parametrize(
    ("sizes", "cuts", "ext", "read_size"),
    [
        ([8184, 24584, 4090], [65536], b"", 1 << 20),  # dockerd's chunk sizes
        ([1, 2, 3, 70000], [1, 7, 3000, 1 << 20], b"", 1 << 20),  # sends cut anywhere
        ([32768], [5, 100000], b";name=value", 512),  # extensions; tar-header reads
        ([3 << 20], [1 << 20], b"", 12345),  # one large chunk
    ],
)
def test_every_framing_gives_the_same_bytes(
    sizes: list[int], cuts: list[int], ext: bytes, read_size: int
) -> None:
    raw = HEAD + _chunked(BODY, sizes, ext)
    for url in _serve(_split(raw, cuts)):
        data, reader = _read_all(url, read_size)
        assert data == BODY
        assert reader._fallback is None  # the fast path read it


@pytest.mark.parametrize(
    ("sizes", "cuts", "read_size"),
    [
        ([700, 1, 9000], [65536], 1 << 20),  # framing on every few bytes: many moves per read
        ([40000], [3, 70000], 100000),  # a chunk larger than the buffer
        ([1, 2, 3], [4096], 5000),
    ],
)
def test_a_read_longer_than_the_buffer_gives_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch, sizes: list[int], cuts: list[int], read_size: int
) -> None:
    """The receive buffer is moved (its bytes received ahead brought to its front) while
    a read still holds views of it: the answer is joined first, every byte in order."""
    from harborkit.bundle import savestream

    monkeypatch.setattr(savestream, "SCRATCH_SIZE", 32768)
    body = os.urandom(300000) + b"\r\n0\r\n\r\n" + os.urandom(5000)
    raw = HEAD + _chunked(body, sizes)
    for url in _serve(_split(raw, cuts)):
        data, reader = _read_all(url, read_size)
        assert data == body
        assert reader._fallback is None
        assert len(reader._scratch) == 32768


def test_a_trailer_and_upper_case_hex_are_read() -> None:
    raw = HEAD + b"A\r\n0123456789\r\n3;x=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
    for url in _serve([raw]):
        assert _read_all(url)[0] == b"0123456789abc"


def test_every_byte_sent_alone() -> None:
    body = os.urandom(5000)
    for url in _serve(_split(HEAD, [len(HEAD)]) + _split(_chunked(body, [700]), [1])):
        assert _read_all(url)[0] == body


@pytest.mark.parametrize(
    ("framing", "message"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
        (b"\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
        (b"-3\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
        (b"0x3\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
        (b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n", "bad chunk size"),
        (b"+3\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
        (b"1" * 17 + b"\r\n", "bad chunk size"),
        (b"3\r\nabcXY0\r\n\r\n", "bad chunk end"),
        (b"3;" + b"x" * 5000 + b"\r\nabc\r\n0\r\n\r\n", "bad chunk header"),
    ],
)
def test_bad_framing_is_one_error(framing: bytes, message: str) -> None:
    for url in _serve([HEAD + framing]):
        with pytest.raises(SaveFailed) as e:
            _read_all(url)
        assert e.value.message == f"the daemon's answer has a {message} while exporting the images"


@pytest.mark.parametrize("cut", [b"5\r\nab", b"5\r\nabcde\r\n", b"5\r\nabcde\r\n0\r\n", b"5"])
def test_an_answer_cut_short_ends_early(cut: bytes) -> None:
    """A connection closed before the last chunk: the bytes before the cut, then the end
    (the tar reader then names the export as ended early)."""
    for url in _serve([HEAD + cut]):
        data, _ = _read_all(url)
        assert b"abcde".startswith(data)


def test_an_answer_with_a_length_is_read_by_the_plain_reader() -> None:
    body = os.urandom(100000)
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    for url in _serve([raw]):
        data, reader = _read_all(url)
        assert data == body
        assert reader._fallback is not None


def test_a_stalled_answer_meets_the_stall_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """One byte every 0.3 s against a 1 s deadline: the deadline holds (a trickle does not
    reset it), named as the daemon's."""
    from harborkit import dockerapi

    monkeypatch.setattr(dockerapi, "STREAM_DEADLINE", 1.0)
    raw = HEAD + _chunked(b"x" * 100, [100])
    for url in _serve(_split(raw, [len(HEAD)] + [1] * 200), pause=0.3):
        t0 = time.monotonic()
        with pytest.raises(dockerapi.DaemonTimeout) as e:
            _read_all(url)
        assert time.monotonic() - t0 < 10  # the whole trickle would take a minute
        assert "took longer than 1 s while exporting the images" in str(e.value)
