"""The lock of the journal folder, and what harborkit made for it in a sysroot.

A complete rollback of a sysroot (default journal folder) leaves it as it
was: the journal is removed, and once only the journals that were there before
harborkit remain, so are the lock file and the folders of the journal path
harborkit created (the apply records them in ``.origin``). The live host and
``--journal-dir`` keep their journals as a record of what was done.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from harborkit.errors import EnvironmentProblem
from harborkit.fix.journal import (
    JOURNAL_ID,
    Made,
    journal_base,
    loads,
    remove_journal,
    require,
)
from harborkit.fix.target import (
    JOURNAL_DIR,
    FixRefused,
    Target,
    rmdir_host,
    set_mtime,
    set_path_mtime,
    valid_path,
)
from harborkit.fsutil import open_dir, read_at, walk_in_root, write_at

LOCK_WAIT_ENV = "HARBORKIT_FIX_LOCK_WAIT"


LOCK = ".lock"
#: in a sysroot's journal folder: what harborkit made there (see :func:`_note_origin`)
ORIGIN = ".origin"
_REMOVED = re.compile(r"\.[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\.removed")


_held: dict[str, int] = {}


def _lock_wait() -> float:
    try:
        wait = float(os.environ.get(LOCK_WAIT_ENV, "10"))
    except ValueError:
        wait = 10.0
    return max(0.0, min(wait, 3600.0))


@contextlib.contextmanager
def _guard(target: Target, deadline: float) -> Iterator[None]:
    """While a sysroot's journal folder is made, or unmade, no other harborkit
    process looks at it: a short lock on the sysroot's own folder (nothing is
    created for it; a live host or a ``--journal-dir`` never unmakes its
    journal folder and needs none)."""
    if not target.cleans_up:
        yield
        return
    import fcntl

    fd = open_dir(target.files_root)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FixRefused(
                        f"another harborkit fix is making or removing the journal folder "
                        f"{target.journal_dir}: try again when it has finished (nothing was "
                        "changed)"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # the only descriptor: the flock goes with it


def hold_lock(target: Target, *, create: bool = True) -> bool:
    """Hold the lock of the journal folder until this process ends: a second
    apply or rollback waits for it (``HARBORKIT_FIX_LOCK_WAIT`` seconds, 10 by
    default), then is refused naming the process that holds it.

    A complete rollback of a sysroot removes the lock file and the folders
    harborkit made while holding it: a process that was waiting then holds a
    lock on a file no longer in the tree, so the lock is only held once the
    file locked is still the one at its path; otherwise it starts again (and
    makes the journal folder anew, recording that it did). A rollback
    (``create`` false) makes no journal folder: False when there is none."""
    key = "\0".join(target.journal_at())
    if key in _held:
        return True
    deadline = time.monotonic() + _lock_wait()
    while True:
        with _guard(target, deadline):
            fd = _open_lock(target, create)
            if fd is None:
                return False
        _flock(target, fd, deadline)
        with _guard(target, deadline):
            current = _is_the_lock(target, fd)
        if current:
            break
        os.close(fd)  # the one before removed it with its journal folder: again
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[key] = fd
    return True


def _open_lock(target: Target, create: bool) -> int | None:
    """The lock file of the journal folder, open (made with the folder when
    ``create``; what was made recorded in a sysroot); None: no journal folder.
    Called under the guard."""
    made = Made()
    base = journal_base(target, create=create, made=made)
    if base is None:
        return None
    premtime = made.mtime_ns if made.folders else os.fstat(base).st_mtime_ns
    try:
        try:
            fd = os.open(
                LOCK,
                os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                0o600,
                dir_fd=base,
            )
            lock_made = True
        except FileExistsError:
            fd = os.open(
                LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=base
            )
            lock_made = False
    except OSError as e:
        os.close(base)
        raise FixRefused(
            f"cannot open the lock {target.journal_dir}/{LOCK}: {e.strerror} (nothing was changed)"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            # a hard link would have this process write the pid into another file
            os.close(fd)
            what = "a hard link" if stat.S_ISREG(st.st_mode) else "not a regular file"
            raise FixRefused(
                f"the lock {target.journal_dir}/{LOCK} is {what} (nothing was changed)"
            )
        if target.cleans_up:
            try:
                _note_origin(target, base, made.folders, premtime, lock_made, fd)
            except OSError as e:
                os.close(fd)
                raise EnvironmentProblem(
                    f"cannot write {target.journal_dir}/{ORIGIN}: {e.strerror} "
                    "(nothing was changed)"
                ) from None
    finally:
        os.close(base)
    return fd


def _flock(target: Target, fd: int, deadline: float) -> None:
    """Lock ``fd`` by the deadline, or close it and refuse naming who holds it."""
    import fcntl

    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                said = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                pid = said if said.isdecimal() and said.isascii() else "unknown"
                raise FixRefused(
                    f"another harborkit fix is in progress (pid {pid}) with the journal "
                    f"{target.journal_dir}: try again when it has finished (nothing was "
                    "changed)"
                ) from None
            time.sleep(0.05)


def _is_the_lock(target: Target, fd: int) -> bool:
    """Whether ``fd`` is the file at the lock's path now."""
    base = journal_base(target, create=False)
    if base is None:
        return False
    try:
        st = os.stat(LOCK, dir_fd=base, follow_symlinks=False)
    except OSError:
        return False
    finally:
        os.close(base)
    got = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (got.st_dev, got.st_ino) and got.st_nlink == 1


def release_lock(target: Target) -> None:
    fd = _held.pop("\0".join(target.journal_at()), None)
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock


# --- what harborkit made for the journal of a sysroot, and unmaking it -----------


@dataclass(frozen=True)
class Origin:
    """What was in a sysroot before harborkit put its journal folder there.

    ``folders``: the folders of the journal path harborkit created (resolved
    host paths, outermost first; the last is the journal folder); ``mtime_ns``:
    the modification time of the folder that held the first of them (or of
    the journal folder itself when it existed) before; ``lock``: harborkit
    created the lock file; ``journals``: the journals already there (left
    alone: only once these alone remain is the folder unmade); ``lock_was``
    and ``lock_mtime_ns``: the text and mtime of a lock file that was there
    (an earlier harborkit's), given back when the folder is unmade."""

    folders: tuple[str, ...]
    mtime_ns: int | None
    lock: bool
    journals: tuple[str, ...]
    lock_was: str | None = None
    lock_mtime_ns: int | None = None

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2) + "\n").encode()


def _read_origin(target: Target, base: int) -> Origin | None:
    """The origin record of the journal folder, None when absent or not to be
    trusted (it is data from the audited disk: then nothing is unmade)."""
    try:
        got = read_at(base, ORIGIN, 64 << 10)
        if got is None:
            return None
        d = loads(got[0].decode("utf-8"))
        require(
            isinstance(d, dict)
            and set(d) == {"folders", "mtime_ns", "lock", "journals", "lock_was", "lock_mtime_ns"},
            "keys",
        )
        folders = d["folders"]
        require(isinstance(folders, list), "folders")
        prev = None
        for f in folders:
            valid_path(f)
            require(prev is None or posixpath.dirname(f) == prev, "folders are not nested")
            prev = f
        if folders:
            with walk_in_root(target.files_root, JOURNAL_DIR) as w:
                require(w.host_path() == folders[-1], "the last folder is not the journal folder")
        m, lm, was = d["mtime_ns"], d["lock_mtime_ns"], d["lock_was"]
        require(m is None or (type(m) is int and 0 <= m < 2**63), "mtime_ns")
        require(lm is None or (type(lm) is int and 0 <= lm < 2**63), "lock_mtime_ns")
        require(was is None or (isinstance(was, str) and len(was) <= 64), "lock_was")
        require(isinstance(d["lock"], bool), "lock")
        js = d["journals"]
        require(
            isinstance(js, list)
            and all(isinstance(j, str) and JOURNAL_ID.fullmatch(j) for j in js),
            "journals",
        )
        return Origin(tuple(folders), m, d["lock"], tuple(js), was, lm)
    except (ValueError, OSError, UnicodeDecodeError):
        return None


def _note_origin(
    target: Target, base: int, made: list[str], mtime_ns: int | None, lock_made: bool, lock: int
) -> None:
    """Record what this process made for the journal folder (under the guard):
    the whole record when there is none yet, else the lock file it made anew.
    ``lock``: the lock file, open (its text and mtime kept when it was there)."""
    try:
        present = os.stat(ORIGIN, dir_fd=base, follow_symlinks=False)
    except FileNotFoundError:
        present = None
    if present is None:
        names = sorted(n for n in os.listdir(base) if JOURNAL_ID.fullmatch(n))
        was: str | None = None
        was_mtime: int | None = None
        if not lock_made:
            text = os.pread(lock, 65, 0)
            if len(text) <= 64 and text.isascii():
                was, was_mtime = text.decode("ascii"), os.fstat(lock).st_mtime_ns
        origin = Origin(tuple(made), mtime_ns, lock_made, tuple(names), was, was_mtime)
    else:
        had = _read_origin(target, base)
        if had is None or not lock_made or had.lock:
            return  # nothing new (or a record not to be trusted: left as it is)
        origin = Origin(had.folders, had.mtime_ns, True, had.journals)
    write_at(base, ORIGIN, origin.to_json(), mode=0o600)


def forget(target: Target, jid: str | None) -> bool:
    """After a complete rollback of a sysroot: remove journal ``jid`` (None: an
    apply refused before it made one), then, once only the journals that were
    there before harborkit remain, the lock file, the origin record and the
    folders harborkit made, each only if it is empty, restoring the
    modification time of the folder that held them. Called holding the lock;
    whether the journal is gone."""
    with _guard(target, time.monotonic() + _lock_wait()):
        base = journal_base(target, create=False)
        if base is None:
            return False
        try:
            if jid is not None:
                gone = f".{jid}.removed"
                remove_journal(base, gone)  # left by a rollback killed while removing it
                try:
                    os.rename(jid, gone, src_dir_fd=base, dst_dir_fd=base)
                except OSError:
                    return False
            for n in os.listdir(base):
                if _REMOVED.fullmatch(n):
                    remove_journal(base, n)
            origin = _read_origin(target, base)
            left = {n for n in os.listdir(base) if n not in (LOCK, ORIGIN)}
            if origin is None or not left <= set(origin.journals):
                return True  # other journals (or a record not to trust): the folder stays
            if origin.lock:
                with contextlib.suppress(OSError):
                    os.unlink(LOCK, dir_fd=base)
            held = _held.get("\0".join(target.journal_at()))
            if not origin.lock and origin.lock_was is not None and held is not None:
                with contextlib.suppress(OSError):  # an earlier harborkit's lock: as it was
                    os.ftruncate(held, 0)
                    os.pwrite(held, origin.lock_was.encode("ascii"), 0)
                    if origin.lock_mtime_ns is not None:
                        set_mtime(held, origin.lock_mtime_ns)
            with contextlib.suppress(OSError):
                os.unlink(ORIGIN, dir_fd=base)
            if not origin.folders:
                if origin.mtime_ns is not None:
                    set_mtime(base, origin.mtime_ns)
                return True
        finally:
            os.close(base)
        for folder in reversed(origin.folders):
            if not rmdir_host(target, folder):
                return True
        if origin.mtime_ns is not None:
            set_path_mtime(target, posixpath.dirname(origin.folders[0]), origin.mtime_ns)
        return True
