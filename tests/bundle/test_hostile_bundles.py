"""verify and inspect on bundles the tests write themselves: no daemon, no root.

Each hostile or damaged bundle gets its exact exit code and one line naming the
member (or document) at fault. The bundles come from :mod:`tests.bundle.craft`,
which writes the documented layout with ``tarfile`` alone.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from harborkit.bundle.format import IMAGES_MANIFEST, METADATA_NAME, SUMS_NAME
from harborkit.errors import ExitCode
from tests.bundle.conftest import run_cli
from tests.support.bundles import (
    INSTALLER_NAME,
    Crafted,
    bundle_members,
    craft_bundle,
    crafted_images,
    hostile_tgz,
    installer_tgz,
    member_info,
    write_members,
)

INSTALLER = f"installer/{INSTALLER_NAME}"


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("harborkit: error: "), stderr
    return lines[0]


@pytest.fixture
def good(tmp_path: Path) -> Crafted:
    return craft_bundle(tmp_path / "good.tar")


def verify_fails(bundle: Path, code: int, *needles: str) -> str:
    r = run_cli("bundle", "verify", str(bundle))
    assert r.returncode == code, r.stderr
    msg = one_line_error(r.stderr)
    for n in needles:
        assert n in msg, msg
    return msg


def test_crafted_bundle_verifies_and_inspects(good: Crafted) -> None:
    r = run_cli("bundle", "verify", str(good.path))
    assert r.returncode == ExitCode.OK, r.stderr
    assert r.stdout.startswith(f"{good.path}: OK (11 members")
    r = run_cli("bundle", "inspect", "--format", "json", str(good.path))
    assert r.returncode == ExitCode.OK, r.stderr
    doc = json.loads(r.stdout)
    assert [i["reference"] for i in doc["metadata"]["images"]] == [
        i["reference"] for i in good.metadata["images"]
    ]
    assert [s["images"] for s in doc["shared_layers"]] == [
        [i["reference"] for i in good.metadata["images"]]
    ]


# ------------------------------------------------------------------ member level


def _blobs(c: Crafted) -> list[str]:
    return [n for n, _ in c.members if n.startswith("images/blobs/")]


def test_flipped_byte_is_named(good: Crafted, tmp_path: Path) -> None:
    victim = max(_blobs(good), key=lambda n: len(good.member(n)))
    with tarfile.open(good.path) as tf:
        ti = tf.getmember(victim)
    raw = bytearray(good.path.read_bytes())
    raw[ti.offset_data + ti.size // 2] ^= 0x01
    bad = tmp_path / "flipped.tar"
    bad.write_bytes(bytes(raw))
    verify_fails(bad, ExitCode.BUNDLE_CORRUPT, f"altered member {victim}")


def test_truncated_and_cut_before_sums(good: Crafted, tmp_path: Path) -> None:
    with tarfile.open(good.path) as tf:
        victim = tf.getmember(INSTALLER)
        sums = tf.getmember(SUMS_NAME)
    bad = tmp_path / "truncated.tar"
    bad.write_bytes(good.path.read_bytes()[: victim.offset_data + victim.size // 2])
    verify_fails(bad, ExitCode.BUNDLE_CORRUPT, f"truncated member {INSTALLER}")
    bad.write_bytes(good.path.read_bytes()[: sums.offset])
    verify_fails(bad, ExitCode.BUNDLE_CORRUPT, f"missing member {SUMS_NAME}")


def test_missing_and_extra_members(tmp_path: Path) -> None:
    members, _ = bundle_members(crafted_images(), installer_tgz())
    victim = _blob = next(n for n, _ in members if n.startswith("images/blobs/"))
    bad = tmp_path / "edited.tar"
    write_members(bad, members)
    # drop a member and add another behind SHA256SUMS' back
    with tarfile.open(bad) as tf:
        kept = [(ti, tf.extractfile(ti).read()) for ti in tf if ti.name != _blob]  # type: ignore[union-attr]
    with tarfile.open(bad, "w", format=tarfile.GNU_FORMAT) as tf:
        for ti, data in kept:
            tf.addfile(ti, io.BytesIO(data))
        tf.addfile(tarfile.TarInfo("images/blobs/sha256/extra"), io.BytesIO(b""))
    verify_fails(
        bad,
        ExitCode.BUNDLE_CORRUPT,
        f"missing member {victim}",
        "extra member images/blobs/sha256/extra",
    )


HOSTILE_MEMBERS = {
    "dotdot": (member_info("../x"), b"x"),
    "absolute": (member_info("/etc/x"), b"x"),
    "symlink": (member_info("images/blobs/sha256/link", tarfile.SYMTYPE, "/etc/passwd"), b""),
    "hardlink": (member_info("images/hard", tarfile.LNKTYPE, "etc/passwd"), b""),
    "device": (member_info("images/null", tarfile.CHRTYPE), b""),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_MEMBERS))
def test_hostile_outer_member(tmp_path: Path, kind: str) -> None:
    ti, data = HOSTILE_MEMBERS[kind]
    bad = tmp_path / f"{kind}.tar"
    craft_bundle(bad, extra=[(ti, data)])
    verify_fails(bad, ExitCode.BUNDLE_HOSTILE, repr(ti.name))
    r = run_cli("bundle", "inspect", str(bad))
    assert r.returncode == ExitCode.BUNDLE_HOSTILE


@pytest.mark.parametrize(
    ("name", "same_as"),
    [
        (METADATA_NAME, METADATA_NAME),
        ("./" + METADATA_NAME, METADATA_NAME),
        ("images//manifest.json", IMAGES_MANIFEST),
        ("images/./manifest.json", IMAGES_MANIFEST),
        ("installer/" + INSTALLER_NAME + "/", INSTALLER),
    ],
    ids=["exact", "dot-slash", "double-slash", "dot-segment", "trailing-slash"],
)
def test_names_equal_after_normalisation_are_hostile(
    tmp_path: Path, name: str, same_as: str
) -> None:
    bad = tmp_path / "dup.tar"
    craft_bundle(bad, extra=[(member_info(name), b"{}")])
    msg = verify_fails(bad, ExitCode.BUNDLE_HOSTILE, f"duplicate member {name!r}")
    if name != same_as:
        assert f"the same path as {same_as!r}" in msg


def test_not_a_bundle(tmp_path: Path) -> None:
    r = run_cli("bundle", "verify", str(tmp_path / "nope.tar"))
    assert r.returncode == ExitCode.USAGE
    assert "nope.tar" in one_line_error(r.stderr)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar" * 100)
    verify_fails(junk, ExitCode.BUNDLE_CORRUPT, "junk.tar")


def test_blob_not_matching_its_name_is_altered(good: Crafted, tmp_path: Path) -> None:
    victim = _blobs(good)[0]
    bad = tmp_path / "renamed.tar"
    craft_bundle(bad, replace={victim: b"\x1f\x8b not the layer"})
    verify_fails(bad, ExitCode.BUNDLE_CORRUPT, f"altered member {victim}")


def test_damaged_tar_header(good: Crafted, tmp_path: Path) -> None:
    with tarfile.open(good.path) as tf:
        victim = tf.getmember(METADATA_NAME)
    raw = bytearray(good.path.read_bytes())
    raw[victim.offset + 3] ^= 0x20
    bad = tmp_path / "header.tar"
    bad.write_bytes(bytes(raw))
    verify_fails(
        bad, ExitCode.BUNDLE_CORRUPT, f"unreadable tar header after member {IMAGES_MANIFEST}"
    )


# ------------------------------------------------------------------ documents against each other


def _edit_manifest(good: Crafted, edit: Callable[[list], object]) -> bytes:
    doc = json.loads(good.member(IMAGES_MANIFEST))
    edit(doc)
    return json.dumps(doc).encode()


def _config_of(good: Crafted, n: int) -> str:
    return json.loads(good.member(IMAGES_MANIFEST))[n]["Config"]


MANIFEST_CASES: dict[str, tuple[Callable[[Crafted], bytes], int, str]] = {
    "not-json": (
        lambda g: b"[{",
        ExitCode.BUNDLE_CORRUPT,
        "images/manifest.json is not valid JSON",
    ),
    "not-a-list": (
        lambda g: b'{"Config": "x"}',
        ExitCode.BUNDLE_CORRUPT,
        "is not a docker load manifest",
    ),
    "bad-entry": (
        lambda g: b'[{"Config": 1, "RepoTags": [], "Layers": []}]',
        ExitCode.BUNDLE_CORRUPT,
        "is not a docker load manifest",
    ),
    "names-a-non-member": (
        lambda g: _edit_manifest(g, lambda d: d[0]["Layers"].append("blobs/sha256/" + "e" * 64)),
        ExitCode.BUNDLE_CORRUPT,
        f"names blobs/sha256/{'e' * 64}, which is not a checksummed member",
    ),
    "path-escapes": (
        lambda g: _edit_manifest(g, lambda d: d[0].update(Config="../../etc/passwd")),
        ExitCode.BUNDLE_HOSTILE,
        "unsafe path '../../etc/passwd'",
    ),
    "retags-an-undeclared-image": (
        lambda g: _edit_manifest(g, lambda d: d[0]["RepoTags"].append("library/busybox:latest")),
        ExitCode.BUNDLE_HOSTILE,
        "tags library/busybox:latest, which harbor-bundle.json does not declare",
    ),
    "drops-a-declared-tag": (
        lambda g: _edit_manifest(g, lambda d: d.pop(1)),
        ExitCode.BUNDLE_CORRUPT,
        "does not tag goharbor/harbor-core:v1.8.0",
    ),
    "tag-on-another-config": (
        lambda g: _edit_manifest(g, lambda d: d[1].update(Config=_config_of(g, 0))),
        ExitCode.BUNDLE_CORRUPT,
        "gives goharbor/harbor-core:v1.8.0 another config or layers",
    ),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
def test_load_manifest_must_agree_with_metadata(good: Crafted, tmp_path: Path, case: str) -> None:
    make, code, needle = MANIFEST_CASES[case]
    bad = tmp_path / f"{case}.tar"
    craft_bundle(bad, replace={IMAGES_MANIFEST: make(good)})
    verify_fails(bad, code, needle)


# ------------------------------------------------------------------ the installer


def _with_installer(path: Path, tgz: bytes, name: str = INSTALLER_NAME) -> None:
    members, _ = bundle_members(crafted_images(), tgz, installer_name=name)
    write_members(path, members)


def _plain_tar() -> bytes:
    return gzip.decompress(installer_tgz())


INSTALLER_CASES: dict[str, tuple[Callable[[], bytes], int, str]] = {
    "not-gzip": (_plain_tar, ExitCode.BUNDLE_CORRUPT, "is not a complete gzip stream"),
    "gzip-cut-short": (
        lambda: installer_tgz()[:-6],
        ExitCode.BUNDLE_CORRUPT,
        "is not a complete gzip stream: it ends early",
    ),
    "junk-after-gzip": (
        lambda: installer_tgz() + b"trailing junk",
        ExitCode.BUNDLE_CORRUPT,
        "has data after its gzip stream",
    ),
    "gzip-of-not-a-tar": (
        lambda: gzip.compress(b"hello " * 1000),
        ExitCode.BUNDLE_CORRUPT,
        "is not a readable tar archive",
    ),
    "bomb": (
        lambda: gzip.compress(bytes(80 << 20), compresslevel=1),
        ExitCode.BUNDLE_HOSTILE,
        "unpacks to more than",
    ),
    "file-where-a-folder-must-go": (
        lambda: installer_tgz(
            [("harbor", b"a file", 0o644), ("harbor/install.sh", b"x", 0o755)], folder=False
        ),
        ExitCode.BUNDLE_HOSTILE,
        "member 'harbor/install.sh' is inside file 'harbor'",
    ),
    **{
        kind: (lambda k=kind: hostile_tgz(k), ExitCode.BUNDLE_HOSTILE, "unsafe member")
        for kind in ("dotdot", "absolute", "symlink", "hardlink", "device")
    },
}


@pytest.mark.parametrize("case", sorted(INSTALLER_CASES))
def test_installer_must_be_a_safe_complete_gzip_tar(tmp_path: Path, case: str) -> None:
    make, code, needle = INSTALLER_CASES[case]
    bad = tmp_path / f"{case}.tar"
    _with_installer(bad, make())
    verify_fails(bad, code, INSTALLER, needle)


def test_installer_name_must_be_a_gzip_tar(tmp_path: Path) -> None:
    bad = tmp_path / "zip.tar"
    _with_installer(bad, installer_tgz(), name="harbor-online-installer-v1.8.0.zip")
    verify_fails(
        bad,
        ExitCode.BUNDLE_CORRUPT,
        "installer name 'harbor-online-installer-v1.8.0.zip' is not a gzip tar",
    )


#: edits of harbor-bundle.json that its schema refuses
SCHEMA_EDITS = pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(format_version=99),
        lambda m: m.pop("images"),
        lambda m: m["images"][0].update(image_id="not-a-digest"),
    ],
    ids=["version", "no-images", "bad-id"],
)


@SCHEMA_EDITS
def test_metadata_fails_schema(
    good: Crafted, tmp_path: Path, edit: Callable[[dict], object]
) -> None:
    meta = json.loads(good.member(METADATA_NAME))
    edit(meta)
    bad = tmp_path / "meta.tar"
    craft_bundle(bad, replace={METADATA_NAME: json.dumps(meta).encode()})
    msg = verify_fails(bad, ExitCode.USAGE, METADATA_NAME, "schema")
    r = run_cli("bundle", "inspect", str(bad))
    assert r.returncode == ExitCode.USAGE
    assert one_line_error(r.stderr) == msg


def test_metadata_inconsistent_with_members(good: Crafted, tmp_path: Path) -> None:
    meta = json.loads(good.member(METADATA_NAME))
    meta["layers"][0]["size"] = 1
    bad = tmp_path / "meta.tar"
    craft_bundle(bad, replace={METADATA_NAME: json.dumps(meta).encode()})
    verify_fails(bad, ExitCode.BUNDLE_CORRUPT, METADATA_NAME, "metadata says 1")


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("goharbor/Bad:v1", "is not an image reference (a malformed repository name)"),
        ("goharbor/x@sha256:" + "a" * 64, "is not a tag (repository:tag)"),
    ],
)
def test_metadata_references_must_be_tags(tmp_path: Path, reference: str, why: str) -> None:
    """Known before anything loads: a reference docker load could not tag."""
    images = crafted_images()
    images[0] = type(images[0])((reference,), images[0].config, images[0].layers)
    bad = tmp_path / "ref.tar"
    craft_bundle(bad, images=images)
    verify_fails(bad, ExitCode.BUNDLE_CORRUPT, f"reference {reference!r} {why}")


# ------------------------------------------------------------------ what plain tar reads (issue 19, class 2)

needs_tar = pytest.mark.skipif(
    shutil.which("tar") is None or shutil.which("sha256sum") is None, reason="GNU tar and coreutils"
)
TAR = shutil.which("tar") or "tar"
SHA256SUM = shutil.which("sha256sum") or "sha256sum"
HOLEY = "files/holey.bin"


def plain_check(bundle: Path, where: Path) -> subprocess.CompletedProcess[str]:
    """The documented plain path: ``tar -xf`` then ``sha256sum -c SHA256SUMS``."""
    where.mkdir()
    subprocess.run([TAR, "-xf", str(bundle), "-C", str(where)], check=True, capture_output=True)
    return subprocess.run(
        [SHA256SUM, "-c", "--quiet", SUMS_NAME], cwd=where, capture_output=True, text=True
    )


def _retar(src: Path, dst: Path, tmp: Path, *options: str, holes: bool = False) -> None:
    """Extract ``src`` with GNU tar and tar it again (same member order) with ``options``."""
    d = tmp / f"x-{dst.stem}"
    d.mkdir()
    subprocess.run([TAR, "-xf", str(src), "-C", str(d)], check=True)
    if holes:  # the same bytes, stored with a hole, as a copied file may be
        with open(d / HOLEY, "r+b") as f:
            f.truncate(0)
            f.write(b"x")
            f.seek((1 << 20) + 1)
            f.write(b"y")
    with tarfile.open(src) as tf:
        names = tf.getnames()
    subprocess.run([TAR, "-C", str(d), *options, "-cf", str(dst), *names], check=True)


SPARSE_FORMATS = {
    "gnu": ["--format=gnu"],
    "pax-0.0": ["--format=posix", "--sparse-version=0.0"],
    "pax-0.1": ["--format=posix", "--sparse-version=0.1"],
    "pax-1.0": ["--format=posix", "--sparse-version=1.0"],
}


@needs_tar
@pytest.mark.parametrize("fmt", sorted(SPARSE_FORMATS))
def test_bundle_retarred_with_tar_sparse_is_refused(tmp_path: Path, fmt: str) -> None:
    """`tar --sparse` stores a member as a map plus data: `tar -x; sha256sum -c` say OK,
    but the stored bytes are not the member's; harborkit refuses it by name (exit 5)."""
    src = tmp_path / "src.tar"
    craft_bundle(src, extra=[(HOLEY, b"x" + bytes(1 << 20) + b"y")])
    bad = tmp_path / f"sparse-{fmt}.tar"
    _retar(src, bad, tmp_path, "--sparse", *SPARSE_FORMATS[fmt], holes=True)
    with tarfile.open(bad) as tf:
        assert tf.getmember(HOLEY).issparse()  # really a sparse member
    assert plain_check(bad, tmp_path / "plain").returncode == 0
    msg = verify_fails(bad, ExitCode.BUNDLE_HOSTILE)
    assert msg == (
        f"harborkit: error: {bad}: member {HOLEY!r} is a GNU sparse file "
        "(tar -x expands it from a map; a bundle holds plain files only)"
    )
    r = run_cli("bundle", "inspect", str(bad))
    assert (r.returncode, one_line_error(r.stderr)) == (ExitCode.BUNDLE_HOSTILE, msg)


@needs_tar
@pytest.mark.parametrize("fmt", ["gnu", "posix", "ustar"])
def test_bundle_retarred_without_sparse_still_verifies(tmp_path: Path, fmt: str) -> None:
    """The strict header check accepts what GNU tar writes for plain files and folders."""
    src = tmp_path / "src.tar"
    craft_bundle(src)
    again = tmp_path / f"again-{fmt}.tar"
    _retar(src, again, tmp_path, f"--format={fmt}")
    r = run_cli("bundle", "verify", str(again))
    assert r.returncode == ExitCode.OK, r.stderr
    assert plain_check(again, tmp_path / "plain").returncode == 0


def _patch_header(raw: bytearray, offset: int, **fields: bytes) -> None:
    """Overwrite header fields at ``offset`` and fix its checksum."""
    where = {"type": 156, "size": 124, "prefix": 345, "sparse": 386, "realsize": 483}
    for name, value in fields.items():
        raw[offset + where[name] : offset + where[name] + len(value)] = value
    raw[offset + 148 : offset + 156] = b" " * 8
    raw[offset + 148 : offset + 156] = b"%06o\0 " % sum(raw[offset : offset + 512])


@needs_tar
def test_crafted_sparse_member_hashing_its_raw_window_is_refused(tmp_path: Path) -> None:
    """A sparse header whose raw bytes (read as a plain window) match SHA256SUMS while
    `tar -x` expands the map to other bytes: `sha256sum -c` fails; harborkit must not say OK."""
    src = tmp_path / "src.tar"
    data = b"#!/bin/sh\necho compose\n" * 40
    craft_bundle(src, extra=[(HOLEY, data)])
    with tarfile.open(src) as tf:
        ti = tf.getmember(HOLEY)
    raw = bytearray(src.read_bytes())
    # the stored bytes placed after a 4 KiB hole: tar -x writes other bytes than are stored
    _patch_header(
        raw,
        ti.offset,
        type=b"S",
        sparse=b"%011o\0%011o\0%011o\0%011o\0" % (4096, len(data), len(data) + 4096, 0),
        realsize=b"%011o\0" % (len(data) + 4096),
    )
    bad = tmp_path / "crafted-sparse.tar"
    bad.write_bytes(bytes(raw))
    plain = plain_check(bad, tmp_path / "plain")
    assert plain.returncode != 0 and f"{HOLEY}: FAILED" in plain.stdout
    verify_fails(bad, ExitCode.BUNDLE_HOSTILE, f"member {HOLEY!r} is a GNU sparse file")


def _raw_member(name: bytes, data: bytes, kind: bytes = b"0", magic: bytes = b"ustar  \0") -> bytes:
    """One tar header block plus padded data, written by hand."""
    h = bytearray(512)
    h[0 : len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % len(data)
    h[136:148] = b"00000000000\0"
    h[156:157] = kind
    h[257:265] = magic
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h) + data + bytes(-len(data) % 512)


def _pax(*records: tuple[str, str]) -> bytes:
    body = b""
    for k, v in records:
        rec = f" {k}={v}\n".encode()
        n = len(rec) + len(str(len(rec) + 2))
        body += str(n).encode() + rec
    return _raw_member(b"./PaxHeaders/x", body, b"x", b"ustar\x0000")


def _longname(*names: bytes) -> bytes:
    return b"".join(_raw_member(b"././@LongLink", n, b"L") for n in names)


# (extension blocks before the member, fields of the member header changed, message)
ODD_HEADERS: dict[str, tuple[bytes, dict[str, bytes], str]] = {
    "longlink": (_raw_member(b"././@LongLink", b"target\0", b"K"), {}, "has a GNU long link name"),
    "global-pax": (
        _raw_member(b"pax_global_header", b"20 comment=hello wo\n", b"g", b"ustar\x0000"),
        {},
        "follows a global extended (pax) header",
    ),
    "two-longnames": (
        _longname(b"images/decoy\0", b"images/odd\0"),
        {},
        "has more than one extended header",
    ),
    "longname-then-pax": (
        _longname(b"images/odd\0") + _pax(("path", "images/odd")),
        {},
        "has more than one extended header",
    ),
    "pax-sparse": (
        _pax(("GNU.sparse.major", "1")),
        {},
        "is a GNU sparse file (pax GNU.sparse.major",
    ),
    "pax-linkpath": (_pax(("linkpath", "x")), {}, "has pax keyword 'linkpath'"),
    "pax-charset": (_pax(("hdrcharset", "BINARY")), {}, "has pax keyword 'hdrcharset'"),
    "pax-repeated": (_pax(("mtime", "1"), ("mtime", "2")), {}, "repeats pax keyword 'mtime'"),
    "pax-size-sign": (_pax(("size", "+5")), {}, "has pax size b'+5'"),
    "pax-size-underscore": (_pax(("size", "0_5")), {}, "has pax size b'0_5'"),
    "longname-nul": (
        _longname(b"images/odd\0SHA256SUMS\0"),
        {},
        "has a GNU long name that is not one NUL-terminated string",
    ),
    "gnu-prefix": (b"", {"prefix": b"images"}, "has data in its GNU header's prefix area"),
    "v7": (b"", {"magic": bytes(8)}, "has an old-style (v7) tar header"),
    "size-sign": (b"", {"size": b"+0000000005\0"}, "that is not a plain octal number"),
    "size-underscore": (b"", {"size": b"0000_000005\0"}, "that is not a plain octal number"),
    "multivolume": (b"", {"type": b"M"}, "of tar type b'M'"),
    "volume-label": (b"", {"type": b"V"}, "of tar type b'V'"),
    "regular-slash": (b"", {"name": b"images/odd/"}, "whose name ends in '/'"),
    "contiguous-gnu-prefix": (
        b"",
        {"type": b"7", "prefix": b"images"},
        "has data in its GNU header's prefix area",
    ),
}


@pytest.mark.parametrize("case", sorted(ODD_HEADERS))
def test_headers_tar_reads_otherwise_are_refused(tmp_path: Path, case: str) -> None:
    """Every header construction GNU tar and Python's tarfile may read apart: exit 5, named."""
    ext, change, needle = ODD_HEADERS[case]
    src = tmp_path / "src.tar"
    craft_bundle(src)
    raw = src.read_bytes()
    with tarfile.open(src) as tf:
        sums = tf.getmember(SUMS_NAME)
    member = bytearray(_raw_member(b"images/odd", b"hello"))
    field = {"prefix": 345, "size": 124, "magic": 257, "type": 156, "name": 0}
    for k, v in change.items():
        member[field[k] : field[k] + len(v)] = v
    member[148:156] = b" " * 8
    member[148:156] = b"%06o\0 " % sum(member[:512])
    bad = tmp_path / f"{case}.tar"
    bad.write_bytes(raw[: sums.offset] + ext + bytes(member) + raw[sums.offset :])
    msg = verify_fails(bad, ExitCode.BUNDLE_HOSTILE, needle)
    assert msg.startswith(f"harborkit: error: {bad}: "), msg


# ------------------------------------------------------------------ bytes no member holds (class 12)


def _flip_outside(
    raw: bytearray, where: str, sums: tarfile.TarInfo, victim: tarfile.TarInfo
) -> int:
    if where == "padding":  # the zero bytes after a member's data, up to its block end
        at = victim.offset_data + victim.size
    elif where == "second-end-block":  # tar stops at the first zero block: the second is unread
        at = sums.offset_data + -(-sums.size // 512) * 512 + 512 + 100
    else:
        at = len(raw)
        raw += b"#!/bin/sh\necho appended\n"
        return at
    raw[at] = 0x41
    return at


@needs_tar
@pytest.mark.parametrize("where", ["padding", "second-end-block", "appended"])
def test_bytes_outside_members_fail_verify(good: Crafted, tmp_path: Path, where: str) -> None:
    """`tar -x; sha256sum -c` cannot see them; a signature does not cover them: exit 4, named."""
    with tarfile.open(good.path) as tf:
        sums = tf.getmember(SUMS_NAME)
        victim = next(ti for ti in tf if ti.size % 512)
    raw = bytearray(good.path.read_bytes())
    at = _flip_outside(raw, where, sums, victim)
    bad = tmp_path / f"{where}.tar"
    bad.write_bytes(bytes(raw))
    assert plain_check(bad, tmp_path / "plain").returncode == 0
    expected = (
        f"non-zero padding after member {victim.name}"
        if where == "padding"
        else f"data after the end of the archive at byte {at}"
    )
    msg = verify_fails(bad, ExitCode.BUNDLE_CORRUPT)
    assert msg == f"harborkit: error: bundle {bad} is corrupt: {expected}"


# ------------------------------------------------------------------ signatures in a bundle (classes 3 and 4)

MINISIGN = shutil.which("minisign")
needs_minisign = pytest.mark.skipif(MINISIGN is None, reason="minisign is not installed")


@pytest.fixture(scope="module")
def minisign_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mkey")
    assert MINISIGN is not None
    subprocess.run(
        [MINISIGN, "-G", "-W", "-p", str(d / "k.pub"), "-s", str(d / "k.key")],
        check=True,
        capture_output=True,
    )
    return d


def _header(name: str, size: int) -> bytes:
    from harborkit.bundle.tarwrite import tar_header

    return tar_header(name, size, 0o644, 1_700_000_000)


def signed_bundle(
    path: Path,
    key_dir: Path,
    *,
    comment: str | None = None,
    edit_sig: Callable[[bytes], bytes] | None = None,
    sums_after: Callable[[bytes], bytes] | None = None,
    sums_size: int | None = None,
    sig_size: int | None = None,
) -> None:
    """A crafted bundle whose SHA256SUMS is signed by ``minisign -S`` itself.

    ``sums_after`` alters SHA256SUMS after signing; ``sums_size``/``sig_size`` make
    the member that large, the rest a hole (a sparse file: light on disk, but read
    as zero bytes)."""
    assert MINISIGN is not None
    members, _ = bundle_members(crafted_images(), installer_tgz())
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in members).encode()
    work = path.with_name(path.name + ".d")
    work.mkdir()
    (work / SUMS_NAME).write_bytes(sums)
    args = [MINISIGN, "-S", "-s", str(key_dir / "k.key"), "-m", str(work / SUMS_NAME)]
    subprocess.run([*args, *(["-t", comment] if comment is not None else [])], check=True)
    sig = (work / f"{SUMS_NAME}.minisig").read_bytes()
    sig = edit_sig(sig) if edit_sig else sig
    sums = sums_after(sums) if sums_after else sums
    with open(path, "wb") as f:
        for name, data in [*members, (SUMS_NAME, sums), (f"{SUMS_NAME}.minisig", sig)]:
            size = {SUMS_NAME: sums_size, f"{SUMS_NAME}.minisig": sig_size}.get(name) or len(data)
            f.write(_header(name, size))
            f.write(data)
            f.seek(size - len(data) + (-size % 512), os.SEEK_CUR)
        f.write(bytes(1024))


def verify_with_key(bundle: Path, key_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("bundle", "verify", str(bundle), "--key", str(key_dir / "k.pub"))


@needs_minisign
@pytest.mark.parametrize(
    "comment", ["release 1 ", "release\x0c1", "a\x1cb\x1dc", "tab\tend\t", "line\u2028sep"]
)
def test_bundle_signed_by_minisign_with_any_comment_verifies(
    tmp_path: Path, minisign_key: Path, comment: str
) -> None:
    b = tmp_path / "signed.tar"
    signed_bundle(b, minisign_key, comment=comment)
    r = verify_with_key(b, minisign_key)
    assert r.returncode == ExitCode.OK, r.stderr
    assert "signature by key" in r.stdout and "verified" in r.stdout


@needs_minisign
@pytest.mark.parametrize("added", [b" ", b"\t", b"\x0c", b"\x0b"])
def test_whitespace_added_to_the_trusted_comment_is_refused(
    tmp_path: Path, minisign_key: Path, added: bytes
) -> None:
    def edit(sig: bytes) -> bytes:
        lines = sig.split(b"\n")
        lines[2] += added
        return b"\n".join(lines)

    b = tmp_path / "edited.tar"
    signed_bundle(b, minisign_key, edit_sig=edit)
    r = verify_with_key(b, minisign_key)
    assert r.returncode == ExitCode.SIGNATURE, r.stderr
    assert one_line_error(r.stderr) == (
        f"harborkit: error: bundle {b}: {SUMS_NAME}.minisig: the trusted comment was altered "
        "after signing"
    )


@needs_minisign
@pytest.mark.parametrize(
    "after",
    [
        pytest.param(lambda s: s.replace(b"  ", b" x ", 1), id="line-broken"),
        pytest.param(lambda s: s + b"not a sums line\n", id="line-appended"),
        pytest.param(lambda s: s[:-1], id="newline-dropped"),
        pytest.param(lambda s: b"\xff" + s, id="not-utf8"),
    ],
)
def test_sums_broken_after_signing_is_a_signature_failure(
    tmp_path: Path, minisign_key: Path, after: Callable[[bytes], bytes]
) -> None:
    """The signature is checked over the raw bytes before they are parsed: exit 13, not 4."""
    b = tmp_path / "broken.tar"
    signed_bundle(b, minisign_key, sums_after=after)
    r = verify_with_key(b, minisign_key)
    assert r.returncode == ExitCode.SIGNATURE, r.stderr
    assert one_line_error(r.stderr) == (
        f"harborkit: error: bundle {b}: {SUMS_NAME}.minisig does not match the signed data: "
        "it was altered after signing"
    )


def peak_rss_kib(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run harborkit under /usr/bin/time: its result and peak RSS in KiB."""
    r = subprocess.run(
        ["/usr/bin/time", "-f", "HKRSS %M", sys.executable, "-m", "harborkit", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [x for x in r.stderr.splitlines() if not x.startswith("Command exited with")]
    rss = int(lines[-1].split()[1])
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout, "\n".join(lines[:-1])), rss


@needs_minisign
@pytest.mark.parametrize("command", ["verify-key", "verify", "inspect"])
def test_huge_signature_member_is_not_read(
    tmp_path: Path, minisign_key: Path, command: str
) -> None:
    """An 800 MB .minisig (its first four lines valid) is refused unread: under 200 MB."""
    b = tmp_path / "bigsig.tar"
    signed_bundle(b, minisign_key, sig_size=800_000_000)
    args = {
        "verify-key": ("bundle", "verify", str(b), "--key", str(minisign_key / "k.pub")),
        "verify": ("bundle", "verify", str(b)),
        "inspect": ("bundle", "inspect", str(b)),
    }[command]
    r, rss = peak_rss_kib(*args)
    assert rss < 200_000, rss
    if command == "verify-key":
        assert r.returncode == ExitCode.SIGNATURE, r.stderr
        assert one_line_error(r.stderr) == (
            f"harborkit: error: bundle {b}: {SUMS_NAME}.minisig is not a minisign signature "
            f"(it has 800000000 bytes; at most 65536 are read)"
        )
    elif command == "verify":  # unchecked: reported as unreadable, the members still verify
        assert r.returncode == ExitCode.OK, r.stderr
        assert "signed by key (unreadable)" in r.stdout
    else:
        assert r.returncode == ExitCode.OK, r.stderr
        assert "signature  key id (unreadable signature)" in r.stdout


@needs_minisign
@pytest.mark.parametrize("with_key", [True, False])
def test_huge_sums_member_is_bounded(tmp_path: Path, minisign_key: Path, with_key: bool) -> None:
    """A 300 MB SHA256SUMS: with --key the signature fails (streamed, exit 13); without,
    it is refused unread for its size (exit 4); under 200 MB either way."""
    b = tmp_path / "bigsums.tar"
    signed_bundle(b, minisign_key, sums_size=300_000_000)
    key = ("--key", str(minisign_key / "k.pub")) if with_key else ()
    r, rss = peak_rss_kib("bundle", "verify", str(b), *key)
    assert rss < 200_000, rss
    if with_key:
        assert r.returncode == ExitCode.SIGNATURE, r.stderr
        assert "it was altered after signing" in one_line_error(r.stderr)
    else:
        assert r.returncode == ExitCode.BUNDLE_CORRUPT, r.stderr
        assert one_line_error(r.stderr).startswith(
            f"harborkit: error: bundle {b} is corrupt: {SUMS_NAME} has 300000000 bytes, more than "
        )


# ------------------------------------------------------------------ tracebacks become one line (class 6)


def _sbom_for(meta: dict) -> bytes:
    from harborkit.bundle.format import metadata_from_json
    from harborkit.bundle.sbom import build_sbom

    return build_sbom(metadata_from_json(json.dumps(meta).encode()))


def bundle_with(
    path: Path, *, sbom: bytes | Callable[[dict], bytes] | None = None, **replace: bytes
) -> Crafted:
    """A crafted bundle with an SBOM (made from its metadata unless given) and members replaced."""
    members, meta = bundle_members(crafted_images(), installer_tgz())
    data = sbom(meta) if callable(sbom) else sbom if sbom is not None else _sbom_for(meta)
    members.append(("sbom.cdx.json", data))
    names = {"metadata": METADATA_NAME, "manifest": IMAGES_MANIFEST, "sbom": "sbom.cdx.json"}
    repl = {names[k]: v for k, v in replace.items()}
    members = [(n, repl.get(n, d)) for n, d in members]
    write_members(path, members)
    return Crafted(path, tuple(members), meta)


DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def test_crafted_bundle_with_sbom_verifies_and_prints_it_as_stored(tmp_path: Path) -> None:
    c = bundle_with(tmp_path / "ok.tar")
    r = run_cli("bundle", "verify", str(c.path))
    assert r.returncode == ExitCode.OK, r.stderr
    r = run_cli("bundle", "inspect", "-f", "cyclonedx", str(c.path))
    assert r.returncode == ExitCode.OK, r.stderr
    assert r.stdout.encode() == c.member("sbom.cdx.json")


@pytest.mark.parametrize("deep", [DEEP, DEEP_OBJECT], ids=["arrays", "objects"])
@pytest.mark.parametrize(
    ("document", "code", "name"),
    [
        ("metadata", ExitCode.USAGE, METADATA_NAME),
        ("manifest", ExitCode.BUNDLE_CORRUPT, IMAGES_MANIFEST),
        ("sbom", ExitCode.USAGE, "sbom.cdx.json"),
    ],
)
def test_json_nested_100000_deep_is_one_line(
    tmp_path: Path, deep: bytes, document: str, code: int, name: str
) -> None:
    bad = tmp_path / "deep.tar"
    bundle_with(bad, **{document: deep})
    expected = f"{name} nests deeper than 64 levels"
    msg = verify_fails(bad, code, expected)
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    r = run_cli("bundle", "load", str(bad), env=env)  # verify comes first: no daemon needed
    assert (r.returncode, one_line_error(r.stderr)) == (code, msg)
    if document != "manifest":  # inspect reads the metadata, and the SBOM for cyclonedx
        r = run_cli("bundle", "inspect", "-f", "cyclonedx", str(bad))
        assert r.returncode == code, r.stderr
        assert expected in one_line_error(r.stderr)


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe{}", b'{"bomFormat": "CycloneDX\xc3"}', b"\x1b[31m{}"],
    ids=["utf16-bom", "cut-utf8", "escape"],
)
def test_sbom_that_is_not_utf8_json_is_one_line_in_inspect(tmp_path: Path, raw: bytes) -> None:
    bad = tmp_path / "sbom.tar"
    bundle_with(bad, sbom=raw)
    r = run_cli("bundle", "inspect", "-f", "cyclonedx", str(bad))
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert one_line_error(r.stderr).startswith(
        f"harborkit: error: {bad}: sbom.cdx.json is not valid JSON: "
    )
    assert r.stdout == ""


# ------------------------------------------------------------------ documents read alike (class 12)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (
            lambda t: t.replace(
                b'"harbor_version": "v1.8.0"', b'"harbor_version": "v1.8.0", "harbor_version": "v9"'
            ),
            "harbor_version",
        ),
        (
            lambda t: t.replace(
                b'"name": "harbor-online', b'"name": "x.tgz", "name": "harbor-online', 1
            ),
            "name",
        ),
    ],
    ids=["top-level", "installer"],
)
def test_duplicate_keys_in_metadata_are_refused(
    tmp_path: Path, edit: Callable[[bytes], bytes], key: str
) -> None:
    """JSON readers differ on a repeated key (first or last wins): refused, exit 2."""
    _, meta = bundle_members(crafted_images(), installer_tgz())
    raw = edit(json.dumps(meta, indent=2).encode())
    assert raw != json.dumps(meta, indent=2).encode()
    bad = tmp_path / "dup.tar"
    bundle_with(bad, metadata=raw, sbom=lambda m: _sbom_for(m))
    msg = verify_fails(bad, ExitCode.USAGE, f"{METADATA_NAME} repeats key {key!r} in one object")
    r = run_cli("bundle", "inspect", str(bad))
    assert (r.returncode, one_line_error(r.stderr)) == (ExitCode.USAGE, msg)


def _sbom_edited(edit: Callable[[dict], None]) -> Callable[[dict], bytes]:
    def make(meta: dict) -> bytes:
        doc = json.loads(_sbom_for(meta))
        edit(doc)
        return json.dumps(doc, indent=2).encode()

    return make


def _container(doc: dict) -> dict:
    return next(c for c in doc["components"] if c["type"] == "container")


SBOM_EDITS = {
    "image-id": (
        lambda d: _container(d)["hashes"][0].update(content="f" * 64),
        "gives 'goharbor/",
    ),
    "layer-swapped": (
        lambda d: [
            p.update(value=str(1 - int(p["value"])))
            for c in _container(d)["components"]
            for p in c["properties"]
            if p["name"] == "harborkit:layer_index"
        ],
        "other layers",
    ),
    "image-dropped": (lambda d: d["components"].remove(_container(d)), "does not list 'goharbor/"),
    "image-added": (
        lambda d: d["components"].append(dict(_container(d), **{"bom-ref": "busybox:latest"})),
        "lists 'busybox:latest', which the metadata does not",
    ),
    "installer-sha": (
        lambda d: next(c for c in d["components"] if c["bom-ref"].startswith("installer/"))[
            "hashes"
        ][0].update(content="0" * 64),
        f"gives 'installer/{INSTALLER_NAME}' another sha256",
    ),
}


@pytest.mark.parametrize("case", sorted(SBOM_EDITS))
def test_sbom_that_disagrees_with_the_metadata_is_refused(tmp_path: Path, case: str) -> None:
    edit, needle = SBOM_EDITS[case]
    bad = tmp_path / "sbom.tar"
    bundle_with(bad, sbom=_sbom_edited(edit))
    msg = verify_fails(bad, ExitCode.BUNDLE_CORRUPT, needle)
    assert msg.startswith(
        f"harborkit: error: {bad}: sbom.cdx.json disagrees with {METADATA_NAME}: "
    )


ESCAPES = {  # raw -> as shown
    "\x1b[2J\x1b[31m": "\\x1b[2J\\x1b[31m",
    "\x9b31m": "\\x9b31m",
    "\u202e": "\\u202e",
    "\r": "\\x0d",
    "\x07": "\\x07",
    "\n": "\\x0a",
}


@pytest.mark.parametrize("esc", list(ESCAPES), ids=["csi", "c1-csi", "bidi", "cr", "bell", "lf"])
def test_inspect_escapes_terminal_controls(tmp_path: Path, esc: str) -> None:
    """Free-text metadata fields reach the table escaped, never raw."""
    members, meta = bundle_members(crafted_images(), installer_tgz())
    meta["installer"]["source"] = f"http://mirror/{esc}x"
    meta["harborkit_version"] = f"v{esc}1"
    bad = tmp_path / "esc.tar"
    members = [(n, json.dumps(meta).encode() if n == METADATA_NAME else d) for n, d in members]
    write_members(bad, members)
    r = run_cli("bundle", "inspect", str(bad))
    assert r.returncode == ExitCode.OK, r.stderr
    assert esc == "\n" or esc not in r.stdout
    assert f"from http://mirror/{ESCAPES[esc]}x\n" in r.stdout
    assert f"by harborkit v{ESCAPES[esc]}1\n" in r.stdout
    assert not any(ord(c) < 0x20 and c != "\n" for c in r.stdout)


@needs_tar
def test_load_install_tools_refuses_a_sparse_tool_and_installs_nothing(tmp_path: Path) -> None:
    """The crafted sparse docker-compose: `load --install-tools` stops at verify (exit 5)
    before the daemon is asked anything and before anything is installed."""
    members, meta = bundle_members(crafted_images(), installer_tgz())
    tool = b"#!/bin/sh\necho compose\n" * 40
    meta["files"] = [
        {
            "name": "docker-compose",
            "size": len(tool),
            "sha256": hashlib.sha256(tool).hexdigest(),
            "source": "crafted",
            "install_path": "/usr/local/bin/docker-compose",
            "mode": 0o755,
        }
    ]
    members = [(n, json.dumps(meta).encode() if n == METADATA_NAME else d) for n, d in members]
    src = tmp_path / "src.tar"
    write_members(src, [*members, ("files/docker-compose", tool)])
    with tarfile.open(src) as tf:
        ti = tf.getmember("files/docker-compose")
    raw = bytearray(src.read_bytes())
    _patch_header(
        raw,
        ti.offset,
        type=b"S",
        sparse=b"%011o\0%011o\0%011o\0%011o\0" % (4096, len(tool), len(tool) + 4096, 0),
        realsize=b"%011o\0" % (len(tool) + 4096),
    )
    bad = tmp_path / "sparse-tool.tar"
    bad.write_bytes(bytes(raw))
    prefix = tmp_path / "prefix"
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    r = run_cli("bundle", "load", str(bad), "--install-tools", "--prefix", str(prefix), env=env)
    assert r.returncode == ExitCode.BUNDLE_HOSTILE, r.stderr
    assert one_line_error(r.stderr) == (
        f"harborkit: error: {bad}: member 'files/docker-compose' is a GNU sparse file "
        "(tar -x expands it from a map; a bundle holds plain files only)"
    )
    assert not prefix.exists()


# ------------------------------------------------ members and sums lines the plain path reads apart


def _plain_check(bundle: Path, tmp_path: Path) -> int:
    """``tar -x; sha256sum -c SHA256SUMS``: the exit status of the check."""
    out = tmp_path / "plain"
    out.mkdir()
    subprocess.run(["tar", "-xf", str(bundle), "-C", str(out)], check=True)
    return subprocess.run(
        ["sha256sum", "--quiet", "-c", SUMS_NAME], cwd=out, capture_output=True
    ).returncode


@pytest.mark.parametrize(
    ("name", "code", "needle"),
    [
        ("images/index.json", ExitCode.BUNDLE_HOSTILE, "member images/index.json is not named"),
        ("images/oci-layout", ExitCode.BUNDLE_HOSTILE, "member images/oci-layout is not named"),
        ("images/repositories", ExitCode.BUNDLE_HOSTILE, "docker load of images/ would read it"),
        ("images/blobs/sha256/" + hashlib.sha256(b"{}").hexdigest(), ExitCode.BUNDLE_CORRUPT,
         "is inconsistent with harbor-bundle.json: member images/blobs/sha256/"),
        ("files/evil", ExitCode.BUNDLE_CORRUPT, "member files/evil is not named by it"),
        ("notes.txt", ExitCode.BUNDLE_CORRUPT, "member notes.txt is not named by it"),
    ],
)  # fmt: skip
def test_checksummed_member_the_metadata_does_not_name_is_refused(
    tmp_path: Path, name: str, code: int, needle: str
) -> None:
    """A member listed in SHA256SUMS passes ``sha256sum -c``, but nothing accounts for
    it: under images/ ``docker load`` of the folder reads it (an OCI index.json there
    loads and tags what it says)."""
    b = craft_bundle(tmp_path / "b.tar", extra=[(name, b"{}")])
    assert _plain_check(b.path, tmp_path) == 0
    verify_fails(b.path, code, needle)


@pytest.mark.parametrize("listed", [SUMS_NAME, "SHA256SUMS.minisig"])
def test_sums_that_lists_itself_or_its_signature_is_refused(tmp_path: Path, listed: str) -> None:
    """``sha256sum -c`` fails such a list (no file holds its own digest)."""
    members, _ = bundle_members(crafted_images(), installer_tgz())
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in members)
    sums += f"{'0' * 64}  {listed}\n"
    extra = [(listed, b"x")] if listed != SUMS_NAME else []
    write_members(tmp_path / "b.tar", [*members, (SUMS_NAME, sums.encode()), *extra], sums=False)
    assert _plain_check(tmp_path / "b.tar", tmp_path) != 0
    verify_fails(tmp_path / "b.tar", ExitCode.BUNDLE_CORRUPT, f"{SUMS_NAME} lists {listed}")


@pytest.mark.parametrize("sep", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028"])
def test_sums_lines_end_at_lf_only(tmp_path: Path, sep: str) -> None:
    """Two lines joined by another line break are one line (one odd name) to
    ``sha256sum -c``, which fails it: harborkit must not read two names there."""
    members, _ = bundle_members(crafted_images(), installer_tgz())
    lines = [f"{hashlib.sha256(d).hexdigest()}  {n}" for n, d in members]
    sums = sep.join(lines[:2]) + "\n" + "\n".join(lines[2:]) + "\n"
    write_members(tmp_path / "b.tar", [*members, (SUMS_NAME, sums.encode())], sums=False)
    assert _plain_check(tmp_path / "b.tar", tmp_path) != 0
    verify_fails(tmp_path / "b.tar", ExitCode.BUNDLE_CORRUPT, "missing member", "extra member")


def test_sums_with_crlf_lines_verifies_as_sha256sum_reads_it(tmp_path: Path) -> None:
    members, _ = bundle_members(crafted_images(), installer_tgz())
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\r\n" for n, d in members)
    write_members(tmp_path / "b.tar", [*members, (SUMS_NAME, sums.encode())], sums=False)
    assert _plain_check(tmp_path / "b.tar", tmp_path) == 0
    r = run_cli("bundle", "verify", str(tmp_path / "b.tar"))
    assert r.returncode == ExitCode.OK, r.stderr


# ------------------------------------------------ references docker load reads apart


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("library/busybox:latest", "busybox:latest"),
        ("docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox:1", "docker.io/busybox:1"),
    ],
)
def test_two_spellings_of_one_tag_are_refused(tmp_path: Path, first: str, second: str) -> None:
    """docker load tags both: the second image takes the tag of the first, and the load
    fails only after both were sent; verify says so first."""
    images = crafted_images()
    images[0] = type(images[0])((first,), images[0].config, images[0].layers)
    images[1] = type(images[1])((second,), images[1].config, images[1].layers)
    bad = tmp_path / "same.tar"
    craft_bundle(bad, images=images)
    verify_fails(
        bad, ExitCode.BUNDLE_CORRUPT, f"references {first!r} and {second!r} name the same tag"
    )


@pytest.mark.parametrize("reference", ["busybox", "goharbor/harbor-core", "localhost:5000/x"])
def test_reference_without_a_tag_is_refused(tmp_path: Path, reference: str) -> None:
    """docker load refuses a RepoTags name with no tag ("invalid tag"), after the send."""
    images = crafted_images()
    images[0] = type(images[0])((reference,), images[0].config, images[0].layers)
    bad = tmp_path / "untagged.tar"
    craft_bundle(bad, images=images)
    verify_fails(
        bad,
        ExitCode.BUNDLE_CORRUPT,
        f"reference {reference!r} has no tag (docker load needs repository:tag)",
    )


def _with_diff_ids(edit: Callable[[list], None]) -> list:
    """The crafted images with the first image's config diff ids edited."""
    images = crafted_images()
    config = json.loads(images[0].config)
    edit(config["rootfs"]["diff_ids"])
    images[0] = type(images[0])(images[0].tags, json.dumps(config).encode(), images[0].layers)
    return images


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.__setitem__(1, "sha256:" + "e" * 64), f"layer 2 has diff id sha256:{'e' * 64}"),
        (lambda d: d.reverse(), "layer 1 has diff id"),
        (lambda d: d.pop(), "layer 2 has diff id (none) in the config"),
        (lambda d: d.append("sha256:" + "e" * 64), "layer 3 has diff id sha256:"),
    ],
    ids=["other", "reordered", "fewer", "more"],
)  # fmt: skip
def test_config_diff_ids_must_be_the_metadata_ones(
    tmp_path: Path, edit: Callable[[list], None], needle: str
) -> None:
    """The metadata's diff ids (inspect, the SBOM, a delta built over this bundle) must
    be the ones docker load builds the image from."""
    images = _with_diff_ids(edit)
    bad = tmp_path / "diff.tar"
    craft_bundle(bad, images=images)
    msg = verify_fails(bad, ExitCode.BUNDLE_CORRUPT, needle, "disagrees with harbor-bundle.json")
    assert f"(config of {images[0].tags[0]})" in msg


@pytest.mark.parametrize("config", [b"[]", b'{"rootfs": {}}', b'{"rootfs": {"diff_ids": "x"}}'])
def test_config_that_is_no_image_config_is_refused(tmp_path: Path, config: bytes) -> None:
    images = crafted_images()
    images[0] = type(images[0])(images[0].tags, config, images[0].layers)
    bad = tmp_path / "cfg.tar"
    craft_bundle(bad, images=images)
    verify_fails(bad, ExitCode.BUNDLE_CORRUPT, "is not an image config (no rootfs.diff_ids list)")


# ------------------------------------------------ what is parsed is what was hashed (one read)


def _same_size_edit(data: bytes) -> bytes:
    """``data`` with one separator changed: still the same JSON, another sha256."""
    for old, new in ((b"\n ", b"\n\t"), (b": ", b":\t"), (b", ", b",\t")):
        if old in data:
            return data.replace(old, new, 1)
    raise AssertionError("nothing to edit")


def _rewrite_in_place(path: Path, name: str, data: bytes) -> None:
    with tarfile.open(path) as tf:
        ti = tf.getmember(name)
    assert len(data) == ti.size
    with open(path, "r+b") as f:
        f.seek(ti.offset_data)
        f.write(data)


@needs_minisign
def test_sums_rewritten_after_the_signature_check_is_not_used(
    tmp_path: Path, minisign_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed bundle whose metadata and SHA256SUMS are rewritten in place (same sizes)
    between the signature check and the parsing of SHA256SUMS: the entries used are the
    signed ones, so the altered metadata is named, never taken as verified."""
    from harborkit.bundle import verify as verify_mod
    from harborkit.bundle.errors import BundleCorrupt
    from harborkit.bundle.sign import load_public_key

    b = tmp_path / "signed.tar"
    signed_bundle(b, minisign_key)
    with tarfile.open(b) as tf:
        meta = tf.extractfile(METADATA_NAME).read()  # type: ignore[union-attr]
        sums = tf.extractfile(SUMS_NAME).read()  # type: ignore[union-attr]
    evil = _same_size_edit(meta)
    evil_sums = sums.replace(
        hashlib.sha256(meta).hexdigest().encode(), hashlib.sha256(evil).hexdigest().encode()
    )
    real = verify_mod.verify_stream

    def check_then_swap(*args: object, **kw: object) -> object:
        out = real(*args, **kw)  # type: ignore[arg-type]
        _rewrite_in_place(b, METADATA_NAME, evil)
        _rewrite_in_place(b, SUMS_NAME, evil_sums)
        return out

    monkeypatch.setattr(verify_mod, "verify_stream", check_then_swap)
    with pytest.raises(BundleCorrupt) as e:
        verify_mod.verify_bundle(b, key=load_public_key(minisign_key / "k.pub"))
    assert e.value.message == f"bundle {b} is corrupt: altered member {METADATA_NAME}"


@pytest.mark.parametrize("which", [METADATA_NAME, IMAGES_MANIFEST, "config"])
def test_document_rewritten_after_it_was_hashed_is_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    """harbor-bundle.json, images/manifest.json or a config rewritten in place (same size,
    still valid) once hashed and before it is read for parsing: refused by name."""
    from harborkit.bundle import verify as verify_mod
    from harborkit.bundle.errors import BundleCorrupt

    good = craft_bundle(tmp_path / "b.tar")
    name = which
    if which == "config":
        name = "images/blobs/sha256/" + good.metadata["images"][0]["image_id"][7:]
    evil = _same_size_edit(good.member(name))
    real = verify_mod._hash_member
    real_documents = verify_mod._check_documents
    swapped = threading.Event()

    def hash_then_swap(source: object, member: object, task: object) -> str:
        out = real(source, member, task)  # type: ignore[arg-type]
        if member.name == name:  # type: ignore[attr-defined]
            _rewrite_in_place(good.path, name, evil)
            swapped.set()
        return out

    def documents_after_swap(*args: object) -> object:
        # the documents are checked while the members are hashed: here only once the
        # document was hashed and rewritten
        assert swapped.wait(60)
        return real_documents(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_mod, "_hash_member", hash_then_swap)
    monkeypatch.setattr(verify_mod, "_check_documents", documents_after_swap)
    with pytest.raises(BundleCorrupt) as e:
        verify_mod.verify_bundle(good.path)
    now = hashlib.sha256(evil).hexdigest()[:16]
    assert e.value.message.endswith(
        f"changed after it was hashed (sha256 now {now}...); nothing was read from it"
    ), e.value.message
    assert name in e.value.message


def _tool(name: str, data: bytes, install_path: str) -> dict:
    return {
        "name": name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "crafted",
        "install_path": install_path,
        "mode": 0o755,
    }


@pytest.mark.parametrize(
    ("tools", "needle"),
    [
        (
            [("a", b"one", "/usr/local/bin/tool"), ("b", b"two", "/usr/local/bin/tool")],
            "two files have the install path /usr/local/bin/tool",
        ),
        (
            [("a", b"one", "/usr/local/bin/a"), ("a", b"one", "/usr/local/bin/b")],
            "two files have the name a",
        ),
    ],
)
def test_two_tools_in_one_place_are_refused(tmp_path: Path, tools: list, needle: str) -> None:
    """--install-tools would install the second over the first (no --force asked)."""
    members, meta = bundle_members(crafted_images(), installer_tgz())
    meta["files"] = [_tool(*t) for t in tools]
    members = [(n, json.dumps(meta).encode() if n == METADATA_NAME else d) for n, d in members]
    members += list(dict.fromkeys((f"files/{n}", d) for n, d, _ in tools))
    write_members(tmp_path / "b.tar", members)
    verify_fails(tmp_path / "b.tar", ExitCode.BUNDLE_CORRUPT, needle)


# ------------------------------------------------ owners and modes tar -x as root restores


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"mode": 0o4755}, "has mode 4755 (setuid, setgid or sticky: tar -x as root keeps it)"),
        ({"mode": 0o2644}, "has mode 2644 (setuid, setgid or sticky"),
        ({"mode": 0o666}, "has mode 0666 (tar -x as root would let others change it"),
        ({"mode": 0o664}, "has mode 0664 (tar -x as root would let others change it"),
        ({"uid": 1000}, "is owned by '1000:0', not root"),
        ({"gid": 100}, "is owned by '0:100', not root"),
        ({"uname": "nobody"}, "is owned by 'nobody:0', not root"),
        ({"gname": "users"}, "is owned by '0:users', not root"),
    ],
    ids=["setuid", "setgid", "world-writable", "group-writable", "uid", "gid", "uname", "gname"],
)
def test_member_another_user_could_change_after_the_check_is_refused(
    tmp_path: Path, fields: dict, why: str
) -> None:
    """The plain path runs ``tar -x`` as root, which restores owners (by name first)
    and modes: such a member could be changed between ``sha256sum -c`` and
    ``docker load``/``install`` by the user it names, or run setuid."""
    from tests.support.bundles import read_members, write_tar

    good = craft_bundle(tmp_path / "good.tar")
    members = read_members(good.path)
    for ti, _ in members:
        if ti.name == INSTALLER:
            for k, v in fields.items():
                setattr(ti, k, v)
    bad = tmp_path / "owner.tar"
    write_tar(bad, members)
    msg = verify_fails(bad, ExitCode.BUNDLE_HOSTILE)
    assert msg.startswith(f"harborkit: error: {bad}: unsafe member {INSTALLER!r}: {why}"), msg
    r = run_cli("bundle", "inspect", str(bad))
    assert (r.returncode, one_line_error(r.stderr)) == (ExitCode.BUNDLE_HOSTILE, msg)


def test_bundle_retarred_by_root_with_root_owners_still_verifies(tmp_path: Path) -> None:
    """Not too strict: root:root (by name or number) and 0644/0755 pass."""
    from tests.support.bundles import read_members, write_tar

    good = craft_bundle(tmp_path / "good.tar")
    members = read_members(good.path)
    for ti, _ in members:
        ti.uname, ti.gname, ti.mode = "root", "root", 0o755
    write_tar(tmp_path / "root.tar", members)
    r = run_cli("bundle", "verify", str(tmp_path / "root.tar"))
    assert r.returncode == ExitCode.OK, r.stderr


# ------------------------------------------------ how many members are read


def test_bundle_of_too_many_members_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """Empty headers cost nothing to write but a TarInfo each to read (a million took
    ~1 GB and minutes before SHA256SUMS was even looked at): at most 50,000 members."""
    from harborkit.bundle.tarsafe import MAX_MEMBERS

    bad = tmp_path / "many.tar"
    with open(bad, "wb") as f:
        for i in range(MAX_MEMBERS + 1):
            ti = tarfile.TarInfo(f"files/x{i:07d}")
            ti.mode = 0o644
            f.write(ti.tobuf(tarfile.GNU_FORMAT))
        f.write(bytes(1024))
    r, peak_kib = peak_rss_kib("bundle", "verify", str(bad))
    assert (r.returncode, r.stderr) == (
        ExitCode.BUNDLE_CORRUPT,
        f"harborkit: error: {bad} has more than 50,000 members; not read further",
    )
    assert peak_kib < 200 * 1024


def test_installer_of_too_many_members_is_refused(tmp_path: Path) -> None:
    from harborkit.bundle.tarsafe import MAX_INSTALLER_MEMBERS

    files = [(f"harbor/f{i}", b"", 0o644) for i in range(MAX_INSTALLER_MEMBERS + 1)]
    bad = craft_bundle(tmp_path / "inst.tar", installer=installer_tgz(files)).path
    verify_fails(
        bad,
        ExitCode.BUNDLE_HOSTILE,
        f"{bad}: {INSTALLER} has more than 10,000 members; not read further",
    )


def test_layer_lookups_are_not_quadratic_in_the_layers() -> None:
    """inspect looks up every shared layer by digest: a linear search made 30,000 layers
    shared by two images take 19 s (and 16 MiB of metadata holds more)."""
    import time

    from harborkit.bundle.format import BundleMetadata, InstallerRecord, LayerRecord

    n = 20_000
    digests = [f"sha256:{i:064x}" for i in range(n)]
    meta = BundleMetadata(
        1, "v1.8.0", "2026-01-01T00:00:00Z", "t", (),
        tuple(LayerRecord(d, d, i, i) for i, d in enumerate(digests)),
        InstallerRecord("h.tgz", 1, "0" * 64, "x"),
    )  # fmt: skip
    start = time.process_time()  # CPU: a loaded machine stretches wall time, not this
    assert [meta.layer(d).size for d in digests] == list(range(n))
    assert time.process_time() - start < 2
    with pytest.raises(KeyError):
        meta.layer("sha256:" + "f" * 64)


def test_registry_builds_source_manifests_member_is_accounted_for() -> None:
    """verify names the registry build's extra member without importing the registry code."""
    from harborkit.bundle import from_registry, verify

    assert verify.SOURCE_MANIFESTS == from_registry.SOURCE_MANIFESTS


def test_blobs_a_registry_build_keeps_for_push_are_accounted_for(tmp_path: Path) -> None:
    """A registry build keeps each source manifest as a blob that images/source-manifests.json
    names (push sends them as they were): verify accepts those, and only those."""
    members, meta = bundle_members(crafted_images(), installer_tgz())
    manifest = b'{"schemaVersion": 2}'
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    doc = {
        "version": 1,
        "registry": "127.0.0.1:5000",
        "images": [
            {
                "reference": img["reference"],
                "repository": img["reference"].split(":")[0],
                "manifest": {
                    "digest": digest,
                    "media_type": "application/vnd.docker.distribution.manifest.v2+json",
                },
                "index": None,
            }
            for img in meta["images"]
        ],
    }
    source = ("images/source-manifests.json", json.dumps(doc).encode())
    blob = (f"images/blobs/sha256/{digest[7:]}", manifest)
    write_members(tmp_path / "ok.tar", [*members, source, blob])
    r = run_cli("bundle", "verify", str(tmp_path / "ok.tar"))
    assert r.returncode == ExitCode.OK, r.stderr
    stray = (f"images/blobs/sha256/{hashlib.sha256(b'x').hexdigest()}", b"x")
    write_members(tmp_path / "bad.tar", [*members, source, blob, stray])
    verify_fails(tmp_path / "bad.tar", ExitCode.BUNDLE_CORRUPT, f"member {stray[0]} is not named")
