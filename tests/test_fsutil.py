"""The one atomic write of harborkit (:class:`harborkit.fsutil.AtomicFile`): a
temporary file beside the target under one name pattern, fsync, owner and
mode, rename; never half a file at the final path, never a write through a
link planted at the temporary name, and every writer of harborkit uses it."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from harborkit.fsutil import AtomicFile, atomic_file, atomic_write, temp_name, write_at

REPO = Path(__file__).resolve().parents[1]


def test_the_one_temporary_name_is_what_stale_partial_clean_up_removes(tmp_path: Path) -> None:
    from harborkit.bundle.sinks import remove_stale_partials

    assert temp_name("b.tar") == f".b.tar.partial-{os.getpid()}"
    dead = 2**22 + 7  # above pid_max's default: no such process
    stale = tmp_path / temp_name("x.json").replace(str(os.getpid()), str(dead))
    stale.write_bytes(b"half")
    mine = tmp_path / temp_name("x.json")
    mine.write_bytes(b"in progress")
    assert remove_stale_partials(tmp_path, "x.json") == [stale]
    assert mine.exists()


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o4755, 0o1777])
def test_a_write_leaves_the_whole_file_with_exactly_its_mode_and_nothing_else(
    tmp_path: Path, mode: int
) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    atomic_write(target, b"new\n", mode=mode)
    assert target.read_bytes() == b"new\n"
    assert oct(target.stat().st_mode & 0o7777) == oct(mode)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_without_a_mode_the_file_is_made_0644_less_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert oct((tmp_path / "f").stat().st_mode & 0o7777) == oct(0o640)


@pytest.mark.parametrize("how", ["exception", "interrupt"])
def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path, how: str) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    err: type[BaseException] = RuntimeError if how == "exception" else KeyboardInterrupt
    with pytest.raises(err), atomic_file(AtomicFile.at(target, mode=0o600)) as f:
        f.write(b"half")
        raise err
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


@pytest.mark.parametrize("planted", ["link to a file", "dangling link", "stale file"])
def test_what_is_planted_at_the_temporary_name_is_never_written_through(
    tmp_path: Path, planted: str
) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim\n")
    tmp = folder / temp_name("f")
    if planted == "link to a file":
        tmp.symlink_to(victim)
    elif planted == "dangling link":
        tmp.symlink_to(tmp_path / "created-through-the-link")
    else:
        tmp.write_bytes(b"left by a process gone that had this pid")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        write_at(fd, "f", b"data\n", mode=0o644)
    finally:
        os.close(fd)
    assert (folder / "f").read_bytes() == b"data\n"
    assert not (folder / "f").is_symlink()
    assert victim.read_bytes() == b"victim\n"
    assert not (tmp_path / "created-through-the-link").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["f"]


def test_threads_writing_one_file_each_leave_one_whole_version(tmp_path: Path) -> None:
    target = tmp_path / "f"
    versions = [bytes([65 + n]) * (1 << 16) for n in range(8)]
    errors: list[BaseException] = []

    def one(data: bytes) -> None:
        try:
            for _ in range(5):
                atomic_write(target, data, mode=0o644)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_bytes() in versions
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


# writes that are no file replacement (folders renamed, a resumable download
# whose name must outlive the process, a writability probe) are named here
_NOT_FILE_WRITES = {
    ("harborkit/fix/journal.py", "os.rename("),  # a journal folder made whole, then named
    ("harborkit/fix/lock.py", "os.rename("),  # a journal folder set aside to be removed
    ("harborkit/registry/blobs.py", "os.replace("),  # the resumable .partial of the blob cache
    ("harborkit/bundle/targets.py", "mkstemp("),  # can this folder be written at all?
}


def test_every_writer_of_harborkit_goes_through_the_one_atomic_write() -> None:
    pattern = re.compile(r"os\.replace\(|os\.rename\(|\.rename\(|mkstemp\(|NamedTemporaryFile\(")
    found = set()
    for path in sorted((REPO / "harborkit").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel == "harborkit/fsutil.py":
            continue
        for m in pattern.finditer(path.read_text()):
            found.add((rel, m.group(0)))
    assert found <= _NOT_FILE_WRITES, sorted(found - _NOT_FILE_WRITES)


def test_a_write_refused_at_its_temporary_name_blocks_no_later_write(tmp_path: Path) -> None:
    planted = tmp_path / temp_name("f")
    planted.mkdir()  # a folder is never removed to make room
    (planted / "keep").write_bytes(b"")
    with pytest.raises(OSError):
        atomic_write(tmp_path / "f", b"first")
    assert not (tmp_path / "f").exists() and (planted / "keep").exists()
    (planted / "keep").unlink()
    planted.rmdir()
    done = threading.Event()
    t = threading.Thread(target=lambda: (atomic_write(tmp_path / "f", b"second"), done.set()))
    t.start()
    t.join(10)
    assert done.is_set(), "the refused write still holds the name"
    assert (tmp_path / "f").read_bytes() == b"second"
