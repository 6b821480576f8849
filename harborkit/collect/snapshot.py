"""The snapshot: what the collector gathered on one host, parsed and verified.

The format is written by ``collect.sh`` (see its header): a first line
``HKSNAP <format> <collector version>``, records whose name and data are both
length-framed (``<type> <name length> <data length>\\n<name><data>\\n``), and a
last line ``HKSNAP-END <sha256>`` over every byte before it. A missing last
line means the snapshot was cut short (a dropped connection, a partial copy); a
checksum that does not match means it was edited or damaged. Both are refused
whole.

A snapshot is data from the audited host: it is read as a stream with bounds
(:data:`MAX_SNAPSHOT_BYTES` in all, no file's content above
:data:`~harborkit.fsutil.MAX_FILE_BYTES`, names and headers short), and
only from a regular file (:func:`read_file`): a FIFO or a device is refused from
its metadata, never opened for reading.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from harborkit.errors import ExitCode, HarborkitError
from harborkit.fsutil import MAX_FILE_BYTES, not_regular

#: the snapshot format this harborkit reads and its collector writes
FORMAT_VERSION = 2
MAGIC = b"HKSNAP "
END = b"HKSNAP-END "
#: a whole snapshot (decoded) is at most this large
MAX_SNAPSHOT_BYTES = 64 << 20
#: a record that is not a file's content (a listing, a fact) is at most this large
MAX_RECORD_BYTES = 16 << 20
#: a record's name (a path, a command line) is at most this long
MAX_NAME_BYTES = 64 << 10
#: records, listing entries, process rows and batch index rows in one snapshot:
#: each costs memory far beyond its bytes (a 2-byte name is a Python object), so
#: #: their count is bounded, not only their size (a host with 100,000 files in
#: one folder makes about 300,000; 400,000 of the costliest kind stay under 150 MB)
MAX_ITEMS = 400_000
_CHUNK = 1 << 20
_NUMBER = re.compile(rb"[0-9]{1,12}")
_HEADER = re.compile(rb"([A-Za-z]) ([0-9]{1,12}) ([0-9]{1,12})")
_TOO_LARGE = f"is larger than {MAX_FILE_BYTES >> 20} MiB, too large for a config file: not read"


class SnapshotError(HarborkitError):
    """A snapshot cannot be used (base class)."""

    exit_code = ExitCode.USAGE


class SnapshotCorrupt(SnapshotError):
    """Truncated, edited or not a snapshot at all (exit 4, like a damaged bundle)."""

    exit_code = ExitCode.BUNDLE_CORRUPT


class SnapshotTooNew(SnapshotError):
    """Written by a newer collector in a format this harborkit does not know (exit 2)."""

    exit_code = ExitCode.USAGE


class SnapshotTooOld(SnapshotError):
    """Written by an older collector in a format this harborkit no longer reads (exit 2)."""

    exit_code = ExitCode.USAGE


class SnapshotNotAFile(SnapshotError):
    """``--snapshot`` names a FIFO, a device, a socket: not read (exit 2)."""

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
    kinds: dict[str, str] = field(default_factory=dict)  # path -> f d p c b s o n L
    files: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    too_large: dict[str, str] = field(default_factory=dict)  # path -> why it was not read
    #: commands whose output was over the file limit (not sent, not judged)
    too_much_output: set[str] = field(default_factory=set)
    listings: dict[str, list[str]] = field(default_factory=dict)
    commands: dict[str, CommandOutput] = field(default_factory=dict)
    which: dict[str, str] = field(default_factory=dict)
    processes: list[tuple[int, str]] | None = None
    facts: dict[str, str] = field(default_factory=dict)
    #: the commands whose O, X and R records were read (the first of each wins)
    _parts: dict[str, set[str]] = field(
        default_factory=lambda: {"O": set(), "X": set(), "R": set()}, repr=False, compare=False
    )

    def merge(self, other: Snapshot) -> None:
        """Add what a later collector run found (it wins where both have a fact)."""
        for path in (*other.files, *other.errors, *other.too_large):
            self.files.pop(path, None)
            self.errors.pop(path, None)
            self.too_large.pop(path, None)
        self.kinds.update(other.kinds)
        self.files.update(other.files)
        self.errors.update(other.errors)
        self.too_large.update(other.too_large)
        self.listings.update(other.listings)
        self.commands.update(other.commands)
        self.too_much_output -= set(other.commands)
        self.too_much_output |= other.too_much_output
        self.which.update(other.which)
        if other.processes is not None:
            self.processes = other.processes
        self.facts.update(other.facts)


def show(raw: bytes | str, limit: int = 60) -> str:
    """Bytes from a snapshot, safe to put in a one-line message (no control
    characters or terminal escapes reach the terminal)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return printable(text[:limit]) + ("..." if len(text) > limit else "")


def printable(text: str) -> str:
    """``text`` on one line with no terminal sequences: every control, bidi and
    separator character (a newline, an escape) shown as ``\\xNN``/``\\uNNNN``, a
    tab kept, as every ``harborkit: error:`` line shows it."""
    from harborkit.textsafe import terminal_line

    return terminal_line(text)


# ---- reading: a regular file or bytes, as a stream of chunks


def read_file(path: str | os.PathLike[str], shown: str) -> Snapshot:
    """Parse the snapshot file ``path`` (named ``shown`` in errors).

    Only a regular file is read (decided from its metadata: a FIFO is never
    opened, a device never read), in chunks, at most the snapshot bound.
    """
    shown = printable(shown)  # a file name found in a folder is data too
    try:
        st = os.stat(path)
        what = not_regular(st.st_mode)
        if what:
            raise SnapshotNotAFile(f"--snapshot {shown}: is {what}, not a snapshot file: not read")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise SnapshotError(f"--snapshot {shown}: {e.strerror or e}") from e
    try:
        st = os.fstat(fd)  # the file opened is the one judged
        what = not_regular(st.st_mode)
        if what:
            raise SnapshotNotAFile(f"--snapshot {shown}: is {what}, not a snapshot file: not read")
        if st.st_size > _MAX_RAW:
            raise _too_big(shown)

        def chunks() -> Iterator[bytes]:
            raw = 0
            while chunk := os.read(fd, _CHUNK):
                raw += len(chunk)
                if raw > _MAX_RAW:  # it grows while being read
                    raise _too_big(shown)
                yield chunk

        return _parse(chunks(), shown)
    except OSError as e:
        raise SnapshotError(f"--snapshot {shown}: {e.strerror or e}") from e
    finally:
        os.close(fd)


def parse(data: bytes, source: str) -> Snapshot:
    """Verify and parse a whole snapshot held in memory (what SSH brought back)."""
    if len(data) > _MAX_RAW:
        raise _too_big(source)
    view = memoryview(data)
    return _parse((bytes(view[i : i + _CHUNK]) for i in range(0, len(data), _CHUNK)), source)


# base64 (the Ansible playbook's form) is a third larger, and wrapped
_MAX_RAW = MAX_SNAPSHOT_BYTES * 3 // 2


def _too_big(source: str) -> SnapshotCorrupt:
    return SnapshotCorrupt(
        f"{source}: larger than {MAX_SNAPSHOT_BYTES >> 20} MiB: not a snapshot harborkit's "
        "collector writes (it sends no file over "
        f"{MAX_FILE_BYTES >> 20} MiB): not read"
    )


def _unwrap(chunks: Iterator[bytes], source: str) -> Iterator[bytes]:
    """The decoded bytes: a snapshot stored base64-encoded (the Ansible playbook
    does, so that every byte survives Ansible's text output) is decoded as it
    streams; anything else passes as it is. At most the snapshot bound."""
    first = b""
    for chunk in chunks:
        first += chunk
        if len(first) >= 64:
            break
    if not first.lstrip()[:16].startswith(b"SEtTTkFQI"):  # base64 of "HKSNAP "
        stream: Iterable[bytes] = _chain(first, chunks)
    else:
        stream = _b64(_chain(first, chunks), source)
    total = 0
    for chunk in stream:
        total += len(chunk)
        if total > MAX_SNAPSHOT_BYTES:
            raise _too_big(source)
        yield chunk


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _b64(chunks: Iterable[bytes], source: str) -> Iterator[bytes]:
    left = b""
    try:
        for chunk in chunks:
            text = left + b"".join(chunk.split())
            cut = len(text) - len(text) % 4
            left = text[cut:]
            if cut:
                yield base64.b64decode(text[:cut], validate=True)
        if left:
            raise binascii.Error("incomplete")
    except (binascii.Error, ValueError):
        raise SnapshotCorrupt(
            f"{source}: damaged: its base64 encoding is broken (edited or cut short)"
        ) from None


class _Stream:
    """Bytes pulled from chunks as needed; every byte is hashed except the last
    line, which is kept aside until the end (the checksum line)."""

    _HOLD = 128  # longer than the checksum line

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0
        self.eof = False
        self.offset = 0  # bytes consumed
        self.total = 0  # bytes pulled
        self._sha = hashlib.sha256()
        self._pending = b""  # pulled, not yet hashed

    def _pull(self) -> bool:
        if self.eof:
            return False
        chunk = next(self._chunks, None)
        if chunk is None:
            self.eof = True
            return False
        self.total += len(chunk)
        self._pending += chunk
        if len(self._pending) > self._HOLD:
            self._sha.update(self._pending[: -self._HOLD])
            self._pending = self._pending[-self._HOLD :]
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    def have(self, n: int) -> bool:
        while len(self._buf) - self._pos < n:
            if not self._pull():
                return False
        return True

    def line(self, limit: int) -> bytes | None:
        """The next line (without its newline) if one ends within ``limit`` bytes."""
        scanned = 0  # bytes after the position already searched (a pull moves the position)
        while True:
            nl = self._buf.find(b"\n", self._pos + scanned, self._pos + limit + 1)
            if nl >= 0:
                out = self._buf[self._pos : nl]
                self.offset += nl + 1 - self._pos
                self._pos = nl + 1
                return out
            scanned = len(self._buf) - self._pos
            if scanned > limit:
                return None
            if not self._pull():
                return None

    def peek(self, n: int) -> bytes:
        return self._buf[self._pos : self._pos + n]

    def take(self, n: int) -> bytes | None:
        if not self.have(n):
            return None
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        self.offset += n
        if self._pos > _CHUNK:
            self._buf = self._buf[self._pos :]
            self._pos = 0
        return out

    def skip(self, n: int) -> bool:
        while n > 0:
            got = self.take(min(n, _CHUNK))
            if got is None:
                return False
            n -= len(got)
        return True

    def drain(self) -> None:
        self._buf, self._pos = b"", 0
        while self._pull():
            self._buf, self._pos = b"", 0

    def checksum(self, source: str) -> None:
        """At the end of the stream: the last line is ``HKSNAP-END <sha256>`` of
        every byte before it."""
        tail = self._pending
        cut = tail.rfind(b"\n", 0, len(tail) - 1) + 1
        last = tail[cut:]
        if not tail.endswith(b"\n") or not last.startswith(END) or self.total <= len(last):
            raise SnapshotCorrupt(
                f"{source}: truncated: the snapshot ends after {self.total} bytes without its "
                "HKSNAP-END checksum line (cut short while collecting or copying)"
            )
        self._sha.update(tail[:cut])
        got = self._sha.hexdigest()
        want = last[len(END) :].strip().decode("ascii", "replace")
        if want != got:
            raise SnapshotCorrupt(
                f"{source}: checksum mismatch: the snapshot was edited or damaged after it "
                f"was written (recorded sha256 {show(want[:16], 16)}..., content {got[:16]}...)"
            )


class _Bad(Exception):
    """A framing error at some byte: reported only when the checksum holds."""


def _parse(chunks: Iterator[bytes], source: str) -> Snapshot:
    stream = _Stream(_unwrap(chunks, source))
    try:
        snap = _records(stream, source)
    except _Bad as e:
        stream.drain()
        stream.checksum(source)  # a cut or edited snapshot is said to be so first
        raise SnapshotCorrupt(f"{source}: {e}") from None
    return snap


def _header(stream: _Stream, source: str) -> tuple[int, str]:
    if not stream.have(1):
        raise SnapshotCorrupt(f"{source}: empty")
    first = stream.line(256)
    if first is None or not first.startswith(MAGIC):
        if first is None and stream.peek(len(MAGIC)) == MAGIC:
            stream.drain()
            stream.checksum(source)  # cut short inside its first line
        raise SnapshotCorrupt(f"{source}: not a harborkit snapshot (no HKSNAP header)")
    fields = first.split(b" ")
    if len(fields) != 3 or not _NUMBER.fullmatch(fields[1]) or not fields[2].strip():
        raise SnapshotCorrupt(
            f"{source}: bad header line {show(first)!r}: expected "
            "'HKSNAP <format> <collector version>'"
        )
    fmt = int(fields[1])
    collector = show(fields[2], 40)
    from harborkit import __version__

    if fmt > FORMAT_VERSION:
        raise SnapshotTooNew(
            f"{source}: snapshot format {fmt} from collector {collector} is newer than this "
            f"harborkit {__version__} reads (format {FORMAT_VERSION}): upgrade harborkit"
        )
    if fmt < FORMAT_VERSION:
        raise SnapshotTooOld(
            f"{source}: snapshot format {fmt} from collector {collector} is older than this "
            f"harborkit {__version__} reads (format {FORMAT_VERSION}; file names were not "
            "framed in it): collect it again with harborkit collect --script"
        )
    return fmt, collector


def _records(stream: _Stream, source: str) -> Snapshot:
    fmt, collector = _header(stream, source)
    snap = Snapshot(source=source, format=fmt, collector=collector)
    index: list[tuple[str, int]] = []
    aliases: dict[str, tuple[str, str]] = {}  # temp file -> (record type, name)
    items = 0
    while True:
        at = stream.offset
        items += 1
        if items > MAX_ITEMS:
            raise _Bad(_too_many(at))
        line = stream.line(128)
        if line is None:
            if stream.eof:
                raise _Bad(f"a record header at byte {at} has no end")
            raise _Bad(f"bad record header at byte {at}")
        if line.startswith(END):
            if stream.have(1):
                raise _Bad(f"bytes after the HKSNAP-END line at byte {stream.offset}")
            stream.checksum(source)
            return snap
        m = _HEADER.fullmatch(line)
        if not m:
            raise _Bad(f"bad record header {show(line)!r} at byte {at}")
        kind = m.group(1).decode()
        name_len, size = int(m.group(2)), int(m.group(3))
        if name_len > MAX_NAME_BYTES:
            raise _Bad(f"a record name at byte {at} is {name_len} bytes long")
        raw_name = stream.take(name_len)
        if raw_name is None:
            raise _Bad(f"record at byte {at} runs past the end")
        name = raw_name.decode("utf-8", "surrogateescape")
        if kind == "B":
            if not _batch(stream, snap, index, size, aliases):
                raise _Bad(f"record B at byte {at} runs past the end")
            index = []
        elif kind == "F" and size > MAX_FILE_BYTES:
            if not stream.skip(size):
                raise _Bad(f"record {show(name)!r} runs past the end")
            _add(snap, "Z", name, str(size).encode())
        else:
            if size > MAX_RECORD_BYTES:
                raise _Bad(
                    f"record {kind} {show(name)!r} at byte {at} holds {size} bytes, "
                    f"more than the {MAX_RECORD_BYTES >> 20} MiB a record may have"
                )
            content = stream.take(size)
            if content is None:
                raise _Bad(f"record {show(name)!r} runs past the end")
            # entries are counted before they are split into objects
            if kind in ("D", "I"):
                items += content.count(b"\0") // (2 if kind == "I" else 1)
            elif kind == "P":
                items += content.count(b"\n")
            if items > MAX_ITEMS:
                raise _Bad(_too_many(at))
            if kind == "I":
                index = _index(content, at)
            elif kind == "A":
                what, _, key = content.decode("utf-8", "surrogateescape").partition(" ")
                aliases.setdefault(name, (what, key))
            elif kind == "Z" and name in aliases:
                what, key = aliases[name]
                if what == "F":  # a copy of a /proc or /sys file over the limit
                    _add(snap, "Z", key, content)
                else:  # a command's output
                    snap.too_much_output.add(key)
            else:
                _add(snap, kind, name, content)
        if stream.take(1) != b"\n":
            raise _Bad(f"record {show(name)!r} at byte {at} is not followed by a newline")


def _too_many(at: int) -> str:
    return (
        f"more than {MAX_ITEMS:,} records and entries by byte {at}: not a snapshot "
        "harborkit's collector writes"
    )


def _index(content: bytes, at: int) -> list[tuple[str, int]]:
    """A batch's files: ``size NUL name NUL`` each."""
    parts = content.split(b"\0")
    if parts[-1] != b"" or len(parts) % 2 != 1:
        raise _Bad(f"bad batch index at byte {at}")
    rows: list[tuple[str, int]] = []
    for i in range(0, len(parts) - 1, 2):
        size, name = parts[i], parts[i + 1]
        if not _NUMBER.fullmatch(size) or not name:
            raise _Bad(f"bad batch index at byte {at}")
        rows.append((name.decode("utf-8", "surrogateescape"), int(size)))
    return rows


def _batch(
    stream: _Stream,
    snap: Snapshot,
    index: list[tuple[str, int]],
    size: int,
    aliases: dict[str, tuple[str, str]],
) -> bool:
    """Give each indexed file its bytes (a command's output where an alias says
    so), read one by one from the stream; a file that changed size between the
    count and the read makes the batch unusable (its files stay unread: a miss,
    never wrong bytes). False when the stream ends first."""
    if sum(n for _, n in index) != size or any(n > MAX_FILE_BYTES for _, n in index):
        return stream.skip(size)
    for path, n in index:
        data = stream.take(n)
        if data is None:
            return False
        if path in aliases:
            _add(snap, *aliases[path], data)
        else:
            _add(snap, "F", path, data)
    return True


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _first(snap: Snapshot, kind: str, name: str) -> bool:
    """Whether this is the first record of its kind for ``name``: a second one
    (which an honest collector writes only for a path read twice) is ignored, so
    the first wins, whatever the transport (a snapshot read from a file and one
    brought back over SSH are parsed alike)."""
    if kind in ("F", "Z", "E"):  # a path's content, its size over the limit or its error
        return name not in snap.files and name not in snap.errors and name not in snap.too_large
    if kind in ("O", "X", "R"):
        done = snap._parts[kind]
        if name in done:
            return False
        done.add(name)
        return True
    if kind == "P":
        return snap.processes is None
    tables: dict[str, Mapping[str, object]] = {
        "T": snap.kinds,
        "D": snap.listings,
        "W": snap.which,
        "K": snap.facts,
    }
    table = tables.get(kind)
    return table is None or name not in table


def _add(snap: Snapshot, kind: str, name: str, content: bytes) -> None:
    if not _first(snap, kind, name):
        return
    if kind == "T":
        snap.kinds[name] = _text(content).strip() or "n"
    elif kind == "F":
        snap.files[name] = content
        snap.errors.pop(name, None)
        snap.too_large.pop(name, None)
    elif kind == "Z":
        snap.too_large[name] = _TOO_LARGE
        snap.files.pop(name, None)
    elif kind == "E":
        snap.errors[name] = _text(content).strip()
    elif kind == "D":
        entries = content.split(b"\0")
        if entries[-1] != b"" or any(not e or b"/" in e for e in entries[:-1]):
            raise _Bad(f"bad listing of {show(name)!r}: an entry is empty or holds a '/'")
        snap.listings[name] = [e.decode("utf-8", "surrogateescape") for e in entries[:-1]]
    elif kind in ("O", "X", "R"):
        prev = snap.commands.get(name, CommandOutput(-1, b"", b""))
        if kind == "O":
            snap.commands[name] = CommandOutput(prev.rc, content, prev.stderr)
        elif kind == "X":
            snap.commands[name] = CommandOutput(prev.rc, prev.stdout, content)
        else:
            text = content.strip()
            rc = int(text) if _NUMBER.fullmatch(text) and len(text) <= 3 else -1
            snap.commands[name] = CommandOutput(rc, prev.stdout, prev.stderr)
    elif kind == "W":
        snap.which[name] = _text(content).strip()
    elif kind == "P":
        rows = []
        for line in content.split(b"\n"):
            pid, _, comm = line.partition(b" ")
            if _NUMBER.fullmatch(pid):
                rows.append((int(pid), comm.decode("utf-8", "surrogateescape")))
        snap.processes = rows
    elif kind == "K":  # paths in facts (df's folder) stay exact, as the OS gives them locally
        snap.facts[name] = content.decode("utf-8", "surrogateescape")
    # unknown record types from a newer collector of the same format are ignored
