"""A host answered from a snapshot (:class:`SnapshotHost`).

Every fact comes from what the collector recorded. A fact the snapshot lacks
raises :class:`MissingFact`: the SSH host (:mod:`harborkit.host.ssh`) answers it
with one more round trip; for a carried snapshot it is a :class:`NotAvailable`
(the check skips and says which fact was not gathered), never a guess.
"""

from __future__ import annotations

import bisect
import errno
import fnmatch
import json
import posixpath
import re
import shlex
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from harborkit.collect.snapshot import Snapshot, show
from harborkit.fsutil import MAX_FILE_BYTES
from harborkit.host.interface import (
    ClockSample,
    CommandResult,
    Listener,
    NotAvailable,
    ProcessInfo,
    UnreadableFile,
)

T = TypeVar("T")

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")

# TCP_LISTEN in /proc/net/tcp's "st" column
_LISTEN = "0A"
#: a number in a snapshot: ASCII digits only (as the file parsers have it), not too long
_DIGITS = re.compile(r"[0-9]{1,18}")
#: what a path that is not a regular file is (the T record's letter), in the
#: words the sysroot reader uses (:func:`harborkit.host.local.read_limited`)
_NOT_A_FILE = {
    "d": "a directory",
    "p": "a FIFO (named pipe)",
    "c": "a character device",
    "b": "a block device",
    "s": "a socket",
    "o": "not a regular file",
}
_PRESENT = ("f", "d", "p", "c", "b", "s", "o")


def _number(text: str) -> int | None:
    """ASCII digits as an int; anything else (other scripts' digits, 5000 digits) is None."""
    text = text.strip()
    return int(text) if _DIGITS.fullmatch(text) else None


#: what a skip for a fact the snapshot lacks tells the operator to do: the
#: collector gathers what the built-in checks read, plus the names, sysctl keys
#: and harbor.yml of the profile and options it was made with
_REMAKE = (
    "; make it again with harborkit collect --script and this run's --profile, --node, "
    "--install-dir and --harbor-config"
)


class MissingFact(NotAvailable):
    """The snapshot has no answer; ``want`` is the collector line that gathers it."""

    def __init__(self, reason: str, want: str) -> None:
        super().__init__(reason)
        self.want = want


def _norm(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"host paths are absolute: {path!r}")
    p = posixpath.normpath(path)
    return "/" + p.lstrip("/") if p.startswith("//") else p


class SnapshotHost:
    """The Host protocol over a :class:`Snapshot` of a running system.

    ``fetch`` (set by the SSH host) gathers missing facts on the live host and
    merges them in; without it a miss is a :class:`NotAvailable`. With
    ``record_misses`` set, misses are remembered in :attr:`misses` (and still
    raised) so that a dry run can gather them all in one round trip.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        name: str | None = None,
        fetch: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self._name = name
        self.fetch = fetch
        self.record_misses = False
        self.misses: list[str] = []
        self._fetched: set[str] = set()
        self._dirs_cache: list[str] = []
        self._dirs_key: tuple[int, int, int] | None = None

    # ---- the miss machinery
    def _miss(self, what: str, want: str) -> MissingFact:
        return MissingFact(
            f"the snapshot from {self.snapshot.source} has no {what} "
            f"(the collector did not gather it{_REMAKE})",
            want,
        )

    def _ask(self, fn: Callable[[], T]) -> T:
        while True:
            try:
                return fn()
            except MissingFact as m:
                if self.record_misses:
                    if m.want not in self.misses:
                        self.misses.append(m.want)
                    raise
                if self.fetch is None or m.want in self._fetched:
                    raise
                self._fetched.add(m.want)
                self.fetch([m.want])

    # ---- identity
    @property
    def name(self) -> str:
        if self._name:
            return self._name
        return self._hostname_or(self.snapshot.source)

    def _hostname_or(self, default: str) -> str:
        raw = self.snapshot.files.get("/proc/sys/kernel/hostname")
        if raw is None:
            raw = self.snapshot.files.get("/etc/hostname")
        return raw.decode("utf-8", "replace").strip() if raw and raw.strip() else default

    @property
    def live(self) -> bool:
        return True

    # ---- files
    def _implied_dir(self, path: str) -> bool:
        """Whether something recorded lies below ``path`` (so it is a folder):
        looked up in the sorted recorded paths, never by making every ancestor
        of every path (a 64 KiB path of 32,000 parts made 1 GB of ancestors)."""
        snap = self.snapshot
        key = (len(snap.kinds), len(snap.files), len(snap.listings))
        if self._dirs_key != key:
            known = [p for p, k in snap.kinds.items() if k in (*_PRESENT, "L")]
            self._dirs_cache = sorted({*known, *snap.files, *snap.listings})
            self._dirs_key = key
        paths = self._dirs_cache
        prefix = path.rstrip("/") + "/"
        i = bisect.bisect_left(paths, prefix)
        while i < len(paths) and paths[i].startswith(prefix):
            if paths[i] != path:  # ("/" itself is no entry below "/")
                return True
            i += 1
        return False

    def _kind(self, path: str) -> str:
        """f d o n L for ``path``, inferred from listings where not recorded."""
        snap = self.snapshot
        if path in snap.kinds:
            return snap.kinds[path]
        if path in snap.files:
            return "f"
        if path in snap.listings or self._implied_dir(path):
            return "d"
        parent, base = posixpath.split(path)
        p = parent
        while True:  # an absent ancestor, or a file where a folder would be: absent
            if snap.kinds.get(p) in ("n", "f", "L", "p", "c", "b", "s", "o"):
                return "n"
            if p == "/":
                break
            p = posixpath.dirname(p)
        if parent in snap.listings and base not in snap.listings[parent]:
            return "n"
        raise self._miss(f"entry for {path}", f"f {path}")

    def _lexists(self, path: str) -> bool:
        parent, base = posixpath.split(path)
        if path not in self.snapshot.kinds and parent in self.snapshot.listings:
            return base in self.snapshot.listings[parent]
        return self._kind(path) != "n"

    def _read_bytes(self, path: str) -> bytes:
        path = _norm(path)
        snap = self.snapshot
        if path in snap.files:
            data = snap.files[path]
            if len(data) > MAX_FILE_BYTES:  # the same rule as every reader
                raise UnreadableFile(path, snap.too_large.get(path) or _too_large())
            return data
        if path in snap.too_large:
            raise UnreadableFile(path, snap.too_large[path])
        if path in snap.errors:
            msg = snap.errors[path] or "Permission denied"
            user = show(snap.facts.get("user", "").strip(), 32)
            who = f" (the collector ran as {user})" if user else ""
            if "ermission" in msg:
                raise PermissionError(errno.EACCES, f"Permission denied{who}", path)
            raise OSError(errno.EIO, msg.splitlines()[-1] + who, path)
        kind = self._kind(path)
        if kind in ("n", "L"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if kind in _NOT_A_FILE:
            raise UnreadableFile(path, f"is {_NOT_A_FILE[kind]}, not a regular file: not read")
        raise self._miss(f"content of {path}", f"f {path}")

    def _read(self, path: str) -> str:
        return self._read_bytes(path).decode("utf-8", "replace")

    def read_text(self, path: str) -> str:
        return self._ask(lambda: self._read(path))

    def read_bytes(self, path: str) -> bytes:
        """The exact bytes the collector recorded (at most the file limit)."""
        return self._ask(lambda: self._read_bytes(path))

    def exists(self, path: str) -> bool:
        return self._ask(lambda: self._kind(_norm(path)) in _PRESENT)

    def is_dir(self, path: str) -> bool:
        return self._ask(lambda: self._kind(_norm(path)) == "d")

    def _listdir(self, path: str) -> list[str]:
        path = _norm(path)
        snap = self.snapshot
        if path in snap.listings:
            return sorted(snap.listings[path])
        if path in snap.errors:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        kind = self._kind(path)
        if kind in ("n", "L"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if kind in _PRESENT:
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
        raise self._miss(f"listing of {path}", f"d {path}")

    def listdir(self, path: str) -> list[str]:
        return self._ask(lambda: self._listdir(path))

    def _glob(self, pattern: str) -> list[str]:
        """Like glob.glob: wildcard parts need the folder's listing; the last
        part must exist (lexists); plain parts in between are not checked."""
        pattern = _norm(pattern)
        parts = [p for p in pattern.split("/") if p]
        found = ["/"]
        try:
            for i, comp in enumerate(parts):
                last = i == len(parts) - 1
                nxt: list[str] = []
                for base in found:
                    if any(c in comp for c in "*?["):
                        if base not in self.snapshot.listings:
                            if base in self.snapshot.errors or self._kind(base) != "d":
                                continue
                            raise self._miss(f"listing of {base}", f"g {pattern}")
                        hidden = comp.startswith(".")
                        for entry in sorted(self.snapshot.listings[base]):
                            if entry.startswith(".") and not hidden:
                                continue
                            if fnmatch.fnmatchcase(entry, comp):
                                p = posixpath.join(base, entry)
                                if last or self._kind(p) == "d":
                                    nxt.append(p)
                    else:
                        p = posixpath.join(base, comp)
                        if not last or self._lexists(p):
                            nxt.append(p)
                found = nxt
        except MissingFact as m:
            if m.want.startswith("g "):
                raise
            raise self._miss(f"what matches {pattern}", f"g {pattern}") from None
        return sorted(found)

    def glob(self, pattern: str) -> list[str]:
        return self._ask(lambda: self._glob(pattern))

    def which(self, program: str) -> str | None:
        def look() -> str | None:
            if program in self.snapshot.which:
                return self.snapshot.which[program] or None
            raise self._miss(f"lookup of the program {program}", f"w {program}")

        return self._ask(look)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        args = tuple(str(a) for a in argv)
        key = shlex.join(args)

        def look() -> CommandResult:
            out = self.snapshot.commands.get(key)
            if out is None:
                raise self._miss(f"output of {key}", f"c {key}")
            if key in self.snapshot.too_much_output:  # not sent: no verdict from a part
                return CommandResult(
                    args,
                    out.rc or 1,
                    "",
                    f"{args[0]}: output larger than {MAX_FILE_BYTES >> 20} MiB: not read",
                )
            return CommandResult(
                args,
                out.rc,
                out.stdout.decode("utf-8", "replace"),
                out.stderr.decode("utf-8", "replace"),
            )

        return self._ask(look)

    # ---- system facts
    def hostname(self) -> str:
        def look() -> str:
            name = self._hostname_or("")
            if not name:
                raise self._miss("hostname", "f /proc/sys/kernel/hostname")
            return name

        return self._ask(look)

    def resolve(self, name: str) -> list[str]:
        """``getent ahosts`` on the host (its resolver), else its /etc/hosts."""
        if not _SAFE_NAME.fullmatch(name):
            return []
        no_getent = self.snapshot.which.get("getent", None) == ""
        r = None if no_getent else self._ask(lambda: self._lookup(name))
        if r is None or r.rc == 127:  # no getent (BusyBox): the hosts file alone
            from harborkit.host.etc_hosts import addresses_of

            try:
                text = self.read_text("/etc/hosts")
            except OSError:
                return []
            return addresses_of(text, name)
        seen: list[str] = []
        for line in r.stdout.splitlines():
            fields = line.split()
            if fields and fields[0] not in seen:
                seen.append(fields[0])
        return seen

    def _lookup(self, name: str) -> CommandResult:
        key = shlex.join(["getent", "ahosts", name])
        out = self.snapshot.commands.get(key)
        if out is None:
            raise self._miss(f"name lookup of {name}", f"h {name}")
        return CommandResult(
            ("getent", "ahosts", name),
            out.rc,
            out.stdout.decode("utf-8", "replace"),
            out.stderr.decode("utf-8", "replace"),
        )

    def cpu_count(self) -> int:
        def look() -> int:
            text = self.snapshot.facts.get("nproc")
            if text is None or not text.strip():
                raise self._miss("CPU count", "K nproc")
            n = _number(text)
            if n is None:
                raise NotAvailable(
                    f"the snapshot from {self.snapshot.source} records a CPU count that is "
                    f"not a number: {show(text.strip(), 24)!r}"
                )
            return n

        return self._ask(look)

    def memory_bytes(self) -> int:
        text = self.read_text("/proc/meminfo")
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                fields = line.split()
                n = _number(fields[1]) if len(fields) > 1 else None
                if n is None:
                    raise NotAvailable(
                        f"{self.snapshot.source}: /proc/meminfo has a MemTotal that is not a "
                        f"number: {show(line, 40)!r}"
                    )
                return n * 1024
        raise NotAvailable(f"{self.snapshot.source}: /proc/meminfo has no MemTotal line")

    def disk_free(self, path: str) -> tuple[str, int]:
        def look() -> tuple[str, int]:
            text = self.snapshot.facts.get(f"df:{path}")
            if text is None:
                raise self._miss(f"free space under {path}", f"s {path}")
            # the collector writes the folder, a NUL byte (a folder's name may hold a
            # newline) and df's output; a fact without the NUL has the folder on line 1
            existing, _, df = text.partition("\0" if "\0" in text else "\n")
            lines = df.splitlines()
            if len(lines) < 2:
                raise NotAvailable(
                    f"df on {self.snapshot.source} failed for {path}: {text.strip()}"
                )
            fields = lines[-1].split()
            free = _number(fields[3]) if len(fields) > 3 else None
            if free is None:
                raise NotAvailable(
                    f"df on {self.snapshot.source} gave no free space for {path}: "
                    f"{show(lines[-1])!r}"
                )
            return existing, free * 1024

        return self._ask(look)

    def _table(self) -> list[tuple[int, str]]:
        if self.snapshot.processes is None:
            raise self._miss("process table", "P -")
        return self.snapshot.processes

    def processes(self, name: str) -> list[ProcessInfo]:
        def look() -> list[ProcessInfo]:
            out = []
            for pid, comm in self._table():
                if comm != name:
                    continue
                exe = self.snapshot.facts.get(f"exe:{pid}")
                if exe is None:
                    raise self._miss(f"details of the {name} processes", f"p {name}")
                raw = self.snapshot.files.get(f"/proc/{pid}/cmdline", b"")
                cmdline = tuple(a.decode("utf-8", "replace") for a in raw.split(b"\0") if a)
                out.append(ProcessInfo(pid, comm, exe.strip(), cmdline))
            return out

        return self._ask(look)

    def listeners(self) -> list[Listener]:
        def look() -> list[Listener]:
            sockets = self.snapshot.facts.get("sockets")
            if sockets is None:
                raise self._miss("socket owners", "k sockets")
            owners = _socket_owners(sockets)
            names = dict(self._table())
            out: list[Listener] = []
            for proto in ("tcp", "tcp6"):
                try:
                    text = self._read(f"/proc/net/{proto}")
                except FileNotFoundError:
                    continue
                for addr, port, inode in _listening(text, proto == "tcp6"):
                    pid = owners.get(inode)
                    out.append(Listener(proto, addr, port, pid, names.get(pid) if pid else None))
            return out

        return self._ask(look)

    def docker_client(self) -> Any:
        return _SnapshotDocker(self)

    def clock(self) -> ClockSample:
        when = show(self.snapshot.facts.get("started", "").strip(), 32) or "an unknown time"
        raise NotAvailable(
            f"the snapshot from {self.snapshot.source} was taken at {when}: a carried "
            "snapshot's clock cannot be compared with this machine's now"
        )


class _SnapshotDocker:
    """The two Docker SDK calls the checks make, answered from ``docker`` CLI output."""

    def __init__(self, host: SnapshotHost) -> None:
        self._host = host

    def _json(self, argv: list[str]) -> dict[str, Any]:
        from harborkit.dockerapi import DockerException

        r = self._host.run(argv)
        text = r.stdout.strip()
        if r.rc == 127:
            raise DockerException("the docker CLI is not installed on the host")
        if not r.ok or not text or text == "null":
            why = (r.stderr.strip().splitlines() or [f"docker exited with {r.rc}"])[-1]
            raise DockerException(why)
        try:
            data = json.loads(text)
        except ValueError as e:  # an old or stand-in CLI that ignores --format
            first = text.splitlines()[0]
            raise DockerException(
                f"'docker {argv[1]} --format' printed no JSON: '{show(first, 80)}'"
            ) from e
        return data if isinstance(data, dict) else {}

    def version(self) -> dict[str, Any]:
        return self._json(["docker", "version", "--format", "{{json .Server}}"])

    def info(self) -> dict[str, Any]:
        return self._json(["docker", "info", "--format", "{{json .}}"])

    def close(self) -> None:
        return None


def _socket_owners(text: str) -> dict[int, int]:
    """inode -> pid from ``ls -l /proc/*/fd`` output."""
    owners: dict[int, int] = {}
    pid = None
    for line in text.splitlines():
        if line.startswith("/proc/"):
            pid = _number(line[len("/proc/") :].split("/", 1)[0])
            continue
        i = line.find("socket:[")
        if i >= 0 and pid is not None:
            inode = _number(line[i + 8 :].split("]", 1)[0])
            if inode is not None:
                owners.setdefault(inode, pid)
    return owners


def _hex_addr(text: str, v6: bool) -> str:
    import ipaddress

    raw = bytes.fromhex(text)
    if not v6:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    addr = ipaddress.IPv6Address(words)
    return str(addr.ipv4_mapped) if addr.ipv4_mapped else str(addr)


def _listening(text: str, v6: bool) -> list[tuple[str, int, int]]:
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or f[3] != _LISTEN:
            continue
        addr, _, port = f[1].partition(":")
        inode = _number(f[9])
        if inode is None or not _HEX.fullmatch(addr) or not _HEX.fullmatch(port):
            continue
        try:
            out.append((_hex_addr(addr, v6), int(port, 16), inode))
        except ValueError:  # an address of the wrong length: not a line the kernel writes
            continue
    return out


_HEX = re.compile(r"[0-9A-Fa-f]{1,32}")


def _too_large() -> str:
    return f"is larger than {MAX_FILE_BYTES >> 20} MiB, too large for a config file: not read"
