"""bundle load's parts that need no daemon: the ``docker load`` tar it streams
from a verified bundle, and the install-folder refusal before any image is sent.

bundle load's parts that need no daemon, in-process: the exact ``docker load``
stream, the install-folder and tools checks before the daemon is asked, the
installer's unpacking (and its errors: no space, unwritable) and the tools'
installation from the verified bytes."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from harborkit.bundle import load
from harborkit.bundle.errors import BundleCorrupt, InstallTargetExists, NoSpace, OutputError
from harborkit.bundle.format import IMAGES_DIR, installer_member
from harborkit.bundle.tarsafe import BLOCK, InstallerCheck
from harborkit.bundle.tarwrite import tar_header
from harborkit.bundle.tools import Installed, plan_install
from harborkit.bundle.verify import VerifyResult, verify_bundle
from harborkit.errors import ExitCode
from tests.support.bundles import INSTALLER, craft_bundle, file_record, installer_tgz, make_parts
from tests.support.images import make_image, make_layer


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
    assert 0.2 <= time.monotonic() - t0 < 10  # the 0.2 s window, not the default 300 s
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
    from tests.support.bundles import installer_tgz

    big = installer_tgz([("harbor/big.bin", os.urandom(256 << 10), 0o644)])
    path = make_parts(installer=big).write(tmp_path / "b.tar")
    verified = verify_bundle(path)
    small = tmpfs("64k")
    monkeypatch.setattr(tempfile, "tempdir", str(small))
    with pytest.raises(NoSpace) as e:
        load._spool_installer(verified)
    assert e.value.message == f"no space left in {small} for a private copy of the installer"
    assert os.listdir(small) == []


def expected_stream(verified: VerifyResult, entries: list[dict]) -> bytes:
    import json

    out = b""
    names = list(dict.fromkeys(n for e in entries for n in [e["Config"], *e["Layers"]]))
    with open(verified.path, "rb") as f:
        for rel in names:
            m = verified.members.get(f"{IMAGES_DIR}/{rel}")
            if m is None:
                continue
            f.seek(m.offset)
            data = f.read(m.size)
            out += tar_header(rel, m.size, 0o644, 0) + data + bytes(-m.size % BLOCK)
    manifest = json.dumps(entries).encode()
    out += tar_header("manifest.json", len(manifest), 0o644, 0) + manifest
    return out + bytes(-len(manifest) % BLOCK) + bytes(2 * BLOCK)


@pytest.fixture(scope="module")
def big_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image whose layer blob is over one read (1 MiB) long."""
    layer = make_layer([("big.bin", os.urandom((1 << 20) + 3000), 0o644)])
    image = make_image(["hk/big:1"], [layer])
    return craft_bundle(tmp_path_factory.mktemp("big") / "b.tar", images=[image]).path


def test_stream_bytes_exactly(big_bundle: Path) -> None:
    verified = verify_bundle(big_bundle)
    entries = [dict(e) for e in verified.load_manifest]
    task = Counted()
    got = b"".join(load._tar_stream(big_bundle, dict(verified.members), entries, task))
    assert got == expected_stream(verified, entries)
    sizes = sorted(
        (
            verified.members[f"{IMAGES_DIR}/{n}"].size
            for n in [entries[0]["Config"], *entries[0]["Layers"]]
        ),
    )
    config, layer = sizes
    assert layer > load.CHUNK
    assert sorted(task.advanced) == sorted([config, load.CHUNK, layer - load.CHUNK])


def test_stream_of_a_bundle_cut_after_verify(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    verified = verify_bundle(path)
    entries = [dict(e) for e in verified.load_manifest]
    first = verified.members[f"{IMAGES_DIR}/{entries[0]['Config']}"]
    with open(path, "r+b") as f:
        f.truncate(first.offset + 10)
    with pytest.raises(BundleCorrupt) as e:
        b"".join(load._tar_stream(path, dict(verified.members), entries, Counted()))
    assert e.value.message == f"bundle {path}: member {first.name} ended early"


def no_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")


def test_no_daemon_is_an_environment_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harborkit.errors import HarborkitError

    path = make_parts().write(tmp_path / "b.tar")
    no_daemon(tmp_path, monkeypatch)
    with pytest.raises(HarborkitError) as e:
        load.load_bundle(path, install_dir=tmp_path / "opt")
    assert e.value.exit_code == ExitCode.ENVIRONMENT
    assert e.value.message.startswith(
        f"cannot reach the Docker daemon at unix://{tmp_path}/none.sock: "
    )
    assert not (tmp_path / "opt").exists()


def test_install_space_is_checked_before_loading(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    verified = verify_bundle(path)
    huge = InstallerCheck(verified.installer.members, 0, 1 << 62)
    with pytest.raises(NoSpace) as e:
        load._check_install(dataclasses.replace(verified, installer=huge), tmp_path / "opt")
    assert e.value.message.startswith(f"not enough free space in {tmp_path} for the installer: ")
    load._check_install(verified, tmp_path / "opt")  # room enough: no error


def with_tool(tmp_path: Path, data: bytes = b"#!/bin/sh\necho tool\n") -> Path:
    parts = make_parts()
    parts.members.append(("files/tool", data))
    parts.edit_metadata(lambda m: m.update(files=[file_record("tool", data)]))
    return parts.write(tmp_path / "t.tar")


def test_tools_conflict_is_refused_before_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = with_tool(tmp_path)
    prefix = tmp_path / "root"
    (prefix / "usr/local/bin").mkdir(parents=True)
    (prefix / "usr/local/bin/tool").write_text("mine\n")
    no_daemon(tmp_path, monkeypatch)
    with pytest.raises(InstallTargetExists) as e:
        load.load_bundle(path, install_tools=True, prefix=prefix)
    assert e.value.message == (
        f"{prefix}/usr/local/bin/tool exists and differs from the bundle's tool; not replacing "
        "it (--force replaces it)"
    )
    # without --install-tools the tools are not looked at: the daemon is asked
    with pytest.raises(Exception) as e2:
        load.load_bundle(path, prefix=prefix)
    assert e2.value.exit_code == ExitCode.ENVIRONMENT  # type: ignore[attr-defined]
    with pytest.raises(Exception) as e2:
        load.load_bundle(path, install_tools=True, prefix=prefix, force=True)
    assert e2.value.exit_code == ExitCode.ENVIRONMENT  # type: ignore[attr-defined]


def test_install_tools_writes_replaces_and_keeps(tmp_path: Path) -> None:
    big = os.urandom(load.CHUNK + 100)
    path = with_tool(tmp_path, big)
    verified = verify_bundle(path)
    (rec,) = verified.metadata.files
    prefix = tmp_path / "root"
    plan = plan_install([rec], prefix, force=False)
    target = prefix / "usr/local/bin/tool"
    assert load._install_tools(verified, plan) == [Installed(rec, target, False, False)]
    assert target.read_bytes() == big
    assert target.stat().st_mode & 0o777 == 0o755
    plan = plan_install([rec], prefix, force=False)
    assert load._install_tools(verified, plan) == [Installed(rec, target, False, True)]
    target.write_bytes(b"older")
    plan = plan_install([rec], prefix, force=True)
    assert load._install_tools(verified, plan) == [Installed(rec, target, True, False)]
    assert target.read_bytes() == big
    assert load._install_tools(verified, []) == []


def test_install_tools_from_a_bundle_cut_after_verify(tmp_path: Path) -> None:
    path = with_tool(tmp_path)
    verified = verify_bundle(path)
    (rec,) = verified.metadata.files
    m = verified.members[rec.member]
    plan = plan_install([rec], tmp_path / "root", force=False)
    with open(path, "r+b") as f:
        f.truncate(m.offset + 3)
    with pytest.raises(BundleCorrupt) as e:
        load._install_tools(verified, plan)
    assert e.value.message == f"bundle {path}: member files/tool ended early"
    assert not (tmp_path / "root/usr/local/bin/tool").exists()


def test_extract_records_what_it_unpacked(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    verified = verify_bundle(path)
    undo = load._Undo()
    install = tmp_path / "opt"
    assert load._extract(verified, install, undo) == [install.resolve() / "harbor"]
    assert undo.files[:2] == [install, install.resolve() / "harbor"]
    assert len(undo.files) == 5


def test_extract_into_an_unwritable_place(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    verified = verify_bundle(path)
    install = Path("/proc/hk-no-such-folder")
    with pytest.raises(OutputError) as e:
        load._extract(verified, install, load._Undo())
    assert e.value.message == (
        f"cannot unpack the installer into {install}: {install}: No such file or directory"
    )


@pytest.fixture
def small_fs(tmpfs: Callable[[str], Path]) -> Path:
    """A 256 KiB tmpfs: a real file system that fills up."""
    return tmpfs("256k")


def test_extract_onto_a_full_file_system(tmp_path: Path, small_fs: Path) -> None:
    inst = installer_tgz([("harbor/big.bin", os.urandom(512 << 10), 0o644)])
    parts = make_parts(inst)
    path = parts.write(tmp_path / "b.tar")
    verified = verify_bundle(path)
    undo = load._Undo()
    with pytest.raises(NoSpace) as e:
        load._extract(verified, small_fs / "opt", undo)
    assert e.value.message == (f"no space left in {small_fs / 'opt'} while unpacking the installer")
    assert undo.files[-1] == small_fs / "opt/harbor/big.bin"
    assert installer_member(INSTALLER) in verified.members


def test_key_is_checked_before_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harborkit.bundle import sign

    path = make_parts().write(tmp_path / "b.tar")
    no_daemon(tmp_path, monkeypatch)
    key = sign.generate().public
    with pytest.raises(sign.SignatureError) as e:
        load.load_bundle(path, key=key)
    assert e.value.message.startswith(f"bundle {path} is not signed (no SHA256SUMS.minisig)")


def test_install_folder_link_out_of_it_is_hostile(tmp_path: Path) -> None:
    from harborkit.bundle.errors import BundleHostile

    path = make_parts().write(tmp_path / "b.tar")
    install = tmp_path / "opt"
    install.mkdir()
    (install / "harbor").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BundleHostile) as e:
        load._check_install(verify_bundle(path), install)
    assert e.value.message == (
        f"{path}: {installer_member(INSTALLER)}: member 'harbor' escapes {install}"
    )


def test_extract_names_the_installer_when_it_changed_after_verify(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    verified = verify_bundle(path)
    inst = verified.members[installer_member(INSTALLER)]
    with open(path, "r+b") as f:
        f.truncate(inst.offset + inst.size // 2)
    with pytest.raises(BundleCorrupt) as e:
        load._extract(verified, tmp_path / "opt", load._Undo())
    # the installer is copied and checked before a file is made
    assert e.value.message == f"bundle {path}: member {inst.name} ended early"
    assert not (tmp_path / "opt").exists()


def test_extract_names_the_path_that_failed(tmp_path: Path) -> None:
    path = make_parts().write(tmp_path / "b.tar")
    with pytest.raises(OutputError) as e:
        load._extract(verify_bundle(path), Path("/proc"), load._Undo())
    assert e.value.message == (
        "cannot unpack the installer into /proc: /proc/harbor: No such file or directory"
    )


def test_install_tools_goes_on_after_one_in_place(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members += [("files/a", b"a\n"), ("files/b", b"b\n")]
    parts.edit_metadata(
        lambda m: m.update(files=[file_record("a", b"a\n"), file_record("b", b"b\n")])
    )
    verified = verify_bundle(parts.write(tmp_path / "t.tar"))
    prefix = tmp_path / "root"
    (prefix / "usr/local/bin").mkdir(parents=True)
    (prefix / "usr/local/bin/a").write_bytes(b"a\n")
    plan = plan_install(list(verified.metadata.files), prefix, force=False)
    got = load._install_tools(verified, plan)
    assert [(i.path.name, i.replaced, i.unchanged) for i in got] == [
        ("a", False, True),
        ("b", False, False),
    ]
    assert (prefix / "usr/local/bin/b").read_bytes() == b"b\n"


def aligned_image(ref: str) -> object:
    """An image whose config is a whole number of tar blocks long."""
    layer = make_layer([("f", b"x", 0o644)])
    for n in range(BLOCK):
        image = make_image([ref], [layer], cmd=("/bin/sh", "-c", "#" * n))
        if len(image.config) % BLOCK == 0:
            return image
    raise AssertionError("no padding gives a whole block")


def test_stream_of_a_block_sized_blob_and_a_missing_one_first(tmp_path: Path) -> None:
    image = aligned_image("hk/aligned:1")
    path = craft_bundle(tmp_path / "b.tar", images=[image]).path  # type: ignore[list-item]
    verified = verify_bundle(path)
    entry = dict(verified.load_manifest[0])
    # a layer the base of a delta holds comes first: the rest is still sent
    entry["Layers"] = ["blobs/sha256/" + "0" * 64, *entry["Layers"]]
    got = b"".join(load._tar_stream(path, dict(verified.members), [entry], Counted()))
    assert got == expected_stream(verified, [entry])
    with tarfile.open(fileobj=io.BytesIO(got)) as tf:
        assert tf.getnames() == [entry["Config"], *entry["Layers"][1:], "manifest.json"]
