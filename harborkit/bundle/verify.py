"""``harborkit bundle verify``: every member against ``SHA256SUMS``, in one pass.

Headers are read first (seeking past data; unsafe members stop everything),
then every member's bytes are hashed once, members spread over all cores
(``hashlib`` releases the GIL), reading with large ``pread`` calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.bundle.consistency import (
    check_configs,
    check_consistency,
    check_load_manifest,
    read_document,
    shown_names,
)
from harborkit.bundle.errors import BundleCorrupt, BundleHostile, BundleUnreadable
from harborkit.bundle.format import (
    BLOB_DIR,
    IMAGES_DIR,
    IMAGES_MANIFEST,
    METADATA_NAME,
    SUMS_NAME,
    BundleMetadata,
    blob_member,
    installer_member,
    metadata_from_json,
    parse_sums,
    strict_json,
)
from harborkit.bundle.parts import BundleFile, PlainFile, open_bundle_file
from harborkit.bundle.progress import NullProgress, Progress, Task
from harborkit.bundle.sbom import SBOM_NAME, check_sbom_agrees, validate_sbom
from harborkit.bundle.sign import (
    MAX_SIGNATURE_BYTES,
    SIGNATURE_NAME,
    PublicKey,
    SignatureError,
    signature_key_id,
    verify_stream,
)
from harborkit.bundle.tarsafe import (
    BLOCK,
    InstallerCheck,
    Member,
    SectionReader,
    TarScan,
    check_installer,
    scan_tar_file,
)
from harborkit.compat import zip_strict

#: bytes per read while hashing (hashlib lets go of the GIL for the whole buffer); one
#: buffer per hashing thread
READ_SIZE = 4 << 20
#: the longest (seconds) another thread may hold the GIL while hashing threads wait for
#: it: Python's default (5 ms) is longer than one buffer's sha256 (~2.5 ms), so while
#: the documents are checked (pure Python) each buffer could cost a core 5 ms of waiting
GIL_SWITCH = 0.0005
#: the registry build's record of the source manifests (``from_registry.SOURCE_MANIFESTS``)
SOURCE_MANIFESTS = f"{IMAGES_DIR}/source-manifests.json"
#: SHA256SUMS is never read beyond 4 MiB (about 20,000 members) ...
MAX_SUMS_BYTES = 4 << 20
#: ... nor beyond one line of this length per member
_MAX_SUMS_LINE = 64 + 2 + 4096 + 1


@dataclass(frozen=True)
class VerifyResult:
    """A verified bundle: its metadata and where each member lies."""

    path: Path
    metadata: BundleMetadata
    members: Mapping[str, Member]
    bytes_hashed: int
    load_manifest: tuple[dict[str, Any], ...]  # images/manifest.json, checked against the metadata
    installer: InstallerCheck
    signed_by: str | None = None  # key id of the signature member (checked only with a key)
    signature_checked: bool = False
    parts: tuple[Path, ...] = ()  # the part files read, for a bundle in parts


_BUFFERS = threading.local()


def _buffer() -> memoryview:
    """This thread's read buffer (one per hashing thread, reused for every member)."""
    view: memoryview | None = getattr(_BUFFERS, "view", None)
    if view is None:
        view = _BUFFERS.view = memoryview(bytearray(READ_SIZE))
    return view


def _hash_member(source: BundleFile, member: Member, task: Task) -> str:
    h = hashlib.sha256()
    view = _buffer()
    pos, end = member.offset, member.end
    while pos < end:
        n = source.preadinto(view[: min(len(view), end - pos)], pos)
        if n <= 0:
            raise BundleCorrupt(f"{source.display}: member {member.name} is truncated")
        h.update(view[:n])
        pos += n
        task.advance(n)
    return h.hexdigest()


def _read_member(source: BundleFile, member: Member) -> bytes:
    return source.pread(member.size, member.offset)


def verify_bundle(
    path: Path, *, progress: Progress | None = None, key: PublicKey | None = None
) -> VerifyResult:
    """Check ``path`` (a bundle, its first part or its parts list) completely.

    :class:`BundleHostile` for unsafe members, :class:`BundleCorrupt` for missing,
    extra, altered or truncated ones (naming the part they lie in),
    :class:`MetadataError` when ``harbor-bundle.json`` fails its schema,
    :class:`SignatureError` when ``key`` is given and ``SHA256SUMS`` carries no
    valid signature by it (checked before anything is hashed).
    """
    progress = progress or NullProgress()
    with open_bundle_file(path) as source:
        _read_ahead(source)
        return _verify(path, source, progress, key)


def _read_ahead(source: BundleFile) -> None:
    """Tell the kernel a whole bundle file is read front to back (it reads further ahead)."""
    if isinstance(source, PlainFile) and hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(source._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)


def _verify(
    path: Path, source: BundleFile, progress: Progress, key: PublicKey | None
) -> VerifyResult:
    try:
        scan = scan_tar_file(source, source.size, path)  # type: ignore[arg-type]
    except PermissionError as e:
        raise BundleUnreadable(f"cannot read bundle {path}: {e.strerror}") from e
    members = {m.name: m for m in scan.members}
    problems: list[str] = []
    if scan.truncated:
        m = members.get(scan.truncated)
        where = source.where(m.offset, m.end) if m else source.where(source.size - 1, source.size)
        problems.append(f"truncated member {scan.truncated}{where}")
    if scan.damaged_header_after:
        problems.append(f"unreadable tar header after member {scan.damaged_header_after}")
    sums, signed_by = _read_sums(path, source, scan, members, key, problems)
    # the documents (schema checks: pure Python) are checked while the members are
    # hashed (hashlib lets go of the GIL), begun once every hashing thread has its
    # member: a damaged member is still named first
    with ThreadPoolExecutor(max_workers=1) as ex:
        documents: list[Future[Any]] = []

        def check_documents() -> None:
            documents.append(ex.submit(_check_documents, path, source, members, sums))

        try:
            total = _hash_all(
                path, source, scan, members, sums, progress, problems, then=check_documents
            )
        except BaseException:
            for f in documents:
                f.cancel()
            raise
        meta, entries, checked = documents[0].result()
    return VerifyResult(
        path,
        meta,
        members,
        total,
        entries,
        checked,
        signed_by=signed_by,
        signature_checked=key is not None,
        parts=tuple(source.parts) if source.parts != [path] else (),
    )


def _read_sums(
    path: Path,
    source: BundleFile,
    scan: TarScan,
    members: Mapping[str, Member],
    key: PublicKey | None,
    problems: list[str],
) -> tuple[dict[str, str], str | None]:
    """``SHA256SUMS`` parsed (its signature checked first) and the key id that signed it."""
    sums_member = members.get(SUMS_NAME)
    if sums_member is None or sums_member.end > scan.file_size:
        damage = source.damage()
        if damage:
            problems.insert(0, damage)
        if not problems:
            problems.append(f"missing member {SUMS_NAME}")
        raise BundleCorrupt(f"bundle {path} is corrupt: " + "; ".join(problems))
    # the signature covers the raw bytes: checked before they are parsed or bounded, over
    # the very bytes then parsed (one read: a SHA256SUMS rewritten in between is not used);
    # one too large is only streamed through the check, then refused
    limit = max_sums_bytes(len(scan.members))
    sums_raw = _read_member(source, sums_member) if sums_member.size <= limit else None
    chunks = [sums_raw] if sums_raw is not None else _sums_chunks(source, sums_member)
    signed_by = _check_signature(path, source, members, sums_member, key, chunks)
    if sums_raw is None:
        raise BundleCorrupt(
            f"bundle {path} is corrupt: {SUMS_NAME} has {sums_member.size} bytes, more than "
            f"{limit} for {len(scan.members)} members"
        )
    try:
        sums = parse_sums(sums_raw)
    except ValueError as e:
        raise BundleCorrupt(f"bundle {path} is corrupt: {SUMS_NAME} {e}") from e
    for name in (SUMS_NAME, SIGNATURE_NAME):
        if name in sums:  # it cannot hold its own digest, nor that of its signature
            raise BundleCorrupt(
                f"bundle {path} is corrupt: {SUMS_NAME} lists {name}, which sha256sum -c "
                "cannot find right"
            )
    return sums, signed_by


def _hash_all(
    path: Path,
    source: BundleFile,
    scan: TarScan,
    members: Mapping[str, Member],
    sums: Mapping[str, str],
    progress: Progress,
    problems: list[str],
    then: Callable[[], None] | None = None,
) -> int:
    """Hash every member against ``sums`` (all cores); :class:`BundleCorrupt` naming every
    problem, those of the scan included. The bytes hashed. ``then`` is called once the
    hashing threads are given their work.

    The documents read for parsing are hashed again as read (what is parsed is what
    was hashed), so checking them at the same time changes no outcome."""
    unsummed = (SUMS_NAME, SIGNATURE_NAME)
    to_hash = [m for m in scan.members if m.name not in unsummed and m.end <= scan.file_size]
    to_hash.sort(key=lambda m: m.size, reverse=True)
    total = sum(m.size for m in to_hash)
    task = progress.task("verify", total)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, GIL_SWITCH))
    try:
        with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as ex:
            # a parts list names every byte: a damaged part fails even where no member lies
            parts_damage = ex.submit(source.damage)
            outside = ex.submit(outside_problems, source, scan)
            hashed = ex.map(lambda m: _hash_member(source, m, task), to_hash)
            if then is not None:
                then()
            digests = dict(zip_strict((m.name for m in to_hash), hashed))
    finally:
        sys.setswitchinterval(switch)
        task.done()

    problems += _member_problems(digests, members, sums, scan.truncated, source)
    problems += outside.result()
    damaged_part = parts_damage.result()
    if damaged_part:
        problems.insert(0, damaged_part)
    if problems:
        raise BundleCorrupt(f"bundle {path} is corrupt: " + "; ".join(problems))
    return total


def _check_documents(
    path: Path, source: BundleFile, members: Mapping[str, Member], sums: Mapping[str, str]
) -> tuple[BundleMetadata, tuple[dict[str, Any], ...], InstallerCheck]:
    """The metadata, the load manifest and the installer, checked against each other."""
    meta_member = members.get(METADATA_NAME)
    if meta_member is None:
        raise BundleCorrupt(f"bundle {path} is corrupt: missing member {METADATA_NAME}")
    where = f"{path}: {METADATA_NAME}"
    meta = metadata_from_json(read_document(source, meta_member, where, sums[METADATA_NAME]), where)
    check_consistency(path, meta, members, sums)
    entries = check_load_manifest(path, meta, members, sums, source)  # names what dockerd would do
    _check_accounted(path, meta, members, sums, source)
    check_configs(path, meta, members, source)
    inst = members[installer_member(meta.installer.name)]
    where = f"{path}: {inst.name}"
    checked = check_installer(SectionReader(source, inst.offset, inst.size), where, size=inst.size)  # type: ignore[arg-type]
    sbom_member = members.get(SBOM_NAME)
    if sbom_member is not None:  # after the installer: a hostile one is named first (exit 5)
        where = f"{path}: {SBOM_NAME}"
        check_sbom_agrees(
            validate_sbom(read_document(source, sbom_member, where, sums[SBOM_NAME]), where),
            meta,
            where,
        )
    return meta, entries, checked


def max_sums_bytes(member_count: int) -> int:
    """The most ``SHA256SUMS`` may hold: one line per member (a long name at most), 4 MiB at most."""
    return min(MAX_SUMS_BYTES, 4096 + member_count * (_MAX_SUMS_LINE))


def outside_problems(source: BundleFile, scan: TarScan) -> list[str]:
    """Bytes no member holds that are not zero: a member's padding, the end-of-archive
    blocks and anything after them (``tar -x`` ignores them; a signature does not cover them)."""
    problems: list[str] = []
    if scan.truncated or scan.damaged_header_after:
        return problems  # reported already
    padded = [m for m in scan.members if m.size % BLOCK]
    dirty = [m.name for m in padded if source.pread(BLOCK - m.size % BLOCK, m.end).strip(b"\0")]
    if dirty:
        problems.append(shown_names("non-zero padding after member", dirty))
    pos = scan.archive_end  # the end-of-archive blocks (tar reads none after a whole member)
    while pos < scan.file_size:
        chunk = source.pread(min(READ_SIZE, scan.file_size - pos), pos)
        if not chunk:
            break
        if chunk.strip(b"\0"):
            at = pos + len(chunk) - len(chunk.lstrip(b"\0"))
            problems.append(
                f"data after the end of the archive at byte {at}{source.where(at, at + 1)}"
            )
            break
        pos += len(chunk)
    return problems


def _sums_chunks(source: BundleFile, member: Member) -> Iterator[bytes]:
    pos = member.offset
    while pos < member.end:
        chunk = source.pread(min(1 << 20, member.end - pos), pos)
        if not chunk:
            return
        yield chunk
        pos += len(chunk)


def _check_signature(
    path: Path,
    source: BundleFile,
    members: Mapping[str, Member],
    sums_member: Member,
    key: PublicKey | None,
    sums_chunks: Iterable[bytes],
) -> str | None:
    """The key id of ``SHA256SUMS.minisig``; with ``key``, the signature must be valid by it.

    The signature is read only up to its bound, and checked over the raw
    ``SHA256SUMS`` bytes, streamed (before they are parsed or bounded).
    """
    sig_member = members.get(SIGNATURE_NAME)
    if sig_member is None:
        if key is not None:
            raise SignatureError(
                f"bundle {path} is not signed (no {SIGNATURE_NAME}); "
                f"it cannot be checked against key {key.id_hex}"
            )
        return None
    if sig_member.offset < sums_member.offset:
        raise BundleCorrupt(f"bundle {path} is corrupt: {SIGNATURE_NAME} comes before {SUMS_NAME}")
    where = f"bundle {path}: {SIGNATURE_NAME}"
    if sig_member.size > MAX_SIGNATURE_BYTES:
        if key is not None:
            raise SignatureError(
                f"{where} is not a minisign signature (it has {sig_member.size} bytes; "
                f"at most {MAX_SIGNATURE_BYTES} are read)"
            )
        return "(unreadable)"
    sig_raw = _read_member(source, sig_member)
    if key is not None:
        verify_stream(key, sums_chunks, sig_raw, where, legacy_limit=MAX_SUMS_BYTES)
    try:
        return signature_key_id(sig_raw, where)
    except SignatureError:
        return "(unreadable)"


def _member_problems(
    digests: Mapping[str, str],
    members: Mapping[str, Member],
    sums: Mapping[str, str],
    truncated: str | None,
    source: BundleFile | None = None,
) -> list[str]:
    """Members altered (or not matching their blob name), missing or extra against ``SHA256SUMS``."""
    altered = [n for n, d in digests.items() if n in sums and sums[n] != d]
    # blobs are content-addressed: the name must be the digest of the bytes
    misnamed = [
        n
        for n, d in digests.items()
        if n.startswith(BLOB_DIR + "/") and n[len(BLOB_DIR) + 1 :] != d
    ]
    altered += [n for n in misnamed if n not in altered]
    missing = [n for n in sums if n not in members and n != truncated]
    extra = [
        n for n in members if n not in sums and n not in (SUMS_NAME, SIGNATURE_NAME, truncated)
    ]
    if source is not None:  # name the part an altered member lies in
        altered = [n + source.where(members[n].offset, members[n].end) for n in altered]
    return [
        shown_names(label, sorted(names))
        for label, names in (
            ("altered member", altered),
            ("missing member", missing),
            ("extra member", extra),
        )
        if names
    ]


def _source_manifest_blobs(
    path: Path, members: Mapping[str, Member], sums: Mapping[str, str], source: BundleFile
) -> set[str]:
    """The blobs a registry build's ``images/source-manifests.json`` names (the registry's
    own manifests and indexes, kept for ``push``); none when there is no such member."""
    member = members.get(SOURCE_MANIFESTS)
    if member is None:
        return set()
    from harborkit.bundle.from_registry import validate_source_manifests

    where = f"bundle {path}: {SOURCE_MANIFESTS}"
    raw = read_document(source, member, where, sums.get(SOURCE_MANIFESTS))
    doc = strict_json(raw, where, BundleCorrupt)
    validate_source_manifests(doc, f"bundle {path}")
    digests = [
        (entry.get(key) or {}).get("digest")
        for entry in doc["images"]
        for key in ("manifest", "index")
    ]
    return {blob_member(d) for d in digests if isinstance(d, str) and _DIGEST.match(d)}


_DIGEST = re.compile(r"\Asha256:[0-9a-f]{64}\Z")


def _check_accounted(
    path: Path,
    meta: BundleMetadata,
    members: Mapping[str, Member],
    sums: Mapping[str, str],
    source: BundleFile,
) -> None:
    """Every member is one :data:`METADATA_NAME` names (or the bundle's own documents).

    A member under ``images/`` (not a blob) is read by ``docker load`` of that folder
    (the plain path): an ``index.json``, ``oci-layout`` or ``repositories`` there could
    load or tag other images than the metadata declares (:class:`BundleHostile`); any
    other member no one accounts for (a blob no image uses) is :class:`BundleCorrupt`.
    """
    named = {
        SUMS_NAME,
        SIGNATURE_NAME,
        METADATA_NAME,
        IMAGES_MANIFEST,
        SOURCE_MANIFESTS,
        SBOM_NAME,
        installer_member(meta.installer.name),
        *(blob_member(x.digest) for x in meta.layers),
        *(blob_member(i.image_id) for i in meta.images),
        *(f.member for f in meta.files),
        *_source_manifest_blobs(path, members, sums, source),
    }
    extra = sorted(n for n in members if n not in named)
    in_images = [
        n for n in extra if n.startswith(IMAGES_DIR + "/") and not n.startswith(BLOB_DIR + "/")
    ]
    if in_images:
        raise BundleHostile(
            f"bundle {path}: {shown_names('member', in_images)} is not named by {METADATA_NAME} "
            f"(docker load of {IMAGES_DIR}/ would read it)"
        )
    if extra:
        raise BundleCorrupt(
            f"bundle {path} is inconsistent with {METADATA_NAME}: "
            f"{shown_names('member', extra)} is not named by it"
        )
