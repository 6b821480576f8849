"""The layer pipeline's gzip on its own: what it writes is plain gzip every reader takes.

The layers are compressed by ISA-L in blocks of 128 KiB on several threads (each
block with its own Huffman codes, primed with the 32 KiB before it): these tests feed real files (tars of /usr/lib, as in
the bundle bench) through the real pipeline and read the blobs back with GNU gzip,
busybox gzip and zlib. The daemon round trips (docker load of a built bundle,
``sha256sum -c``, verify naming a flipped byte) are in test_build_load.py and
test_bad_input.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from harborkit.bundle import compress
from harborkit.bundle.compress import LayerPipeline, compress_bytes
from harborkit.bundle.progress import NullProgress


class BlobStore:
    """A :class:`~harborkit.bundle.compress.BlobSink` that keeps the blobs in memory."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._open: io.BytesIO | None = None
        self.dropped = 0

    def begin_blob(self) -> None:
        self._open = io.BytesIO()

    def write(self, data: bytes | memoryview) -> None:
        assert self._open is not None
        self._open.write(data)

    def end_blob(self, digest: str, size: int) -> bool:
        assert self._open is not None
        data, self._open = self._open.getvalue(), None
        assert (len(data), "sha256:" + hashlib.sha256(data).hexdigest()) == (size, digest)
        if digest in self.blobs:
            return False
        self.blobs[digest] = data
        return True

    def drop_blob(self) -> None:
        self._open = None
        self.dropped += 1


def _real_tar(size: int, skip: int = 0) -> bytes:
    """A tar of about ``size`` bytes of real files under /usr/lib (text, code, libraries),
    from the ``skip``-th on; where /usr/lib holds fewer (a minimal root), its files again
    under another folder name, until ``size``."""
    buf = io.BytesIO()
    total = seen = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for turn in range(1000):
            before = seen
            for dirpath, dirnames, filenames in os.walk("/usr/lib"):
                dirnames.sort()
                for name in sorted(filenames):
                    p = os.path.join(dirpath, name)
                    if not os.path.isfile(p) or os.path.islink(p) or os.path.getsize(p) > 4 << 20:
                        continue
                    seen += 1
                    if seen <= skip:
                        continue
                    tf.add(p, arcname=f"opt/app{turn}" + p)
                    total += os.path.getsize(p)
                    if total >= size:
                        return buf.getvalue()
            if seen == before:  # /usr/lib holds no file to take
                break
    return buf.getvalue()


@pytest.fixture(scope="module")
def layers() -> list[bytes]:
    """Three real layers of several MiB, a tiny one, an empty one, one that repeats."""
    big = [_real_tar(9 << 20), _real_tar(5 << 20, skip=4000), _real_tar(3 << 20, skip=9000)]
    assert all(len(b) > 2 << 20 for b in big)
    return [*big, b"x" * 100, b"", big[0]]


def _reader(data: bytes, sizes: tuple[int, ...]) -> Callable[[int], bytes]:
    """``read(n)`` over ``data`` answering at most the next of ``sizes`` bytes (cycled):
    a daemon's export does not come in whole MiB."""
    pos = 0
    turn = 0

    def read(n: int) -> bytes:
        nonlocal pos, turn
        take = min(n, sizes[turn % len(sizes)])
        turn += 1
        out = data[pos : pos + take]
        pos += len(out)
        return out

    return read


def _gunzip(tool: list[str], blob: bytes) -> bytes:
    r = subprocess.run([*tool, "-dc"], input=blob, capture_output=True, check=False)
    assert r.returncode == 0, (tool, r.stderr)
    return r.stdout


@pytest.mark.parametrize(
    "sizes",
    [(compress.CHUNK,), (1, 4095, 700_001, compress.CHUNK), (65_536, 3 << 20)],
    ids=["whole-chunks", "ragged", "small-and-large"],
)
def test_pipeline_blobs_are_plain_gzip_of_their_layers(
    layers: list[bytes], sizes: tuple[int, ...]
) -> None:
    """Every blob decompresses, with GNU gzip, busybox gzip and zlib alike, to exactly the
    layer whose diff id the pipeline reports; the gzip is one member whose trailer (CRC,
    size) the readers check; a repeated layer is stored once."""
    store = BlobStore()
    pipe = LayerPipeline(store)
    task = NullProgress().task("t", None)
    for n, data in enumerate(layers):
        pipe.layer(f"l{n}", _reader(data, sizes), task)
    pipe.close()
    pipe.check()
    busybox = shutil.which("busybox")
    assert busybox is not None
    for n, data in enumerate(layers):
        out = pipe.result(f"l{n}")
        assert out.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
        assert out.uncompressed_size == len(data)
        blob = store.blobs[out.digest]
        assert out.size in (len(blob), -1)
        assert blob[:3] == b"\x1f\x8b\x08"
        assert zlib.decompress(blob, 31) == data
        assert _gunzip(["gzip"], blob) == data
        assert _gunzip([busybox, "gzip"], blob) == data
        if len(data) > 1 << 20:
            assert len(blob) < len(data) * 0.6, "real files compress"
    assert pipe.result("l5").size == -1  # the repeat of l0: stored once
    assert len(store.blobs) == 5


def test_a_damaged_blob_is_refused_by_every_reader(layers: list[bytes]) -> None:
    """The gzip the pipeline writes carries its checks: a flipped byte in the data or the
    trailer is an error for gzip, busybox and zlib, never other bytes quietly."""
    blob, _ = compress_bytes(layers[1])
    busybox = shutil.which("busybox")
    assert busybox is not None
    for at in (len(blob) // 2, len(blob) - 6, len(blob) - 2):
        bad = bytearray(blob)
        bad[at] ^= 0x01
        for tool in (["gzip"], [busybox, "gzip"]):
            r = subprocess.run([*tool, "-dc"], input=bytes(bad), capture_output=True)
            assert r.returncode != 0 or r.stdout != layers[1], (tool, at)
            assert r.returncode != 0, (tool, at)
        with pytest.raises(zlib.error):
            zlib.decompress(bytes(bad), 31)


def test_smaller_than_one_isal_block_per_mib(layers: list[bytes]) -> None:
    """The pipeline's block size makes real layers smaller than 1 MiB blocks did at the
    same level (issue 24: the bundle at most 0.42 of docker save), one gzip member still."""
    from isal import igzip_threaded

    data = b"".join(layers[:3])
    store = BlobStore()
    pipe = LayerPipeline(store)
    pipe.layer("all", _reader(data, (compress.CHUNK,)), NullProgress().task("t", None))
    pipe.close()
    pipe.check()
    ours = store.blobs[pipe.result("all").digest]
    before = io.BytesIO()
    gz = igzip_threaded.open(before, "wb", compresslevel=compress.COMPRESS_LEVEL, threads=2)
    for pos in range(0, len(data), compress.CHUNK):
        gz.write(data[pos : pos + compress.CHUNK])
    gz.close()
    assert zlib.decompress(ours, 31) == data
    assert len(ours) < len(before.getvalue()) * 0.998, (len(ours), len(before.getvalue()))


def test_pipeline_peak_memory_stays_small(tmp_path: Path) -> None:
    """200 MiB of real-file layers through the pipeline: the process's peak RSS stays far
    under the 100 MB goal (the queues, not the layer size, bound it)."""
    script = tmp_path / "run.py"
    script.write_text(
        "import hashlib, resource, sys\n"
        "from tests.bundle.test_compress import BlobStore, _real_tar, _reader\n"
        "from harborkit.bundle.compress import LayerPipeline\n"
        "from harborkit.bundle.progress import NullProgress\n"
        "class Null(BlobStore):\n"
        "    def write(self, data): pass\n"
        "    def end_blob(self, digest, size): return True\n"
        "    def begin_blob(self): pass\n"
        "layer = _real_tar(20 << 20)\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "pipe = LayerPipeline(Null())\n"
        "for n in range(10):\n"
        "    pipe.layer(str(n), _reader(layer, (1 << 20,)), NullProgress().task('t', None))\n"
        "pipe.close(); pipe.check()\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, str(script)],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) < 40, f"the pipeline grew the peak RSS by {r.stdout.strip()} MB"
