"""format in-process: harbor-bundle.json written and read back field by field
(files and a delta's base too), its errors, and SHA256SUMS lines."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harborkit.bundle.errors import MetadataError
from harborkit.bundle.format import (
    BaseImage,
    BaseRecord,
    BundleMetadata,
    FileRecord,
    ImageRecord,
    InstallerRecord,
    LayerRecord,
    blob_member,
    blob_path_in_images,
    file_member,
    format_sums,
    installer_member,
    metadata_from_json,
    metadata_to_dict,
    metadata_to_json,
    parse_sums,
    validate_metadata_dict,
)
from harborkit.errors import ExitCode

D = ["sha256:" + c * 64 for c in "0123456789"]

META = BundleMetadata(
    format_version=1,
    harbor_version="v1.8.0",
    created="2026-11-28T00:00:00Z",
    harborkit_version="0.1.0",
    images=(
        ImageRecord("goharbor/a:v1", D[0], 100, (D[1], D[2])),
        ImageRecord("goharbor/b:v1", D[3], 200, (D[1], D[1])),
    ),
    layers=(LayerRecord(D[1], D[4], 10, 20), LayerRecord(D[2], D[5], 30, 40)),
    installer=InstallerRecord("h.tgz", 5, "a" * 64, "https://example.invalid/h.tgz"),
    files=(FileRecord("tool", 7, "b" * 64, "file:///tool", "/usr/local/bin/tool", 0o755),),
    base=BaseRecord("base.tar", "c" * 64, (BaseImage("goharbor/c:v1", D[6]),), (D[7],)),
)

DICT = {
    "format_version": 1,
    "harbor_version": "v1.8.0",
    "created": "2026-11-28T00:00:00Z",
    "harborkit_version": "0.1.0",
    "images": [
        {"reference": "goharbor/a:v1", "image_id": D[0], "size": 100, "layers": [D[1], D[2]]},
        {"reference": "goharbor/b:v1", "image_id": D[3], "size": 200, "layers": [D[1], D[1]]},
    ],
    "layers": [
        {"digest": D[1], "diff_id": D[4], "size": 10, "uncompressed_size": 20},
        {"digest": D[2], "diff_id": D[5], "size": 30, "uncompressed_size": 40},
    ],
    "installer": {
        "name": "h.tgz",
        "size": 5,
        "sha256": "a" * 64,
        "source": "https://example.invalid/h.tgz",
    },
    "files": [
        {
            "name": "tool",
            "size": 7,
            "sha256": "b" * 64,
            "source": "file:///tool",
            "install_path": "/usr/local/bin/tool",
            "mode": 0o755,
        }
    ],
    "base": {
        "name": "base.tar",
        "sums_sha256": "c" * 64,
        "images": [{"reference": "goharbor/c:v1", "image_id": D[6]}],
        "layers": [D[7]],
    },
}


def test_metadata_to_dict_names_every_field() -> None:
    assert metadata_to_dict(META) == DICT
    plain = dataclasses.replace(META, files=(), base=None)
    assert metadata_to_dict(plain) == {
        **{k: v for k, v in DICT.items() if k != "base"},
        "files": [],
    }


def test_metadata_json_is_indented_and_ends_in_a_newline() -> None:
    raw = metadata_to_json(META)
    assert raw == (json.dumps(DICT, indent=2) + "\n").encode()


def test_metadata_round_trip() -> None:
    assert metadata_from_json(metadata_to_json(META)) == META
    without = {k: v for k, v in DICT.items() if k not in ("files", "base")}
    back = metadata_from_json(json.dumps(without).encode())
    assert (back.files, back.base) == ((), None)
    assert back.images == META.images


def test_bad_metadata_messages_default_to_the_member_name() -> None:
    with pytest.raises(MetadataError) as e:
        metadata_from_json(b"{x")
    assert e.value.message.startswith("harbor-bundle.json is not valid JSON: Expecting ")
    assert e.value.exit_code == ExitCode.USAGE
    with pytest.raises(MetadataError) as e:
        metadata_from_json(b"\xff\xfe\xfd")
    assert e.value.message.startswith("harbor-bundle.json is not valid JSON: ")
    with pytest.raises(MetadataError) as e:
        metadata_from_json(b"{x", "b.tar: harbor-bundle.json")
    assert e.value.message.startswith("b.tar: harbor-bundle.json is not valid JSON: ")
    with pytest.raises(MetadataError) as e:
        validate_metadata_dict({**DICT, "format_version": 2})
    assert (
        e.value.message == "harbor-bundle.json fails its schema at format_version: 1 was expected"
    )
    with pytest.raises(MetadataError) as e:
        metadata_from_json(json.dumps({**DICT, "format_version": 2}).encode(), "w")
    assert e.value.message == "w fails its schema at format_version: 1 was expected"
    validate_metadata_dict(DICT)


def test_layer_lookup_and_shared_layers() -> None:
    assert META.layer(D[2]) == META.layers[1]
    with pytest.raises(KeyError) as e:
        META.layer(D[9])
    assert e.value.args == (D[9],)
    # b names D[1] twice: one user; a and b share it
    assert META.shared_layers() == {D[1]: ["goharbor/a:v1", "goharbor/b:v1"]}
    one = dataclasses.replace(META, images=META.images[1:])
    assert one.shared_layers() == {}


def test_member_names() -> None:
    assert blob_member("sha256:ab:cd") == "images/blobs/sha256/ab:cd"
    assert blob_path_in_images("sha256:ab:cd") == "blobs/sha256/ab:cd"
    assert file_member("docker-compose") == "files/docker-compose"
    assert installer_member("h.tgz") == "installer/h.tgz"
    assert META.files[0].member == "files/tool"


def test_sums_lines() -> None:
    assert format_sums([]) == b""
    assert format_sums([("a b", "0" * 64)]) == f"{'0' * 64}  a b\n".encode()
    text = f"{'0' * 64}  a\n\n  \n{'1' * 64} *b c\n{'2' * 64}  d  e\n".encode()
    assert parse_sums(text) == {"a": "0" * 64, "b c": "1" * 64, "d  e": "2" * 64}
    assert parse_sums(b"") == {}
    assert parse_sums(f"{'1' * 64} *a *b\n".encode()) == {"a *b": "1" * 64}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (f"{'0' * 64}\n", "line 1 is not '<sha256>  <name>'"),
        (f"{'0' * 64} a\n", "line 1 is not '<sha256>  <name>'"),
        (f"{'0' * 65}  a\n", "line 1 is not '<sha256>  <name>'"),
        (f"{'0' * 63}  a\n", "line 1 is not '<sha256>  <name>'"),
        (f"{'0' * 63}g  a\n", "line 1 is not '<sha256>  <name>'"),
        (f"{'0' * 63}F  a\n", "line 1 is not '<sha256>  <name>'"),
        (f"{'X' * 64}  a\n", "line 1 is not '<sha256>  <name>'"),
        (f"\n\n{'0' * 64}  a\n{'1' * 64} *a\n", "line 4 repeats a"),
        (f"{'0' * 64}  a\nnope\n", "line 2 is not '<sha256>  <name>'"),
    ],
)
def test_sums_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_sums(raw.encode())
    assert str(e.value) == message


def test_sums_with_bad_utf8_names_the_line() -> None:
    assert parse_sums(b"0" * 64 + b"  a\xff\n") == {"a\ufffd": "0" * 64}
