"""The write side of a host (what ``fix --apply`` and ``--rollback`` use): every
path resolved exactly as reads resolve it, so no link in a sysroot leads a
write, a removal or a time change outside it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from harborkit.host.interface import FileState, WritableHost
from harborkit.host.local import LocalHost, SysrootHost


def _tree(top: Path) -> dict[str, str]:
    """Every entry under ``top``: kind, bytes, mode and mtime (what a write could change)."""
    out = {}
    for dirpath, dirs, files in os.walk(top):
        for n in dirs + files:
            p = Path(dirpath, n)
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p.relative_to(top))] = (
                f"{st.st_mode:o} {st.st_mtime_ns} {hashlib.sha256(data).hexdigest()}"
            )
    return out


@pytest.fixture
def lab(tmp_path: Path) -> tuple[Path, Path]:
    """A sysroot and, beside it, a folder of this machine no write may reach."""
    root = tmp_path / "root"
    (root / "srv").mkdir(parents=True)
    outside = tmp_path / "outside"
    (outside / "empty").mkdir(parents=True)
    (outside / "canary").write_bytes(b"outside\n")
    os.utime(outside / "canary", ns=(10**18, 10**18))
    return root, outside


def _links(root: Path, outside: Path) -> dict[str, tuple[str, str]]:
    """name -> (link at root/NAME, its target): each aims out of the sysroot."""
    return {
        "absolute": ("etc", str(outside)),
        "relative": ("etc", "../outside"),
        "deep relative": ("etc", "../../../../../../../../" + str(outside).lstrip("/")),
        "absolute to /": ("etc", "/"),
        "at depth": ("srv/x", "../../outside"),
    }


VARIANTS = ["absolute", "relative", "deep relative", "absolute to /", "at depth"]


def _setup(root: Path, outside: Path, variant: str) -> str:
    """Plant the link; the host path that would name ``outside`` through it."""
    link, target = _links(root, outside)[variant]
    (root / link).symlink_to(target)
    if variant == "absolute to /":
        return "/etc" + str(outside)
    return "/" + link


def _or_refused(call: Callable[[], object]) -> object:
    try:
        return call()
    except OSError:
        return "refused"


def test_local_and_sysroot_hosts_are_writable_hosts(tmp_path: Path) -> None:
    assert isinstance(LocalHost(), WritableHost)
    assert isinstance(SysrootHost(tmp_path), WritableHost)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_write_through_a_link_stays_in_the_sysroot(lab: tuple[Path, Path], variant: str) -> None:
    root, outside = lab
    via = _setup(root, outside, variant)
    host = SysrootHost(root)
    before = _tree(outside)
    for name in ("canary", "new", "deeper/new"):
        try:
            created = host.write_file(f"{via}/{name}", b"written\n", mode=0o640)
        except OSError:
            continue  # refused: a folder the link leads to is missing in the sysroot
        real = host.real_path(f"{via}/{name}")
        landed = root / real.lstrip("/")
        assert landed.read_bytes() == b"written\n", (variant, name, real)
        assert oct(landed.stat().st_mode & 0o7777) == oct(0o640)
        assert all(
            not c.startswith(str(outside)) or (root / c.lstrip("/")).is_dir() for c in created
        )
    assert _tree(outside) == before, variant


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_removal_or_time_change_through_a_link_stays_in_the_sysroot(
    lab: tuple[Path, Path], variant: str
) -> None:
    root, outside = lab
    via = _setup(root, outside, variant)
    host = SysrootHost(root)
    before = _tree(outside)
    # each either finds nothing in the sysroot or refuses (a folder the link leads to is missing)
    assert _or_refused(lambda: host.remove_file(f"{via}/canary")) in (False, "refused")
    assert host.remove_dir(f"{via}/empty") is False
    assert _or_refused(lambda: host.set_mtime(f"{via}/canary", 5 * 10**17)) == "refused"
    assert _or_refused(lambda: host.read_file(f"{via}/canary", 1 << 20)) in (None, "refused")
    assert _tree(outside) == before, variant


def test_the_sysroot_files_themselves_are_written_kept_and_removed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "f").write_bytes(b"old\n")
    if os.geteuid() == 0:
        os.chown(root / "etc" / "f", 1234, 2345)
    os.chmod(root / "etc" / "f", 0o4755)  # after the owner: a chown clears setuid
    host = SysrootHost(root)
    st = host.read_file("/etc/f", 100)
    assert st is not None and st.data == b"old\n" and st.mode == 0o4755
    created = host.write_file("/etc/a/b/c", b"new\n", mode=0o600)
    assert created == ["/etc/a", "/etc/a/b"]
    assert (root / "etc/a/b/c").read_bytes() == b"new\n"
    host.write_file("/etc/f", b"changed\n", mode=st.mode, uid=st.uid, gid=st.gid)
    again = host.read_file("/etc/f", 100)
    assert again is not None
    assert again == FileState(b"changed\n", 0o4755, st.uid, st.gid, again.mtime_ns)
    host.set_mtime("/etc/f", 123 * 10**9)
    assert (root / "etc/f").stat().st_mtime_ns == 123 * 10**9
    assert host.folder_mtime("/etc/f") == (root / "etc").stat().st_mtime_ns
    assert host.remove_file("/etc/a/b/c") is True
    assert host.remove_dir("/etc/a/b") is True and host.remove_dir("/etc/a") is True
    assert host.remove_dir("/etc") is False  # not empty
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["f"]  # no temporary file left


@pytest.mark.parametrize("what", ["too large", "a FIFO", "a folder"])
def test_read_file_refuses_what_is_no_regular_file_unopened(tmp_path: Path, what: str) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    p = root / "etc" / "x"
    if what == "too large":
        p.write_bytes(b"x" * 101)
    elif what == "a FIFO":
        os.mkfifo(p)  # opened, it would block
    else:
        p.mkdir()
    with pytest.raises(ValueError):
        SysrootHost(root).read_file("/etc/x", 100)
