"""bundle load in-process against one private dockerd: what it sends, skips,
re-tags and confirms, what it rolls back when the daemon refuses an image, and
its one-line errors (a reference missing after the load, a daemon silent or
past its deadline, an unexpected error).

Marked ``mutation`` as well as ``daemon``: ``make mutation-load`` runs these for
each load.py mutant (the daemon starts once per pytest run, about two seconds),
since most of load.py only runs against a daemon."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.bundle import cleanup, load
from harborkit.bundle.errors import LoadFailed
from harborkit.bundle.format import IMAGES_DIR, METADATA_NAME, ImageRecord
from harborkit.bundle.tools import Installed
from harborkit.bundle.verify import verify_bundle
from harborkit.errors import ExitCode
from tests.support.bundles import (
    Progress,
    Recorded,
    bundle_members,
    craft_bundle,
    crafted_images,
    file_record,
    installer_tgz,
    write_members,
)
from tests.support.dockerd import Daemon, start_dockerd
from tests.support.images import Image, Layer, load_images, make_image, make_layer

pytestmark = [pytest.mark.daemon, pytest.mark.mutation]

REFS = ("hk-mut/one:1", "hk-mut/two:1")


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    with start_dockerd() as d:
        yield d


@pytest.fixture
def docker(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A client of the private daemon, which load_bundle reaches through DOCKER_HOST;
    every image is removed afterwards."""
    monkeypatch.setenv("DOCKER_HOST", daemon.url)
    cleanup.reset()
    client = daemon.client()
    try:
        yield client
    finally:
        for img in client.images.list(all=True):
            client.api.remove_image(img.id, force=True)
        client.close()
        cleanup.reset()


def tags(client: object) -> dict[str, str]:
    return {t: img.id for img in client.images.list() for t in img.tags}  # type: ignore[attr-defined]


def test_load_sends_then_skips_then_only_retags(docker: object, tmp_path: Path) -> None:
    images = crafted_images(REFS)
    path = craft_bundle(tmp_path / "b.tar", images=images).path
    verified = verify_bundle(path)
    blobs = {
        n for e in verified.load_manifest for n in [e["Config"], *e["Layers"]]
    }  # the shared base layer once
    want_bytes = sum(verified.members[f"{IMAGES_DIR}/{n}"].size for n in blobs)

    progress = Progress()
    res = load.load_bundle(path, install_dir=tmp_path / "opt", progress=progress)  # type: ignore[arg-type]
    assert res == load.LoadResult(REFS, (), ((tmp_path / "opt").resolve() / "harbor",), ())
    assert tags(docker) == {img.tags[0]: img.id for img in images}
    verify_task, load_task = progress.tasks
    assert (load_task.description, load_task.total, load_task.advanced, load_task.finished) == (
        "load",
        want_bytes,
        want_bytes,
        True,
    )
    assert verify_task.description == "verify"
    assert (tmp_path / "opt/harbor/install.sh").stat().st_mode & 0o777 == 0o755

    assert load.load_bundle(path) == load.LoadResult((), REFS, (), ())

    # the right image under another name only: re-tagged, nothing sent
    docker.api.tag(images[0].id, "keep/one", "1")  # type: ignore[attr-defined]
    docker.api.remove_image(REFS[0])  # type: ignore[attr-defined]
    progress = Progress()
    res = load.load_bundle(path, progress=progress)  # type: ignore[arg-type]
    assert res == load.LoadResult((), (REFS[1], REFS[0]), (), ())
    assert [t.description for t in progress.tasks] == ["verify"]
    assert tags(docker) == {
        REFS[0]: images[0].id,
        REFS[1]: images[1].id,
        "keep/one:1": images[0].id,
    }
    assert cleanup.removed() == []


def test_only_missing_images_are_sent(docker: object, tmp_path: Path) -> None:
    images = crafted_images(REFS)
    path = craft_bundle(tmp_path / "b.tar", images=images).path
    load_images(docker, images[:1])
    progress = Progress()
    res = load.load_bundle(path, progress=progress)  # type: ignore[arg-type]
    assert res == load.LoadResult((REFS[1],), (REFS[0],), (), ())
    verified = verify_bundle(path)
    (entry,) = [e for e in verified.load_manifest if e["RepoTags"] == [REFS[1]]]
    sent = sum(
        verified.members[f"{IMAGES_DIR}/{n}"].size for n in [entry["Config"], *entry["Layers"]]
    )
    assert (progress.tasks[1].total, progress.tasks[1].advanced) == (sent, sent)
    assert tags(docker) == {img.tags[0]: img.id for img in images}


def _bad_image(ref: str) -> Image:
    """An image whose layer is no tar: the daemon refuses it while loading."""
    return make_image([ref], [Layer(b"this is not a tar archive\n" * 40)])


def test_refused_image_rolls_back_tags_and_new_images(docker: object, tmp_path: Path) -> None:
    old = make_image([REFS[0]], [make_layer([("old", b"old\n", 0o644)])])
    load_images(docker, [old])
    good = crafted_images(REFS[:1])[0]
    path = craft_bundle(tmp_path / "b.tar", images=[good, _bad_image(REFS[1])]).path
    install = tmp_path / "opt"
    with pytest.raises(LoadFailed) as e:
        load.load_bundle(path, install_dir=install)
    assert e.value.exit_code is ExitCode.LOAD_FAILED
    head, _, rolled = e.value.message.partition("; rolled back: ")
    assert head.startswith(f"the daemon refused the images from {path}: ")
    assert rolled == f"removed tag {REFS[0]} (back on {old.id[:19]}), image {good.id[:19]}"
    # the reference names its old image again; the image loaded for it is gone
    assert tags(docker) == {REFS[0]: old.id}
    assert {i.id for i in docker.images.list(all=True)} == {old.id}  # type: ignore[attr-defined]
    assert not install.exists()


def test_refused_new_reference_is_removed(docker: object, tmp_path: Path) -> None:
    good = crafted_images(REFS[:1])[0]
    path = craft_bundle(tmp_path / "b.tar", images=[good, _bad_image(REFS[1])]).path
    with pytest.raises(LoadFailed) as e:
        load.load_bundle(path)
    assert e.value.message.endswith(f"; rolled back: removed image {REFS[0]}")
    assert tags(docker) == {}


def test_refusal_with_nothing_to_roll_back(docker: object, tmp_path: Path) -> None:
    path = craft_bundle(tmp_path / "b.tar", images=[_bad_image(REFS[1])]).path
    with pytest.raises(LoadFailed) as e:
        load.load_bundle(path)
    assert e.value.message.startswith(f"the daemon refused the images from {path}: ")
    assert "rolled back" not in e.value.message
    assert tags(docker) == {}


def test_failure_after_the_load_rolls_back_loads_and_retags(docker: object, tmp_path: Path) -> None:
    """The tool cannot be written (after every image is in: its folder passed every check,
    then the disk fills): the new image goes, the re-tagged one keeps only the name it had."""
    import subprocess

    from harborkit.bundle.errors import OutputError

    images = crafted_images(REFS)
    tool = b"#!/bin/sh\n" + bytes(256 << 10)
    members, meta = bundle_members(images, installer_tgz())
    members = [(n, tool_meta(d, meta, tool) if n == METADATA_NAME else d) for n, d in members]
    path = tmp_path / "t.tar"
    write_members(path, [*members, ("files/tool", tool)])
    load_images(docker, images[:1])
    docker.api.tag(images[0].id, "keep/one", "1")  # type: ignore[attr-defined]
    docker.api.remove_image(REFS[0])  # type: ignore[attr-defined]
    prefix = tmp_path / "small"
    prefix.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(prefix)], check=True)
    try:
        with pytest.raises(OutputError) as e:
            load.load_bundle(path, install_tools=True, prefix=prefix)
        assert os.listdir(prefix) == []  # the folders made for the tool go too
    finally:
        subprocess.run(["umount", str(prefix)], check=True)
    assert e.value.exit_code == ExitCode.ENVIRONMENT
    assert e.value.message == (
        f"cannot install {prefix}/usr/local/bin/tool: No space left on device; "
        f"rolled back: removed {prefix}/usr/local/bin, {prefix}/usr/local, {prefix}/usr, "
        f"image {REFS[1]} and 1 more"
    )
    assert cleanup.removed()[-1] == f"image {REFS[0]}"
    assert tags(docker) == {"keep/one:1": images[0].id}
    assert file_record  # the record shape shared with the verify tests


def tool_meta(raw: bytes, meta: dict, tool: bytes) -> bytes:
    import json

    from tests.support.bundles import file_record

    return json.dumps({**meta, "files": [file_record("tool", tool)]}).encode()


def test_delta_without_its_base_is_refused_before_loading(docker: object, tmp_path: Path) -> None:
    from harborkit.bundle.delta import DeltaBaseMissing
    from tests.support.bundles import delta, make_parts

    parts = make_parts()
    delta(parts)
    path = parts.write(tmp_path / "d.tar")
    with pytest.raises(DeltaBaseMissing) as e:
        load.load_bundle(path)
    assert e.value.message == (
        f"{path} is a delta over base.tar (SHA256SUMS sha256 {'0' * 16}...): the target lacks "
        f"its base images goharbor/base:v1 (sha256:{'1' * 12}); load base.tar first"
    )
    assert e.value.exit_code == ExitCode.DELTA_BASE
    assert tags(docker) == {}


def test_failure_while_unpacking_rolls_back_files_then_images(
    docker: object, tmp_path: Path
) -> None:
    """A file system out of inodes (room enough by bytes, so the space check passes):
    unpacking stops at the third file; what was unpacked goes, then the images."""
    import subprocess

    from harborkit.bundle.errors import NoSpace

    images = crafted_images(REFS)
    path = craft_bundle(tmp_path / "b.tar", images=images).path
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,nr_inodes=4", "tmpfs", str(mnt)], check=True
    )
    try:
        install = mnt / "opt"
        with pytest.raises(NoSpace) as e:
            load.load_bundle(path, install_dir=install)
        root = install.resolve()
        assert e.value.message == (
            f"no space left in {install} while unpacking the installer; rolled back: removed "
            f"{root}/harbor/install.sh, {root}/harbor, {install}, image {REFS[0]} and 1 more"
        )
        assert e.value.exit_code == ExitCode.NO_SPACE
        assert cleanup.removed()[-1] == f"image {REFS[1]}"
        assert os.listdir(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert tags(docker) == {}


# the edges: a reference missing or moved after the load, rollbacks past a tag it
# cannot move, the tools in the result, errors while loading


def _records(images: list) -> list[ImageRecord]:  # type: ignore[type-arg]
    return [ImageRecord(img.tags[0], img.id, 0, ()) for img in images]


def test_confirm_names_a_missing_then_a_moved_reference(docker: object) -> None:
    images = crafted_images(REFS)
    load_images(docker, images[:1])
    with pytest.raises(LoadFailed) as e:
        load._confirm(docker, _records(images))
    assert e.value.message == f"image {REFS[1]} is not in the daemon after the load"
    docker.api.tag(images[0].id, *REFS[1].split(":"))  # type: ignore[attr-defined]
    with pytest.raises(LoadFailed) as e:
        load._confirm(docker, _records(images))
    assert e.value.message == (
        f"image {REFS[1]} has id {images[0].id} after the load, expected {images[1].id}"
    )
    assert e.value.exit_code == ExitCode.LOAD_FAILED


def test_roll_back_goes_on_past_a_tag_it_cannot_move_back(docker: object) -> None:
    """The image a reference named before is gone meanwhile: that reference stays,
    the next one is still undone."""
    images = crafted_images(REFS)
    load_images(docker, images)
    gone = "sha256:" + "0" * 64
    undo = load._Undo(tags=list(REFS), before={REFS[0]: gone, REFS[1]: None})
    load._roll_back(docker, _records(images), undo)
    assert cleanup.removed() == [f"image {REFS[1]}"]
    assert tags(docker) == {REFS[0]: images[0].id}


def test_roll_back_removes_each_untagged_image_past_one_there_before(docker: object) -> None:
    """The first reference's image was there before (under another name): it stays;
    the second reference goes back to its old image and the image loaded for it,
    left with no tag, goes too."""
    images = crafted_images(REFS)
    old = make_image(["hk-mut/old:1"], [make_layer([("old", b"old\n", 0o644)])])
    load_images(docker, [*images, old])
    docker.api.tag(images[0].id, "hk-mut/keep", "1")  # type: ignore[attr-defined]
    undo = load._Undo(
        tags=list(REFS), before={REFS[0]: None, "hk-mut/keep:1": images[0].id, REFS[1]: old.id}
    )
    load._roll_back(docker, _records(images), undo)
    assert cleanup.removed() == [
        f"image {REFS[0]}",
        f"tag {REFS[1]} (back on {old.id[:19]})",
        f"image {images[1].id[:19]}",
    ]
    assert tags(docker) == {"hk-mut/keep:1": images[0].id, "hk-mut/old:1": old.id, REFS[1]: old.id}
    assert {i.id for i in docker.images.list(all=True)} == {images[0].id, old.id}  # type: ignore[attr-defined]


def test_install_tools_result_carries_the_tools(docker: object, tmp_path: Path) -> None:
    images = crafted_images(REFS[:1])
    tool = b"#!/bin/sh\n"
    members, meta = bundle_members(images, installer_tgz())
    members = [(n, tool_meta(d, meta, tool) if n == METADATA_NAME else d) for n, d in members]
    path = tmp_path / "t.tar"
    write_members(path, [*members, ("files/tool", tool)])
    (rec,) = verify_bundle(path).metadata.files
    res = load.load_bundle(path, install_tools=True, prefix=tmp_path / "root")
    target = tmp_path / "root/usr/local/bin/tool"
    assert res == load.LoadResult(
        REFS[:1], (), (), (Installed(rec, target, replaced=False, unchanged=False),)
    )
    assert target.read_bytes() == tool


class FailingProgress(Progress):
    """A progress display that breaks when the load starts (a closed terminal)."""

    def task(self, description: str, total: int | None = None) -> Recorded:
        if description == "load":
            raise RuntimeError("progress display closed")
        return super().task(description, total)


def test_unexpected_error_while_loading_is_one_line(docker: object, tmp_path: Path) -> None:
    path = craft_bundle(tmp_path / "b.tar", images=crafted_images(REFS)).path
    with pytest.raises(LoadFailed) as e:
        load.load_bundle(path, progress=FailingProgress())  # type: ignore[arg-type]
    assert e.value.message == f"loading {path} failed: progress display closed"
    assert e.value.exit_code == ExitCode.LOAD_FAILED
    assert tags(docker) == {}


def test_daemon_silent_while_loading(
    docker: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon sends no answer within the stall window (0.1 ms here): one line
    naming the address and the step. The daemon has the whole body and goes on
    loading; the test waits for that (or for the rollback to have caught it)."""
    import time

    from harborkit import dockerapi

    path = craft_bundle(tmp_path / "b.tar", images=crafted_images(REFS)).path
    monkeypatch.setattr(dockerapi, "STALL_TIMEOUT", 0.0001)
    with pytest.raises(dockerapi.DaemonTimeout) as e:
        load.load_bundle(path)
    head, _, _ = e.value.message.partition("; rolled back: ")
    assert head == (
        f"the Docker daemon at {dockerapi.daemon_address()} sent nothing for 0.0001 s "
        f"while loading images from {path}"
    )
    assert e.value.exit_code == ExitCode.ENVIRONMENT
    # the deadline may cut the request before its body reached the daemon (then it
    # loads nothing), or after (then it finishes later and the roll-back removes it):
    # wait until one of the two is settled, so no late load reaches the next test
    deadline = time.monotonic() + 20
    while REFS[1] not in tags(docker) and f"image {REFS[1]}" not in cleanup.removed():
        if time.monotonic() > deadline:
            assert not any(ref in tags(docker) for ref in REFS), "a late load tagged images"
            break
        time.sleep(0.05)


def test_load_past_its_deadline(
    docker: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon answers, but its answer runs past the stream deadline (1 µs here,
    as HARBORKIT_DOCKER_DEADLINE would set it): one line naming the step."""
    import time

    from harborkit import dockerapi

    path = craft_bundle(tmp_path / "b.tar", images=crafted_images(REFS)).path
    monkeypatch.setattr(dockerapi, "STREAM_DEADLINE", 1e-6)
    with pytest.raises(dockerapi.DaemonTimeout) as e:
        load.load_bundle(path)
    head, _, _ = e.value.message.partition("; rolled back: ")
    # the stream's own watch or the call's deadline (class 7) may fire first: either names it
    assert head in (
        f"the Docker daemon at {dockerapi.daemon_address()} {why} 1e-06 s "
        f"while loading images from {path}"
        for why in ("took longer than", "gave no complete answer within")
    ), head
    # the deadline may cut the request before its body reached the daemon (then it
    # loads nothing), or after (then it finishes later and the roll-back removes it):
    # wait until one of the two is settled, so no late load reaches the next test
    deadline = time.monotonic() + 20
    while REFS[1] not in tags(docker) and f"image {REFS[1]}" not in cleanup.removed():
        if time.monotonic() > deadline:
            assert not any(ref in tags(docker) for ref in REFS), "a late load tagged images"
            break
        time.sleep(0.05)
