"""``harborkit bundle load``: verify, load the missing images, confirm, unpack the installer.

Everything that can be known before an image is loaded is checked first: the
whole bundle (``verify``, including ``images/manifest.json`` against the
metadata and the installer as a complete gzip tar), the install folder (no
file overwritten, no file where a folder must go, room for the unpacked
installer) and the daemon. Only images not already in the daemon (same id)
are sent; their blobs are streamed straight from the bundle into the daemon's
load endpoint, with no extraction to disk. Afterwards every reference must
resolve to its image id.

A failure after the first image is sent (the daemon refuses or dies, the disk
fills while unpacking) rolls back what this load did: tags it added are
removed (images that were not there before go with them) and the files it
unpacked are deleted; the one-line error says what was undone.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harborkit import dockerapi
from harborkit.bundle import cleanup
from harborkit.bundle.delta import require_base
from harborkit.bundle.errors import (
    BundleCorrupt,
    InstallTargetExists,
    LoadFailed,
    NoSpace,
    OutputError,
)
from harborkit.bundle.format import IMAGES_DIR, FileRecord, ImageRecord, installer_member
from harborkit.bundle.parts import open_bundle_file
from harborkit.bundle.progress import NullProgress, Progress, Task
from harborkit.bundle.sign import PublicKey
from harborkit.bundle.tarsafe import (
    BLOCK,
    Member,
    SectionReader,
    check_install_space,
    check_install_target,
    extract_installer,
    remove_created,
    tar_header,
)
from harborkit.bundle.tools import Installed, install_one, plan_install
from harborkit.bundle.verify import VerifyResult, verify_bundle
from harborkit.errors import HarborkitError

CHUNK = 1 << 20


@dataclass(frozen=True)
class LoadResult:
    """What a load did."""

    loaded: tuple[str, ...]  # references sent to the daemon
    skipped: tuple[str, ...]  # references already present with the right id
    installer_paths: tuple[Path, ...]
    tools: tuple[Installed, ...] = ()  # extra files installed with --install-tools


@dataclass
class _Undo:
    """What this load changed, to be undone if it fails."""

    tags: list[str] = field(default_factory=list)  # references this load made point at its images
    before: dict[str, str | None] = field(default_factory=dict)  # reference -> its id before
    files: list[Path] = field(default_factory=list)  # files and folders it unpacked


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
    import json

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
    client: Any, verified: VerifyResult, entries: list[dict[str, Any]], progress: Progress
) -> None:
    path, members = verified.path, dict(verified.members)
    names = dict.fromkeys(n for e in entries for n in [e["Config"], *e["Layers"]])
    task = progress.task(
        "load",
        sum(members[f"{IMAGES_DIR}/{n}"].size for n in names if f"{IMAGES_DIR}/{n}" in members),
    )
    what = f"loading images from {path}"
    try:
        data = _tar_stream(path, members, entries, task)
        try:
            resp = dockerapi.stream(client, "POST", "/images/load", what=what, data=data)
        except dockerapi.DaemonRefused as e:
            raise LoadFailed(f"the daemon refused the images from {path}: {e}") from e
        with resp:
            for event in dockerapi.json_events(resp, what):
                if event.get("error"):
                    raise LoadFailed(f"the daemon refused the images from {path}: {event['error']}")
    finally:
        task.done()


def _plan(
    client: Any, images: Sequence[ImageRecord], undo: _Undo
) -> tuple[list[str], list[str], list[str]]:
    """(present, to retag: image there under another name, to load) references."""
    present: list[str] = []
    retag: list[str] = []
    needed: list[str] = []
    for img in images:
        undo.before[img.reference] = _image_id(client, img.reference)
        if undo.before[img.reference] == img.image_id:
            present.append(img.reference)
        elif _image_id(client, img.image_id) == img.image_id:
            retag.append(img.reference)
        else:
            needed.append(img.reference)
    return present, retag, needed


def _check_install(verified: VerifyResult, install_dir: Path) -> None:
    """Everything about the install folder that can be known before loading."""
    inst = verified.members[installer_member(verified.metadata.installer.name)]
    try:
        check_install_target(
            verified.installer.members, install_dir, f"{verified.path}: {inst.name}"
        )
    except InstallTargetExists as e:
        raise InstallTargetExists(
            f"{e.message}: the installer was unpacked into {install_dir} before; to load only "
            f"the images (and tools), run harborkit bundle load {verified.path} without "
            "--install-dir"
        ) from e
    check_install_space(verified.installer, install_dir)


def _extract(verified: VerifyResult, install_dir: Path, undo: _Undo) -> list[Path]:
    inst = verified.members[installer_member(verified.metadata.installer.name)]
    where = f"{verified.path}: {inst.name}"
    try:
        with open_bundle_file(verified.path) as f:
            reader = SectionReader(f, inst.offset, inst.size)  # type: ignore[arg-type]
            return extract_installer(reader, install_dir, where, undo.files)  # type: ignore[arg-type]
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpace(f"no space left in {install_dir} while unpacking the installer") from e
        name = e.filename or install_dir
        raise OutputError(
            f"cannot unpack the installer into {install_dir}: {name}: {e.strerror}"
        ) from e


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
    targets (with ``install_tools``, under ``prefix``), a delta's base images.
    """
    progress = progress or NullProgress()
    verified = verify_bundle(path, progress=progress, key=key)
    meta = verified.metadata
    if install_dir is not None:
        _check_install(verified, install_dir)
    plan = plan_install(list(meta.files), prefix, force=force) if install_tools else []
    undo = _Undo()
    paths: list[Path] = []
    tools: list[Installed] = []
    with dockerapi.session() as client, dockerapi.daemon_errors(f"loading {path}"):
        if meta.base is not None:
            require_base(client, meta.base, path)
        present, retag, needed = _plan(client, meta.images, undo)
        try:
            if needed:
                ids = {i.image_id for i in meta.images if i.reference in needed}
                entries = [
                    dict(e)
                    for e in verified.load_manifest
                    if "sha256:" + e["Config"].rsplit("/", 1)[-1] in ids
                ]
                undo.tags += [t for e in entries for t in e["RepoTags"]]
                _send(client, verified, entries, progress)
            for ref in retag:
                image_id = next(i.image_id for i in meta.images if i.reference == ref)
                undo.tags.append(ref)
                client.api.tag(image_id, *dockerapi.repo_and_tag(ref), force=True)
            _confirm(client, meta.images)
            tools = _install_tools(verified, plan)
            if install_dir is not None:
                paths = _extract(verified, install_dir, undo)
        except BaseException as e:
            _roll_back(client, meta.images, undo)
            if isinstance(e, HarborkitError) and cleanup.removed():
                summary = f"{e.message}; rolled back: {cleanup.summary()}"
                raise type(e)(summary, exit_code=e.exit_code) from e
            if isinstance(e, HarborkitError | KeyboardInterrupt):
                raise
            raise LoadFailed(f"loading {path} failed: {dockerapi.short_reason(e)}") from e
    return LoadResult(tuple(needed), tuple(present + retag), tuple(paths), tuple(tools))


def _install_tools(
    verified: VerifyResult, plan: list[tuple[FileRecord, Path, bool]]
) -> list[Installed]:
    """Install the planned extra files from the bundle's verified bytes (each atomically)."""
    path = verified.path
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


def _confirm(client: Any, images: Sequence[ImageRecord]) -> None:
    for img in images:
        current = _image_id(client, img.reference)
        if current is None:
            raise LoadFailed(f"image {img.reference} is not in the daemon after the load")
        if current != img.image_id:
            raise LoadFailed(
                f"image {img.reference} has id {current} after the load, expected {img.image_id}"
            )


def _roll_back(client: Any, images: Sequence[ImageRecord], undo: _Undo) -> None:
    """Undo this load: unpacked files, then the tags it moved.

    A reference that named another image before points at it again; one that did
    not exist is removed (the image it loaded goes with its last tag).
    """
    for p in remove_created(undo.files):
        cleanup.note_removed(str(p))
    ids = {i.reference: i.image_id for i in images}
    for ref in undo.tags:
        with contextlib.suppress(Exception):
            if _image_id(client, ref) != ids.get(ref):
                continue
            previous = undo.before.get(ref)
            if previous:
                client.api.tag(previous, *dockerapi.repo_and_tag(ref), force=True)
                cleanup.note_removed(f"tag {ref} (back on {previous[:19]})")
            else:
                client.api.remove_image(ref)
                cleanup.note_removed(f"image {ref}")
    # an image this load added that is left with no tag (its reference went back) goes too
    there_before = {i for i in undo.before.values() if i}
    for image_id in dict.fromkeys(ids[r] for r in undo.tags if r in ids):
        if image_id in there_before:
            continue
        with contextlib.suppress(Exception):
            if not client.api.inspect_image(image_id).get("RepoTags"):
                client.api.remove_image(image_id)
                cleanup.note_removed(f"image {image_id[:19]}")
