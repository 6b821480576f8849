"""``harborkit bundle load``: verify, load the missing images, confirm, unpack the installer.

Nothing is loaded unless the whole bundle verifies and the installer archive is
safe. Only images not already in the daemon (same id) are sent; their blobs are
streamed straight from the bundle into the daemon's load endpoint as a tar, with
no extraction to disk. Afterwards every reference must resolve to its image id.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.bundle.delta import require_base
from harborkit.bundle.errors import BundleCorrupt, InstallTargetExists, LoadFailed
from harborkit.bundle.format import IMAGES_DIR, IMAGES_MANIFEST, FileRecord, installer_member
from harborkit.bundle.parts import open_bundle_file
from harborkit.bundle.progress import NullProgress, Progress, Task
from harborkit.bundle.sign import PublicKey
from harborkit.bundle.tarsafe import (
    BLOCK,
    Member,
    SectionReader,
    check_install_target,
    check_installer,
    extract_installer,
    tar_header,
)
from harborkit.bundle.tools import Installed, install_one, plan_install
from harborkit.bundle.verify import VerifyResult, verify_bundle
from harborkit.dockerapi import connect, repo_and_tag, short_reason

CHUNK = 1 << 20


@dataclass(frozen=True)
class LoadResult:
    """What a load did."""

    loaded: tuple[str, ...]  # references sent to the daemon
    skipped: tuple[str, ...]  # references already present with the right id
    installer_paths: tuple[Path, ...]
    tools: tuple[Installed, ...] = ()  # extra files installed with --install-tools


def _image_id(client: Any, ref: str) -> str | None:
    import docker.errors

    try:
        return str(client.api.inspect_image(ref)["Id"])
    except docker.errors.ImageNotFound:
        return None


def _tar_stream(
    path: Path, members: dict[str, Member], entries: list[dict[str, Any]], task: Task
) -> Iterator[bytes]:
    """A ``docker load`` tar of ``entries``: their configs and layers, then manifest.json.

    Layers a delta bundle leaves to its base are not in the bundle; dockerd finds
    them by chain id (the base images are checked to be present first).
    """
    names = list(dict.fromkeys(n for e in entries for n in [e["Config"], *e["Layers"]]))
    with open_bundle_file(path) as f:
        for rel in names:
            m = members.get(f"{IMAGES_DIR}/{rel}")
            if m is None:
                continue
            yield tar_header(rel, m.size, 0o644, 0)
            pos, left = m.offset, m.size
            while left:
                chunk = f.pread(min(CHUNK, left), pos)
                if not chunk:
                    raise BundleCorrupt(f"bundle {path}: member {m.name} ended early")
                left -= len(chunk)
                pos += len(chunk)
                task.advance(len(chunk))
                yield chunk
            if m.size % BLOCK:
                yield bytes(BLOCK - m.size % BLOCK)
    manifest = json.dumps(entries).encode()
    yield tar_header("manifest.json", len(manifest), 0o644, 0)
    yield manifest + bytes(-len(manifest) % BLOCK)
    yield bytes(2 * BLOCK)


def _send(
    client: Any,
    path: Path,
    verified: VerifyResult,
    entries: list[dict[str, Any]],
    progress: Progress,
) -> None:
    members = dict(verified.members)
    total = sum(
        members[f"{IMAGES_DIR}/{n}"].size
        for n in dict.fromkeys(n for e in entries for n in [e["Config"], *e["Layers"]])
        if f"{IMAGES_DIR}/{n}" in members
    )
    task = progress.task("load", total)
    try:
        for event in client.api.load_image(data=_tar_stream(path, members, entries, task)):
            if isinstance(event, dict) and event.get("error"):
                raise LoadFailed(f"the daemon refused the images from {path}: {event['error']}")
    except LoadFailed:
        raise
    except BundleCorrupt:
        raise
    except Exception as e:
        raise LoadFailed(f"loading images from {path} failed: {short_reason(e)}") from e
    finally:
        task.done()


def load_bundle(
    path: Path,
    *,
    install_dir: Path | None = None,
    progress: Progress | None = None,
    key: PublicKey | None = None,
    install_tools: bool = False,
    prefix: Path = Path("/"),
    force: bool = False,
) -> LoadResult:
    """Verify ``path``, load its images into the daemon, install its tools, unpack the installer.

    Everything that can refuse does so before the first image is sent: the
    signature (with ``key``), every member, the installer's target, the tools'
    targets, a delta's base images.
    """
    progress = progress or NullProgress()
    verified = verify_bundle(path, progress=progress, key=key)
    meta = verified.metadata
    inst = verified.members[installer_member(meta.installer.name)]
    where = f"{path}: {inst.name}"
    if install_dir is not None:
        with open_bundle_file(path) as f:
            inst_members = check_installer(SectionReader(f, inst.offset, inst.size), where).members  # type: ignore[arg-type]
        try:
            check_install_target(list(inst_members), install_dir, where)
        except InstallTargetExists as e:
            raise InstallTargetExists(
                f"{e.message}: the installer was unpacked into {install_dir} before; to load only "
                f"the images (and tools), run harborkit bundle load {path} without --install-dir"
            ) from e
    plan = plan_install(list(meta.files), prefix, force=force) if install_tools else []

    client = connect()
    try:
        if meta.base is not None:
            require_base(client, meta.base, path)
        skipped: list[str] = []
        needed: list[str] = []
        for img in meta.images:
            current = _image_id(client, img.reference)
            if current == img.image_id:
                skipped.append(img.reference)
            elif _image_id(client, img.image_id) == img.image_id:
                repo, tag = repo_and_tag(img.reference)
                client.api.tag(img.image_id, repo, tag, force=True)
                skipped.append(img.reference)
            else:
                needed.append(img.reference)
        if needed:
            with open_bundle_file(path) as f:
                m = verified.members[IMAGES_MANIFEST]
                bundle_manifest: list[dict[str, Any]] = json.loads(f.pread(m.size, m.offset))
            needed_ids = {i.image_id for i in meta.images if i.reference in needed}
            entries = [
                e
                for e in bundle_manifest
                if "sha256:" + posixpath.basename(e["Config"]) in needed_ids
            ]
            try:
                _send(client, path, verified, entries, progress)
                _confirm(client, meta.images)
            except BaseException:
                _roll_back(client, meta.images, needed)
                raise
        else:
            _confirm(client, meta.images)
    finally:
        with contextlib.suppress(Exception):
            client.close()

    tools = _install_tools(path, verified, plan)
    paths: list[Path] = []
    if install_dir is not None:
        with open_bundle_file(path) as f:
            paths = extract_installer(SectionReader(f, inst.offset, inst.size), install_dir, where)  # type: ignore[arg-type]
    return LoadResult(tuple(needed), tuple(skipped), tuple(paths), tuple(tools))


def _install_tools(
    path: Path, verified: VerifyResult, plan: list[tuple[FileRecord, Path, bool]]
) -> list[Installed]:
    """Install the planned extra files from the bundle's verified bytes."""
    done: list[Installed] = []
    for rec, target, same in plan:
        if same:
            done.append(Installed(rec, target, replaced=False, unchanged=True))
            continue
        existed = target.exists()
        m = verified.members[rec.member]

        def chunks(m: Member = m) -> Iterator[bytes]:
            with open_bundle_file(path) as f:
                pos, end = m.offset, m.end
                while pos < end:
                    data = f.pread(min(CHUNK, end - pos), pos)
                    if not data:
                        raise BundleCorrupt(f"bundle {path}: member {m.name} ended early")
                    pos += len(data)
                    yield data

        install_one(rec, target, chunks)
        done.append(Installed(rec, target, replaced=existed, unchanged=False))
    return done


def _confirm(client: Any, images: Any) -> None:
    for img in images:
        current = _image_id(client, img.reference)
        if current is None:
            raise LoadFailed(f"image {img.reference} is not in the daemon after the load")
        if current != img.image_id:
            raise LoadFailed(
                f"image {img.reference} has id {current} after the load, expected {img.image_id}"
            )


def _roll_back(client: Any, images: Any, needed: list[str]) -> None:
    """Remove the references this load added, so a failed load leaves the daemon as it was."""
    for img in images:
        if img.reference in needed and _image_id(client, img.reference) == img.image_id:
            with contextlib.suppress(Exception):
                client.api.remove_image(img.reference)
