"""``harborkit bundle push FILE --registry HOST[:PORT]``: a verified bundle into a registry.

The bundle is verified first (nothing is sent if it is not intact). Every
distinct blob is uploaded once, in parallel, straight from its place in the
bundle file (HEAD first: blobs the registry has are skipped); other
repositories that share it get a cross-repository mount. Then each image's
manifest is pushed with the exact bytes the bundle recorded
(``images/source-manifests.json``), so the registry stores the source's digest.
A bundle built from a daemon has no source manifests: a Docker schema 2
manifest is written from its config and layers (a new, deterministic digest).
Last, every manifest is read back by digest: a registry's 201 is not taken on trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from harborkit.bundle.errors import BundleCorrupt
from harborkit.bundle.format import ImageRecord, blob_member
from harborkit.bundle.from_registry import SOURCE_MANIFESTS, validate_source_manifests
from harborkit.bundle.progress import NullProgress, Progress
from harborkit.bundle.tarsafe import Member
from harborkit.compat import zip_strict
from harborkit.errors import InputError
from harborkit.registry.endpoint import Endpoint
from harborkit.registry.errors import NotFound
from harborkit.registry.reference import is_path_component, parse_reference
from harborkit.transfer import Cancelled, run_all

if TYPE_CHECKING:
    from harborkit.bundle.progress import Task
    from harborkit.bundle.verify import VerifyResult
    from harborkit.registry.blobs import PushOutcome
    from harborkit.registry.client import RegistryClient
    from harborkit.registry.manifests import Manifest

DEFAULT_WORKERS = 6
#: images/source-manifests.json is one short entry per image: a larger one is refused unread
MAX_SOURCE_MANIFESTS = 4 << 20
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


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
    manifest: Manifest
    from_source: bool
    blobs: tuple[str, ...]  # config first, then layers


def check_project(project: str | None) -> str | None:
    """``--project`` as given, if it is one repository path component; else :class:`InputError`.

    A project is one component by the distribution grammar: ``advb/../x``,
    ``advb%2f..%2fx``, ``ADVB`` or ``""`` would push into another namespace (or
    none), so they are refused before anything is read or sent.
    """
    if project is None:
        return None
    if not is_path_component(project):
        raise InputError(
            f"--project {project!r} is not a registry project name: one path component of "
            "lowercase letters and digits, separated by '.', '_', '__' or dashes"
        )
    return project


def target_repository(repository: str, project: str | None) -> str:
    """``goharbor/harbor-core`` -> ``PROJECT/harbor-core`` (the project replaces the namespace)."""
    if project is None:
        return repository
    check_project(project)
    name = repository.split("/", 1)[1] if "/" in repository else repository
    return f"{project}/{name}"


def _read(path: Path, m: Member) -> bytes:
    with open(path, "rb") as f:
        f.seek(m.offset)
        return f.read(m.size)


def _plans(
    path: Path, verified: VerifyResult, target_host: str, project: str | None
) -> list[_Plan]:
    from harborkit.registry.manifests import MAX_MANIFEST, Manifest
    from harborkit.registry.strictjson import JSONRefused, strict_json

    meta = verified.metadata
    members: Mapping[str, Member] = verified.members
    source: dict[str, dict[str, dict[str, str]]] = {}
    if SOURCE_MANIFESTS in members:
        if members[SOURCE_MANIFESTS].size > MAX_SOURCE_MANIFESTS:
            raise BundleCorrupt(
                f"bundle {path}: {SOURCE_MANIFESTS} is larger than {MAX_SOURCE_MANIFESTS >> 20} MiB"
            )
        try:  # (strict: a deep document was a RecursionError traceback)
            doc: Any = strict_json(_read(path, members[SOURCE_MANIFESTS]))  # schema-checked below
        except JSONRefused as e:
            raise BundleCorrupt(f"bundle {path}: {SOURCE_MANIFESTS} {e}") from e
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
            if m.size > MAX_MANIFEST:  # (a layer's digest named as the manifest: read whole)
                raise BundleCorrupt(
                    f"bundle {path}: manifest {digest} of {img.reference} is larger than "
                    f"{MAX_MANIFEST >> 20} MiB"
                )
            raw = _read(path, m)
            if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
                raise BundleCorrupt(
                    f"bundle {path}: manifest {digest} of {img.reference} is altered"
                )
            manifest = Manifest(digest, entry["manifest"]["media_type"], raw)
            _check_media_type(manifest, f"bundle {path}: manifest {digest} of {img.reference}")
            if _named_blobs(manifest) != [img.image_id, *img.layers]:
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


def _check_media_type(manifest: Manifest, where: str) -> None:
    """The media type a stored manifest is pushed as (its ``Content-Type``): an image
    manifest's, and the one the manifest itself names, if it names one."""
    from harborkit.registry.errors import ProtocolError
    from harborkit.registry.manifests import IMAGE_MANIFESTS

    if manifest.media_type not in IMAGE_MANIFESTS:  # ("中文" was a traceback as a header)
        raise BundleCorrupt(f"{where}: {manifest.media_type!r:.80} is not an image manifest type")
    try:
        named = manifest.parsed().get("mediaType", manifest.media_type)
    except ProtocolError:
        return  # (named as not matching the metadata next)
    if named != manifest.media_type:
        raise BundleCorrupt(f"{where} is {named!r:.80}, the bundle says {manifest.media_type!r}")


def _named_blobs(manifest: Manifest) -> list[str] | None:
    """Config and layer digests a stored source manifest names (``None`` if it is malformed)."""
    from harborkit.registry.errors import ProtocolError
    from harborkit.registry.manifests import blob_ref

    try:
        data = manifest.parsed()
        layers = data.get("layers")
        if not isinstance(layers, list):
            return None
        return [blob_ref(x, "blob").digest for x in [data.get("config"), *layers]]
    except ProtocolError:
        return None


def _synthesize(members: Mapping[str, Member], img: ImageRecord) -> Manifest:
    """A Docker schema 2 manifest for a daemon-built image (no source manifest recorded)."""
    from harborkit.registry.manifests import Manifest

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


class _Pusher:
    """The uploads of one push: each blob once, then mounts, then manifests."""

    def __init__(
        self,
        bundle: Path,
        members: Mapping[str, Member],
        plans: list[_Plan],
        client: RegistryClient,
        chunk_size: int | None,
    ) -> None:
        self.bundle, self.members, self.client, self.chunk_size = (
            bundle,
            members,
            client,
            chunk_size,
        )
        self.first_repo: dict[str, str] = {}  # blob -> the repository it is uploaded to
        for p in plans:
            for d in p.blobs:
                self.first_repo.setdefault(d, p.repository)
        self.mounts = list(
            dict.fromkeys(
                (p.repository, d)
                for p in plans
                for d in p.blobs
                if self.first_repo[d] != p.repository
            )
        )
        self.sizes = {d: members[blob_member(d)].size for d in self.first_repo}
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._task: Task | None = None

    def advance(self, n: int) -> None:
        if self.stop.is_set():
            raise Cancelled
        with self._lock:
            if self._task is not None:
                self._task.advance(n)

    @contextlib.contextmanager
    def _open(self, digest: str) -> Iterator[BinaryIO]:
        m = self.members[blob_member(digest)]
        with open(self.bundle, "rb", buffering=0) as f:
            f.seek(m.offset)
            yield f

    def upload(self, digest: str) -> PushOutcome:
        from harborkit.registry.blobs import PushOutcome

        how = self.client.push_blob(
            self.first_repo[digest],
            digest,
            self.sizes[digest],
            lambda: self._open(digest),
            chunk_size=self.chunk_size,
            progress=self.advance,
        )
        if how is not PushOutcome.UPLOADED:
            self.advance(self.sizes[digest])
        return how

    def mount(self, pair: tuple[str, str]) -> PushOutcome:
        repo, digest = pair
        return self.client.push_blob(
            repo,
            digest,
            self.sizes[digest],
            lambda: self._open(digest),
            mount_from=self.first_repo[digest],
            chunk_size=self.chunk_size,
        )

    def put(self, p: _Plan) -> PushedImage:
        digest = self.client.put_manifest(p.repository, p.tag, p.manifest)
        target = f"{self.client.host}/{p.repository}:{p.tag}"
        return PushedImage(p.reference, target, digest, p.from_source)

    def read_back(self, p: _Plan) -> None:
        """The manifest as the registry now serves it by digest: exactly the bytes pushed
        (a 201 or a HEAD answer is not taken on trust)."""
        from harborkit.registry.errors import ProtocolError

        where = f"{self.client.host}: {p.repository}:{p.tag}"
        try:
            got = self.client.get_manifest(p.repository, p.manifest.digest)
        except NotFound as e:
            raise ProtocolError(
                f"{where}: the registry accepted manifest {p.manifest.digest} but does not "
                "serve it when read back; the push is not complete"
            ) from e
        if got.raw != p.manifest.raw:  # (same digest, so not reached unless sha256 breaks)
            raise ProtocolError(f"{where}: manifest {p.manifest.digest} reads back altered")

    def run(self, plans: list[_Plan], workers: int, progress: Progress) -> PushResult:
        from harborkit.registry.blobs import PushOutcome

        self._task = progress.task("push", sum(self.sizes.values()))
        abort = self.client.abort
        try:
            first = run_all(self.upload, list(self.first_repo), workers, abort, stop=self.stop)
            second = run_all(self.mount, self.mounts, workers, abort, stop=self.stop)
            pushed = run_all(self.put, plans, workers, abort, stop=self.stop)
            run_all(self.read_back, plans, workers, abort, stop=self.stop)
        finally:
            self._task.done()
        outcomes = first + second
        uploaded = [
            d for d, how in zip_strict(self.first_repo, first) if how is PushOutcome.UPLOADED
        ]
        return PushResult(
            images=tuple(pushed),
            uploaded=outcomes.count(PushOutcome.UPLOADED),
            mounted=outcomes.count(PushOutcome.MOUNTED),
            existing=outcomes.count(PushOutcome.EXISTS),
            bytes_uploaded=sum(self.sizes[d] for d in uploaded),
        )


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

    check_project(project)  # before anything is read or sent
    progress = progress or NullProgress()
    verified = verify_bundle(bundle, progress=progress)
    plans = _plans(bundle, verified, target.host, project)
    client = target.client(pool_size=max(workers, 4))
    try:
        return _Pusher(bundle, verified.members, plans, client, chunk_size).run(
            plans, workers, progress
        )
    except NotFound as e:
        if project:  # Harbor answers 404 for a project that does not exist
            raise NotFound(f"{e.message} (does project {project!r} exist?)") from e
        raise
    finally:
        client.close()
