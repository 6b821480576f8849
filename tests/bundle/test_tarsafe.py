"""tarsafe's judging functions on archives built in memory: member names and
types, installer file names, gzip streams (concatenated, padded, cut, bombs)
and the installer's member list (repeated members, files where folders go).

tarsafe in-process: the bundle's tar writer (headers, padding, streamed members
patched in place), the outer scan, the section reader, the install-folder checks
and the extraction record that a failed load undoes."""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import stat
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from harborkit.bundle import extract, tarsafe
from harborkit.bundle.errors import BundleCorrupt, BundleHostile, InstallTargetExists, NoSpace
from harborkit.bundle.extract import (
    check_install_space,
    check_install_target,
    extract_installer,
    remove_created,
)
from harborkit.bundle.tarsafe import InstallerCheck, SectionReader, scan_tar
from harborkit.bundle.tarwrite import OuterTarWriter, tar_header
from harborkit.errors import ExitCode


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    return ti


def tgz(*members: tuple[str, bytes | None]) -> io.BytesIO:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            if data is None:
                tf.addfile(member(name, tarfile.DIRTYPE))
            else:
                tf.addfile(member(name, data=data), io.BytesIO(data))
    return io.BytesIO(gzip.compress(raw.getvalue(), mtime=0))


def test_normalize_name() -> None:
    assert tarsafe.normalize_name("./a//b/") == "a/b"
    assert tarsafe.normalize_name("a/./b") == "a/b"
    assert tarsafe.normalize_name("/a/b/") == "a/b"
    assert tarsafe.normalize_name("./") == "."
    assert tarsafe.normalize_name("") == ""


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (tarfile.SYMTYPE, "is a symlink"),
        (tarfile.LNKTYPE, "is a hard link"),
        (tarfile.CHRTYPE, "is a character device"),
        (tarfile.BLKTYPE, "is a block device"),
        (tarfile.FIFOTYPE, "is a fifo"),
        (b"Z", "is of tar type b'Z'"),
    ],
)
def test_unsafe_member_types(kind: bytes, reason: str) -> None:
    assert tarsafe.unsafe_member_reason(member("a", kind)) == reason


def test_unsafe_member_regular_and_dirs() -> None:
    assert tarsafe.unsafe_member_reason(member("a/b")) is None
    # tarfile counts a contiguous file as a regular one
    assert tarsafe.unsafe_member_reason(member("a", tarfile.CONTTYPE)) is None
    assert tarsafe.unsafe_member_reason(member("a", tarfile.DIRTYPE)) is None
    assert (
        tarsafe.unsafe_member_reason(member("a", tarfile.DIRTYPE), allow_dirs=False)
        == "is of tar type b'5'"
    )
    assert tarsafe.unsafe_member_reason(member("../a")) == "'..' in path"
    assert tarsafe.unsafe_member_reason(member("/a", tarfile.SYMTYPE)) == "absolute path"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("harbor-offline-installer-v1.8.0.tgz", None),
        ("harbor.tar.gz", None),
        ("", "is not a plain file name"),
        ("a/b.tgz", "is not a plain file name"),
        ("a\\b.tgz", "is not a plain file name"),
        (".hidden.tgz", "is not a plain file name"),
        ("a\x00.tgz", "is not a plain file name"),
        ("harbor.tar", "is not a gzip tar (.tgz or .tar.gz)"),
        ("harbor.gz", "is not a gzip tar (.tgz or .tar.gz)"),
    ],
)
def test_installer_name_reason(name: str, reason: str | None) -> None:
    assert tarsafe.installer_name_reason(name) == reason


def test_gzip_size_concatenated_and_padded() -> None:
    one, two = b"a" * 1000, b"b" * 3000
    data = gzip.compress(one) + gzip.compress(two)
    assert tarsafe.gzip_size(io.BytesIO(data), "x") == 4000
    assert tarsafe.gzip_size(io.BytesIO(data + bytes(700)), "x") == 4000


def test_gzip_size_large_stream_counts_every_chunk() -> None:
    big = bytes(range(256)) * (5 << 12)  # 5 MiB
    assert tarsafe.gzip_size(io.BytesIO(gzip.compress(big)), "x") == len(big)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # mtime=0: the same test ids in every process (pytest-xdist workers compare them)
        (gzip.compress(b"abc", mtime=0) + b"\0\0junk", "x has data after its gzip stream"),
        (
            gzip.compress(b"abc" * 100, mtime=0)[:-6],
            "x is not a complete gzip stream: it ends early",
        ),
        (b"", "x is not a complete gzip stream: it ends early"),
    ],
)
def test_gzip_size_refuses(data: bytes, message: str) -> None:
    with pytest.raises(BundleCorrupt) as e:
        tarsafe.gzip_size(io.BytesIO(data), "x")
    assert (e.value.message, e.value.exit_code) == (message, ExitCode.BUNDLE_CORRUPT)


def test_gzip_size_not_gzip() -> None:
    with pytest.raises(BundleCorrupt) as e:
        tarsafe.gzip_size(io.BytesIO(b"this is not gzip at all"), "x")
    assert e.value.message.startswith("x is not a complete gzip stream: Error -3 ")


def test_gzip_size_bomb_limit() -> None:
    data = gzip.compress(bytes(3_000_001))
    assert tarsafe.gzip_size(io.BytesIO(data), "x", limit=3_000_001) == 3_000_001
    with pytest.raises(BundleHostile) as e:
        tarsafe.gzip_size(io.BytesIO(data), "x", limit=3_000_000)
    assert (e.value.message, e.value.exit_code) == (
        "x unpacks to more than 3 MB (over 50 times its size)",
        ExitCode.BUNDLE_HOSTILE,
    )


def test_check_installer_counts_and_repeated_folders() -> None:
    f = tgz(("harbor", None), ("harbor/a", b"12345"), ("./harbor/", None), ("harbor/b", b"xy"))
    check = tarsafe.check_installer(f, "inst.tgz")
    assert [m.name for m in check.members] == ["harbor", "harbor/a", "./harbor", "harbor/b"]
    assert check.files_size == 7
    assert check.unpacked_size == len(gzip.decompress(f.getvalue()))


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((("harbor/a", b"1"), ("harbor//a", b"2")), "inst.tgz: duplicate member 'harbor//a'"),
        ((("harbor", None), ("harbor", b"2")), "inst.tgz: duplicate member 'harbor'"),
        ((("harbor", b"1"), ("harbor", None)), "inst.tgz: duplicate member 'harbor'"),
        (
            (("harbor", b"1"), ("harbor/x/y", b"2")),
            "inst.tgz: member 'harbor/x/y' is inside file 'harbor'",
        ),
        ((("../evil", b"1"),), "inst.tgz: unsafe member '../evil': '..' in path"),
    ],
)
def test_check_installer_refuses(
    members: tuple[tuple[str, bytes | None], ...], message: str
) -> None:
    with pytest.raises(BundleHostile) as e:
        tarsafe.check_installer(tgz(*members), "inst.tgz")
    assert e.value.message == message


def test_check_installer_ratio_floor_and_limit() -> None:
    f = tgz(("big", bytes(2_000_000)))
    # a small archive may unpack to the 64 MiB floor whatever its size
    assert tarsafe.check_installer(f, "i", size=1).files_size == 2_000_000
    gz = io.BytesIO(gzip.compress(bytes((64 << 20) + 1)))
    with pytest.raises(BundleHostile) as e:
        tarsafe.check_installer(gz, "i", size=1)
    assert e.value.message == "i unpacks to more than 67 MB (over 50 times its size)"


def test_check_installer_gzip_of_no_tar() -> None:
    with pytest.raises(BundleCorrupt) as e:
        tarsafe.check_installer(io.BytesIO(gzip.compress(b"not a tar" * 100)), "i")
    assert e.value.message.startswith("i is not a readable tar archive: ")


def test_gzip_size_refuses_any_byte_but_zero_as_padding() -> None:
    with pytest.raises(BundleCorrupt) as e:
        tarsafe.gzip_size(io.BytesIO(gzip.compress(b"abc") + b"\0XX\0"), "x")
    assert e.value.message == "x has data after its gzip stream"


def test_gzip_size_refuses_a_bomb_without_holding_it_in_memory() -> None:
    # 128 MiB of zeros in about 128 kB of gzip: unpacked 1 MiB at a time, the limit
    # stops it after a few MiB; unpacked whole, the first read would allocate 128 MiB
    import tracemalloc
    import zlib

    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    bomb = b"".join(z.compress(block) for _ in range(128)) + z.flush()
    tracemalloc.start()
    try:
        with pytest.raises(BundleHostile) as e:
            tarsafe.gzip_size(io.BytesIO(bomb), "x", limit=5_500_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.message.startswith("x unpacks to more than 6 MB (over ")
    assert peak < 16 << 20, f"peak {peak} bytes"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (0o1777, 0o1777),  # sticky kept, as GNU tar keeps it
        (0o4777, 0o777),  # setuid on a folder dropped (tar --no-same-permissions)
        (0o2775, 0o775),  # setgid dropped: it would change the group of what is made inside
        (0o7777, 0o1777),
        (0o1000, 0o1700),  # owner access always
        (0o0555, 0o755),
    ],
)
def test_installer_folder_modes(tmp_path: Path, mode: int, expected: int) -> None:
    import io
    import shutil
    import subprocess

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, m in [("harbor", 0o755), ("harbor/d", mode)]:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode = tarfile.DIRTYPE, m
            tf.addfile(ti)
        ti = tarfile.TarInfo("harbor/f")
        ti.mode, ti.size = mode & 0o7777, 1
        tf.addfile(ti, io.BytesIO(b"x"))
    dest = tmp_path / "opt"
    extract.extract_installer(io.BytesIO(buf.getvalue()), dest, "inst.tgz")  # type: ignore[arg-type]
    assert stat.S_IMODE((dest / "harbor/d").stat().st_mode) == expected
    assert (
        stat.S_IMODE((dest / "harbor/f").stat().st_mode) == mode & 0o777
    )  # files: no special bits
    tar = shutil.which("tar")
    if tar and mode & 0o1000 and not mode & 0o6000 and mode & 0o700 == 0o700:
        # the sticky bit exactly as GNU tar extracts it (as root: its default --same-permissions)
        (tmp_path / "t.tgz").write_bytes(buf.getvalue())
        (tmp_path / "gnu").mkdir()
        subprocess.run(
            [tar, "-xzf", str(tmp_path / "t.tgz"), "-C", str(tmp_path / "gnu")], check=True
        )
        gnu = stat.S_IMODE((tmp_path / "gnu/harbor/d").stat().st_mode)
        assert gnu & stat.S_ISVTX == expected & stat.S_ISVTX


def test_installer_leaves_an_existing_folders_mode(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo("shared")
        ti.type, ti.mode = tarfile.DIRTYPE, 0o1777
        tf.addfile(ti)
    dest = tmp_path / "opt"
    (dest / "shared").mkdir(parents=True)
    os.chmod(dest / "shared", 0o750)
    extract.extract_installer(io.BytesIO(buf.getvalue()), dest, "inst.tgz")  # type: ignore[arg-type]
    assert stat.S_IMODE((dest / "shared").stat().st_mode) == 0o750


@pytest.mark.parametrize("name", ["a\nb", "a\x1b[31m", "a\rb", "a\x7f", "a\tb"])
def test_member_names_with_control_characters_are_unsafe(name: str) -> None:
    assert tarsafe.unsafe_name_reason(name) == "control character in name"


def test_installer_members_tar_reads_otherwise_are_hostile(tmp_path: Path) -> None:
    """The installer is unpacked by harborkit or by `tar -xzf`: both must see the same
    members. A sparse file (real `tar --sparse`) and a GNU header whose prefix area holds
    a name (tarfile joins it, GNU tar does not) are refused, exit 5."""
    import shutil
    import subprocess

    tar = shutil.which("tar")
    if tar is None:
        pytest.skip("GNU tar")
    src = tmp_path / "src" / "harbor"
    src.mkdir(parents=True)
    (src / "install.sh").write_bytes(b"#!/bin/sh\n")
    with open(src / "holey", "wb") as f:
        f.write(b"x")
        f.seek(1 << 20)
        f.write(b"y")
    sparse = tmp_path / "sparse.tgz"
    subprocess.run(
        [tar, "--sparse", "-czf", str(sparse), "-C", str(src.parent), "harbor"], check=True
    )
    with pytest.raises(BundleHostile) as exc:
        tarsafe.check_installer(open(sparse, "rb"), "inst.tgz")  # noqa: SIM115
    assert exc.value.message == (
        "inst.tgz: member 'harbor/holey' is a GNU sparse file "
        "(tar -x expands it from a map; a bundle holds plain files only)"
    )
    assert exc.value.exit_code == ExitCode.BUNDLE_HOSTILE

    plain = tmp_path / "plain.tar"
    subprocess.run(
        [tar, "--format=gnu", "-cf", str(plain), "-C", str(src.parent), "harbor/install.sh"],
        check=True,
    )
    raw = bytearray(plain.read_bytes())
    raw[345:351] = b"opt/x/"  # tarfile reads 'opt/x/' + '/' + name; tar does not
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\0 " % sum(raw[:512])
    with pytest.raises(BundleHostile) as exc:
        tarsafe.check_installer(io.BytesIO(gzip.compress(bytes(raw))), "inst.tgz")  # type: ignore[arg-type]
    assert "has data in its GNU header's prefix area" in exc.value.message


def read_tar(raw: bytes) -> list[tuple[str, int, int, int, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        return [(ti.name, ti.size, ti.mode, ti.mtime, tf.extractfile(ti).read()) for ti in tf]  # type: ignore[union-attr]


def test_tar_header_is_one_gnu_block_or_a_long_name_more() -> None:
    h = tar_header("images/manifest.json", 1234, 0o644, 1_700_000_000)
    assert len(h) == 512
    ti = tarfile.TarInfo.frombuf(h, "utf-8", "surrogateescape")
    assert (ti.name, ti.size, ti.mode, ti.mtime, ti.type) == (
        "images/manifest.json",
        1234,
        0o644,
        1_700_000_000,
        tarfile.REGTYPE,
    )
    assert h[257:265] == b"ustar  \x00"  # GNU magic
    assert len(tar_header("x" * 150, 1, 0o644, 0)) == 3 * 512  # LongLink header + name block
    assert len(tar_header("é" * 40, 1, 0o644, 0)) == 512


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 1024])
def test_add_bytes_pads_to_whole_blocks(size: int) -> None:
    f = io.BytesIO()
    w = OuterTarWriter(f, mtime=5)
    data = bytes([7]) * size
    w.add_bytes("m", data, "ab" * 32)
    assert w.position() == 512 + -(-size // 512) * 512
    w.close()
    raw = f.getvalue()
    assert raw.endswith(bytes(1024))
    assert len(raw) == w.position() == 512 + -(-size // 512) * 512 + 1024
    assert read_tar(raw) == [("m", size, 0o644, 5, data)]
    assert w.sums == [("m", "ab" * 32)]


def test_mtime_defaults_to_now() -> None:
    before = int(time.time())
    f = io.BytesIO()
    OuterTarWriter(f).add_bytes("m", b"x", "0" * 64)
    after = int(time.time())
    ((_, _, _, mtime, _),) = read_tar(f.getvalue() + bytes(1024))
    assert before <= mtime <= after


@pytest.mark.parametrize("size", [0, 700, 1024])
def test_streamed_member_header_is_patched(size: int) -> None:
    f = io.BytesIO()
    w = OuterTarWriter(f, mtime=9)
    w.add_bytes("first", b"1", "1" * 64)
    w.begin("images/blobs/sha256/" + "0" * 64)
    data = os.urandom(size)
    w.write(data[:100])
    w.write(memoryview(data)[100:])
    name = "images/blobs/sha256/" + "f" * 64
    w.end(name, size, "f" * 64)
    w.add_bytes("last", b"22", "2" * 64)
    w.close()
    assert read_tar(f.getvalue()) == [
        ("first", 1, 0o644, 9, b"1"),
        (name, size, 0o644, 9, data),
        ("last", 2, 0o644, 9, b"22"),
    ]
    assert w.sums == [("first", "1" * 64), (name, "f" * 64), ("last", "2" * 64)]


def test_streamed_member_misuse() -> None:
    f = io.BytesIO()
    w = OuterTarWriter(f, mtime=0)
    with pytest.raises(RuntimeError, match="^no streamed member is open$"):
        w.end("a", 0, "0" * 64)
    with pytest.raises(RuntimeError, match="^no streamed member is open$"):
        w.abort()
    w.begin("short")
    with pytest.raises(RuntimeError, match="^a streamed member is already open$"):
        w.begin("other")
    with pytest.raises(RuntimeError, match=f"^header length changed for {'y' * 150}$"):
        w.end("y" * 150, 0, "0" * 64)


def test_abort_drops_the_open_member() -> None:
    f = io.BytesIO()
    w = OuterTarWriter(f, mtime=0)
    w.add_bytes("keep", b"k", "0" * 64)
    at = w.position()
    w.begin("dropped")
    w.write(b"partial data")
    w.abort()
    assert w.position() == at == len(f.getvalue()) == 1024
    w.begin("next")  # a new member may start again
    w.end("next", 0, "1" * 64)
    w.close()
    assert [m[0] for m in read_tar(f.getvalue())] == ["keep", "next"]
    assert w.sums == [("keep", "0" * 64), ("next", "1" * 64)]


def test_after_external_write_goes_to_the_end() -> None:
    f = io.BytesIO()
    w = OuterTarWriter(f, mtime=0)
    f.write(b"x" * 10)
    f.seek(3)
    w.after_external_write()
    assert w.position() == 10


def outer(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for ti in members:
            tf.addfile(ti, io.BytesIO(bytes(ti.size)) if ti.isreg() else None)
    return path


def reg(name: str, size: int = 0) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    return ti


def folder(name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    return ti


def test_scan_lists_files_not_folders(tmp_path: Path) -> None:
    path = outer(tmp_path / "a.tar", [folder("images"), reg("images/a", 3), reg("b", 600)])
    scan = scan_tar(path)
    assert scan.members == (
        tarsafe.Member("images/a", 1024, 3),
        tarsafe.Member("b", 2048, 600),
    )
    assert (scan.file_size, scan.truncated, scan.damaged_header_after) == (
        path.stat().st_size,
        None,
        None,
    )
    assert scan.members[1].end == 2648


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("a", "./a", "duplicate member './a' (the same path as 'a')"),
        ("a/b", "a//b", "duplicate member 'a//b' (the same path as 'a/b')"),
        ("a", "a", "duplicate member 'a'"),
    ],
)
def test_scan_refuses_the_same_path_twice(
    tmp_path: Path, first: str, second: str, message: str
) -> None:
    path = outer(tmp_path / "a.tar", [reg(first), reg(second)])
    with pytest.raises(BundleHostile) as e:
        scan_tar(path)
    assert (e.value.message, e.value.exit_code) == (f"{path}: {message}", ExitCode.BUNDLE_HOSTILE)


def test_scan_refuses_a_folder_and_a_file_of_one_name(tmp_path: Path) -> None:
    path = outer(tmp_path / "a.tar", [folder("images/"), reg("images")])
    with pytest.raises(BundleHostile) as e:
        scan_tar(path)
    assert e.value.message == f"{path}: duplicate member 'images'"  # tarfile drops the slash


def test_scan_of_a_file_that_is_no_tar(tmp_path: Path) -> None:
    from harborkit.bundle.errors import BundleCorrupt

    path = tmp_path / "x.tar"
    path.write_bytes(b"")
    with pytest.raises(BundleCorrupt) as e:
        scan_tar(path)
    assert e.value.message.startswith(f"{path} is not a tar archive: ")


def test_scan_names_a_cut_member(tmp_path: Path) -> None:
    path = outer(tmp_path / "a.tar", [reg("a", 10), reg("b", 2000)])
    raw = path.read_bytes()
    path.write_bytes(raw[: 1024 + 512 + 1000])
    scan = scan_tar(path)
    assert scan.truncated == "b"
    assert [m.name for m in scan.members] == ["a", "b"]
    path.write_bytes(raw[: 1024 + 512 + 2000])  # b complete, padding cut
    assert scan_tar(path).truncated == "(header after b)"


def test_section_reader() -> None:
    f = io.BytesIO(b"0123456789abcdef")
    r = SectionReader(f, 4, 8)  # type: ignore[arg-type]
    assert (r.seekable(), r.readable(), r.tell()) == (True, True, 0)
    assert r.read(3) == b"456"
    assert r.tell() == 3
    assert r.read() == b"789ab"
    assert r.read() == b""
    assert r.read(5) == b""
    assert r.seek(0) == 0
    assert r.read(100) == b"456789ab"
    assert r.seek(-2, 2) == 6
    assert r.read(1) == b"a"
    assert r.seek(-3, 1) == 4
    assert r.read(-1) == b"89ab"
    assert r.seek(-100) == 0
    assert r.read(0) == b""
    assert r.seek(2, 0) == 2 and r.read(2) == b"67"


def test_gzip_padding_may_span_reads() -> None:
    data = gzip.compress(b"abc") + bytes((1 << 20) + 10)
    assert tarsafe.gzip_size(io.BytesIO(data), "x") == 3
    with pytest.raises(Exception) as e:
        tarsafe.gzip_size(io.BytesIO(data + b"z"), "x")
    assert e.value.message == "x has data after its gzip stream"  # type: ignore[attr-defined]


def test_gzip_member_after_padding_is_data() -> None:
    data = gzip.compress(b"abc") + b"\0" + gzip.compress(b"def")
    with pytest.raises(Exception) as e:
        tarsafe.gzip_size(io.BytesIO(data), "x")
    assert e.value.message == "x has data after its gzip stream"  # type: ignore[attr-defined]


def test_gzip_members_across_a_read_boundary() -> None:
    raw = os.urandom(3 << 19)  # 1.5 MiB, stored nearly as is: the stream crosses a read
    data = gzip.compress(raw, compresslevel=1) + gzip.compress(b"tail")
    assert tarsafe.gzip_size(io.BytesIO(data), "x") == len(raw) + 4


def test_gzip_limit_counts_across_members() -> None:
    data = gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600)
    assert tarsafe.gzip_size(io.BytesIO(data), "x", limit=1200) == 1200
    with pytest.raises(BundleHostile) as e:
        tarsafe.gzip_size(io.BytesIO(data), "x", limit=1199)
    assert e.value.message == "x unpacks to more than 0 MB (over 50 times its size)"


def test_check_installer_limit_is_fifty_times_its_size() -> None:
    size = 2_000_000
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    data = b"".join([*(c.compress(bytes(1 << 20)) for _ in range(96)), c.flush()])
    with pytest.raises(BundleHostile) as e:
        tarsafe.check_installer(io.BytesIO(data), "i", size=size)  # type: ignore[arg-type]
    assert e.value.message == "i unpacks to more than 100 MB (over 50 times its size)"


def test_check_installer_without_size_has_no_limit() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        tf.addfile(reg("zeros", 70 << 20), io.BytesIO(bytes(70 << 20)))
    data = gzip.compress(raw.getvalue(), compresslevel=1)
    check = tarsafe.check_installer(io.BytesIO(data), "i")  # type: ignore[arg-type]
    assert check.files_size == 70 << 20


def test_check_installer_starts_from_the_beginning() -> None:
    data = io.BytesIO(gzip.compress(tar_of([("a", b"1")])))
    data.seek(5)
    assert [ti.name for ti in tarsafe.check_installer(data, "i").members] == ["a"]  # type: ignore[arg-type]


def tar_of(files: list[tuple[str, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in files:
            if data is None:
                tf.addfile(folder(name))
            else:
                ti = reg(name, len(data))
                ti.mode = 0o640
                tf.addfile(ti, io.BytesIO(data))
    return raw.getvalue()


def test_check_installer_file_deep_under_a_file() -> None:
    data = gzip.compress(tar_of([("a/b", b"1"), ("a/b/c/d", b"2")]))
    with pytest.raises(BundleHostile) as e:
        tarsafe.check_installer(io.BytesIO(data), "i")  # type: ignore[arg-type]
    assert e.value.message == "i: member 'a/b/c/d' is inside file 'a/b'"
    data = gzip.compress(tar_of([("a", None), ("a/b", None), ("a/b/c", b"1"), ("./a/b", None)]))
    assert len(tarsafe.check_installer(io.BytesIO(data), "i").members) == 4  # type: ignore[arg-type]


def members_of(files: list[tuple[str, bytes | None]]) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar_of(files))) as tf:
        return tf.getmembers()


def test_install_target_accepts_new_files_and_existing_folders(tmp_path: Path) -> None:
    (tmp_path / "dest/harbor/common").mkdir(parents=True)
    check_install_target(
        members_of([(".", None), ("harbor", None), ("harbor/common/x", b"1"), ("new/y", b"2")]),
        tmp_path / "dest",
        "i",
    )
    check_install_target(members_of([("a", b"1")]), tmp_path / "nowhere/yet", "i")


def test_install_target_refuses_an_existing_file_or_link(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "harbor").mkdir(parents=True)
    (dest / "harbor/link").symlink_to("missing")
    with pytest.raises(InstallTargetExists) as e:
        check_install_target(members_of([("harbor/link", b"1")]), dest, "i")
    assert e.value.message == f"{dest.resolve()}/harbor/link already exists; not overwriting it"
    assert e.value.exit_code == ExitCode.USAGE
    # a link to a file that exists: the link is named
    (dest / "harbor/file").write_text("mine")
    (dest / "harbor/to-file").symlink_to("file")
    with pytest.raises(InstallTargetExists) as e:
        check_install_target(members_of([("harbor/to-file", b"1")]), dest, "i")
    assert e.value.message == f"{dest.resolve()}/harbor/to-file already exists; not overwriting it"
    with pytest.raises(InstallTargetExists) as e:
        check_install_target(members_of([("./harbor//file", b"1")]), dest, "i")
    assert e.value.message == f"{dest.resolve()}/harbor/file already exists; not overwriting it"


def test_install_target_refuses_a_dangling_link_inside_where_a_folder_goes(tmp_path: Path) -> None:
    """Extraction would follow harbor/sub to a folder that is not there, after the images
    were loaded: refused before, like a file in the way."""
    dest = tmp_path / "dest"
    (dest / "harbor").mkdir(parents=True)
    (dest / "harbor/sub").symlink_to("missing")
    with pytest.raises(InstallTargetExists) as e:
        check_install_target(members_of([("harbor/sub/x", b"1")]), dest, "i")
    assert e.value.message == (
        f"{dest.resolve()}/harbor/sub is a file where the installer needs a folder; "
        "not replacing it"
    )
    # a link to a folder inside is a folder
    (dest / "harbor/real").mkdir()
    (dest / "harbor/dir").symlink_to("real")
    check_install_target(members_of([("harbor/dir/x", b"1"), ("harbor/dir", None)]), dest, "i")


@pytest.mark.parametrize(
    ("member", "blocker"),
    [
        (("harbor/x", b"1"), "harbor"),
        (("harbor/a/b/x", b"1"), "harbor"),
        (("harbor", None), "harbor"),
        (("harbor/sub", None), "harbor"),
    ],
)
def test_install_target_refuses_a_file_where_a_folder_goes(
    tmp_path: Path, member: tuple[str, bytes | None], blocker: str
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / blocker).write_text("mine")
    with pytest.raises(InstallTargetExists) as e:
        check_install_target(members_of([member]), dest, "i")
    assert e.value.message == (
        f"{dest.resolve() / blocker} is a file where the installer needs a folder; not replacing it"
    )


def test_install_target_refuses_a_dangling_link_where_a_folder_goes(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "harbor").mkdir(parents=True)
    os.symlink("/nonexistent-hk", dest / "harbor/sub")
    with pytest.raises(BundleHostile) as e:
        check_install_target(members_of([("harbor/sub/x", b"1")]), dest, "i")
    assert e.value.message == f"i: member 'harbor/sub/x' escapes {dest}"


def test_install_target_above_the_destination_is_not_judged(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file above")
    dest = tmp_path / "dest"
    dest.mkdir()
    check_install_target(members_of([("a/b", b"1")]), dest, "i")


def test_install_space(tmp_path: Path) -> None:
    members = tuple(members_of([("a", b"1"), ("b", b"2")]))
    dest = tmp_path / "x/y/z"
    check_install_space(InstallerCheck(members, 0, 1000), dest)
    free = shutil.disk_usage(tmp_path).free
    huge = InstallerCheck(members, 0, free)
    with pytest.raises(NoSpace) as e:
        check_install_space(huge, dest)
    needed = free + 2 * 4096 + (1 << 20)
    assert re.fullmatch(
        rf"not enough free space in {re.escape(str(tmp_path))} for the installer: about "
        rf"{needed / 1e6:.1f} MB needed, \d+\.\d MB free",
        e.value.message,
    ), e.value.message
    # the space check starts from the folder that exists nearest to it
    with pytest.raises(NoSpace) as e:
        check_install_space(huge, tmp_path)
    assert f" in {tmp_path} for" in e.value.message


def test_extract_records_what_it_made_in_order(tmp_path: Path) -> None:
    big = os.urandom((1 << 20) + 5)
    data = gzip.compress(
        tar_of([("./", None), ("harbor", None), ("harbor/a/b", b"1"), ("top", big)])
    )
    dest = tmp_path / "opt/inst"
    (tmp_path / "opt").mkdir()
    created: list[Path] = []
    tops = extract_installer(io.BytesIO(data), dest, "i", created)  # type: ignore[arg-type]
    root = dest.resolve()
    assert tops == [root / "harbor", root / "top"]
    assert created == [dest, root / "harbor", root / "harbor/a", root / "harbor/a/b", root / "top"]
    assert (root / "top").read_bytes() == big
    assert (root / "harbor/a/b").stat().st_mode & 0o7777 == 0o640
    removed = remove_created(created)
    assert removed == [root / "top", root / "harbor/a/b", root / "harbor/a", root / "harbor", dest]
    assert created == []
    assert os.listdir(tmp_path / "opt") == []


def test_extract_without_a_record(tmp_path: Path) -> None:
    data = gzip.compress(tar_of([("a", b"1")]))
    assert extract_installer(io.BytesIO(data), tmp_path, "i") == [tmp_path.resolve() / "a"]  # type: ignore[arg-type]


def test_remove_created_keeps_what_it_cannot_remove(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    f = d / "f"
    f.write_text("x")
    (d / "theirs").write_text("y")  # not ours: d stays
    link = tmp_path / "link"
    link.symlink_to(d)
    gone = tmp_path / "gone"
    created = [d, f, link, gone]
    assert remove_created(created) == [link, f]
    assert sorted(os.listdir(tmp_path)) == ["d"]
    assert os.listdir(d) == ["theirs"]


def test_tar_header_keeps_undecodable_name_bytes() -> None:
    """A name from a non-UTF-8 file system (surrogate escapes) is written as its bytes."""
    h = tar_header("images/\udcff", 1, 0o644, 0)
    assert h[:8] == b"images/\xff"


def test_a_new_member_may_begin_after_one_ends() -> None:
    f = io.BytesIO()
    w = OuterTarWriter(f, mtime=0)
    w.begin("a")
    w.end("b", 0, "0" * 64)
    w.begin("c")
    w.write(b"x")
    w.end("d", 1, "1" * 64)
    w.close()
    assert [m[0] for m in read_tar(f.getvalue())] == ["b", "d"]


@pytest.fixture
def small_fs(tmpfs: Callable[[str], Path]) -> Path:
    """A 1 MiB tmpfs: free space nobody else changes."""
    return tmpfs("1m")


def test_install_space_boundary(small_fs: Path) -> None:
    free = shutil.disk_usage(small_fs).free
    member = members_of([("a", b"1")])[0]
    members = (member,) * 3
    fits = free - 3 * 4096 - (1 << 20)  # negative: the 1 MiB margin is more than the fs
    check_install_space(InstallerCheck(members, 0, fits), small_fs / "opt")
    with pytest.raises(NoSpace) as e:
        check_install_space(InstallerCheck(members, 0, fits + 1), small_fs / "opt")
    assert e.value.message == (
        f"not enough free space in {small_fs} for the installer: about "
        f"{(free + 1) / 1e6:.1f} MB needed, {free / 1e6:.1f} MB free"
    )
    assert e.value.exit_code == ExitCode.NO_SPACE


def test_install_space_counts_4096_bytes_a_member(small_fs: Path) -> None:
    free = shutil.disk_usage(small_fs).free
    members = (members_of([("a", b"1")])[0],) * 100_000
    with pytest.raises(NoSpace) as e:
        check_install_space(InstallerCheck(members, 0, 0), small_fs)
    needed = 100_000 * 4096 + (1 << 20)
    assert e.value.message == (
        f"not enough free space in {small_fs} for the installer: about "
        f"{needed / 1e6:.1f} MB needed, {free / 1e6:.1f} MB free"
    )


def test_install_target_names_the_file_it_would_overwrite(tmp_path: Path) -> None:
    """Through a link to a folder inside the destination, the real file is named."""
    dest = tmp_path / "dest"
    (dest / "real").mkdir(parents=True)
    (dest / "real/prepare").write_text("mine")
    (dest / "harbor").symlink_to("real")
    with pytest.raises(InstallTargetExists) as e:
        check_install_target(members_of([("harbor/prepare", b"1")]), dest, "i")
    assert e.value.message == f"{dest.resolve()}/real/prepare already exists; not overwriting it"


def test_extract_names_the_archive_in_its_refusals(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "harbor").symlink_to(tmp_path)
    data = gzip.compress(tar_of([("harbor/x", b"1")]))
    with pytest.raises(BundleHostile) as e:
        extract_installer(io.BytesIO(data), dest, "b.tar: installer/i.tgz")  # type: ignore[arg-type]
    assert e.value.message == f"b.tar: installer/i.tgz: member 'harbor/x' escapes {dest}"
    bad = gzip.compress(tar_of([("../x", b"1")]))
    with pytest.raises(BundleHostile) as e:
        extract_installer(io.BytesIO(bad), dest, "b.tar: installer/i.tgz")  # type: ignore[arg-type]
    assert e.value.message == "b.tar: installer/i.tgz: unsafe member '../x': '..' in path"


def test_extract_folder_modes_keep_owner_access(tmp_path: Path) -> None:
    data = gzip.compress(tar_of([("a", None), ("b", None)]))
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tf:
        infos = tf.getmembers()
    infos[0].mode, infos[1].mode = 0o755, 0o500
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for ti in infos:
            tf.addfile(ti)
    extract_installer(io.BytesIO(gzip.compress(raw.getvalue())), tmp_path / "o", "i")  # type: ignore[arg-type]
    assert (tmp_path / "o/a").stat().st_mode & 0o7777 == 0o755
    assert (tmp_path / "o/b").stat().st_mode & 0o7777 == 0o700


def test_scan_of_a_folder_then_a_broken_long_name(tmp_path: Path) -> None:
    """Nothing but a folder before the first broken header: not a tar archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        tf.addfile(folder("d"))
        tf.addfile(reg("d/" + "x" * 150, 1), io.BytesIO(b"1"))
    raw = bytearray(buf.getvalue())
    raw[3 * 512 + 148 : 3 * 512 + 156] = b"00000000"  # the header after the long name
    path = tmp_path / "b.tar"
    path.write_bytes(bytes(raw))
    from harborkit.bundle.errors import BundleCorrupt

    with pytest.raises(BundleCorrupt) as e:
        scan_tar(path)
    assert e.value.message == f"{path} is not a tar archive: bad checksum"


def test_scan_does_not_open_a_compressed_tar(tmp_path: Path) -> None:
    from harborkit.bundle.errors import BundleCorrupt

    path = tmp_path / "b.tar.gz"
    path.write_bytes(gzip.compress(outer(tmp_path / "a.tar", [reg("a", 3)]).read_bytes()))
    with pytest.raises(BundleCorrupt) as e:
        scan_tar(path)
    assert e.value.message.startswith(f"{path} is not a tar archive: ")


def test_install_space_message_in_megabytes(tmp_path: Path) -> None:
    """On a 100 GiB tmpfs (a limit, nothing reserved) the MB figures are exact to 0.1."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "big"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100g", "tmpfs", str(mnt)], check=True)
    try:
        free = shutil.disk_usage(mnt).free
        member = members_of([("a", b"1")])[0]
        with pytest.raises(NoSpace) as e:
            check_install_space(InstallerCheck((member,), 0, 10**12), mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    needed = 10**12 + 4096 + (1 << 20)
    assert e.value.message == (
        f"not enough free space in {mnt} for the installer: about "
        f"{needed / 1e6:.1f} MB needed, {free / 1e6:.1f} MB free"
    )
    assert f"{needed / 1e6:.1f}" != f"{needed / 1000001:.1f}"
    assert f"{free / 1e6:.1f}" != f"{free / 1000001:.1f}"


@pytest.mark.parametrize(
    ("first", "damaged"), [(reg("a", 3), "a"), (folder("d"), "(start)")], ids=["file", "folder"]
)
def test_scan_names_a_damaged_header(tmp_path: Path, first: tarfile.TarInfo, damaged: str) -> None:
    raw = outer(tmp_path / "a.tar", [first]).read_bytes()
    end = 512 + (512 if first.isreg() else 0)
    path = tmp_path / "b.tar"
    path.write_bytes(raw[:end] + b"X" * 512 + bytes(1024))
    scan = scan_tar(path)
    assert (scan.damaged_header_after, scan.truncated) == (damaged, None)


def test_gzip_size_refuses_a_zlib_stream() -> None:
    from harborkit.bundle.errors import BundleCorrupt

    with pytest.raises(BundleCorrupt) as e:
        tarsafe.gzip_size(io.BytesIO(zlib.compress(b"abc" * 100)), "x")
    assert e.value.message.startswith("x is not a complete gzip stream: Error -3 ")


def test_names_keep_their_own_characters() -> None:
    assert tarsafe.normalize_name("X./aX/") == "X./aX"
    assert tarsafe.normalize_name("//a/./b//") == "a/b"
    assert tarsafe.unsafe_name_reason("a\x00b") == "empty or NUL in name"
    assert tarsafe.unsafe_name_reason("//etc/passwd") == "absolute path"
    assert tarsafe.unsafe_name_reason("X/a") is None
