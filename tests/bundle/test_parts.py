"""Parts: written in one pass through the bundle's tar writer, read back across parts."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from harborkit.bundle.errors import BundleCorrupt
from harborkit.bundle.parts import PartWriter, open_parts, parse_size
from harborkit.bundle.tarwrite import OuterTarWriter
from harborkit.errors import ExitCode, InputError

PART = 8192


def _write(final: Path, members: list[tuple[str, bytes]], part_size: int = PART) -> list[Path]:
    """A tar written as the bundle writer does: streamed members, headers patched afterwards."""
    sink = PartWriter(final, part_size)
    w = OuterTarWriter(sink, mtime=0)  # type: ignore[arg-type]
    for name, data in members:
        w.begin(name)
        for i in range(0, len(data), 3000):
            w.write(data[i : i + 3000])
        w.end(name, len(data), hashlib.sha256(data).hexdigest())
    w.close()
    return sink.commit()


@pytest.fixture
def split(tmp_path: Path) -> tuple[Path, list[tuple[str, bytes]], list[Path]]:
    members = [(f"m{i:02d}", os.urandom(5000 + 7000 * i)) for i in range(6)]
    final = tmp_path / "b.tar"
    return final, members, _write(final, members)


def test_parts_concatenate_to_the_bundle_and_check_with_sha256sum(split: tuple) -> None:
    final, members, parts = split
    assert [p.name for p in parts] == [f"b.tar.part-{i:03d}" for i in range(len(parts))]
    assert len(parts) > 5
    assert all(p.stat().st_size == PART for p in parts[:-1])
    r = subprocess.run(
        ["sha256sum", "-c", "b.tar.parts.sha256"], cwd=final.parent, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    subprocess.run(f"cat {final}.part-* > {final}", shell=True, check=True)  # the README's command
    with tarfile.open(final) as tf:
        assert [(ti.name, tf.extractfile(ti).read()) for ti in tf] == members  # type: ignore[union-attr]
    assert not list(final.parent.glob(".*partial*"))


@pytest.mark.parametrize("start", ["part-000", "part-003", "parts.sha256"])
def test_reader_reads_across_parts_from_any_part_or_the_list(split: tuple, start: str) -> None:
    final, members, parts = split
    with open_parts(final.with_name(f"b.tar.{start}")) as r:
        assert r.size == sum(p.stat().st_size for p in parts)
        with tarfile.open(fileobj=r, mode="r:") as tf:  # type: ignore[call-overload]
            got = [(ti.name, tf.extractfile(ti).read()) for ti in tf]
        assert got == members
        assert r.damage() is None


def test_missing_part_is_named(split: tuple) -> None:
    final, _, parts = split
    parts[2].unlink()
    with pytest.raises(BundleCorrupt) as exc:
        open_parts(parts[0])
    assert exc.value.exit_code == ExitCode.BUNDLE_CORRUPT
    assert exc.value.message == f"bundle {final}: missing part b.tar.part-002"
    # without the list too: the gap is seen
    final.with_name("b.tar.parts.sha256").unlink()
    with pytest.raises(BundleCorrupt) as exc:
        open_parts(parts[0])
    assert exc.value.message == f"bundle {final}: missing part b.tar.part-002"


def test_truncated_part_is_named(split: tuple) -> None:
    final, _, parts = split
    with open(parts[1], "r+b") as f:
        f.truncate(PART - 100)
    with pytest.raises(BundleCorrupt) as exc:
        open_parts(parts[0])
    assert exc.value.message == (
        f"bundle {final}: truncated part b.tar.part-001 (the others have {PART} bytes)"
    )


def test_swapped_and_damaged_parts_are_named(split: tuple) -> None:
    final, _, parts = split
    a, b = parts[1].read_bytes(), parts[2].read_bytes()
    parts[1].write_bytes(b)
    parts[2].write_bytes(a)
    with open_parts(parts[0]) as r:
        assert r.damage() == (
            "parts b.tar.part-001 and b.tar.part-002 are swapped or copied over each other "
            "(each holds the other's bytes)"
        )
    parts[1].write_bytes(a)
    parts[2].write_bytes(b)
    data = bytearray(parts[4].read_bytes())
    data[100] ^= 1
    parts[4].write_bytes(bytes(data))
    with open_parts(parts[0]) as r:
        assert r.damage() == (
            "damaged part b.tar.part-004 (its sha256 differs from b.tar.parts.sha256)"
        )


def test_aborted_write_leaves_nothing(tmp_path: Path) -> None:
    sink = PartWriter(tmp_path / "b.tar", PART)
    sink.write(os.urandom(PART * 3 + 5))
    sink.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "size"),
    [("4G", 4_000_000_000), ("4700M", 4_700_000_000), ("4GiB", 4 << 30), ("64KiB", 65536)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["4X", "", "12", "MiB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_size(text)
    assert exc.value.message.startswith(f"--split-size {text!r}: ")


def test_damaged_part_outside_members_fails_verify(tmp_path: Path) -> None:
    """A part `sha256sum -c NAME.parts.sha256` flags fails verify, even where the damage
    lies in no member's data (here: a header's mtime, its checksum fixed)."""
    from harborkit.bundle.verify import verify_bundle
    from tests.support.bundles import craft_bundle

    whole = tmp_path / "whole.tar"
    craft_bundle(whole)
    raw = bytearray(whole.read_bytes())
    part_size = 4096
    final = tmp_path / "b.tar"
    listing = ""
    n = -(-len(raw) // part_size)
    for i in range(n):
        chunk = bytes(raw[i * part_size : (i + 1) * part_size])
        (tmp_path / f"b.tar.part-{i:03d}").write_bytes(chunk)
        listing += f"{hashlib.sha256(chunk).hexdigest()}  b.tar.part-{i:03d}\n"
    (tmp_path / "b.tar.parts.sha256").write_text(listing)
    assert verify_bundle(final.with_name("b.tar.parts.sha256")).metadata.images
    with tarfile.open(whole) as tf:
        victim = tf.getmembers()[-1]  # SHA256SUMS' header
    h = victim.offset
    raw[h + 136 : h + 140] = b"1234"  # mtime: neither tar nor harborkit uses it for the bytes
    raw[h + 148 : h + 156] = b" " * 8
    raw[h + 148 : h + 156] = b"%06o\0 " % sum(raw[h : h + 512])
    k = h // part_size
    (tmp_path / f"b.tar.part-{k:03d}").write_bytes(bytes(raw[k * part_size : (k + 1) * part_size]))
    r = subprocess.run(
        ["sha256sum", "-c", "b.tar.parts.sha256"], cwd=tmp_path, capture_output=True, text=True
    )
    assert r.returncode == 1 and f"b.tar.part-{k:03d}: FAILED" in r.stdout
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(final.with_name("b.tar.part-000"))
    assert e.value.message == (
        f"bundle {final}.part-000 is corrupt: damaged part b.tar.part-{k:03d} "
        "(its sha256 differs from b.tar.parts.sha256)"
    )
    assert e.value.exit_code == ExitCode.BUNDLE_CORRUPT


@pytest.mark.parametrize(
    "text",
    [
        "9" * 400,  # was an OverflowError (through float)
        "9" * 400 + "G",
        "1." + "9" * 400 + "G",
        "\u0664G",  # Arabic-Indic four: was accepted as 4G
        "\uff14G",  # fullwidth four
        "\u0664\u0660\u0660\u0660\u0660",
        "1e9",
        "inf",
        "nan",
        "1_000_000",
        "99999999999999999999",  # 20 digits
        "2000T",  # over 1 PiB
    ],
)
def test_sizes_that_are_no_plain_ascii_number_are_one_line(text: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_size(text)
    assert exc.value.message.startswith(f"--split-size {text!r}: ")
    assert exc.value.exit_code == ExitCode.USAGE


def test_fractional_sizes_are_exact() -> None:
    assert parse_size("1.5G") == 1_500_000_000
    assert parse_size("0.1GiB") == (1 << 30) // 10
    assert parse_size("4.7G") == 4_700_000_000


@pytest.mark.parametrize("text", ["9" * 400, "\u0664G"])
def test_split_size_on_the_command_line_is_one_line(tmp_path: Path, text: str) -> None:
    from tests.support.cli import run_harborkit

    r = run_harborkit(
        ["bundle", "build", "--no-pull", "--split-size", text, "-o", str(tmp_path / "b")]
    )
    assert r.returncode == ExitCode.USAGE, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"harborkit: error: --split-size {text!r}: ")
    assert list(tmp_path.iterdir()) == []


def test_huge_parts_list_is_refused_unread(tmp_path: Path) -> None:
    from harborkit.bundle.verify import verify_bundle

    lst = tmp_path / "b.tar.parts.sha256"
    with open(lst, "wb") as f:
        f.truncate(1 << 30)  # a sparse GiB
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(lst)
    assert e.value.message == f"parts list {lst} has {1 << 30} bytes, more than the 4194304 read"


def test_at_most_1000_parts_so_cat_joins_them_in_order(tmp_path: Path) -> None:
    """``part-1000`` sorts before ``part-101`` in ``cat NAME.part-*``: the writer stops
    at 1000 parts (nothing left behind) and the reader refuses a set of more."""
    from harborkit.bundle.parts import MIN_PART

    sink = PartWriter(tmp_path / "b.tar", MIN_PART)
    data = os.urandom(1000 * MIN_PART)
    sink.write(data)  # exactly 1000 parts: fine
    with pytest.raises(InputError) as e:
        sink.write(b"x")
    assert e.value.message == (
        f"bundle {tmp_path / 'b.tar'} would need more than 1000 parts (b.tar.part-000 to "
        "b.tar.part-999; cat NAME.part-* joins more out of order): choose a larger --split-size"
    )
    sink.abort()
    assert list(tmp_path.iterdir()) == []
    # 1000 parts commit and join in order
    sink = PartWriter(tmp_path / "b.tar", MIN_PART)
    sink.write(data)
    written = sink.commit()
    assert written[-1].name == "b.tar.part-999"
    joined = subprocess.run(
        "cat b.tar.part-*", shell=True, cwd=tmp_path, capture_output=True, check=True
    ).stdout
    assert joined == data
    # one more, as another tool (or a longer bundle) might leave it: refused by name
    (tmp_path / "b.tar.parts.sha256").unlink()
    (tmp_path / "b.tar.part-1000").write_bytes(b"x")
    with pytest.raises(BundleCorrupt) as c:
        open_parts(tmp_path / "b.tar.part-000")
    assert c.value.message == (
        f"bundle {tmp_path / 'b.tar'} has more than 1000 parts (b.tar.part-000 to "
        "b.tar.part-999; cat NAME.part-* joins more out of order)"
    )


@pytest.mark.parametrize("sep", ["\x0b", "\x0c", "\x85", "\u2028"])
def test_parts_list_lines_end_at_lf_only(split: tuple, sep: str) -> None:
    """Two entries joined by another line break are one odd line to ``sha256sum -c``
    (which fails it): harborkit must not read two entries there."""
    final, _, written = split
    lst = final.with_name(final.name + ".parts.sha256")
    lines = lst.read_text().splitlines()
    lst.write_text(lines[0] + sep + "\n".join(lines[1:]) + "\n")
    assert (
        subprocess.run(
            ["sha256sum", "-c", lst.name], cwd=final.parent, capture_output=True
        ).returncode
        != 0
    )
    with pytest.raises(BundleCorrupt) as e:
        open_parts(written[0])
    assert e.value.message == f"parts list {lst} line 1 is not '<sha256>  NAME.part-NNN'"
