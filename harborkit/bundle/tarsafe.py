"""Tar handling that never trusts its input (the writer is :mod:`harborkit.bundle.tarwrite`).

* :func:`scan_tar` lists a bundle's members (headers only) and rejects unsafe ones.
* :func:`check_installer` checks the installer ``.tgz``: regular files and
  directories only, no absolute paths, no ``..``, no two the same path;
  :mod:`harborkit.bundle.extract` unpacks it, nothing outside the destination.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from harborkit.bundle.errors import BundleCorrupt, BundleHostile

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
#: a bundle holds at most this many members (folders included): Harbor's images have
#: a few hundred blobs; a million empty headers cost ~1 GB and minutes before the sums
MAX_MEMBERS = 50_000
#: an installer archive holds at most this many (Harbor's has a dozen)
MAX_INSTALLER_MEMBERS = 10_000

_TYPE_NAMES = {
    tarfile.SYMTYPE: "a symlink",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a fifo",
    tarfile.CONTTYPE: "a contiguous file",
}


def unsafe_name_reason(name: str) -> str | None:
    """Why ``name`` may not be extracted, or ``None`` if it is a safe relative path."""
    if not name or "\x00" in name:
        return "empty or NUL in name"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "control character in name"
    if PurePosixPath(name).is_absolute():
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' in path"
    return None


def normalize_name(name: str) -> str:
    """The path a member name denotes: ``./a//b/`` and ``a/./b`` are both ``a/b``."""
    return posixpath.normpath(name.strip("/")) if name else name


def unsafe_member_reason(ti: tarfile.TarInfo, *, allow_dirs: bool = True) -> str | None:
    """Why member ``ti`` is unsafe (bad name, link, device...), or ``None``."""
    reason = unsafe_name_reason(ti.name)
    if reason:
        return reason
    if ti.isreg():
        return None
    if ti.isdir() and allow_dirs:
        return None
    return "is " + _TYPE_NAMES.get(ti.type, f"of tar type {ti.type!r}")


def owner_mode_reason(ti: tarfile.TarInfo) -> str | None:
    """Why ``tar -x`` as root (the plain path) would make member ``ti`` something another
    user could change between ``sha256sum -c`` and ``docker load``, or ``None``.

    GNU tar run by root restores the owner (by user name first, then number) and the
    mode: a member owned by another user, writable by its group or by anyone, or with
    setuid/setgid/sticky bits (a setuid program lying in the unpacked folder) is refused.
    """
    if ti.mode & 0o7000:
        return f"has mode {ti.mode:04o} (setuid, setgid or sticky: tar -x as root keeps it)"
    if ti.mode & 0o022:
        return (
            f"has mode {ti.mode:04o} (tar -x as root would let others change it after sha256sum -c)"
        )
    if ti.uid or ti.gid or ti.uname not in ("", "root") or ti.gname not in ("", "root"):
        owner = f"{ti.uname or ti.uid}:{ti.gname or ti.gid}"
        return (
            f"is owned by {owner!r}, not root (tar -x as root would give it to that "
            "user, who could change it after sha256sum -c)"
        )
    return None


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Member:
    """A regular file inside a bundle: where its data lies in the file."""

    name: str
    offset: int
    size: int

    @property
    def end(self) -> int:
        """Offset just past the data."""
        return self.offset + self.size


@dataclass(frozen=True)
class TarScan:
    """Headers of a bundle, in order; ``truncated`` is the member cut short, if any."""

    members: tuple[Member, ...]
    file_size: int
    truncated: str | None
    damaged_header_after: str | None = None  # a header that does not parse, after this member
    archive_end: int = 0  # just past the last member's padded data: end-of-archive blocks follow


def scan_tar(path: Path) -> TarScan:
    """Read only the headers of the tar at ``path`` (seeking past data).

    Raises :class:`BundleHostile` for unsafe or duplicate members and
    :class:`BundleCorrupt` when the file is not a tar at all.
    """
    with open(path, "rb") as f:
        return scan_tar_file(f, path.stat().st_size, path)


def scan_tar_file(f: BinaryIO, file_size: int, path: Path) -> TarScan:
    """:func:`scan_tar` over an open seekable file (a bundle in parts, say) named ``path``.

    Every member's headers are also read as GNU tar reads them
    (:func:`plain_tar_problem`): a member ``tar -x`` would see under another
    name, size or place (a sparse file, chained or global extended headers, an
    old-style header...) is :class:`BundleHostile`, so harborkit and
    ``tar -x; sha256sum -c`` always judge the same bytes.
    """
    members: list[Member] = []
    seen: dict[str, str] = {}  # normalised name -> name as written
    truncated: str | None = None
    damaged: str | None = None
    expected = 0  # where the next member's headers must start
    try:
        tf = tarfile.open(fileobj=f, mode="r:")  # noqa: SIM115 - the caller closes f
    except tarfile.TarError as e:
        raise BundleCorrupt(f"{path} is not a tar archive: {e}") from e
    count = 0
    while True:
        count += 1
        if count > MAX_MEMBERS:
            raise BundleCorrupt(f"{path} has more than {MAX_MEMBERS:,} members; not read further")
        try:
            ti = tf.next()
        except tarfile.TarError as e:
            if not members:
                raise BundleCorrupt(f"{path} is not a tar archive: {e}") from e
            # every member listed is whole (a cut one ends the loop below): a header is cut
            truncated = f"(header after {members[-1].name})"
            break
        if ti is None:
            # tarfile stops quietly at a bad header; end-of-archive is all zeros
            f.seek(tf.offset)
            block = f.read(BLOCK)
            if block.strip(b"\0"):
                damaged = members[-1].name if members else "(start)"
            break
        reason = unsafe_member_reason(ti) or owner_mode_reason(ti)
        if reason:
            raise BundleHostile(f"{path}: unsafe member {ti.name!r}: {reason}")
        norm = normalize_name(ti.name)
        if norm in seen:
            same = "" if seen[norm] == ti.name else f" (the same path as {seen[norm]!r})"
            raise BundleHostile(f"{path}: duplicate member {ti.name!r}{same}")
        seen[norm] = ti.name
        if ti.offset + BLOCK <= file_size:
            reason = plain_tar_problem(_seek_reader(f), ti, expected)
            if reason:
                raise BundleHostile(f"{path}: member {ti.name!r} {reason}")
        expected = ti.offset_data + (_padded(ti.size) if ti.isreg() else 0)
        if ti.isdir():
            continue
        m = Member(ti.name, ti.offset_data, ti.size)
        members.append(m)
        if m.end > file_size:
            truncated = m.name
            break
    return TarScan(tuple(members), file_size, truncated, damaged, expected)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _seek_reader(f: BinaryIO) -> ReadAt:
    def read_at(offset: int, n: int) -> bytes:
        f.seek(offset)
        return f.read(n)

    return read_at


ReadAt = Callable[[int, int], bytes]

_POSIX_MAGIC = b"ustar\x0000"
_GNU_MAGIC = b"ustar  \x00"
_OCTAL = re.compile(rb"\A *[0-7]+[ \x00]*\Z")
#: longest name a GNU long-name or pax path may carry (PATH_MAX)
_MAX_NAME = 4096
#: the pax keywords GNU tar and Python's tarfile read alike for a regular file or folder
_PAX_KEYS = frozenset({"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"})
_PAX_NUMERIC = frozenset({"size", "uid", "gid"})
_EXT_NAMES = {
    b"S": "is a GNU sparse file (tar -x expands it from a map; a bundle holds plain files only)",
    b"K": "has a GNU long link name",
    b"g": "follows a global extended (pax) header",
    b"X": "has a Solaris extended header",
    b"M": "is a GNU multi-volume continuation",
    b"V": "is a GNU volume label",
    b"N": "has an old GNU long name",
    b"D": "is a GNU incremental folder dump",
}


def _octal(field: bytes) -> int | None:
    """A tar number field as GNU tar reads it (octal, or positive base-256), or ``None``."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    if not _OCTAL.match(field):
        return None
    return int(field.replace(b"\x00", b" ").strip(), 8)


def _pax_records(data: bytes) -> dict[str, bytes] | str:
    """The records of a pax extended header, or why GNU tar and Python could read it apart."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 21)
        length_text = data[pos:space] if space > 0 else b""
        if not length_text.isdigit() or length_text[:1] == b"0":
            return "has a malformed pax extended header"
        end = pos + int(length_text)
        record = data[space + 1 : end]
        key, eq, value = record.partition(b"=")
        if end > len(data) or not eq or record[-1:] != b"\n":
            return "has a malformed pax extended header"
        name = key.decode("ascii", "replace")
        if name.startswith("GNU.sparse."):
            return f"is a GNU sparse file (pax {name}; a bundle holds plain files only)"
        if name not in _PAX_KEYS:
            return f"has pax keyword {name!r}, which tar and harborkit may read apart"
        if name in out:
            return f"repeats pax keyword {name!r}"
        value = value[:-1]
        if name in _PAX_NUMERIC and not value.isdigit():
            return f"has pax {name} {value[:40]!r}, which is not a plain decimal number"
        out[name] = value
        pos = end
    return out


def plain_tar_problem(read_at: ReadAt, ti: tarfile.TarInfo, expected: int) -> str | None:
    """Why GNU tar would read member ``ti`` other than ``tarfile`` did, or ``None``.

    Only what harborkit and ``tar`` write is accepted: a POSIX or GNU header of
    a regular file or folder, at most one extension before it (a GNU long name
    or a pax header of plain keywords), exactly where the previous member ends.
    Its name, size and data offset must then be the ones ``tarfile`` found.
    """
    if ti.offset != expected:
        skipped = read_at(expected, BLOCK)[156:157]
        if skipped in _EXT_NAMES:
            return _EXT_NAMES[skipped]
        return f"starts at byte {ti.offset}, not where the member before it ends ({expected})"
    if ti.sparse is not None:
        return _EXT_NAMES[b"S"]
    pos, ext = ti.offset, 0
    long_name: bytes | None = None
    pax: dict[str, bytes] = {}
    while True:
        block = read_at(pos, BLOCK)
        if len(block) < BLOCK:
            return None  # cut short: reported as truncated
        kind = block[156:157]
        if kind in _EXT_NAMES:
            return _EXT_NAMES[kind]
        magic = block[257:265]
        if magic not in (_POSIX_MAGIC, _GNU_MAGIC):
            return "has an old-style (v7) tar header"
        if magic == _GNU_MAGIC and block[345] != 0:
            return "has data in its GNU header's prefix area, which tar and harborkit read apart"
        size = _octal(block[124:136])
        if size is None:
            return f"has a size field {block[124:136]!r} that is not a plain octal number"
        if kind not in (b"L", b"x"):
            break
        ext += 1
        if ext > 1:
            return "has more than one extended header (tar and harborkit may use different ones)"
        if size > _MAX_NAME + 1024:
            return f"has an extended header of {size} bytes"
        data = read_at(pos + BLOCK, size)
        if len(data) < size:
            return None
        if kind == b"L":
            if not data.endswith(b"\x00") or b"\x00" in data[:-1]:
                return "has a GNU long name that is not one NUL-terminated string"
            long_name = data[:-1]
        else:
            records = _pax_records(data)
            if isinstance(records, str):
                return records
            pax = records
        pos += BLOCK + _padded(size)
    if kind not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.DIRTYPE):
        return None  # unsafe_member_reason names it
    name = block[:100].split(b"\x00", 1)[0]
    if magic == _POSIX_MAGIC:
        prefix = block[345:500].split(b"\x00", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    name = pax.get("path", long_name if long_name is not None else name)
    if "size" in pax:
        size = int(pax["size"])
    is_dir = kind == tarfile.DIRTYPE or (kind == tarfile.AREGTYPE and name.endswith(b"/"))
    if not is_dir and name.endswith(b"/"):
        return "is a regular file whose name ends in '/'"
    if is_dir and size:
        return f"is a folder with {size} bytes of data"
    shown = name.decode("utf-8", "surrogateescape")
    if normalize_name(shown) != normalize_name(ti.name):
        return f"is named {shown!r} by tar"
    if pos + BLOCK != ti.offset_data or (not is_dir and size != ti.size):
        return "has its data at another place or of another size for tar"
    return None


class SectionReader:
    """A read-only file object over ``[offset, offset+size)`` of another file."""

    def __init__(self, f: BinaryIO, offset: int, size: int) -> None:
        self._f = f
        self._start = offset
        self._size = size
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes (all remaining when ``n < 0``)."""
        remaining = self._size - self._pos
        n = remaining if n < 0 else min(n, remaining)
        if n <= 0:
            return b""
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        """Seek within the section."""
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        """Position within the section."""
        return self._pos

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def readable(self) -> bool:
        """Always readable."""
        return True


#: an installer may unpack to at most this many times its size (a gzip bomb reaches ~1000x)
MAX_INSTALLER_RATIO = 50
#: ... but small archives may always unpack to this much
_RATIO_FLOOR = 64 << 20
_GZIP_SUFFIXES = (".tgz", ".tar.gz")


@dataclass(frozen=True)
class InstallerCheck:
    """A checked installer archive: its headers and the bytes it unpacks to."""

    members: tuple[tarfile.TarInfo, ...]
    unpacked_size: int  # the whole decompressed tar
    files_size: int  # the regular files in it


def installer_name_reason(name: str) -> str | None:
    """Why ``name`` is no installer file name (a plain ``*.tgz``/``*.tar.gz``), or ``None``."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        return "is not a plain file name"
    if not name.endswith(_GZIP_SUFFIXES):
        return "is not a gzip tar (.tgz or .tar.gz)"
    return None


def gzip_size(fileobj: BinaryIO, where: str, *, limit: int | None = None) -> int:
    """Decompressed size of a complete gzip stream (members concatenated are allowed).

    :class:`BundleCorrupt` if it is not gzip, cut short or followed by anything but
    zero padding; :class:`BundleHostile` once it unpacks to more than ``limit`` bytes.
    Output is produced 1 MiB at a time, so a bomb never sits in memory.
    """
    import zlib

    total = 0
    d = zlib.decompressobj(31)
    started = padding = False

    def count(out: bytes) -> None:
        nonlocal total
        total += len(out)
        if limit is not None and total > limit:
            raise BundleHostile(
                f"{where} unpacks to more than {limit / 1e6:,.0f} MB "
                f"(over {MAX_INSTALLER_RATIO} times its size)"
            )

    while chunk := fileobj.read(1 << 20):
        data = chunk
        while data:
            if padding:
                if data.strip(b"\0"):
                    raise BundleCorrupt(f"{where} has data after its gzip stream")
                break
            if d.eof:
                if data[:1] != b"\x1f":
                    padding = True
                    continue
                d = zlib.decompressobj(31)  # the next gzip member
            try:
                count(d.decompress(data, 1 << 20))
                while not d.eof and not d.unconsumed_tail and (out := d.decompress(b"", 1 << 20)):
                    count(out)
            except zlib.error as e:
                raise BundleCorrupt(f"{where} is not a complete gzip stream: {e}") from e
            started = True
            data = d.unused_data if d.eof else d.unconsumed_tail
    if not started or not d.eof:
        raise BundleCorrupt(f"{where} is not a complete gzip stream: it ends early")
    return total


def check_installer(fileobj: BinaryIO, where: str, *, size: int | None = None) -> InstallerCheck:
    """Check the installer archive completely; raise unless it is a safe, complete gzip tar.

    The gzip stream must be complete and unpack to at most :data:`MAX_INSTALLER_RATIO`
    times ``size``; every tar header must be a safe relative regular file or directory,
    no two the same path.
    """
    limit = None if size is None else max(size * MAX_INSTALLER_RATIO, _RATIO_FLOOR)
    fileobj.seek(0)
    unpacked = gzip_size(fileobj, where, limit=limit)
    fileobj.seek(0)
    try:
        with tarfile.open(fileobj=fileobj, mode="r:gz") as tf:
            members = []
            while (ti := tf.next()) is not None:
                members.append(ti)
                if len(members) > MAX_INSTALLER_MEMBERS:
                    raise BundleHostile(
                        f"{where} has more than {MAX_INSTALLER_MEMBERS:,} members; not read further"
                    )
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BundleCorrupt(f"{where} is not a readable tar archive: {e}") from e
    seen: dict[str, bool] = {}  # normalised path -> is a directory
    for ti in members:
        reason = unsafe_member_reason(ti)
        if reason:
            raise BundleHostile(f"{where}: unsafe member {ti.name!r}: {reason}")
    _check_plain_tar_reading(fileobj, members, where)
    for ti in members:
        norm = normalize_name(ti.name)
        if norm in seen and not (seen[norm] and ti.isdir()):
            raise BundleHostile(f"{where}: duplicate member {ti.name!r}")
        seen[norm] = ti.isdir()
        parent = posixpath.dirname(norm)
        while parent and parent != ".":
            if seen.get(parent) is False:  # a file where a folder must go
                raise BundleHostile(f"{where}: member {ti.name!r} is inside file {parent!r}")
            parent = posixpath.dirname(parent)
    files = sum(ti.size for ti in members if ti.isreg())
    return InstallerCheck(tuple(members), unpacked, files)


def _check_plain_tar_reading(
    fileobj: BinaryIO, members: Sequence[tarfile.TarInfo], where: str
) -> None:
    """:func:`plain_tar_problem` for every member of a gzip tar: ``tar -xzf`` (the plain
    path) must unpack the names and bytes harborkit checked. One forward pass."""
    import gzip

    fileobj.seek(0)
    with gzip.GzipFile(fileobj=fileobj, mode="rb") as gz:

        def read_at(offset: int, n: int) -> bytes:
            gz.seek(offset)
            return gz.read(n)

        expected = 0
        for ti in members:
            reason = plain_tar_problem(read_at, ti, expected)
            if reason:
                raise BundleHostile(f"{where}: member {ti.name!r} {reason}")
            expected = ti.offset_data + (_padded(ti.size) if ti.isreg() else 0)
    fileobj.seek(0)
