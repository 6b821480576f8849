"""The Host contract that every check goes through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harborkit.errors import HarborkitError

if TYPE_CHECKING:
    import docker


class HostError(HarborkitError):
    """The host could not be read at all (exit 3)."""

    exit_code = 3


class NotAvailable(Exception):
    """A fact that this host cannot provide (for example: a sysroot has no
    running processes). The engine turns it into a ``skip`` with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnreadableFile(Exception):
    """A file a check asked for that harborkit will not read: a FIFO, a device,
    a socket or a folder where a file should be, or a file past the size limit.

    Deliberately not an :class:`OSError`: a check that treats "cannot read" as
    "absent" must not hide it. The engine reports it as a ``fail`` finding at
    ``path``.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class CommandResult:
    """Outcome of one command run on a host."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class ProcessInfo:
    """A running process, as much as checks need of it."""

    pid: int
    name: str
    exe: str
    cmdline: tuple[str, ...]


@dataclass(frozen=True)
class Listener:
    """A socket listening for connections."""

    proto: str  # "tcp" or "tcp6"
    address: str
    port: int
    pid: int | None
    process: str | None


@dataclass(frozen=True)
class ClockSample:
    """A host's clock read once, against the auditing machine's own clock.

    Clocks of several hosts can only be compared through a common reference:
    ``offset`` is how far the host's clock is ahead of the auditing machine's
    at the moment it was read. ``uncertainty`` bounds how wrong that offset
    may be (half the round trip of the read, over SSH; 0 for this machine).
    """

    host_time: float  # the host's clock, seconds since the epoch
    local_time: float  # the auditing machine's clock at the same moment
    uncertainty: float = 0.0  # seconds, either way

    @property
    def offset(self) -> float:
        return self.host_time - self.local_time


@runtime_checkable
class Host(Protocol):
    """What a check may ask of a machine.

    Paths are absolute paths *on the audited host* ("/etc/hosts"), whatever
    the backend; symbolic links resolve on that host (a sysroot's links
    resolve inside the sysroot, as under ``chroot``). File methods raise
    ``FileNotFoundError``/``PermissionError`` like the built-ins do;
    ``read_text`` raises :class:`UnreadableFile` for anything but a regular
    file of at most :data:`~harborkit.fsutil.MAX_FILE_BYTES`. Methods that a backend cannot
    answer raise :class:`NotAvailable`.
    """

    @property
    def name(self) -> str:
        """The host's name, as reports show it."""
        ...

    @property
    def live(self) -> bool:
        """True when this is a running system (processes, sockets, daemons)."""
        ...

    def read_text(self, path: str) -> str: ...
    def exists(self, path: str) -> bool: ...
    def is_dir(self, path: str) -> bool: ...
    def listdir(self, path: str) -> list[str]: ...
    def glob(self, pattern: str) -> list[str]: ...
    def which(self, program: str) -> str | None: ...
    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult: ...

    # system facts
    def hostname(self) -> str: ...
    def resolve(self, name: str) -> list[str]: ...
    def cpu_count(self) -> int: ...
    def memory_bytes(self) -> int: ...
    def disk_free(self, path: str) -> tuple[str, int]: ...
    def processes(self, name: str) -> list[ProcessInfo]: ...
    def listeners(self) -> list[Listener]: ...
    def docker_client(self) -> docker.DockerClient: ...
    def clock(self) -> ClockSample:
        """The host's clock now, with the auditing machine's clock as reference
        (:class:`NotAvailable` when the host has no clock to read now)."""
        ...


@dataclass(frozen=True)
class FileState:
    """A regular file of a host as a change reads it: its bytes and metadata."""

    data: bytes
    mode: int  # the permission bits (st_mode & 0o7777)
    uid: int
    gid: int
    mtime_ns: int


@runtime_checkable
class WritableHost(Protocol):
    """What ``harborkit fix --apply`` and ``--rollback`` ask of a machine.

    Every path is resolved exactly as the reads of :class:`Host` resolve it (a
    sysroot's links inside the sysroot, as under ``chroot``): a write can never
    reach a file a read could not. Files are replaced atomically (a temporary
    file beside them, fsync, rename), never written through a link. Methods
    raise ``OSError`` (``FileNotFoundError``, ``NotADirectoryError``,
    ``ELOOP``) like the built-ins, and ``ValueError`` for a path that is not
    absolute or a file that is no regular one.
    """

    def real_path(self, path: str) -> str:
        """``path`` with every link resolved on the host (its last component
        may be missing; ``FileNotFoundError`` for a missing folder reached
        through a link)."""
        ...

    def read_file(self, path: str, limit: int) -> FileState | None:
        """The file at ``path`` (never through a link as its last component),
        None when absent; ``ValueError`` for no regular file or one larger
        than ``limit``."""
        ...

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int,
        uid: int | None = None,
        gid: int | None = None,
    ) -> list[str]:
        """Replace the file ``path`` names (a link as its last component
        followed, inside the root) atomically with ``data``, with exactly
        ``mode`` (and owner when given); its missing folders are created (mode
        0755): their resolved paths, outermost first."""
        ...

    def remove_file(self, path: str) -> bool:
        """Remove the file ``path`` names (links resolved inside the root); whether it was there."""
        ...

    def remove_dir(self, path: str) -> bool:
        """Remove the empty folder ``path`` (never a link's target); whether it is gone."""
        ...

    def set_mtime(self, path: str, mtime_ns: int) -> None:
        """Give the file or folder ``path`` names (links resolved inside the
        root) the modification time ``mtime_ns``, keeping its access time."""
        ...

    def folder_mtime(self, path: str) -> int:
        """The modification time of the folder that holds ``path`` (or of the
        last folder on its way that exists, when it is missing)."""
        ...
