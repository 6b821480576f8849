"""bundle load against one private dockerd, the edges: a reference missing or
moved after the load, a rollback past a tag it cannot move, the tools a load
installs, an unexpected error while loading.

Marked ``mutation`` as well as ``daemon``: each test is one small load or a few
daemon calls (the daemon starts once per module)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.bundle import cleanup, load
from harborkit.bundle.errors import LoadFailed
from harborkit.bundle.format import METADATA_NAME, ImageRecord
from harborkit.bundle.tools import Installed
from harborkit.bundle.verify import verify_bundle
from harborkit.errors import ExitCode
from tests.bundle.craft import (
    bundle_members,
    craft_bundle,
    crafted_images,
    installer_tgz,
    write_members,
)
from tests.bundle.test_mut_load_daemon import REFS, Progress, Recorded, tags, tool_meta
from tests.support.dockerd import Daemon, start_dockerd
from tests.support.images import load_images, make_image, make_layer

pytestmark = [pytest.mark.daemon, pytest.mark.mutation]


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    with start_dockerd() as d:
        yield d


@pytest.fixture
def docker(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
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
    deadline = time.monotonic() + 20
    while REFS[1] not in tags(docker) and f"image {REFS[1]}" not in cleanup.removed():
        assert time.monotonic() < deadline, "the daemon never finished the load"
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
    assert head == (
        f"the Docker daemon at {dockerapi.daemon_address()} took longer than 1e-06 s "
        f"while loading images from {path}"
    )
    deadline = time.monotonic() + 20
    while REFS[1] not in tags(docker) and f"image {REFS[1]}" not in cleanup.removed():
        assert time.monotonic() < deadline, "the daemon never finished the load"
        time.sleep(0.05)
