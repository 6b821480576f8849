"""verify and inspect on bundles the tests write themselves: no daemon, no root.

Each hostile or damaged bundle gets its exact exit code and one line naming the
member (or document) at fault. The bundles come from :mod:`tests.bundle.craft`,
which writes the documented layout with ``tarfile`` alone.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from harborkit.bundle.format import IMAGES_MANIFEST, METADATA_NAME, SUMS_NAME
from harborkit.errors import ExitCode
from tests.bundle.conftest import run_cli
from tests.bundle.craft import (
    INSTALLER_NAME,
    Crafted,
    bundle_members,
    craft_bundle,
    crafted_images,
    installer_tgz,
    write_members,
)
from tests.bundle.helpers import hostile_tgz, member_info

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
        lambda g: _edit_manifest(g, lambda d: d[1]["RepoTags"].clear()),
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
