"""Read a tar stream (``docker save``) front to back: no seeking, no copies.

:class:`TarStreamReader` yields each member's header and lets the caller read
its data in chunks before asking for the next; GNU long names and pax headers
are understood (both ``docker save`` layouts use them).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import Protocol

from harborkit.bundle.errors import SaveFailed
from harborkit.bundle.tarsafe import BLOCK

CHUNK = 1 << 20
_META_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE)


class Readable(Protocol):
    """Anything with ``read(n)``."""

    def read(self, n: int, /) -> bytes:
        """Up to ``n`` bytes; ``b''`` at the end."""
        ...


class TarStreamReader:
    """Minimal streaming tar reader over ``read(n)``."""

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self._remaining = 0
        self._padding = 0

    def _read_exact(self, n: int) -> bytes:
        data = self._raw.read(n)
        if len(data) == n or not data:
            if len(data) != n:
                raise SaveFailed("the image export stream ended early")
            return data
        parts = [data]
        got = len(data)
        while got < n:
            more = self._raw.read(n - got)
            if not more:
                raise SaveFailed("the image export stream ended early")
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def _skip_rest(self) -> None:
        while self._remaining:
            self.read(min(self._remaining, CHUNK))
        if self._padding:
            self._read_exact(self._padding)
            self._padding = 0

    def read(self, n: int) -> bytes:
        """Read up to ``n`` bytes of the current member."""
        n = min(n, self._remaining)
        if n <= 0:
            return b""
        data = self._read_exact(n)
        self._remaining -= len(data)
        return data

    def _next_header(self) -> bytes | None:
        """The next header block, or ``None`` at the end of the archive."""
        self._skip_rest()
        hdr = self._raw.read(BLOCK)
        if len(hdr) < BLOCK:
            if not hdr:
                return None  # EOF without end marker: treat as end
            hdr += self._read_exact(BLOCK - len(hdr))
        if hdr == bytes(BLOCK):
            while self._raw.read(CHUNK):  # drain so the sender sees a complete read
                pass
            return None
        return hdr

    def members(self) -> Iterator[tarfile.TarInfo]:
        """Headers in order; read each member's data with :meth:`read` before the next."""
        long_name: str | None = None
        long_link: str | None = None
        pax: dict[str, str] = {}
        while (hdr := self._next_header()) is not None:
            try:
                ti = tarfile.TarInfo.frombuf(hdr, "utf-8", "surrogateescape")
            except tarfile.HeaderError as e:
                raise SaveFailed(f"the image export stream has a bad tar header: {e}") from e
            size = ti.size
            if ti.type in _META_TYPES:
                data = self._read_exact(size + (-size % BLOCK))[:size]
                text = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
                if ti.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = text
                elif ti.type == tarfile.GNUTYPE_LONGLINK:
                    long_link = text
                elif ti.type == tarfile.XHDTYPE:
                    pax.update(parse_pax(data))
                continue
            if long_name or "path" in pax:
                ti.name = long_name or pax["path"]
            if long_link or "linkpath" in pax:
                ti.linkname = long_link or pax["linkpath"]
            if "size" in pax:
                ti.size = size = int(pax["size"])
            long_name = long_link = None
            pax = {}
            regular = ti.type in tarfile.REGULAR_TYPES
            self._remaining = size if regular else 0
            self._padding = -size % BLOCK if regular else 0
            yield ti


def parse_pax(data: bytes) -> dict[str, str]:
    """Records of a pax extended header (``"<len> key=value\\n"``)."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        try:
            length = int(data[pos:sp])
        except ValueError as e:
            raise SaveFailed("the image export stream has a bad pax header") from e
        if length <= 0:
            raise SaveFailed("the image export stream has a bad pax header")
        record = data[sp + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out
