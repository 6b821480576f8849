"""Planned changes: what would make a failed check pass, as data.

A check that knows its fix returns these from ``Check.plan(ctx, outcome)``;
the same objects become the report's remediation text (:func:`hint`), the
dry-run diff, the changes ``harborkit fix --apply`` makes, and the generated
shell script and Ansible playbook. The knowledge of what to change lives in
the check's planner, once.
"""

from __future__ import annotations

import difflib
import hashlib
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Union


@dataclass(frozen=True)
class FileChange:
    """Write ``new`` to ``path`` (a path on the audited host).

    ``old`` is the content the plan was made from (None: the file does not
    exist); apply refuses when the file no longer has it. ``owned`` marks a
    file harborkit writes whole (a drop-in of its own), which a fleet script
    may overwrite whatever it holds; any other file is edited only where it
    still holds ``old``. A new file gets ``mode``; an existing one keeps its
    mode and owner.
    """

    check_ids: tuple[str, ...]
    path: str
    new: bytes
    old: bytes | None
    reason: str
    owned: bool = False
    mode: int = 0o644
    #: the hint shows the whole new file (a JSON document), not line edits
    whole: bool = False

    @property
    def new_sha256(self) -> str:
        return hashlib.sha256(self.new).hexdigest()

    @property
    def old_sha256(self) -> str | None:
        return None if self.old is None else hashlib.sha256(self.old).hexdigest()

    def diff(self) -> str:
        """Unified diff from the planned-from content to the new one."""
        old = _lines(self.old or b"")
        new = _lines(self.new)
        a = "/dev/null" if self.old is None else f"a{self.path}"
        # a last line without its newline is marked as diff(1) does
        return "".join(
            ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n"
            for ln in difflib.unified_diff(old, new, a, f"b{self.path}")
        )


@dataclass(frozen=True)
class Command:
    """Run ``argv`` after the file changes (only on a running system)."""

    check_ids: tuple[str, ...]
    argv: tuple[str, ...]
    reason: str
    restarts_docker: bool = False
    #: what --rollback cannot undo once this ran (a runtime value, a stopped service)
    irreversible: str = ""

    @property
    def shell(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class ManualStep:
    """A fix no file or command can make (more memory, a newer Docker)."""

    check_ids: tuple[str, ...]
    reason: str


Change = Union[FileChange, Command, ManualStep]


@dataclass(frozen=True)
class Plan:
    """Every change for one host, files first, then commands, then manual steps."""

    files: tuple[FileChange, ...] = ()
    commands: tuple[Command, ...] = ()
    manual: tuple[ManualStep, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.files or self.commands or self.manual)

    @property
    def check_ids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        items: tuple[Change, ...] = (*self.files, *self.commands, *self.manual)
        for c in items:
            for i in c.check_ids:
                seen.setdefault(i, None)
        return tuple(seen)


class PlanConflict(Exception):
    """Two checks want different content in the same file."""


def merge(changes: Iterable[Change], notes: Sequence[str] = ()) -> Plan:
    """One plan: the same file or command planned by two checks appears once,
    naming both checks. A file planned twice with different content is a
    conflict (the planners of one file share one helper, so it is a bug)."""
    files: dict[str, FileChange] = {}
    commands: dict[tuple[str, ...], Command] = {}
    manual: dict[str, ManualStep] = {}
    for c in changes:
        if isinstance(c, FileChange):
            prev = files.get(c.path)
            if prev is None:
                files[c.path] = c
            elif prev.new != c.new:
                raise PlanConflict(
                    f"{c.path}: {', '.join(prev.check_ids)} and {', '.join(c.check_ids)} "
                    "plan different contents"
                )
            else:
                files[c.path] = replace(prev, check_ids=_union(prev.check_ids, c.check_ids))
        elif isinstance(c, Command):
            prevc = commands.get(c.argv)
            commands[c.argv] = (
                c
                if prevc is None
                else replace(prevc, check_ids=_union(prevc.check_ids, c.check_ids))
            )
        else:
            prevm = manual.get(c.reason)
            manual[c.reason] = (
                c
                if prevm is None
                else replace(prevm, check_ids=_union(prevm.check_ids, c.check_ids))
            )
    return Plan(
        tuple(files.values()), tuple(commands.values()), tuple(manual.values()), tuple(notes)
    )


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return a + tuple(x for x in b if x not in a)


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def _show(line: str) -> str:
    return line.rstrip("\n")


def describe_file(change: FileChange) -> str:
    """The exact lines to add, change or remove, with the file name and line numbers."""
    if change.old is None or change.whole:
        body = "".join(f"\n    {_show(ln)}" for ln in _lines(change.new))
        verb = "create" if change.old is None else "rewrite"
        return f"{verb} {change.path} as:{body}"
    old, new = _lines(change.old), _lines(change.new)
    parts: list[str] = []
    sm = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace":
            paired = min(i2 - i1, j2 - j1)
            for k in range(paired):
                parts.append(
                    f"line {i1 + k + 1}: change '{_show(old[i1 + k])}' to '{_show(new[j1 + k])}'"
                )
            i1, j1 = i1 + paired, j1 + paired
        if i2 > i1:
            for k in range(i1, i2):
                parts.append(f"line {k + 1}: remove '{_show(old[k])}'")
        if j2 > j1:
            where = "at the end" if i2 >= len(old) else f"before line {i2 + 1}"
            added = "".join(f"\n    {_show(ln)}" for ln in new[j1:j2])
            parts.append(f"add {where}:{added}")
    if len(old) > 3 and len(parts) > max(6, len(old) // 2):
        # most of the file changes: show it whole
        body = "".join(f"\n    {_show(ln)}" for ln in new)
        return f"rewrite {change.path} as:{body}"
    return f"in {change.path}, " + "; ".join(parts)


def hint(changes: Sequence[Change]) -> str:
    """The remediation text of one check, rendered from its planned changes."""
    out: list[str] = []
    for c in changes:
        if isinstance(c, FileChange):
            text = describe_file(c)
            out.append(f"{text}\n  ({c.reason})" if c.reason else text)
        elif isinstance(c, Command):
            out.append(f"run: {c.shell}")
        else:
            out.append(c.reason)
    return "\n".join(out)


__all__ = [
    "Change",
    "Command",
    "FileChange",
    "ManualStep",
    "Plan",
    "PlanConflict",
    "describe_file",
    "hint",
    "merge",
]


def read_bytes(host: object, path: str) -> bytes | None:
    """A file's exact bytes on the host, None when absent (hosts without
    ``read_bytes`` give their text, UTF-8 encoded)."""
    reader = getattr(host, "read_bytes", None)
    try:
        if reader is not None:
            return bytes(reader(path))
        return str(host.read_text(path)).encode()  # type: ignore[attr-defined]
    except FileNotFoundError:
        return None


def edit_lines(text: str, edits: dict[int, str | None], append: Sequence[str] = ()) -> str:
    """``text`` with line N (1-based, numbered as the checks number them)
    replaced by ``edits[N]`` (None removes it), then ``append`` added at the end.

    Only those lines change: every other line keeps its exact characters and
    line ending (``\\r\\n`` stays ``\\r\\n``; bytes that are not UTF-8, decoded
    with ``surrogateescape``, encode back as they were), a changed line keeps
    its own ending, and a last line without a newline stays without one unless
    lines are appended after it (appended lines end as the file's first line does).
    """
    lines = text.splitlines(keepends=True)
    nl = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    for n, ln in enumerate(lines, 1):
        if n not in edits:
            out.append(ln)
            continue
        new = edits[n]
        if new is not None:
            body = ln.splitlines()[0] if ln.splitlines() else ""
            out.append(new + ln[len(body) :])
    if append:
        if out and not out[-1].endswith("\n"):  # pam_limits, sysctl: lines end at \\n
            out[-1] += nl
        out += [a + nl for a in append]
    return "".join(out)


def encode_exact(text: str) -> bytes:
    """The bytes of ``text`` decoded with ``utf-8``/``surrogateescape`` (the bytes
    a planner read), exactly as they were."""
    return text.encode("utf-8", "surrogateescape")


def file_change(
    check_id: str,
    host: object,
    path: str,
    new_text: str,
    reason: str,
    *,
    owned: bool = False,
    mode: int = 0o644,
    whole: bool = False,
) -> FileChange | None:
    """A FileChange from the file's current bytes to ``new_text``; None when equal."""
    old = read_bytes(host, path)
    new = encode_exact(new_text)
    if old == new:
        return None
    return FileChange(
        (check_id,), path, new, old, reason, owned=owned or old is None, mode=mode, whole=whole
    )
