"""The snapshot: what the collector gathered on one host, parsed and verified.

The format is written by ``collect.sh`` (see its header): a first line
``HKSNAP <format> <collector version>``, length-framed records, and a last line
``HKSNAP-END <sha256>`` over every byte before it. A missing last line means
the snapshot was cut short (a dropped connection, a partial copy); a checksum
that does not match means it was edited or damaged. Both are refused whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from harborkit.errors import ExitCode, HarborkitError

#: the newest snapshot format this harborkit reads
FORMAT_VERSION = 1
MAGIC = b"HKSNAP "
END = b"HKSNAP-END "


class SnapshotError(HarborkitError):
    """A snapshot cannot be used (base class)."""

    exit_code = ExitCode.USAGE


class SnapshotCorrupt(SnapshotError):
    """Truncated, edited or not a snapshot at all (exit 4, like a damaged bundle)."""

    exit_code = ExitCode.BUNDLE_CORRUPT


class SnapshotTooNew(SnapshotError):
    """Written by a newer collector in a format this harborkit does not know (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class CommandOutput:
    rc: int
    stdout: bytes
    stderr: bytes


@dataclass
class Snapshot:
    """Everything one collector run recorded; merged with later fetches."""

    source: str
    format: int = FORMAT_VERSION
    collector: str = "?"
    kinds: dict[str, str] = field(default_factory=dict)  # path -> f d o n L
    files: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    listings: dict[str, list[str]] = field(default_factory=dict)
    commands: dict[str, CommandOutput] = field(default_factory=dict)
    which: dict[str, str] = field(default_factory=dict)
    processes: list[tuple[int, str]] | None = None
    facts: dict[str, str] = field(default_factory=dict)

    def merge(self, other: Snapshot) -> None:
        """Add what a later collector run found (it wins where both have a fact)."""
        self.kinds.update(other.kinds)
        self.files.update(other.files)
        self.errors.update(other.errors)
        self.listings.update(other.listings)
        self.commands.update(other.commands)
        self.which.update(other.which)
        if other.processes is not None:
            self.processes = other.processes
        self.facts.update(other.facts)


def _unwrap(data: bytes) -> bytes:
    """A snapshot stored base64-encoded (the Ansible playbook does, so that every
    byte survives Ansible's text output) is decoded; anything else is returned."""
    head = data[:16].strip()
    if head.startswith(b"SEtTTkFQI"):  # base64 of "HKSNAP "
        import base64
        import binascii

        try:
            return base64.b64decode(b"".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            return data
    return data


def verify(data: bytes, source: str) -> bytes:
    """The records of a snapshot whose header and checksum are good.

    Raises :class:`SnapshotCorrupt` or :class:`SnapshotTooNew` naming ``source``.
    """
    data = _unwrap(data)
    if not data.startswith(MAGIC):
        what = "empty" if not data else "not a harborkit snapshot (no HKSNAP header)"
        raise SnapshotCorrupt(f"{source}: {what}")
    nl = data.find(b"\n")
    header = data[: nl if nl >= 0 else len(data)].decode("ascii", "replace").split()
    try:
        fmt = int(header[1])
    except (IndexError, ValueError):
        raise SnapshotCorrupt(f"{source}: bad header line {' '.join(header)!r}") from None
    collector = header[2] if len(header) > 2 else "?"
    if fmt > FORMAT_VERSION:
        from harborkit import __version__

        raise SnapshotTooNew(
            f"{source}: snapshot format {fmt} from collector {collector} is newer than this "
            f"harborkit {__version__} reads (format {FORMAT_VERSION}): upgrade harborkit"
        )
    end = data.rfind(b"\n" + END)
    if end < 0 or not data.endswith(b"\n"):
        raise SnapshotCorrupt(
            f"{source}: truncated: the snapshot ends after {len(data)} bytes without its "
            "HKSNAP-END checksum line (cut short while collecting or copying)"
        )
    body = data[: end + 1]
    want = data[end + 1 + len(END) :].strip().decode("ascii", "replace")
    got = hashlib.sha256(body).hexdigest()
    if want != got:
        raise SnapshotCorrupt(
            f"{source}: checksum mismatch: the snapshot was edited or damaged after it "
            f"was written (recorded sha256 {want[:16]}..., content {got[:16]}...)"
        )
    return body[nl + 1 :]


def parse(data: bytes, source: str) -> Snapshot:
    """Verify and parse a whole snapshot."""
    body = verify(data, source)
    data = _unwrap(data)
    header = data[: data.find(b"\n")].decode("ascii", "replace").split()
    snap = Snapshot(source=source, format=int(header[1]), collector=header[2])
    pos = 0
    while pos < len(body):
        nl = body.find(b"\n", pos)
        if nl < 0:
            raise SnapshotCorrupt(f"{source}: a record header at byte {pos} has no end")
        try:
            kind, size_text, name = body[pos:nl].decode("utf-8", "surrogateescape").split(" ", 2)
            size = int(size_text)
        except ValueError:
            raise SnapshotCorrupt(
                f"{source}: bad record header {body[pos:nl][:80]!r} at byte {pos}"
            ) from None
        start = nl + 1
        content = body[start : start + size]
        if len(content) != size or body[start + size : start + size + 1] != b"\n":
            raise SnapshotCorrupt(f"{source}: record {name!r} runs past the end")
        pos = start + size + 1
        _add(snap, kind, name, content)
    return snap


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _add(snap: Snapshot, kind: str, name: str, content: bytes) -> None:
    if kind == "T":
        snap.kinds[name] = _text(content).strip() or "n"
    elif kind == "F":
        snap.files[name] = content
        snap.errors.pop(name, None)
    elif kind == "E":
        snap.errors[name] = _text(content).strip()
    elif kind == "D":
        snap.listings[name] = [n for n in _text(content).split("\n") if n]
    elif kind in ("O", "X", "R"):
        prev = snap.commands.get(name, CommandOutput(-1, b"", b""))
        if kind == "O":
            snap.commands[name] = CommandOutput(prev.rc, content, prev.stderr)
        elif kind == "X":
            snap.commands[name] = CommandOutput(prev.rc, prev.stdout, content)
        else:
            try:
                rc = int(_text(content).strip())
            except ValueError:
                rc = -1
            snap.commands[name] = CommandOutput(rc, prev.stdout, prev.stderr)
    elif kind == "W":
        snap.which[name] = _text(content).strip()
    elif kind == "P":
        rows = []
        for line in _text(content).splitlines():
            pid, _, comm = line.partition(" ")
            if pid.isdigit():
                rows.append((int(pid), comm))
        snap.processes = rows
    elif kind == "K":
        snap.facts[name] = _text(content)
    # unknown record types from a newer collector of the same format are ignored
