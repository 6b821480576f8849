"""``harborkit bundle load --host``: a locally verified bundle loaded on another machine.

The host needs ``sh``, ``tar``, coreutils and the docker CLI; no Python, no
harborkit, no copy of the bundle. The bundle is verified here first, once for
every host (signature with ``--key``, every member, parts too). Then, on each
host, before anything is sent: the daemon's data root and its free space
(``docker info``, ``df -Pk``), the images already there, and the install
folder (no file overwritten, no file where a folder must go, writable, room).
The missing images go as one ``docker save``-shaped tar, written from the
verified metadata and hashed again as it is read (:func:`harborkit.bundle.load._tar_stream`),
straight into ``docker load`` through ssh's stdin; ids and tags are checked
afterwards with ``docker image inspect``. The installer is streamed (gzip, as
carried) to ``tar -x`` in the install folder.

A failure after the first byte is sent (``docker load`` refuses, the
connection drops, the ids differ, the unpacking fails) rolls back what this
load did on that host, as a local load does: references go back to the image
they named before (or are removed), images it added and left untagged go,
files it unpacked are removed; the one-line error says what was undone.

Everything the host says is data: parsed line by line, ids matched against
``sha256:<64 hex>``, output bounded; every argument in a remote command line is
``shlex.quote``-d. This module drives a :class:`Remote` (one host's commands);
:mod:`harborkit.host.sshstream` is the one over SSH.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from harborkit.bundle import cleanup
from harborkit.bundle.errors import (
    BundleCorrupt,
    InstallTargetExists,
    LoadFailed,
    NoSpace,
    OutputError,
)
from harborkit.bundle.format import ImageRecord, blob_member
from harborkit.bundle.load import _load_entries, _spool_installer, _tar_stream
from harborkit.bundle.progress import NullProgress, Progress
from harborkit.bundle.remote_base import CALL_TIMEOUT, MIN_RATE, Remote, Reply, q
from harborkit.bundle.remote_delta import require_base_on_host
from harborkit.bundle.remote_tools import ToolPlan, install_tools, plan_tools
from harborkit.bundle.tag_rollback import roll_back_images
from harborkit.bundle.verify import VerifyResult
from harborkit.errors import HarborkitError

#: room kept free on the host beyond the images' unpacked size
SPACE_MARGIN = 64 << 20
_ID = re.compile(r"sha256:[0-9a-f]{64}")
#: docker CLI calls run at once on the host when references are looked up
_AT_ONCE = 8


@dataclass(frozen=True)
class RemoteLoadResult:
    """What a load did on one host."""

    host: str
    loaded: tuple[str, ...]
    skipped: tuple[str, ...]
    installed: tuple[str, ...] = ()  # top-level paths of the unpacked installer
    tools: tuple[str, ...] = ()  # one line per extra file: installed, replaced, already in place


@dataclass(frozen=True)
class ToolOptions:
    """``--install-tools`` with its ``--prefix``, ``--force``, ``--allow-install-path``."""

    prefix: str = "/"
    force: bool = False
    allow: bool = False


@dataclass
class _Probe:
    """What the host said before anything was sent."""

    data_root: str = ""
    free_kib: int | None = None
    ids: set[str] = field(default_factory=set)
    refs: dict[str, str | None] = field(default_factory=dict)
    clashes: list[str] = field(default_factory=list)  # install folder problems
    install_free_kib: int | None = None


@dataclass
class _Undo:
    tags: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # files, then folders, to remove (host paths)
    removed: list[str] = field(default_factory=list)  # what the roll-back undid


def _df_kib(line: str) -> int | None:
    """Available KiB from the last line of ``df -Pk``."""
    parts = line.split()
    if len(parts) >= 4 and parts[3].isdigit():
        return int(parts[3])
    return None


def _probe_script(images: Sequence[ImageRecord], install_dir: str | None, names: list[str]) -> str:
    """One round trip: data root, its free space, image ids, the references, the install folder."""
    lines = [
        "root=$(docker info --format '{{.DockerRootDir}}') || exit 97",
        "printf 'root %s\\n' \"$root\"",
        'printf \'df %s\\n\' "$(df -Pk -- "$root" | tail -n 1)"',
        "docker images -aq --no-trunc | sed 's/^/id /' || exit 98",
    ]
    lines += _ref_lines(i.reference for i in images)
    if install_dir is not None:
        lines += _install_probe(install_dir, names)
    return "\n".join(lines) + "\n"


def _install_probe(install_dir: str, names: list[str]) -> list[str]:
    """Shell lines naming what in ``install_dir`` the installer ``names`` would overwrite."""
    d = q(install_dir)
    lines = [
        f"d={d}",
        'while [ ! -e "$d" ] && [ ! -L "$d" ]; do d=$(dirname -- "$d"); done',
        '[ -d "$d" ] || printf \'clash %s is a file where the installer needs a folder\\n\' "$d"',
        '[ -w "$d" ] || printf \'clash %s is not writable\\n\' "$d"',
        'printf \'idf %s\\n\' "$(df -Pk -- "$d" | tail -n 1)"',
    ]
    for name in names:
        p = q(f"{install_dir.rstrip('/')}/{name}")
        if name.endswith("/"):
            p = q(f"{install_dir.rstrip('/')}/{name.rstrip('/')}")
            lines.append(
                f"if [ -e {p} ] || [ -L {p} ]; then [ -d {p} ] && [ ! -L {p} ] || "
                f"printf 'clash %s is a file where the installer needs a folder\\n' {p}; fi"
            )
        else:
            lines.append(
                f"if [ -e {p} ] || [ -L {p} ]; then "
                f"printf 'clash %s already exists; not overwriting it\\n' {p}; fi"
            )
    return lines


def _parse_probe(out: bytes, label: str) -> _Probe:
    probe = _Probe()
    for raw in out.decode("utf-8", "replace").splitlines()[:100_000]:
        kind, _, rest = raw.partition(" ")
        if kind == "root":
            probe.data_root = rest.strip()
        elif kind == "df":
            probe.free_kib = _df_kib(rest)
        elif kind == "idf":
            probe.install_free_kib = _df_kib(rest)
        elif kind == "id" and _ID.fullmatch(rest.strip()):
            probe.ids.add(rest.strip())
        elif kind == "ref":
            ref, _, image_id = rest.partition(" ")
            probe.refs[ref] = image_id.strip() if _ID.fullmatch(image_id.strip()) else None
        elif kind == "clash":
            probe.clashes.append(f"{label}: {rest}")
    return probe


def _names(verified: VerifyResult) -> list[str]:
    """The installer's members as host paths relative to the install folder (folders end in /)."""
    out = []
    for ti in verified.installer.members:
        name = str(PurePosixPath(ti.name))
        if name in (".", ""):
            continue
        out.append(name + "/" if ti.isdir() else name)
    return out


def _needed_bytes(verified: VerifyResult, refs: Sequence[str]) -> int:
    meta = verified.metadata
    # the layers carried (a delta leaves some to its base, already on the host)
    layers = {
        lr.digest: lr.uncompressed_size
        for lr in meta.layers
        if blob_member(lr.digest) in verified.members
    }
    digests = {d for i in meta.images if i.reference in refs for d in i.layers}
    return sum(layers.get(d, 0) for d in digests) + SPACE_MARGIN


def _check(remote: Remote, reply: Reply, what: str) -> Reply:
    if reply.status != 0:
        raise LoadFailed(f"{remote.label}: {what} failed: {reply.last_line()}")
    return reply


def probe_host(remote: Remote, verified: VerifyResult, install_dir: str | None) -> _Probe:
    """Ask the host everything that can refuse before anything is sent."""
    meta = verified.metadata
    script = _probe_script(meta.images, install_dir, _names(verified) if install_dir else [])
    reply = remote.run(f"sh -c {q(script)}", timeout=CALL_TIMEOUT)
    if reply.status == 97:
        raise LoadFailed(f"{remote.label}: docker info failed: {reply.last_line()}")
    _check(remote, reply, "asking docker for its images")
    probe = _parse_probe(reply.out, remote.label)
    if not probe.data_root:
        raise LoadFailed(f"{remote.label}: docker info did not name the daemon's data root")
    if probe.clashes:
        first = probe.clashes[0]
        cls = OutputError if first.endswith("is not writable") else InstallTargetExists
        raise cls(f"{first}; nothing sent")
    return probe


def _space(remote: Remote, probe: _Probe, needed: int, installer: int) -> None:
    if probe.free_kib is None:
        raise LoadFailed(f"{remote.label}: df -Pk {probe.data_root} said nothing readable")
    if needed and probe.free_kib * 1024 < needed:
        raise NoSpace(
            f"{remote.label}: not enough free space in {probe.data_root} for the images: about "
            f"{needed / 1e6:.1f} MB needed, {probe.free_kib * 1024 / 1e6:.1f} MB free; "
            "nothing sent"
        )
    if installer and (probe.install_free_kib or 0) * 1024 < installer:
        raise NoSpace(
            f"{remote.label}: not enough free space for the installer: about "
            f"{installer / 1e6:.1f} MB needed, {(probe.install_free_kib or 0) * 1024 / 1e6:.1f} "
            "MB free; nothing sent"
        )


def _image_id(remote: Remote, ref: str) -> str | None:
    reply = remote.run(
        f"docker image inspect --format '{{{{.Id}}}}' {q(ref)}", timeout=CALL_TIMEOUT
    )
    text = reply.out.decode("ascii", "replace").strip()
    if reply.status == 0 or b"No such image" in reply.err:
        return text if reply.status == 0 and _ID.fullmatch(text) else None
    raise LoadFailed(f"{remote.label}: docker image inspect {ref} failed: {reply.last_line()}")


def _send_images(
    remote: Remote, verified: VerifyResult, ids: set[str], undo: _Undo, progress: Progress
) -> None:
    members = dict(verified.members)
    entries = _load_entries(verified.metadata, ids)
    undo.tags += [t for e in entries for t in e["RepoTags"]]
    names = dict.fromkeys(n for e in entries for n in [e["Config"], *e["Layers"]])
    size = sum(members[f"images/{n}"].size for n in names if f"images/{n}" in members)
    task = progress.task(f"load on {remote.label}", size)
    try:
        stream = _tar_stream(verified.path, members, entries, task)
        reply = remote.run("docker load", stdin=stream, timeout=CALL_TIMEOUT + size / MIN_RATE)
    finally:
        task.done()
    if reply.status != 0:
        raise LoadFailed(f"{remote.label}: docker load refused the images: {reply.last_line()}")


def _ref_lines(refs: Iterable[str]) -> list[str]:
    """Shell lines printing ``ref REFERENCE ID`` (ID empty when it names no image), the
    references asked all at once (Harbor's thirteen docker CLI starts cost seconds one
    after another); each answer is one short printf, so the lines do not mix."""
    lines = []
    for n, ref in enumerate(dict.fromkeys(refs), 1):
        lines.append(
            f"printf 'ref %s %s\\n' {q(ref)} "
            f"\"$(docker image inspect --format '{{{{.Id}}}}' {q(ref)} 2>/dev/null)\" &"
        )
        if n % _AT_ONCE == 0:
            lines.append("wait")
    return [*lines, "wait"]


def _confirm(remote: Remote, images: Sequence[ImageRecord]) -> None:
    """Every reference names its image now (one round trip)."""
    script = "\n".join(_ref_lines(i.reference for i in images)) + "\n"
    said = _parse_probe(
        _check(
            remote, remote.run(f"sh -c {q(script)}", timeout=CALL_TIMEOUT), "docker image inspect"
        ).out,
        remote.label,
    ).refs
    for img in images:
        now = said.get(img.reference)
        if now is None:
            raise LoadFailed(f"{remote.label}: image {img.reference} is not there after the load")
        if now != img.image_id:
            raise LoadFailed(
                f"{remote.label}: image {img.reference} has id {now} after the load, "
                f"expected {img.image_id}"
            )


def _stream_file(spool: IO[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(1 << 20):
        yield chunk


def _unpack(
    remote: Remote, verified: VerifyResult, install_dir: str, probe_names: list[str], undo: _Undo
) -> list[str]:
    """Stream the checked installer to ``tar -x`` in ``install_dir`` on the host."""
    base = install_dir.rstrip("/") or "/"
    made = [f"{base}/{n.rstrip('/')}" for n in probe_names]
    # what the unpacking will make, found before: only that is removed on roll-back
    # (folders that are there already stay; the folders above the install folder it makes go)
    script = (
        f'd={q(base)}; while [ ! -e "$d" ]; do printf \'new %s\\n\' "$d"; '
        'd=$(dirname -- "$d"); done; for p in '
        + " ".join(q(p) for p in made)
        + '; do if [ -e "$p" ] || [ -L "$p" ]; then printf \'have %s\\n\' "$p"; fi; done'
    )
    reply = _check(remote, remote.run(f"sh -c {q(script)}", timeout=CALL_TIMEOUT), "looking")
    seen = reply.out.decode("utf-8", "replace").splitlines()
    have = {ln[5:] for ln in seen if ln.startswith("have ")}
    new_parents = [ln[4:] for ln in seen if ln.startswith("new ")]
    # the deepest first: files, then their folders, then the folders above the install folder
    made = [p for p in made if p not in have]
    undo.files += sorted(made, key=lambda p: p.count("/"), reverse=True) + new_parents
    with _spool_installer(verified) as spool:
        cmd = f"mkdir -p -- {q(base)} && tar -x -z -o -f - -C {q(base)}"
        size = verified.metadata.installer.size
        reply = remote.run(cmd, stdin=_stream_file(spool), timeout=CALL_TIMEOUT + size / MIN_RATE)
    if reply.status != 0:
        raise OutputError(
            f"{remote.label}: unpacking the installer into {base} failed: {reply.last_line()}"
        )
    tops = dict.fromkeys(n.split("/", 1)[0] for n in probe_names)
    return [f"{base}/{t}" for t in tops]


def _roll_back(remote: Remote, probe: _Probe, images: Sequence[ImageRecord], undo: _Undo) -> None:
    """Undo this load on the host: unpacked files, then every reference it touched."""
    if undo.files:
        paths = " ".join(q(p) for p in undo.files)
        script = (
            f'for pass in 1 2; do for p in {paths}; do if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p" '
            '2>/dev/null && printf "%s\\n" "$p"; elif [ -e "$p" ] || [ -L "$p" ]; then '
            'rm -f -- "$p" && printf "%s\\n" "$p"; fi; done; done'
        )
        _twice(_remove_files, remote, script, undo.removed)
    roll_back_images(
        _HostImages(remote),
        loaded=[i.image_id for i in images],
        tags=undo.tags,
        before=probe.refs,
        ids_before=probe.ids,
        note=undo.removed.append,
        attempt=_twice,
    )


def _twice(step: Callable[..., None], *args: Any) -> None:
    """A roll-back step, tried once more when the host's answer did not come (the
    connection just cut is made anew by the next call); a second failure is let go."""
    for attempt in (1, 2):
        try:
            step(*args)
            return
        except HarborkitError:
            if attempt == 2:
                return


def _remove_files(remote: Remote, script: str, removed: list[str]) -> None:
    reply = remote.run(f"sh -c {q(script)}", timeout=CALL_TIMEOUT)
    removed += reply.out.decode("utf-8", "replace").splitlines()[:1000]


class _HostImages:
    """The roll-back's operations on images, through ``docker`` on the host."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote

    def image_id(self, ref: str) -> str | None:
        return _image_id(self.remote, ref)

    def tag(self, image_id: str, ref: str) -> None:
        cmd = f"docker tag {q(image_id)} {q(ref)}"
        _check(self.remote, self.remote.run(cmd, timeout=CALL_TIMEOUT), "docker tag")

    def remove(self, ref: str) -> None:
        cmd = f"docker rmi {q(ref)}"
        _check(self.remote, self.remote.run(cmd, timeout=CALL_TIMEOUT), "docker rmi")

    def untagged(self, image_id: str) -> bool:
        tags = self.remote.run(
            f"docker image inspect --format '{{{{len .RepoTags}}}}' {q(image_id)}",
            timeout=CALL_TIMEOUT,
        )
        return tags.status == 0 and tags.out.strip() == b"0"


def load_on_host(
    remote: Remote,
    verified: VerifyResult,
    *,
    install_dir: str | None = None,
    progress: Progress | None = None,
    tools: ToolOptions | None = None,
) -> RemoteLoadResult:
    """Load the verified bundle on one host; see the module's docstring."""
    progress = progress or NullProgress()
    meta = verified.metadata
    probe = probe_host(remote, verified, install_dir)
    if meta.base is not None:  # its base images must be on the host: asked before anything goes
        carried = frozenset(d for d in meta.base.layers if blob_member(d) in verified.members)
        require_base_on_host(remote, meta, verified.path, carried)
    present = [i.reference for i in meta.images if probe.refs.get(i.reference) == i.image_id]
    retag = [
        i.reference for i in meta.images if i.reference not in present and i.image_id in probe.ids
    ]
    needed = [i.reference for i in meta.images if i.reference not in present + retag]
    inst = verified.installer
    inst_need = inst.files_size + 4096 * len(inst.members) + (1 << 20) if install_dir else 0
    _space(remote, probe, _needed_bytes(verified, needed) if needed else 0, inst_need)
    plan: list[ToolPlan] = []
    if tools is not None:
        plan = plan_tools(
            remote, verified, tools.prefix, force=tools.force, allow_install_path=tools.allow
        )
    undo = _Undo()
    installed: list[str] = []
    tool_lines: list[str] = []
    try:
        if needed:
            ids = {i.image_id for i in meta.images if i.reference in needed}
            _send_images(remote, verified, ids, undo, progress)
        for ref in retag:
            image_id = next(i.image_id for i in meta.images if i.reference == ref)
            undo.tags.append(ref)
            _check(
                remote,
                remote.run(f"docker tag {q(image_id)} {q(ref)}", timeout=CALL_TIMEOUT),
                f"docker tag {ref}",
            )
        _confirm(remote, meta.images)
        tool_lines = install_tools(remote, verified, plan, undo.files)
        if install_dir is not None:
            installed = _unpack(remote, verified, install_dir, _names(verified), undo)
    except BaseException as e:
        _roll_back(remote, probe, meta.images, undo)
        for what in undo.removed:  # an interrupted load says so too
            cleanup.note_removed(f"{remote.label}: {what}")
        said = f"; rolled back: {_summary(undo.removed)}" if undo.removed else ""
        if isinstance(e, HarborkitError):
            raise type(e)(f"{e.message}{said}", exit_code=e.exit_code) from e
        if isinstance(e, KeyboardInterrupt):
            raise
        raise LoadFailed(f"{remote.label}: loading {verified.path} failed: {e}{said}") from e
    return RemoteLoadResult(
        remote.label, tuple(needed), tuple(present + retag), tuple(installed), tuple(tool_lines)
    )


def _summary(removed: list[str], limit: int = 4) -> str:
    shown = ", ".join(removed[:limit])
    more = len(removed) - limit
    return shown + (f" and {more} more" if more > 0 else "")


__all__ = ["BundleCorrupt", "Remote", "RemoteLoadResult", "load_on_host", "probe_host"]
