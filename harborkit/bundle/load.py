"""``harborkit bundle load``: verify, load the missing images, confirm, unpack the installer.

Everything that can be known before an image is loaded is checked first: the
whole bundle (``verify``, including ``images/manifest.json`` against the
metadata and the installer as a complete gzip tar), the install folder (no
file overwritten, no file where a folder must go, room for the unpacked
installer) and the daemon. Only images not already in the daemon (same id)
are sent; their blobs are streamed straight from the bundle into the daemon's
load endpoint, with no extraction to disk. Afterwards every reference must
resolve to its image id.

What is sent is what was verified: every blob is hashed again as it is sent
(it is named by its sha256) and the stream breaks off, before the member is
complete and before the ``manifest.json`` that would make dockerd load
anything, when the bytes differ (a bundle changed on disk after verify); the
installer is copied to a private spool and checked there before it is
unpacked. The ``docker load`` manifest is written from the verified metadata,
so nothing else in ``images/manifest.json`` reaches the daemon.

A failure after the first image is sent (the daemon refuses or dies, the disk
fills while unpacking) rolls back what this load did: every reference it
touched goes back to the image it named before (or is removed), whatever it
names now, images that were not there before go, and the files it unpacked are
deleted; the one-line error says what was undone. An interrupt (SIGINT,
SIGTERM) while the images go out abandons the stream; once the daemon has the
whole stream it is loading it, so the load waits for its answer (at most
``HARBORKIT_DOCKER_STALL``; a second interrupt stops waiting) and then rolls
back what arrived.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

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
from harborkit.bundle.extract import (
    check_install_space,
    check_install_target,
    extract_installer,
    remove_created,
)
from harborkit.bundle.format import (
    IMAGES_DIR,
    BundleMetadata,
    FileRecord,
    ImageRecord,
    blob_member,
    blob_path_in_images,
    installer_member,
)
from harborkit.bundle.parts import open_bundle_file
from harborkit.bundle.progress import NullProgress, Progress, Task
from harborkit.bundle.sign import PublicKey
from harborkit.bundle.tag_rollback import roll_back_images
from harborkit.bundle.targets import check_folder, check_tool_targets, missing_folders
from harborkit.bundle.tarsafe import BLOCK, Member
from harborkit.bundle.tarwrite import tar_header
from harborkit.bundle.tools import Installed, install_one, plan_install
from harborkit.bundle.verify import VerifyResult, verify_bundle
from harborkit.errors import HarborkitError

CHUNK = 1 << 20
#: keys of a ``docker load`` manifest entry that the metadata accounts for


@dataclass(frozen=True)
class LoadResult:
    """What a load did."""

    loaded: tuple[str, ...]  # references sent to the daemon
    skipped: tuple[str, ...]  # references already present with the right id
    installer_paths: tuple[Path, ...]
    tools: tuple[Installed, ...] = ()  # extra files installed with --install-tools
    moved: tuple[tuple[str, str, str], ...] = ()  # (reference, id before, id now): tags moved
    signed_by: str | None = None  # key id of the bundle's signature
    signature_checked: bool = False


@dataclass
class _Undo:
    """What this load changed, to be undone if it fails."""

    tags: list[str] = field(default_factory=list)  # references this load made point at its images
    before: dict[str, str | None] = field(default_factory=dict)  # reference -> its id before
    files: list[Path] = field(default_factory=list)  # files and folders it unpacked
    ids_before: set[str] = field(default_factory=set)  # every image id in the daemon before


class _Cancelled(Exception):
    """The stream was abandoned after an interrupt."""


@dataclass
class _SendState:
    """Shared by the thread sending the images and the main thread (which gets the signals)."""

    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)  # the request is over
    committed: bool = False  # every image byte is out; the manifest.json goes next
    error: BaseException | None = None  # what stopped the stream (the HTTP layer wraps it)

    def check(self) -> None:
        if self.cancel.is_set():
            raise self.fail(_Cancelled("interrupted"))

    def fail(self, e: BaseException) -> BaseException:
        if self.error is None:
            self.error = e
        return e


def _image_id(client: Any, ref: str) -> str | None:
    import docker.errors

    try:
        return str(client.api.inspect_image(ref)["Id"])
    except docker.errors.ImageNotFound:
        return None


def _tar_stream(
    path: Path,
    members: dict[str, Member],
    entries: list[dict[str, Any]],
    task: Task,
    state: _SendState | None = None,
) -> Iterator[bytes]:
    """A ``docker load`` tar of ``entries``: their configs and layers, then manifest.json.

    Layers a delta bundle leaves to its base are not in the bundle; dockerd finds
    them by chain id (the base images are checked to be present first). Each blob
    is hashed as it goes out and must be the sha256 it is named by: the last chunk
    of a blob is held back until that is known, so a member changed since verify
    never reaches the daemon whole, and the stream stops before ``manifest.json``.
    """
    import json

    state = state or _SendState()
    names = list(dict.fromkeys(n for e in entries for n in [e["Config"], *e["Layers"]]))
    with open_bundle_file(path) as f:
        for rel in names:
            m = members.get(f"{IMAGES_DIR}/{rel}")
            if m is None:
                continue
            want = rel.rsplit("/", 1)[-1]
            yield tar_header(rel, m.size, 0o644, 0)
            h = hashlib.sha256()
            pos, left = m.offset, m.size
            held = b""
            while left:
                state.check()
                chunk = f.pread(min(CHUNK, left), pos)
                if not chunk:
                    raise state.fail(BundleCorrupt(f"bundle {path}: member {m.name} ended early"))
                h.update(chunk)
                left -= len(chunk)
                pos += len(chunk)
                if held:
                    task.advance(len(held))
                    yield held
                held = chunk
            if h.hexdigest() != want:
                raise state.fail(
                    BundleCorrupt(
                        f"bundle {path}: member {m.name}{f.where(m.offset, m.end)} changed after "
                        f"it was verified (sha256 now {h.hexdigest()[:16]}...); not loaded"
                    )
                )
            task.advance(len(held))
            yield held + bytes(-m.size % BLOCK)
    state.check()
    state.committed = True
    manifest = json.dumps(entries).encode()
    yield tar_header("manifest.json", len(manifest), 0o644, 0)
    yield manifest + bytes(-len(manifest) % BLOCK)
    yield bytes(2 * BLOCK)


@contextlib.contextmanager
def _signals_held() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM only set the event while inside (a roll-back is not cut short)."""
    again = threading.Event()

    def note(signum: int, frame: FrameType | None) -> None:
        again.set()

    try:
        previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield again
        return
    try:
        yield again
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait_for_daemon(state: _SendState) -> None:
    """After an interrupt: a stream not yet complete is abandoned (dockerd loads nothing of
    it); a complete one is being loaded, so wait for the daemon's answer, bounded by the
    stall window; a second interrupt stops waiting."""
    deadline = time.monotonic() + dockerapi.STALL_TIMEOUT
    with _signals_held() as again:
        while not state.done.is_set() and not again.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            state.done.wait(min(0.1, left))
    if not state.done.is_set() and state.committed:
        cleanup.note(
            "the daemon was still loading the images when harborkit stopped waiting; "
            "it may add them after this"
        )


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
    state = _SendState()
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            data = _tar_stream(path, members, entries, task, state)
            try:
                resp = dockerapi.stream(client, "POST", "/images/load", what=what, data=data)
            except dockerapi.DaemonRefused as e:
                raise LoadFailed(f"the daemon refused the images from {path}: {e}") from e
            with resp:
                for event in dockerapi.json_events(resp, what):
                    if event.get("error"):
                        raise LoadFailed(
                            f"the daemon refused the images from {path}: {event['error']}"
                        )
        except BaseException as e:  # handed to the main thread
            outcome.append(e)
        finally:
            state.done.set()

    # the request runs in a thread: signals go to the main thread, which can then
    # stop the stream cleanly or wait for the daemon, never cut an HTTP exchange
    worker = threading.Thread(target=work, name="harborkit-load", daemon=True)
    try:
        try:
            worker.start()
            # Event.wait, not Thread.join: a join cut by KeyboardInterrupt can leave the
            # thread marked as finished while it still runs
            while not state.done.wait(0.1):
                pass
        except KeyboardInterrupt:
            state.cancel.set()
            _wait_for_daemon(state)
            raise
        if state.error is not None and not isinstance(state.error, _Cancelled):
            raise state.error  # the stream's own failure (the HTTP layer wraps it)
        if outcome:
            raise outcome[0]
    finally:
        task.done()


def _load_entries(meta: BundleMetadata, ids: set[str]) -> list[dict[str, Any]]:
    """The ``docker load`` manifest for the images ``ids``, written from the verified metadata.

    verify has checked ``images/manifest.json`` against the metadata; writing it
    afresh means no key or entry the metadata does not account for reaches dockerd.
    """
    out: dict[str, dict[str, Any]] = {}
    for img in meta.images:
        if img.image_id not in ids:
            continue
        entry = out.setdefault(
            img.image_id,
            {
                "Config": blob_path_in_images(img.image_id),
                "RepoTags": [],
                "Layers": [blob_path_in_images(d) for d in img.layers],
            },
        )
        entry["RepoTags"].append(img.reference)
    return list(out.values())


def _plan(
    client: Any, images: Sequence[ImageRecord], undo: _Undo
) -> tuple[list[str], list[str], list[str]]:
    """(present, to retag: image there under another name, to load) references."""
    present: list[str] = []
    retag: list[str] = []
    needed: list[str] = []
    undo.ids_before = {str(i) for i in client.api.images(all=True, quiet=True)}
    for img in images:
        undo.before[img.reference] = _image_id(client, img.reference)
        if undo.before[img.reference] == img.image_id:
            present.append(img.reference)
        elif img.image_id in undo.ids_before or _image_id(client, img.image_id) == img.image_id:
            retag.append(img.reference)
        else:
            needed.append(img.reference)
    return present, retag, needed


def _check_install(verified: VerifyResult, install_dir: Path) -> None:
    """Everything about the install folder that can be known before loading."""
    inst = verified.members[installer_member(verified.metadata.installer.name)]
    check_folder(install_dir, "the installer")
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


def _spool_installer(verified: VerifyResult) -> IO[bytes]:
    """The installer's bytes, copied to a private unnamed file and checked there (one read)."""
    meta = verified.metadata.installer
    m = verified.members[installer_member(meta.name)]
    try:
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    except OSError as e:
        where = tempfile.gettempdir()
        raise OutputError(f"cannot copy the installer into {where}: {e.strerror or e}") from e
    h = hashlib.sha256()
    try:
        with open_bundle_file(verified.path) as f:
            pos, end = m.offset, m.end
            while pos < end:
                data = f.pread(min(CHUNK, end - pos), pos)
                if not data:
                    raise BundleCorrupt(f"bundle {verified.path}: member {m.name} ended early")
                h.update(data)
                spool.write(data)
                pos += len(data)
            where = f.where(m.offset, m.end)
        if h.hexdigest() != meta.sha256:
            raise BundleCorrupt(
                f"bundle {verified.path}: member {m.name}{where} changed after it was verified "
                f"(sha256 now {h.hexdigest()[:16]}...); not unpacked"
            )
        spool.seek(0)
        return spool
    except OSError as e:
        spool.close()
        where = tempfile.gettempdir()
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpace(f"no space left in {where} for a private copy of the installer") from e
        raise OutputError(f"cannot copy the installer into {where}: {e.strerror or e}") from e
    except BaseException:
        spool.close()
        raise


def _extract(
    verified: VerifyResult, install_dir: Path, undo: _Undo, spool: IO[bytes] | None = None
) -> list[Path]:
    """Unpack the installer from ``spool`` (its checked copy; made here when not given)."""
    if spool is None:
        with _spool_installer(verified) as own:
            return _extract(verified, install_dir, undo, own)
    inst = verified.members[installer_member(verified.metadata.installer.name)]
    where = f"{verified.path}: {inst.name}"
    try:
        return extract_installer(spool, install_dir, where, undo.files)  # type: ignore[arg-type]
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
    allow_install_path: bool = False,
) -> LoadResult:
    """Verify ``path``, load its images into the daemon, install its tools, unpack the installer.

    Everything that can refuse does so before the first image is sent: the
    signature (with ``key``), every member, ``images/manifest.json`` beyond the
    metadata, the installer's target and its private copy, the tools' targets
    (with ``install_tools``, under ``prefix``; outside :data:`~harborkit.bundle.targets.TOOL_FOLDERS` only
    with a checked signature or ``allow_install_path``), a delta's base images
    and the layers it leaves to them.
    """
    progress = progress or NullProgress()
    verified = verify_bundle(path, progress=progress, key=key)
    meta = verified.metadata
    if install_dir is not None:
        _check_install(verified, install_dir)
    plan: list[tuple[FileRecord, Path, bool]] = []
    if install_tools:
        plan = plan_install(list(meta.files), prefix, force=force)
        check_tool_targets(plan, verified.path, verified.signature_checked, allow_install_path)
    undo = _Undo()
    paths: list[Path] = []
    tools: list[Installed] = []
    with contextlib.ExitStack() as stack:
        spool = stack.enter_context(_spool_installer(verified)) if install_dir else None
        client = stack.enter_context(dockerapi.session())
        stack.enter_context(dockerapi.daemon_errors(f"loading {path}"))
        if meta.base is not None:
            carried = frozenset(
                lr.digest for lr in meta.layers if blob_member(lr.digest) in verified.members
            )
            require_base(client, meta, path, carried)
        present, retag, needed = _plan(client, meta.images, undo)
        try:
            if needed:
                ids = {i.image_id for i in meta.images if i.reference in needed}
                entries = _load_entries(meta, ids)
                undo.tags += [t for e in entries for t in e["RepoTags"]]
                _send(client, verified, entries, progress)
            for ref in retag:
                image_id = next(i.image_id for i in meta.images if i.reference == ref)
                undo.tags.append(ref)
                client.api.tag(image_id, *dockerapi.repo_and_tag(ref), force=True)
            _confirm(client, meta.images)
            tools = _install_tools(verified, plan, undo)
            if spool is not None and install_dir is not None:
                paths = _extract(verified, install_dir, undo, spool)
        except BaseException as e:
            with _signals_held():
                _roll_back(client, meta.images, undo)
            if isinstance(e, HarborkitError) and cleanup.removed():
                summary = f"{e.message}; rolled back: {cleanup.summary()}"
                raise type(e)(summary, exit_code=e.exit_code) from e
            if isinstance(e, (HarborkitError, KeyboardInterrupt)):
                raise
            raise LoadFailed(f"loading {path} failed: {dockerapi.short_reason(e)}") from e
    ids_now = {i.reference: i.image_id for i in meta.images}
    moved = tuple(
        (ref, old, ids_now[ref])
        for ref, old in undo.before.items()
        if old is not None and old != ids_now[ref]
    )
    return LoadResult(
        tuple(needed),
        tuple(present + retag),
        tuple(paths),
        tuple(tools),
        moved,
        verified.signed_by,
        verified.signature_checked,
    )


def _install_tools(
    verified: VerifyResult, plan: list[tuple[FileRecord, Path, bool]], undo: _Undo | None = None
) -> list[Installed]:
    """Install the planned extra files from the bundle's verified bytes (each atomically).

    The folders made and the files new on the target go to ``undo`` (a file that
    replaced another with ``--force`` stays: the old one is gone).
    """
    path = verified.path
    done: list[Installed] = []
    for rec, target, same in plan:
        if same:
            done.append(Installed(rec, target, replaced=False, unchanged=True))
            continue
        existed = target.exists()
        if undo is not None:
            undo.files += missing_folders(target.parent)
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
        if undo is not None and not existed:
            undo.files.append(target)
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


class _DaemonImages:
    """The roll-back's operations on images, through the daemon's API."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def image_id(self, ref: str) -> str | None:
        return _image_id(self.client, ref)

    def tag(self, image_id: str, ref: str) -> None:
        self.client.api.tag(image_id, *dockerapi.repo_and_tag(ref), force=True)

    def remove(self, ref: str) -> None:
        self.client.api.remove_image(ref)

    def untagged(self, image_id: str) -> bool:
        tags = self.client.api.inspect_image(image_id).get("RepoTags") or []
        return not [t for t in tags if t != "<none>:<none>"]


def _quietly(step: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):
        step()


def _roll_back(client: Any, images: Sequence[ImageRecord], undo: _Undo) -> None:
    """Undo this load: unpacked files, then every reference it touched
    (:func:`~harborkit.bundle.tag_rollback.roll_back_images`)."""
    for p in remove_created(undo.files):
        cleanup.note_removed(str(p))
    roll_back_images(
        _DaemonImages(client),
        loaded=[i.image_id for i in images],
        tags=undo.tags,
        before=undo.before,
        ids_before=undo.ids_before,
        note=cleanup.note_removed,
        attempt=_quietly,
    )
