"""The image half of a failed load's roll-back, one decision for both ways of loading.

A load here (:mod:`harborkit.bundle.load`, through the daemon's API) and a load on a
host over SSH (:mod:`harborkit.bundle.remote_load`, through ``docker`` there) undo
the same way: every reference the load touched goes back on the image it named
before (or is removed when it named none), whatever image it names now (the daemon
may have loaded something else than was verified); then every image the load
added that is left with no tag goes. Only the four operations on images differ:
:class:`ImageOps`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol


class ImageOps(Protocol):
    """What the roll-back does to a daemon's images."""

    def image_id(self, ref: str) -> str | None:
        """The id ``ref`` names now, or None when there is no such image."""

    def tag(self, image_id: str, ref: str) -> None:
        """Make ``ref`` name ``image_id`` (moving it from another image)."""

    def remove(self, ref: str) -> None:
        """Remove ``ref`` (a reference, or an image id)."""

    def untagged(self, image_id: str) -> bool:
        """True when no reference names ``image_id`` any more."""


#: runs one step of the roll-back: a step that fails is let go (after trying again,
#: where the way of loading says so) and the next one is still done
Attempt = Callable[[Callable[[], None]], None]


def roll_back_images(
    ops: ImageOps,
    *,
    loaded: Iterable[str],
    tags: Iterable[str],
    before: Mapping[str, str | None],
    ids_before: Iterable[str],
    note: Callable[[str], None],
    attempt: Attempt,
) -> None:
    """Undo a load's references and images.

    ``loaded``: the ids of the bundle's images; ``tags``: the references this load
    made point at them (in order, repeats allowed); ``before``: the id each reference
    named before the load (None: none); ``ids_before``: every image id in the daemon
    before. ``note`` is told each thing undone, in the words of the summary.
    """
    seen = list(loaded)
    for ref in dict.fromkeys(tags):
        attempt(functools.partial(_undo_ref, ops, ref, before.get(ref), seen, note))
    there_before = set(ids_before) | {i for i in before.values() if i}
    for image_id in dict.fromkeys(seen):
        if image_id not in there_before:
            attempt(functools.partial(_drop_untagged, ops, image_id, note))


def _undo_ref(
    ops: ImageOps, ref: str, previous: str | None, seen: list[str], note: Callable[[str], None]
) -> None:
    """``ref`` back on the image it named before this load, or removed."""
    now = ops.image_id(ref)
    if now == previous:
        return
    if now is not None:
        seen.append(now)
    if previous:
        ops.tag(previous, ref)
        note(f"tag {ref} (back on {previous[:19]})")
    else:
        ops.remove(ref)
        note(f"image {ref}")


def _drop_untagged(ops: ImageOps, image_id: str, note: Callable[[str], None]) -> None:
    """Remove ``image_id`` (added by this load) when no tag names it any more."""
    if ops.untagged(image_id):
        ops.remove(image_id)
        note(f"image {image_id[:19]}")
