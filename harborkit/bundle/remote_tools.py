"""``bundle load --host --install-tools``: the bundle's extra files (docker-compose)
installed on the host with the refusals of a local load.

Before anything is sent (with the image and install-folder checks): where each
file may go (outside ``/usr/local/bin`` only with a checked signature or
``--allow-install-path``), and what is there now, as the host's ``sha256sum``
says: the same file (left alone), another file (refused without ``--force``),
a folder (refused even with it), a folder in the way or not writable. Each file
is then streamed into a ``mktemp`` file in its folder, its mode set, its sha256
checked on the host against the verified record, and renamed over the target:
an interrupted or altered transfer never leaves a partial tool.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harborkit.bundle.errors import BundleCorrupt, BundleHostile, InstallTargetExists, OutputError
from harborkit.bundle.format import FileRecord
from harborkit.bundle.parts import open_bundle_file
from harborkit.bundle.remote_base import CALL_TIMEOUT, MIN_RATE, Remote, q
from harborkit.bundle.targets import TOOL_FOLDERS
from harborkit.bundle.tools import target_path
from harborkit.bundle.verify import VerifyResult

_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ToolPlan:
    record: FileRecord
    target: str  # path on the host
    state: str  # "new", "same" or "replace"
    folders: tuple[str, ...] = ()  # folders the install makes, deepest first


def _probe(targets: list[str]) -> str:
    lines = []
    for i, t in enumerate(targets):
        p, d = q(t), q(str(Path(t).parent))
        lines += [
            f"t={p}; d={d}",
            f'while [ ! -e "$d" ] && [ ! -L "$d" ]; do printf "{i} mk %s\\n" "$d"; '
            'd=$(dirname -- "$d"); done',
            f'[ -d "$d" ] || printf "{i} notdir %s\\n" "$d"',
            f'[ -w "$d" ] || printf "{i} ro %s\\n" "$d"',
            f'if [ -d "$t" ] && [ ! -L "$t" ]; then echo "{i} dir"; '
            f'elif [ -L "$t" ] || {{ [ -e "$t" ] && [ ! -f "$t" ]; }}; then echo "{i} odd"; '
            f'elif [ -e "$t" ]; then echo "{i} file $(sha256sum < "$t" | cut -c1-64)"; '
            f'else echo "{i} new"; fi',
        ]
    return "\n".join(lines) + "\n"


def plan_tools(
    remote: Remote,
    verified: VerifyResult,
    prefix: str,
    *,
    force: bool,
    allow_install_path: bool,
) -> list[ToolPlan]:
    """Check every extra file's target on the host before anything is sent."""
    records = list(verified.metadata.files)
    for rec in records:
        folder = str(Path(rec.install_path).parent)
        if not (verified.signature_checked or allow_install_path or folder in TOOL_FOLDERS):
            raise BundleHostile(
                f"bundle {verified.path}: {rec.name} would be installed as {rec.install_path}, "
                f"outside {', '.join(TOOL_FOLDERS)}; a bundle whose signature is not checked "
                "installs tools only there (check it with --key, or pass --allow-install-path)"
            )
    if not records:
        return []
    targets = [str(target_path(rec, Path(prefix))) for rec in records]
    reply = remote.run(f"sh -c {q(_probe(targets))}", timeout=CALL_TIMEOUT)
    seen: dict[int, list[tuple[str, str]]] = {}
    for line in reply.out.decode("utf-8", "replace").splitlines()[:10_000]:
        idx, _, rest = line.partition(" ")
        kind, _, value = rest.partition(" ")
        if idx.isdigit() and int(idx) < len(records):
            seen.setdefault(int(idx), []).append((kind, value))
    return [
        _decide(remote, rec, t, seen.get(i, []), force)
        for i, (rec, t) in enumerate(zip(records, targets))  # noqa: B905 (3.9: no strict=)
    ]


def _decide(
    remote: Remote, rec: FileRecord, target: str, said: list[tuple[str, str]], force: bool
) -> ToolPlan:
    where = f"{remote.label}: {target}"
    kinds = dict(said)
    if "notdir" in kinds:
        raise InstallTargetExists(
            f"{remote.label}: {kinds['notdir']} is a file where {rec.name} needs a folder; "
            "nothing sent"
        )
    if "ro" in kinds:
        raise OutputError(f"{remote.label}: {kinds['ro']} is not writable; nothing sent")
    folders = tuple(v for k, v in said if k == "mk")
    if "dir" in kinds:
        raise InstallTargetExists(
            f"{where} is a folder; not replacing it with {rec.name}, even with --force"
        )
    if "odd" in kinds and not force:
        raise InstallTargetExists(
            f"{where} exists and is not a regular file; not replacing it with {rec.name} "
            "(--force replaces it)"
        )
    if "file" in kinds:
        digest = kinds["file"].strip()
        if _SHA.fullmatch(digest) and digest == rec.sha256:
            return ToolPlan(rec, target, "same")
        if not force:
            raise InstallTargetExists(
                f"{where} exists and differs from the bundle's {rec.name}; not replacing it "
                "(--force replaces it)"
            )
    if "new" not in kinds and not {"file", "odd"} & kinds.keys():
        raise OutputError(f"{where}: the host did not say what is there; nothing sent")
    return ToolPlan(rec, target, "new" if "new" in kinds else "replace", folders)


def _member_bytes(verified: VerifyResult, rec: FileRecord) -> Iterator[bytes]:
    m = verified.members[rec.member]
    with open_bundle_file(verified.path) as f:
        pos, end = m.offset, m.end
        while pos < end:
            data = f.pread(min(1 << 20, end - pos), pos)
            if not data:
                raise BundleCorrupt(f"bundle {verified.path}: member {m.name} ended early")
            pos += len(data)
            yield data


def install_tools(
    remote: Remote, verified: VerifyResult, plan: list[ToolPlan], made: list[str]
) -> list[str]:
    """Install the planned files on the host; what each became. New files and the
    folders made go to ``made`` (for a roll-back), deepest first."""
    done = []
    for p in plan:
        if p.state == "same":
            done.append(f"{p.record.name} already in place: {p.target}")
            continue
        target, folder = q(p.target), q(str(Path(p.target).parent))
        tmp_name = q(f".{Path(p.target).name}.hk-XXXXXX")
        script = (
            f"set -e; mkdir -p -- {folder}; tmp=$(mktemp {folder}/{tmp_name}); "
            f'trap \'rm -f -- "$tmp"\' EXIT; cat > "$tmp"; chmod {p.record.mode:o} "$tmp"; '
            f'sum=$(sha256sum < "$tmp" | cut -c1-64); '
            f'if [ "$sum" != {q(p.record.sha256)} ]; then '
            f'echo "{p.record.name} arrived with sha256 $sum" >&2; exit 3; fi; '
            f'mv -f -- "$tmp" {target}; trap - EXIT'
        )
        if p.state == "new":
            made[:0] = [p.target]  # before its folders: removed first
        made += [f for f in p.folders if f not in made]
        reply = remote.run(
            f"sh -c {q(script)}",
            stdin=_member_bytes(verified, p.record),
            timeout=CALL_TIMEOUT + p.record.size / MIN_RATE,
        )
        if reply.status != 0:
            raise OutputError(
                f"{remote.label}: installing {p.record.name} as {p.target} failed: "
                f"{reply.last_line()}"
            )
        state = "installed" if p.state == "new" else "replaced"
        done.append(f"{p.record.name} {state}: {p.target} (mode {p.record.mode:04o})")
    return done


__all__ = ["ToolPlan", "install_tools", "plan_tools"]
