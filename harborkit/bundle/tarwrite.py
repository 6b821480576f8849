"""The bundle's tar writer (reading untrusted tars is :mod:`harborkit.bundle.tarsafe`).

:class:`OuterTarWriter` writes the bundle: small members from bytes, large ones
streamed with their header patched in place afterwards (nothing held in memory).
"""

from __future__ import annotations

import os
import tarfile
import time
from typing import BinaryIO

from harborkit.bundle.tarsafe import BLOCK

_ZERO_BLOCK = bytes(BLOCK)


def tar_header(name: str, size: int, mode: int, mtime: int) -> bytes:
    """Header block(s) of a regular file member (GNU format)."""
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mode = mode
    ti.mtime = mtime
    ti.type = tarfile.REGTYPE
    # GNU format: long names get a LongLink block, huge sizes use base-256 in the
    # same header, so a header's length depends on the name only (patchable).
    return ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


class OuterTarWriter:
    """Write a bundle tar to a seekable binary file, collecting ``SHA256SUMS`` entries."""

    def __init__(self, f: BinaryIO, *, mtime: int | None = None) -> None:
        self._f = f
        self._mtime = int(time.time()) if mtime is None else mtime
        self.sums: list[tuple[str, str]] = []
        self._open_at: int | None = None
        self._open_header_len = 0

    def add_bytes(self, name: str, data: bytes, hexdigest: str) -> None:
        """Add a member from memory (``hexdigest`` is its sha256)."""
        self._f.write(tar_header(name, len(data), 0o644, self._mtime))
        self._f.write(data)
        self._pad(len(data))
        self.sums.append((name, hexdigest))

    def begin(self, name_template: str) -> None:
        """Start a streamed member; its name must have ``name_template``'s length."""
        if self._open_at is not None:
            raise RuntimeError("a streamed member is already open")
        self._open_at = self._f.tell()
        self._open_header_len = len(tar_header(name_template, 0, 0o644, self._mtime))
        self._f.write(bytes(self._open_header_len))

    def write(self, data: bytes | memoryview) -> None:
        """Append data to the open streamed member."""
        self._f.write(data)

    def end(self, name: str, size: int, hexdigest: str) -> None:
        """Close the streamed member: patch its header with the final name and size."""
        if self._open_at is None:
            raise RuntimeError("no streamed member is open")
        header = tar_header(name, size, 0o644, self._mtime)
        if len(header) != self._open_header_len:
            raise RuntimeError(f"header length changed for {name}")
        end = self._f.tell()
        self._f.seek(self._open_at)
        self._f.write(header)
        self._f.seek(end)
        self._pad(size)
        self._open_at = None
        self.sums.append((name, hexdigest))

    def abort(self) -> None:
        """Drop the open streamed member (it must be the last thing written)."""
        if self._open_at is None:
            raise RuntimeError("no streamed member is open")
        self._f.seek(self._open_at)
        self._f.truncate()
        self._open_at = None

    def position(self) -> int:
        """Where the next byte goes."""
        return self._f.tell()

    def after_external_write(self) -> None:
        """Data was appended through the file's descriptor (``copy_file_range``): go to its end."""
        self._f.seek(0, os.SEEK_END)

    def close(self) -> None:
        """Write the end-of-archive marker (two zero blocks)."""
        self._f.write(_ZERO_BLOCK * 2)

    def _pad(self, size: int) -> None:
        rem = size % BLOCK
        if rem:
            self._f.write(bytes(BLOCK - rem))
