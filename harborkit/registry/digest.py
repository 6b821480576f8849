"""Digests at the boundary: every digest a registry (or the cache on disk) hands us is checked here.

A digest names a URL path, a cache file and a bundle member, so one that is not
exactly ``sha256:`` + 64 lowercase hex digits (the only algorithm harborkit
verifies) is refused before it is used for any of them. The same pattern as
``schemas/bundle-metadata.schema.json``'s ``digest``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from harborkit.registry.errors import ProtocolError

if TYPE_CHECKING:
    from isal.isal_zlib import Decompress

DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(value: object) -> bool:
    """True for a string that is ``sha256:`` + 64 lowercase hex digits."""
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def show(value: object, limit: int = 80) -> str:
    """``value`` for an error message: quoted, one line, cut at ``limit`` characters."""
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_digest(value: object, where: str) -> str:
    """``value`` if it is a valid digest, else :class:`ProtocolError` naming ``where``."""
    if value is None:
        raise ProtocolError(f"{where} is missing")
    if not is_digest(value):
        raise ProtocolError(
            f"{where} {show(value)} is not sha256: followed by 64 lowercase hex digits"
        )
    assert isinstance(value, str)
    return value


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_file(root: Path, digest: str) -> Path:
    """``root/sha256/<hex>`` for a validated ``digest``, checked to stay inside ``root``."""
    hex_ = check_digest(digest, "blob digest").split(":", 1)[1]
    path = root / "sha256" / hex_
    if not path.resolve().is_relative_to(root.resolve()):
        raise ProtocolError(f"cache file for {digest} would be outside {root}")
    return path


#: a gzip layer may expand to at most this many times its size (plus MAX_EXPANSION_SLACK):
#: real layers stay far below; a bomb (a run of zeros, ~1000x) is refused as it inflates
MAX_EXPANSION = 100
MAX_EXPANSION_SLACK = 64 << 20


def file_digests(
    path: Path, *, compressed: bool, uncompressed: bool, checkpoint: Callable[[], None]
) -> tuple[str | None, str | None]:
    """In one read of ``path``: its digest, and the digest of its content ungzipped (a diff id).

    Either is ``None`` when not asked for (see :func:`layer_digests`).
    """
    digest, diff_id, _ = layer_digests(
        path, compressed=compressed, uncompressed=uncompressed, checkpoint=checkpoint
    )
    return digest, diff_id


def layer_digests(
    path: Path, *, compressed: bool, uncompressed: bool, checkpoint: Callable[[], None]
) -> tuple[str | None, str | None, int | None]:
    """In one read of ``path``: its digest, its diff id and its uncompressed size.

    The digest is ``None`` unless ``compressed``, the diff id and the size unless
    ``uncompressed``. A file that does not start with the gzip magic is an
    uncompressed layer: its diff id is its own digest. The size is counted by
    inflating every gzip member (a trailer's ISIZE is only its own member's size,
    modulo 4 GiB). ``checkpoint`` runs between blocks (it raises to stop).
    :class:`ProtocolError` if the gzip stream is broken or expands past
    :data:`MAX_EXPANSION` times the file's size.
    """
    from isal import isal_zlib

    whole, inner = hashlib.sha256(), hashlib.sha256()
    d = None
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        out_limit = size * MAX_EXPANSION + MAX_EXPANSION_SLACK
        inflated = _Counter(inner, out_limit, path, size)
        first = True
        while chunk := f.read(_BLOCK):
            checkpoint()
            if compressed:
                whole.update(chunk)
            if first and uncompressed:
                d = isal_zlib.decompressobj(31) if chunk[:2] == b"\x1f\x8b" else None
            first = False
            if d is not None:
                view = memoryview(chunk)
                for at in range(0, len(view), _PIECE):
                    d = _inflate(d, view[at : at + _PIECE], inflated, path)
            elif uncompressed:
                inflated.update(chunk)
    if d is not None and not d.eof:
        raise ProtocolError(f"{path.name}: the layer ends inside its gzip stream")
    out = "sha256:" + whole.hexdigest() if compressed else None
    if not uncompressed:
        return out, None, None
    return out, "sha256:" + inner.hexdigest(), inflated.count


class _Counter:
    """A hash that counts what it is fed and refuses more than ``limit`` bytes."""

    def __init__(self, h: hashlib._Hash, limit: int, path: Path, size: int) -> None:
        self.h, self.limit, self.path, self.size, self.count = h, limit, path, size, 0

    def update(self, data: bytes | memoryview) -> None:
        self.count += len(data)
        if self.count > self.limit:
            raise ProtocolError(
                f"{self.path.name}: the layer expands past {self.limit} bytes from "
                f"{self.size} (more than {MAX_EXPANSION} times its size: a gzip bomb?); refused"
            )
        self.h.update(data)


_BLOCK = 1 << 20  # read from the file at a time
_PIECE = 64 << 10  # handed to the inflater at a time (what it keeps back is copied)
_OUT = 2 << 20  # taken from the inflater at a time


def _inflate(d: Decompress, data: bytes | memoryview, h: _Counter, path: Path) -> Decompress:
    """Feed ``data`` (gzip members, possibly several) to ``d``; the decompressor to go on with.

    Output is taken 2 MiB at a time, so that a run of zeros (or a gzip bomb)
    never expands in memory; input goes in small pieces, so that what the
    inflater keeps back (and copies on each call) stays small.
    """
    from isal import isal_zlib

    broken = cast("type[Exception]", isal_zlib.error)  # its stub declares an instance
    try:
        while True:
            out = d.decompress(data, _OUT)
            h.update(out)
            if d.eof:
                data = d.unused_data  # another gzip member may follow
                if not data:
                    return d
                d = isal_zlib.decompressobj(31)
                continue
            data = d.unconsumed_tail
            if not data and len(out) < _OUT:
                return d  # needs the next block
    except broken as e:
        raise ProtocolError(f"{path.name}: the layer is not a valid gzip stream ({e})") from e
