"""tarsafe's judging functions on archives built in memory: member names and
types, installer file names, gzip streams (concatenated, padded, cut, bombs)
and the installer's member list (repeated members, files where folders go)."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from harborkit.bundle import extract, tarsafe
from harborkit.bundle.errors import BundleCorrupt, BundleHostile
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
        (gzip.compress(b"abc") + b"\0\0junk", "x has data after its gzip stream"),
        (gzip.compress(b"abc" * 100)[:-6], "x is not a complete gzip stream: it ends early"),
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


# ------------------------------------------------------------------ installer folder modes (issue 19, class 12)


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
