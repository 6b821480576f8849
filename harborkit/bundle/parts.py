"""A bundle split into parts for removable media, written and read in one pass.

``NAME.part-000``, ``NAME.part-001`` ... are consecutive byte ranges of the one bundle
(``cat NAME.part-* > NAME`` gives it back exactly); ``NAME.parts.sha256`` lists each
part's sha256 in coreutils format (``sha256sum -c NAME.parts.sha256``).

:class:`PartWriter` is a seekable binary sink the bundle writer writes into as into one file
(it patches member headers in place); parts that are complete are hashed in the background
while the build goes on. :class:`PartsReader` is a read-only seekable file over the parts, so
verify, inspect and load read across them directly, and it names the part a problem lies in.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Union

from harborkit.bundle.errors import BundleCorrupt, BundleUnreadable, OutputError
from harborkit.compat import zip_strict
from harborkit.errors import InputError
from harborkit.fsutil import AtomicFile, temp_name

PART_INFIX = ".part-"
LIST_SUFFIX = ".parts.sha256"
_PART_RE = re.compile(r"^(?P<base>.+)\.part-(?P<n>\d{3,})$")
_SIZE_RE = re.compile(
    r"\A[ \t]*([0-9]{1,19})(?:\.([0-9]{1,9}))?[ \t]*([KMGT]?)(i?B?)[ \t]*\Z",
    re.IGNORECASE | re.ASCII,
)
_READ = 8 << 20
#: smallest part: a tar header and some data
MIN_PART = 4096
#: largest part: 1 PiB (no medium is larger; a size is never a float or unbounded)
MAX_PART = 1 << 50
#: part names have three digits: ``cat NAME.part-*`` would put ``part-1000`` before
#: ``part-101`` (the shell sorts names as text), so a bundle has at most 1000 parts
MAX_PARTS = 1000


def _too_many_parts(final: Path) -> str:
    return (
        f"bundle {final} would need more than {MAX_PARTS} parts ({part_name(final, 0).name} "
        f"to {part_name(final, MAX_PARTS - 1).name}; cat NAME.part-* joins more out of order)"
    )


def parse_size(text: str) -> int:
    """``4G``, ``4700M``, ``4GiB``, ``1048576`` -> bytes.

    ``K/M/G/T`` (and ``KB`` ...) are powers of 1000, as media are sold: ``4G`` fits a FAT32 stick
    (which stops one byte short of 4 GiB) and ``4700M`` a 4.7 GB DVD. ``KiB/MiB/GiB/TiB`` are powers
    of 1024. ASCII digits only, computed exactly (no float), at most :data:`MAX_PART` bytes.
    """
    bad = f"--split-size {text!r}: expected a size such as 4G, 4700M or 4GiB"
    m = _SIZE_RE.match(text)
    if not m:
        raise InputError(bad)
    whole, frac, unit, suffix = m.group(1), m.group(2) or "", m.group(3).upper(), m.group(4)
    if suffix and not unit:
        raise InputError(bad)
    base = 1024 if suffix.lower().startswith("i") else 1000
    scale = base ** ("KMGT".index(unit) + 1) if unit else 1
    size = int(whole) * scale + int(frac or "0") * scale // 10 ** len(frac)
    if size < MIN_PART:
        raise InputError(f"--split-size {text!r}: parts must be at least {MIN_PART} bytes")
    if size > MAX_PART:
        raise InputError(f"--split-size {text!r}: parts must be at most {MAX_PART} bytes")
    return size


def part_name(final: Path, index: int) -> Path:
    """``NAME.part-NNN`` for the bundle ``final``."""
    return final.with_name(f"{final.name}{PART_INFIX}{index:03d}")


def list_name(final: Path) -> Path:
    """``NAME.parts.sha256`` for the bundle ``final``."""
    return final.with_name(final.name + LIST_SUFFIX)


# --------------------------------------------------------------------------- writing


class PartWriter:
    """A seekable write sink spread over fixed-size part files (temporary names until commit)."""

    def __init__(self, final: Path, part_size: int) -> None:
        self.final = final
        self.part_size = part_size
        self._fds: list[int] = []
        self._files: list[AtomicFile] = []  # each part, under its temporary name
        self._dir: int | None = None  # the folder of the parts
        self._pos = 0
        self._size = 0
        self._digests: dict[int, str] = {}
        self._dirty: set[int] = set()
        self._lock = threading.Lock()
        self._queue: list[int] = []
        self._hasher: threading.Thread | None = None
        self._closed = False

    # file-like --------------------------------------------------------------
    def _fd(self, index: int) -> int:
        while len(self._fds) <= index:
            n = len(self._fds)
            if n >= MAX_PARTS:
                raise InputError(_too_many_parts(self.final) + ": choose a larger --split-size")
            tmp = self.final.with_name(temp_name(part_name(self.final, n).name))
            try:
                af = self._part_file(part_name(self.final, n).name)
                fd = af.open()
            except OSError as e:
                raise OutputError(f"cannot create {tmp}: {e.strerror or e}") from e
            self._fds.append(fd)
            self._files.append(af)
        return self._fds[index]

    def _part_file(self, name: str) -> AtomicFile:
        if self._dir is None:
            self._dir = os.open(self.final.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return AtomicFile(self._dir, name, folder=self.final.parent)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write at the current position, across part boundaries."""
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            index, within = divmod(self._pos, self.part_size)
            n = min(len(view), self.part_size - within)
            fd = self._fd(index)
            written = os.pwrite(fd, view[:n], within)
            with self._lock:
                if index in self._digests or index in self._queue:
                    self._dirty.add(index)
            self._pos += written
            view = view[written:]
        if self._pos > self._size:
            self._size = self._pos
            self._hash_sealed()
        return total

    def tell(self) -> int:
        """Current position in the whole bundle."""
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        """Move within the whole bundle."""
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = base + pos
        return self._pos

    def truncate(self, size: int | None = None) -> int:
        """Cut the bundle at ``size`` (default: the current position)."""
        size = self._pos if size is None else size
        index = size // self.part_size
        for i in range(len(self._fds) - 1, index, -1):
            self._fds.pop()
            self._files.pop().discard()  # its descriptor closed, its file removed
            with self._lock:
                self._digests.pop(i, None)
                self._dirty.discard(i)
        if self._fds:
            os.ftruncate(self._fds[index], size - index * self.part_size)
        with self._lock:
            if index in self._digests:
                self._dirty.add(index)
        self._size = size
        return size

    def flush(self) -> None:
        """Nothing is buffered."""

    def fsync(self) -> None:
        """Flush every part to disk."""
        for fd in self._fds:
            os.fsync(fd)

    def readable(self) -> bool:
        """Write-only."""
        return False

    def writable(self) -> bool:
        """Writable."""
        return True

    def seekable(self) -> bool:
        """Seekable."""
        return True

    # hashing ------------------------------------------------------------------
    def _hash_sealed(self) -> None:
        """Queue parts the writer has moved one part past (a later header patch marks them dirty)."""
        sealed = self._size // self.part_size - 1
        with self._lock:
            new = [
                i
                for i in range(sealed + 1)
                if i not in self._digests and i not in self._queue and i < len(self._fds)
            ]
            self._queue.extend(new)
            start = bool(new) and (self._hasher is None or not self._hasher.is_alive())
        if start:
            self._hasher = threading.Thread(target=self._hash_loop, name="hk-parts", daemon=True)
            self._hasher.start()

    def _hash_part(self, index: int) -> str:
        h = hashlib.sha256()
        fd = self._fds[index]
        pos = 0
        while True:
            chunk = os.pread(fd, _READ, pos)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)
            pos += len(chunk)

    def _hash_loop(self) -> None:
        while True:
            with self._lock:
                if not self._queue or self._closed:
                    return
                index = self._queue[0]
                self._dirty.discard(index)
            digest = self._hash_part(index)
            with self._lock:
                self._queue.pop(0)
                if index not in self._dirty:
                    self._digests[index] = digest

    def _finish_hashes(self) -> list[str]:
        if self._hasher is not None:
            self._hasher.join()
        with self._lock:
            todo = [i for i in range(len(self._fds)) if i not in self._digests or i in self._dirty]
        # what is left (the last parts, any a header patch touched) on all cores
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
            for i, digest in zip_strict(todo, ex.map(self._hash_part, todo)):
                self._digests[i] = digest
        return [self._digests[i] for i in range(len(self._fds))]

    # ends ----------------------------------------------------------------------
    def commit(self) -> list[Path]:
        """Hash what is left, write ``NAME.parts.sha256``, rename every part to its final name."""
        digests = self._finish_hashes()
        self.fsync()
        finals = [part_name(self.final, i) for i in range(len(self._fds))]
        listing = "".join(f"{d}  {p.name}\n" for d, p in zip_strict(digests, finals))
        lst = self._part_file(list_name(self.final).name)
        try:
            with os.fdopen(os.dup(lst.open()), "wb") as f:
                f.write(listing.encode())
        except BaseException:
            lst.discard()
            raise
        # stale parts of an earlier, longer bundle of the same name would join `cat NAME.part-*`
        n = len(finals)
        while part_name(self.final, n).exists():
            part_name(self.final, n).unlink()
            n += 1
        while self._files:
            self._files.pop(0).commit()  # fsync, rename to its final name, fsync the folder
        lst.commit()
        self._close_fds()
        return finals

    def abort(self) -> None:
        """Remove every temporary part."""
        with self._lock:
            self._closed = True
        if self._hasher is not None:
            self._hasher.join()
        self._close_fds()

    def _close_fds(self) -> None:
        """Close every part (removing those not committed) and the folder."""
        self._fds.clear()  # each owned by its AtomicFile
        while self._files:
            self._files.pop().discard()
        if self._dir is not None:
            with contextlib.suppress(OSError):
                os.close(self._dir)
            self._dir = None

    @property
    def size(self) -> int:
        """Bytes written so far (the whole bundle)."""
        return self._size

    @property
    def temp_paths(self) -> list[Path]:
        """The temporary part files written so far."""
        return [af.temp for af in self._files]


# --------------------------------------------------------------------------- reading


def is_parts_path(path: Path) -> bool:
    """Whether ``path`` names a part or a parts list rather than a whole bundle."""
    return path.name.endswith(LIST_SUFFIX) or bool(_PART_RE.match(path.name))


#: a parts list is one short line per part: never read beyond this
MAX_LIST_BYTES = 4 << 20


def _parse_list(path: Path) -> list[tuple[str, str]]:
    try:
        size = path.stat().st_size
        if size > MAX_LIST_BYTES:
            raise BundleCorrupt(
                f"parts list {path} has {size} bytes, more than the {MAX_LIST_BYTES} read"
            )
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not text"
        raise BundleUnreadable(f"cannot read parts list {path}: {reason}") from e
    out: list[tuple[str, str]] = []
    # lines end at LF only, as sha256sum -c reads them (splitlines also splits at VT, FF...)
    for n, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        bad_name = "/" in name or not name.isprintable() or not _PART_RE.match(name)
        if not sep or len(digest) != 64 or bad_name:
            raise BundleCorrupt(f"parts list {path} line {n} is not '<sha256>  NAME.part-NNN'")
        out.append((name, digest))
    if not out:
        raise BundleCorrupt(f"parts list {path} is empty")
    return out


class _Positioned:
    """A read-only file object over ``pread``: the part ``tarfile`` and hashing use."""

    size: int
    _pos: int

    def pread(self, n: int, offset: int) -> bytes:  # pragma: no cover - each reader has its own
        raise NotImplementedError

    def read(self, n: int = -1) -> bytes:
        """Read from the current position."""
        if n < 0:
            n = self.size - self._pos
        data = self.pread(n, self._pos)
        self._pos += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        """Move within the whole bundle (all parts, or the one file)."""
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        """Current position."""
        return self._pos

    def readable(self) -> bool:
        """Readable."""
        return True

    def seekable(self) -> bool:
        """Seekable."""
        return True


class PartsReader(_Positioned):
    """A read-only seekable file over the parts of one bundle."""

    def __init__(self, display: Path, parts: list[Path], listed: dict[str, str] | None) -> None:
        self.display = display
        self.parts = parts
        self.listed = listed  # part name -> sha256 from NAME.parts.sha256, when present
        self.sizes = [p.stat().st_size for p in parts]
        self.starts: list[int] = []
        pos = 0
        for s in self.sizes:
            self.starts.append(pos)
            pos += s
        self.size = pos
        self._pos = 0
        self._fds: list[int] = []
        try:
            for p in parts:
                self._fds.append(os.open(p, os.O_RDONLY))
        except OSError as e:
            self.close()
            raise BundleUnreadable(f"cannot read bundle part {p}: {e.strerror or e}") from e

    def close(self) -> None:
        """Close every part."""
        while self._fds:
            os.close(self._fds.pop())

    def __enter__(self) -> PartsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def part_at(self, offset: int) -> Path:
        """The part holding byte ``offset`` (the last part for offsets past the end)."""
        for i in range(len(self.parts) - 1, -1, -1):
            if offset >= self.starts[i]:
                return self.parts[i]
        return self.parts[0]

    def parts_between(self, start: int, end: int) -> list[Path]:
        """Parts holding any of the bytes ``[start, end)``."""
        return [
            p
            for p, s, n in zip_strict(self.parts, self.starts, self.sizes)
            if s < max(end, start + 1) and start < s + n
        ]

    def pread(self, n: int, offset: int) -> bytes:
        """Up to ``n`` bytes at ``offset``, across parts."""
        out: list[bytes] = []
        while n > 0 and offset < self.size:
            i = self.parts.index(self.part_at(offset))
            within = offset - self.starts[i]
            chunk = os.pread(self._fds[i], min(n, self.sizes[i] - within), within)
            if not chunk:
                break
            out.append(chunk)
            n -= len(chunk)
            offset += len(chunk)
        return b"".join(out)

    def preadinto(self, view: memoryview, offset: int) -> int:
        """Fill ``view`` from ``offset`` up to the end of the part holding it; bytes read."""
        if offset >= self.size:
            return 0
        i = self.parts.index(self.part_at(offset))
        within = offset - self.starts[i]
        n = min(len(view), self.sizes[i] - within)
        return os.preadv(self._fds[i], [view[:n]], within)

    def where(self, start: int, end: int) -> str:
        """`` (in NAME.part-NNN)`` for the bytes ``[start, end)``."""
        return " (in " + ", ".join(p.name for p in self.parts_between(start, end)) + ")"

    def damage(self) -> str | None:
        """Hash every part against the parts list; say which is damaged or swapped, if any."""
        if not self.listed:
            return None
        actual = {p.name: _sha256_file(p) for p in self.parts}
        by_digest = {d: n for n, d in self.listed.items()}
        bad = [n for n, d in actual.items() if self.listed.get(n) != d]
        if not bad:
            return None
        swapped = [
            (n, by_digest[actual[n]])
            for n in bad
            if actual[n] in by_digest and by_digest[actual[n]] != n
        ]
        if swapped:
            a, b = swapped[0]
            return f"parts {a} and {b} are swapped or copied over each other (each holds the other's bytes)"
        return "damaged part " + ", ".join(bad) + f" (its sha256 differs from {list_name_of(self)})"


class PlainFile(_Positioned):
    """A whole bundle file with the same reading interface as :class:`PartsReader`."""

    def __init__(self, path: Path) -> None:
        self.display = path
        self.parts = [path]
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size
        self._pos = 0

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> PlainFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pread(self, n: int, offset: int) -> bytes:
        """Up to ``n`` bytes at ``offset``."""
        return os.pread(self._fd, n, offset)

    def preadinto(self, view: memoryview, offset: int) -> int:
        """Fill ``view`` from ``offset``; bytes read."""
        return os.preadv(self._fd, [view], offset)

    def where(self, start: int, end: int) -> str:
        """Nothing to add for a whole file."""
        return ""

    def damage(self) -> str | None:
        """A whole file has no parts list."""
        return None


BundleFile = Union[PlainFile, PartsReader]


def open_bundle_file(path: Path) -> BundleFile:
    """A whole bundle, or the parts a part or parts list names; :class:`BundleUnreadable` if none."""
    if is_parts_path(path):
        return open_parts(path)
    if not path.is_file():
        raise BundleUnreadable(f"bundle {path} does not exist or is not a file")
    try:
        return PlainFile(path)
    except PermissionError as e:
        raise BundleUnreadable(f"cannot read bundle {path}: {e.strerror}") from e


def list_name_of(reader: PartsReader) -> str:
    """Name of the parts list file for messages."""
    return list_name(reader.display).name


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_READ):
            h.update(chunk)
    return h.hexdigest()


def open_parts(path: Path) -> PartsReader:
    """A reader over the parts named by ``path`` (the parts list or any part).

    Raises :class:`BundleCorrupt` naming a missing or truncated part.
    """
    if path.name.endswith(LIST_SUFFIX):
        base = path.with_name(path.name[: -len(LIST_SUFFIX)])
    else:
        m = _PART_RE.match(path.name)
        if not m:
            raise BundleUnreadable(f"{path} is neither a bundle part nor a parts list")
        base = path.with_name(m.group("base"))
    lst = list_name(base)
    listed: dict[str, str] | None = None
    if lst.is_file():
        entries = _parse_list(lst)
        names = [n for n, _ in entries]
        listed = dict(entries)
        expected = [part_name(base, i).name for i in range(len(names))]
        if names != expected:
            raise BundleCorrupt(
                f"parts list {lst} does not list parts 000 to {len(names) - 1:03d} in order"
            )
    elif not path.name.endswith(LIST_SUFFIX):
        names = []
        while part_name(base, len(names)).exists():
            names.append(part_name(base, len(names)).name)
        # a gap: a later part exists after a missing one
        probe = len(names) + 1
        if any(part_name(base, probe + k).exists() for k in range(3)):
            raise BundleCorrupt(f"bundle {base}: missing part {part_name(base, len(names)).name}")
        if not names:
            raise BundleUnreadable(f"bundle part {path} does not exist")
    else:
        raise BundleUnreadable(f"parts list {path} does not exist")
    if len(names) > MAX_PARTS:
        raise BundleCorrupt(_too_many_parts(base).replace("would need", "has", 1))
    parts = [base.with_name(n) for n in names]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise BundleCorrupt(f"bundle {base}: missing part " + ", ".join(missing))
    sizes = [p.stat().st_size for p in parts]
    if len(sizes) > 1:
        full = max(sizes[:-1])
        short = [p.name for p, s in zip_strict(parts[:-1], sizes[:-1]) if s != full]
        if short:
            raise BundleCorrupt(
                f"bundle {base}: truncated part "
                + ", ".join(short)
                + f" (the others have {full} bytes)"
            )
        if sizes[-1] > full:
            raise BundleCorrupt(
                f"bundle {base}: part {parts[-1].name} is longer than the part size"
            )
    return PartsReader(base, parts, listed)


def iter_part_names(final: Path, count: int) -> Iterable[Path]:
    """The first ``count`` part paths of ``final``."""
    return (part_name(final, i) for i in range(count))
