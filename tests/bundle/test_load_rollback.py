"""The one decision of a failed load's image roll-back (harborkit.bundle.tag_rollback),
as the local load and the load over SSH share it: which references go back, which go,
which images go, in what order, and that a failing step does not stop the next.

The daemon here is a dict (the decision alone); test_load_daemon.py, test_hostile_load.py
and test_load_remote.py run the same roll-back against a real dockerd and real hosts.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harborkit.bundle import load, remote_load
from harborkit.bundle.tag_rollback import roll_back_images
from harborkit.errors import HarborkitError

A, B, OLD, OTHER = ("sha256:" + c * 64 for c in "abcd")


class Daemon:
    """References to ids; every call is logged; ``broken`` calls fail (once, or always)."""

    def __init__(self, refs: dict[str, str], images: set[str], broken: set[str] = frozenset()):
        self.refs = dict(refs)
        self.images = set(images) | set(refs.values())
        self.broken = set(broken)
        self.log: list[str] = []

    def _call(self, what: str) -> None:
        self.log.append(what)
        if what in self.broken:
            self.broken.discard(what)
            raise HarborkitError(what)

    def image_id(self, ref: str) -> str | None:
        self._call(f"inspect {ref}")
        return self.refs.get(ref)

    def tag(self, image_id: str, ref: str) -> None:
        self._call(f"tag {ref} {image_id[7:8]}")
        self.refs[ref] = image_id

    def remove(self, ref: str) -> None:
        self._call(f"rmi {ref[7:8] if ref.startswith('sha256:') else ref}")
        if ref in self.refs:
            del self.refs[ref]
        else:
            self.images.discard(ref)

    def untagged(self, image_id: str) -> bool:
        self._call(f"tags? {image_id[7:8]}")
        return image_id not in self.refs.values()


_quietly = load._quietly  # the local load lets a failed step go
_twice = remote_load._twice  # over SSH a step is tried once more


def test_each_reference_goes_back_then_untagged_new_images_go() -> None:
    """x:1 new -> removed; y:1 moved from OLD -> back on OLD; z:1 as before -> left;
    A (kept by nothing) goes, B (there before under k:1) stays."""
    d = Daemon({"x:1": A, "y:1": A, "z:1": OLD, "k:1": B}, {OTHER})
    noted: list[str] = []
    roll_back_images(
        d,
        loaded=[A, B],
        tags=["x:1", "y:1", "x:1", "z:1"],
        before={"x:1": None, "y:1": OLD, "z:1": OLD, "k:1": B},
        ids_before={OLD, OTHER},
        note=noted.append,
        attempt=_quietly,
    )
    assert d.log == [
        "inspect x:1",
        "rmi x:1",
        "inspect y:1",
        f"tag y:1 {OLD[7]}",
        "inspect z:1",
        f"tags? {A[7]}",
        f"rmi {A[7]}",
    ]
    assert noted == ["image x:1", f"tag y:1 (back on {OLD[:19]})", f"image {A[:19]}"]
    assert d.refs == {"y:1": OLD, "z:1": OLD, "k:1": B}
    assert d.images == {B, OLD, OTHER}


def test_an_image_the_daemon_put_under_a_reference_instead_goes_too() -> None:
    """The daemon loaded OTHER (not the verified A) under x:1: x:1 goes, A and OTHER with it."""
    d = Daemon({"x:1": OTHER}, set())
    noted: list[str] = []
    roll_back_images(
        d,
        loaded=[A],
        tags=["x:1"],
        before={},
        ids_before=set(),
        note=noted.append,
        attempt=_quietly,
    )
    assert noted == ["image x:1", f"image {A[:19]}", f"image {OTHER[:19]}"]
    assert d.refs == {} and d.images == set()


@pytest.mark.parametrize(
    ("attempt", "left"), [(_quietly, {"x:1": A}), (_twice, {})], ids=["once", "twice"]
)
def test_a_failing_step_does_not_stop_the_next(attempt: Callable, left: dict) -> None:
    """The local load lets a failed step go; over SSH it is tried once more."""
    d = Daemon({"x:1": A, "y:1": A}, set(), broken={"rmi x:1"})
    noted: list[str] = []
    roll_back_images(
        d,
        loaded=[A],
        tags=["x:1", "y:1"],
        before={},
        ids_before=set(),
        note=noted.append,
        attempt=attempt,
    )
    assert d.refs == left
    assert "image y:1" in noted
    assert ("image x:1" in noted) == (attempt is _twice)
    assert (A in d.images) == bool(left)  # A still tagged x:1: kept
