"""The one digest check, cache paths built from it, and layer diff ids."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from harborkit.registry.digest import blob_file, check_digest, file_digests, is_digest
from harborkit.registry.errors import ProtocolError

GOOD = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "value",
    [
        "sha256:" + "AB" * 32,  # upper case
        "sha256:" + "ab" * 31,  # short
        "sha256:" + "ab" * 32 + "\n",
        "sha512:" + "ab" * 64,  # an algorithm harborkit cannot verify
        "sha256:" + "../" * 21 + "x",
        None,
        64,
    ],
)
def test_anything_but_sha256_and_64_lowercase_hex_is_refused(value: object) -> None:
    assert not is_digest(value)
    with pytest.raises(ProtocolError) as e:
        check_digest(value, "reg: img: layer 0 digest")
    assert e.value.exit_code == ExitCode.REGISTRY
    assert e.value.message.startswith("reg: img: layer 0 digest ")
    assert "\n" not in e.value.message


def test_cache_path_is_inside_the_cache(tmp_path: Path) -> None:
    assert blob_file(tmp_path, GOOD) == tmp_path / "sha256" / ("ab" * 32)
    with pytest.raises(ProtocolError):
        blob_file(tmp_path, "sha256:" + "../../../../" + "/" * 45 + ".bashrc")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_diff_id_of_gzip_members_and_of_a_plain_tar(tmp_path: Path) -> None:
    raw = bytes(range(256)) * 40_000
    layer = tmp_path / "l.gz"
    layer.write_bytes(gzip.compress(raw[:5_000_000]) + gzip.compress(raw[5_000_000:]))
    assert file_digests(layer, compressed=True, uncompressed=True, checkpoint=lambda: None) == (
        _sha(layer.read_bytes()),
        _sha(raw),
    )
    plain = tmp_path / "l.tar"
    plain.write_bytes(raw)
    assert file_digests(plain, compressed=False, uncompressed=True, checkpoint=lambda: None) == (
        None,
        _sha(raw),
    )


@pytest.mark.parametrize("cut", ["truncated", "corrupt"])
def test_a_broken_gzip_layer_is_a_protocol_error(cut: str, tmp_path: Path) -> None:
    data = gzip.compress(bytes(range(256)) * 4000)
    layer = tmp_path / "l.gz"
    layer.write_bytes(data[: len(data) // 2] if cut == "truncated" else data[:-8] + b"\0" * 8)
    with pytest.raises(ProtocolError, match="^l.gz: the layer "):
        file_digests(layer, compressed=False, uncompressed=True, checkpoint=lambda: None)
