"""bundle load's parts that need no daemon: the ``docker load`` tar it streams
from a verified bundle, and the install-folder refusal before any image is sent."""

from __future__ import annotations

import json
import os
import tarfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from harborkit.bundle import load
from harborkit.bundle.errors import InstallTargetExists
from harborkit.bundle.format import IMAGES_DIR
from harborkit.bundle.verify import verify_bundle
from harborkit.errors import ExitCode
from tests.bundle.test_verify_fast import make_parts


class Counted:
    """A progress task that records what it is told."""

    def __init__(self) -> None:
        self.advanced: list[int] = []
        self.finished = False

    def advance(self, n: int) -> None:
        self.advanced.append(n)

    def set_total(self, total: int | None) -> None:
        raise AssertionError("the stream does not change the total")

    def done(self) -> None:
        self.finished = True


def stream(path: Path, entries: list[dict[str, Any]]) -> tuple[bytes, Counted]:
    res = verify_bundle(path)
    task = Counted()
    data = b"".join(load._tar_stream(path, dict(res.members), entries, task))
    return data, task


def test_tar_stream_is_a_docker_load_archive(tmp_path: Path) -> None:
    parts = make_parts()
    path = parts.write(tmp_path / "b.tar")
    res = verify_bundle(path)
    entries = [dict(e) for e in res.load_manifest]
    data, task = stream(path, entries)
    assert len(data) % 512 == 0
    assert data.endswith(bytes(1024))
    names = list(dict.fromkeys(n for e in entries for n in [e["Config"], *e["Layers"]]))
    by_name = dict(parts.members)
    with tarfile.open(fileobj=BytesIO(data)) as tf:
        members = tf.getmembers()
        assert [m.name for m in members] == [*names, "manifest.json"]
        for m in members[:-1]:
            assert (m.mode, m.mtime, m.isreg()) == (0o644, 0, True)
            f = tf.extractfile(m)
            assert f is not None
            assert f.read() == by_name[f"{IMAGES_DIR}/{m.name}"]
        f = tf.extractfile(members[-1])
        assert f is not None
        assert json.loads(f.read()) == entries
    # the shared base layer is sent once, and counted once
    assert len(names) == 5
    assert sum(task.advanced) == sum(len(by_name[f"{IMAGES_DIR}/{n}"]) for n in names)
    assert task.finished is False  # _send closes the task, not the stream


def test_tar_stream_of_one_image_leaves_out_what_the_bundle_lacks(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    res = verify_bundle(path)
    entry = dict(res.load_manifest[1])
    # a delta bundle's layer that its base holds: not in the bundle, not sent
    entry["Layers"] = [*entry["Layers"], "blobs/sha256/" + "0" * 64]
    data, _ = stream(path, [entry])
    with tarfile.open(fileobj=BytesIO(data)) as tf:
        assert tf.getnames() == [entry["Config"], *entry["Layers"][:-1], "manifest.json"]


def test_load_refuses_an_existing_installer_file_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    install = tmp_path / "opt"
    (install / "harbor").mkdir(parents=True)
    (install / "harbor/prepare").write_text("mine\n")
    # no daemon is reached: the refusal comes first
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(InstallTargetExists) as e:
        load.load_bundle(path, install_dir=install)
    assert e.value.exit_code is ExitCode.USAGE
    assert e.value.message == (
        f"{(install / 'harbor/prepare').resolve()} already exists; not overwriting it: the "
        f"installer was unpacked into {install} before; to load only the images (and tools), "
        f"run harborkit bundle load {path} without --install-dir"
    )
    assert (install / "harbor/prepare").read_text() == "mine\n"
    assert sorted(os.listdir(install / "harbor")) == ["prepare"]


def test_wait_for_the_daemon_is_bounded_and_says_what_it_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon has the whole stream but does not answer within the stall window:
    the interrupted load stops waiting and its one line says the daemon may go on."""
    import time

    from harborkit import dockerapi
    from harborkit.bundle import cleanup

    monkeypatch.setattr(dockerapi, "STALL_TIMEOUT", 0.2)
    cleanup.reset()
    state = load._SendState(committed=True)
    t0 = time.monotonic()
    load._wait_for_daemon(state)
    assert 0.2 <= time.monotonic() - t0 < 2
    assert cleanup.summary() == (
        "the daemon was still loading the images when harborkit stopped waiting; it may add "
        "them after this; nothing was left to remove"
    )
    # a stream cut before it was complete: nothing to wait for, nothing to say
    cleanup.reset()
    load._wait_for_daemon(load._SendState())
    assert cleanup.summary() == "nothing was left to remove"
    cleanup.reset()


def test_installer_spool_in_a_full_tmpdir_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmpfs: Any
) -> None:
    import tempfile

    from harborkit.bundle.errors import NoSpace
    from tests.bundle.craft import installer_tgz

    big = installer_tgz([("harbor/big.bin", os.urandom(256 << 10), 0o644)])
    path = make_parts(installer=big).write(tmp_path / "b.tar")
    verified = verify_bundle(path)
    small = tmpfs("64k")
    monkeypatch.setattr(tempfile, "tempdir", str(small))
    with pytest.raises(NoSpace) as e:
        load._spool_installer(verified)
    assert e.value.message == f"no space left in {small} for a private copy of the installer"
    assert os.listdir(small) == []
