"""``harborkit bundle push FILE --registry HOST[:PORT]``: a verified bundle into a registry.

The bundle is verified first (nothing is sent if it is not intact). Every
distinct blob is uploaded once, in parallel, straight from its place in the
bundle file (HEAD first: blobs the registry has are skipped); other
repositories that share it get a cross-repository mount. Then each image's
manifest is pushed with the exact bytes the bundle recorded
(``images/source-manifests.json``), so the registry stores the source's digest.
A bundle built from a daemon has no source manifests: a Docker schema 2
manifest is written from its config and layers (a new, deterministic digest).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from harborkit.bundle.errors import BundleCorrupt
from harborkit.bundle.format import blob_member
from harborkit.bundle.from_registry import SOURCE_MANIFESTS, validate_source_manifests
from harborkit.bundle.progress import NullProgress, Progress
from harborkit.bundle.tarsafe import Member
from harborkit.registry.endpoint import Endpoint
from harborkit.registry.errors import NotFound
from harborkit.registry.reference import parse_reference

DEFAULT_WORKERS = 6
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
T = TypeVar("T")


@dataclass(frozen=True)
class PushedImage:
    """One image now in the target registry."""

    reference: str  # as in the bundle
    target: str  # host/repository:tag
    digest: str  # manifest digest in the target
    from_source: bool  # True: the source registry's manifest bytes; False: written from the bundle


@dataclass(frozen=True)
class PushResult:
    """What a push did."""

    images: tuple[PushedImage, ...]
    uploaded: int
    mounted: int
    existing: int
    bytes_uploaded: int


@dataclass(frozen=True)
class _Plan:
    reference: str
    repository: str
    tag: str
    manifest: Any  # harborkit.registry.client.Manifest
    from_source: bool
    blobs: tuple[str, ...]  # config first, then layers


class _Cancelled(Exception):
    """Another upload failed: stop this one."""


def target_repository(repository: str, project: str | None) -> str:
    """``goharbor/harbor-core`` -> ``PROJECT/harbor-core`` (the project replaces the namespace)."""
    if not project:
        return repository
    name = repository.split("/", 1)[1] if "/" in repository else repository
    return f"{project.strip('/')}/{name}"


def _read(path: Path, m: Member) -> bytes:
    with open(path, "rb") as f:
        f.seek(m.offset)
        return f.read(m.size)


def _plans(path: Path, verified: Any, target_host: str, project: str | None) -> list[_Plan]:
    from harborkit.registry.client import Manifest

    meta = verified.metadata
    members: Mapping[str, Member] = verified.members
    source: dict[str, dict[str, Any]] = {}
    if SOURCE_MANIFESTS in members:
        try:
            doc = json.loads(_read(path, members[SOURCE_MANIFESTS]))
        except ValueError as e:
            raise BundleCorrupt(f"bundle {path}: {SOURCE_MANIFESTS} is not JSON") from e
        validate_source_manifests(doc, f"bundle {path}")
        source = {e["reference"]: e for e in doc["images"]}
    plans: list[_Plan] = []
    for img in meta.images:
        ref = parse_reference(img.reference, default_registry=target_host)
        repo = target_repository(ref.repository, project)
        entry = source.get(img.reference)
        if entry is not None:
            digest = entry["manifest"]["digest"]
            m = members.get(blob_member(digest))
            if m is None:
                raise BundleCorrupt(
                    f"bundle {path}: manifest {digest} of {img.reference} is missing"
                )
            raw = _read(path, m)
            if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
                raise BundleCorrupt(
                    f"bundle {path}: manifest {digest} of {img.reference} is altered"
                )
            manifest = Manifest(digest, entry["manifest"]["media_type"], raw)
            data = manifest.parsed()
            named = [data["config"]["digest"], *(x["digest"] for x in data["layers"])]
            if named != [img.image_id, *img.layers]:
                raise BundleCorrupt(
                    f"bundle {path}: manifest {digest} of {img.reference} does not match its metadata"
                )
            from_source = True
        else:
            manifest = _synthesize(members, img)
            from_source = False
        plans.append(
            _Plan(
                img.reference,
                repo,
                ref.tag or "latest",
                manifest,
                from_source,
                (img.image_id, *img.layers),
            )
        )
    return plans


def _synthesize(members: Mapping[str, Member], img: Any) -> Any:
    """A Docker schema 2 manifest for a daemon-built image (no source manifest recorded)."""
    from harborkit.registry.client import Manifest

    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": DOCKER_CONFIG,
            "size": members[blob_member(img.image_id)].size,
            "digest": img.image_id,
        },
        "layers": [
            {"mediaType": DOCKER_LAYER, "size": members[blob_member(d)].size, "digest": d}
            for d in img.layers
        ],
    }
    raw = json.dumps(doc, indent=3).encode()
    return Manifest("sha256:" + hashlib.sha256(raw).hexdigest(), DOCKER_MANIFEST, raw)


def _parallel(
    fn: Callable[[T], Any],
    items: Iterable[T],
    workers: int,
    stop: threading.Event,
    abort: Callable[[], None],
) -> list[Any]:
    """Run ``fn`` over ``items`` on ``workers`` threads; the first error stops the rest.

    On an error or an interrupt, ``stop`` is set (uploads end at their next chunk)
    and ``abort`` breaks the connections of uploads blocked on a stalled registry.
    """
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as ex:
        futures = [ex.submit(fn, i) for i in items]
        try:
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
        except BaseException:  # interrupted
            _stop_all(futures, stop, abort)
            raise
        if failed is not None:
            _stop_all(futures, stop, abort)
            errors = [f.exception() for f in futures if f.done() and not f.cancelled()]
            first = next(
                (e for e in errors if e is not None and not isinstance(e, _Cancelled)), None
            )
            raise first or failed.exception()  # type: ignore[misc]
        return [f.result() for f in futures]


def _stop_all(futures: list[Any], stop: threading.Event, abort: Callable[[], None]) -> None:
    stop.set()
    for f in futures:
        f.cancel()
    pending = [f for f in futures if not f.done()]
    while pending:
        abort()
        _, not_done = wait(pending, timeout=0.2)
        pending = list(not_done)


def push_bundle(
    bundle: Path,
    target: Endpoint,
    *,
    project: str | None = None,
    workers: int = DEFAULT_WORKERS,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Verify ``bundle`` and push all of its images to ``target``."""
    from harborkit.bundle.verify import verify_bundle

    progress = progress or NullProgress()
    verified = verify_bundle(bundle, progress=progress)
    plans = _plans(bundle, verified, target.host, project)
    members: Mapping[str, Member] = verified.members

    first_repo: dict[str, str] = {}
    for p in plans:
        for d in p.blobs:
            first_repo.setdefault(d, p.repository)
    mounts = list(
        dict.fromkeys(
            (p.repository, d) for p in plans for d in p.blobs if first_repo[d] != p.repository
        )
    )
    sizes = {d: members[blob_member(d)].size for d in first_repo}
    task = progress.task("push", sum(sizes.values()))
    lock = threading.Lock()
    stop = threading.Event()

    def advance(n: int) -> None:
        if stop.is_set():
            raise _Cancelled
        with lock:
            task.advance(n)

    @contextlib.contextmanager
    def open_member(digest: str) -> Iterator[BinaryIO]:
        m = members[blob_member(digest)]
        with open(bundle, "rb", buffering=0) as f:
            f.seek(m.offset)
            yield f

    client = target.client(pool_size=max(workers, 4))
    try:

        def upload(digest: str) -> str:
            how: str = client.push_blob(
                first_repo[digest],
                digest,
                sizes[digest],
                lambda: open_member(digest),
                chunk_size=chunk_size,
                progress=advance,
            )
            if how != "uploaded":
                advance(sizes[digest])
            return how

        def mount(pair: tuple[str, str]) -> str:
            repo, digest = pair
            how: str = client.push_blob(
                repo,
                digest,
                sizes[digest],
                lambda: open_member(digest),
                mount_from=first_repo[digest],
                chunk_size=chunk_size,
                progress=None,
            )
            return how

        def put(p: _Plan) -> PushedImage:
            digest = client.put_manifest(p.repository, p.tag, p.manifest)
            return PushedImage(
                p.reference, f"{target.host}/{p.repository}:{p.tag}", digest, p.from_source
            )

        try:
            first = _parallel(upload, list(first_repo), workers, stop, client.abort)
            second = _parallel(mount, mounts, workers, stop, client.abort)
            pushed = _parallel(put, plans, workers, stop, client.abort)
        except NotFound as e:
            if project:  # Harbor answers 404 for a project that does not exist
                raise NotFound(f"{e.message} (does project {project!r} exist?)") from e
            raise
        finally:
            task.done()
    finally:
        client.close()
    outcomes = first + second
    return PushResult(
        images=tuple(pushed),
        uploaded=outcomes.count("uploaded"),
        mounted=outcomes.count("mounted"),
        existing=outcomes.count("exists"),
        bytes_uploaded=sum(
            sizes[d] for d, how in zip(first_repo, first, strict=True) if how == "uploaded"
        ),
    )
