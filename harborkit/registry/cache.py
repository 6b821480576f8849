"""The blob cache of registry builds: one file per digest, complete and verified before use.

A blob is fetched once into ``<cache>/sha256/<hex>`` (a partial one is continued with a
``Range`` request) and re-hashed whenever it is used again; a layer's diff id and
uncompressed size are kept beside it (``<hex>.diffid``) so a later build need not
ungzip it again.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harborkit.fsutil import atomic_write
from harborkit.registry.digest import blob_file, is_digest, layer_digests
from harborkit.registry.errors import ProtocolError
from harborkit.transfer import Transfers

if TYPE_CHECKING:
    from harborkit.registry.client import RegistryClient


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/harborkit/blobs`` or ``~/.cache/harborkit/blobs``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harborkit" / "blobs"


@dataclass(frozen=True)
class CachedBlob:
    """A blob to fetch: its digest and size as a manifest names it, and where it lives."""

    digest: str
    size: int
    media_type: str
    host: str
    repository: str  # one repository that has it


@dataclass(frozen=True)
class Ready:
    """A blob complete and verified in the cache: what it took, and a layer's diff id."""

    digest: str
    path: Path
    fetched: bool
    resumed: bool
    downloaded: int
    diff_id: str | None  # layers: the digest of the content ungzipped
    usize: int | None  # layers: the size of the content ungzipped (every gzip member)


def cache_path(cache: Path, digest: str) -> Path:
    """The cache file of ``digest``: only a valid digest, only inside ``cache``."""
    return blob_file(cache, digest)


def ensure_blob(
    blob: CachedBlob,
    cache: Path,
    client: RegistryClient,
    transfers: Transfers[Ready],
    advance: Callable[[int], None],
    is_layer: bool,
) -> Ready:
    """The blob's complete, verified cache file (re-hashed if cached, fetched otherwise).

    A layer's diff id is computed on the way (the config's ``diff_ids`` must match it).
    """
    transfers.checkpoint()
    path = cache_path(cache, blob.digest)
    if path.exists():
        if path.stat().st_size == blob.size:
            digest, diff_id, usize = _digests(blob, path, is_layer, transfers, compressed=True)
            if digest == blob.digest:
                advance(blob.size)
                return Ready(blob.digest, path, False, False, 0, diff_id, usize)
        path.unlink()  # a damaged cache entry is fetched again

    def progress(n: int) -> None:
        transfers.checkpoint()
        advance(n)

    out = client.fetch_blob(blob.repository, blob.digest, path, size=blob.size, progress=progress)
    if out.size != blob.size:
        path.unlink()
        raise ProtocolError(
            f"{blob.host}: blob {blob.digest} of {blob.repository} has {out.size} bytes, "
            f"the manifest says {blob.size}"
        )
    _, diff_id, usize = _digests(blob, path, is_layer, transfers, compressed=False)
    return Ready(blob.digest, path, not out.cached, out.resumed, out.downloaded, diff_id, usize)


def _digests(
    blob: CachedBlob, path: Path, is_layer: bool, transfers: Transfers[Ready], *, compressed: bool
) -> tuple[str | None, str | None, int | None]:
    """The cache file's digest (if ``compressed``) and, for a layer, its diff id and size ungzipped.

    A layer's diff id and size are kept beside it (``<hex>.diffid``): the blob's digest
    names its content, so a later build that re-hashes the blob need not ungzip it again.
    """
    known = _known_diff_id(path) if is_layer else None
    if not compressed and (known or not is_layer):
        return None, *(known or (None, None))
    digest, diff_id, usize = _layer_digests(
        blob, path, compressed=compressed, uncompressed=is_layer and known is None,
        checkpoint=transfers.checkpoint,
    )  # fmt: skip
    if diff_id is not None and usize is not None and (not compressed or digest == blob.digest):
        _keep_diff_id(path, diff_id, usize)
    if known:
        return digest, *known
    return digest, diff_id, usize


def _layer_digests(
    blob: CachedBlob,
    path: Path,
    *,
    compressed: bool,
    uncompressed: bool,
    checkpoint: Callable[[], None],
) -> tuple[str | None, str | None, int | None]:
    try:
        return layer_digests(
            path, compressed=compressed, uncompressed=uncompressed, checkpoint=checkpoint
        )
    except ProtocolError as e:
        raise ProtocolError(f"{blob.host}: {blob.repository}: layer {e.message}") from e


def _keep_diff_id(path: Path, diff_id: str, usize: int) -> None:
    # (a leftover temporary file, or a link planted there, is never written through)
    atomic_write(path.with_name(path.name + ".diffid"), f"{diff_id} {usize}".encode())


def _known_diff_id(path: Path) -> tuple[str, int] | None:
    """The diff id and uncompressed size an earlier build kept beside the cache file, if valid."""
    try:  # a regular file, a few bytes: a FIFO or a link there is no answer, not a hang
        fd = os.open(
            path.with_name(path.name + ".diffid"), os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW
        )
    except OSError:
        return None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        text = f.read(100).decode(errors="replace")
    diff_id, _, usize = text.partition(" ")
    if not is_digest(diff_id) or not usize.isascii() or not usize.isdigit() or len(usize) > 18:
        return None  # (an older build kept the diff id alone: worked out again)
    return diff_id, int(usize)


def fresh_diff_id(blob: CachedBlob, path: Path) -> tuple[str | None, int | None]:
    """The diff id and size of the layer at ``path`` worked out again (the one kept beside
    it dropped)."""
    path.with_name(path.name + ".diffid").unlink(missing_ok=True)
    _, fresh, usize = _layer_digests(
        blob, path, compressed=False, uncompressed=True, checkpoint=lambda: None
    )
    return fresh, usize
