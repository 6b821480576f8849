"""``bundle load --host`` of a delta bundle: its base must be on the host first.

The same refusals as a local load (:func:`harborkit.bundle.delta.require_base`),
asked of the host's daemon in one round trip (``docker image inspect`` of each
base image: its id and ``RootFS.Layers``) before anything is sent: every base
image must be there by id, and every layer the delta leaves to its base must
sit on a chain one of them holds, where ``docker load`` on the host will look
for it; otherwise exit 14, one line, nothing sent.
"""

from __future__ import annotations

import re
from pathlib import Path

from harborkit.bundle.delta import (
    DeltaBaseMissing,
    _claims_problem,
    chain_ids,
    require_left_out_held,
)
from harborkit.bundle.format import BaseImage, BundleMetadata
from harborkit.bundle.remote_base import CALL_TIMEOUT, Remote, q
from harborkit.compat import zip_strict

_ID = re.compile(r"sha256:[0-9a-f]{64}")


def _script(ids: list[str]) -> str:
    fmt = q("{{.Id}}{{range .RootFS.Layers}} {{.}}{{end}}")
    return "".join(
        f"if l=$(docker image inspect --format {fmt} {q(i)} 2>/dev/null); then "
        f"printf 'base {n} %s\\n' \"$l\"; else echo 'base {n} -'; fi\n"
        for n, i in enumerate(ids)
    )


def base_layers(remote: Remote, images: tuple[BaseImage, ...]) -> list[list[str] | None]:
    """Each base image's diff ids on the host, bottom first (``None``: not there by that id)."""
    ids = [i.image_id for i in images]
    reply = remote.run(f"sh -c {q(_script(ids))}", timeout=CALL_TIMEOUT)
    said: dict[int, list[str] | None] = {}
    for line in reply.out.decode("ascii", "replace").splitlines()[:10_000]:
        words = line.split()
        if len(words) < 3 or words[0] != "base" or not words[1].isdigit():
            continue
        n = int(words[1])
        if n < len(ids) and words[2] == ids[n] and all(_ID.fullmatch(w) for w in words[3:]):
            said[n] = words[3:]
    return [said.get(n) for n in range(len(ids))]


def require_base_on_host(
    remote: Remote, meta: BundleMetadata, bundle: Path, carried: frozenset[str]
) -> None:
    """Refuse (exit 14) unless the host holds every layer the delta leaves to its base."""
    base = meta.base
    assert base is not None
    head = (
        f"{remote.label}: {bundle} is a delta over {base.name} "
        f"(SHA256SUMS sha256 {base.sums_sha256[:16]}...)"
    )
    problem = _claims_problem(meta)
    if problem:
        raise DeltaBaseMissing(f"{head}: its base claims are inconsistent: {problem}; nothing sent")
    found = base_layers(remote, base.images)
    missing = [img for img, layers in zip_strict(base.images, found) if layers is None]
    if missing:
        shown = ", ".join(f"{m.reference} ({m.image_id[:19]})" for m in missing[:4])
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise DeltaBaseMissing(
            f"{head}: the host lacks its base images {shown}{more}; load {base.name} on it "
            "first (bundle load --host); nothing sent"
        )
    held = {c for layers in found for c in chain_ids(layers or [])}
    require_left_out_held(meta, carried, held, head, "host")


__all__ = ["base_layers", "require_base_on_host"]
