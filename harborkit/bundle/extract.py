"""Unpacking the installer onto the target: checked first, never over anything there.

:func:`extract_installer` checks the archive (:func:`~harborkit.bundle.tarsafe.check_installer`)
and the destination (:func:`check_install_target`, :func:`check_install_space`),
then creates regular files and folders only, recording each so that
:func:`remove_created` can undo a failed extraction.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from harborkit.bundle.errors import BundleHostile, InstallTargetExists
from harborkit.bundle.tarsafe import InstallerCheck, check_installer, normalize_name


def check_install_target(members: Sequence[tarfile.TarInfo], dest: Path, where: str) -> None:
    """Refuse members that would land outside ``dest``, overwrite a file, or need a folder where a file is."""
    root = dest.resolve()
    for ti in members:
        path = root / ti.name  # what extraction opens: a link on the way is followed, not the last
        target = path.resolve()
        if target != root and root not in target.parents:
            raise BundleHostile(f"{where}: member {ti.name!r} escapes {dest}")
        # a resolved path is never a link: a dangling link must be seen on the path itself
        if ti.isreg() and (target.exists() or path.is_symlink()):
            shown = path if path.is_symlink() else target
            raise InstallTargetExists(f"{shown} already exists; not overwriting it")
        d = path if ti.isdir() else path.parent
        while d != root:
            if (d.exists() or d.is_symlink()) and not d.is_dir():
                raise InstallTargetExists(
                    f"{d} is a file where the installer needs a folder; not replacing it"
                )
            d = d.parent


def check_install_space(check: InstallerCheck, dest: Path) -> None:
    """:class:`NoSpace` unless the folder ``dest`` is in has room for the unpacked installer."""
    import shutil

    from harborkit.bundle.errors import NoSpace

    existing = dest
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    needed = check.files_size + 4096 * len(check.members) + (1 << 20)
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise NoSpace(
            f"not enough free space in {existing} for the installer: about "
            f"{needed / 1e6:.1f} MB needed, {free / 1e6:.1f} MB free"
        )


def _make_dirs(path: Path, created: list[Path]) -> None:
    missing: list[Path] = []
    while not path.exists() and not path.is_symlink():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir()
        created.append(d)


def remove_created(created: list[Path]) -> list[Path]:
    """Undo an extraction: remove the files and (then empty) folders it created, newest first."""
    removed: list[Path] = []
    for p in reversed(created):
        try:
            if p.is_dir() and not p.is_symlink():
                p.rmdir()
            else:
                p.unlink()
        except OSError:
            continue
        removed.append(p)
    created.clear()
    return removed


def dir_mode(mode: int) -> int:
    """The mode a folder of the installer gets: its permission bits and the sticky bit
    (``1777`` stays ``1777``, as GNU tar extracts it: a world-writable folder without it
    would let anyone remove others' files), never setuid/setgid (``tar
    --no-same-permissions`` drops them; setgid would change the group of all that is
    made inside), and always owner access (so the extraction can go on)."""
    return (stat.S_IMODE(mode) & (0o777 | stat.S_ISVTX)) | 0o700


def extract_installer(
    fileobj: BinaryIO, dest: Path, where: str, created: list[Path] | None = None
) -> list[Path]:
    """Check, then extract the installer archive into ``dest``; returns top-level paths.

    Only regular files and directories are created; permission bits are kept
    so ``install.sh`` and ``prepare`` stay executable: files without
    setuid/setgid/sticky, folders (see :func:`dir_mode`) with the sticky bit
    as GNU tar keeps it, without setuid/setgid as ``tar --no-same-permissions``
    drops them. Folders that were there already keep their mode. Existing files are never overwritten. Everything created is
    appended to ``created`` as it is made, so a failure can be undone with
    :func:`remove_created`.
    """
    created = [] if created is None else created
    members = list(check_installer(fileobj, where).members)
    check_install_target(members, dest, where)
    _make_dirs(dest, created)
    root = dest.resolve()
    fileobj.seek(0)
    tops: dict[str, Path] = {}
    with tarfile.open(fileobj=fileobj, mode="r:gz") as tf:
        for ti in tf:
            if normalize_name(ti.name) == ".":
                continue
            target = root / ti.name
            tops.setdefault(PurePosixPath(ti.name).parts[0], root / PurePosixPath(ti.name).parts[0])
            mode = stat.S_IMODE(ti.mode) & 0o777
            if ti.isdir():
                _make_dirs(target, created)
                if target in created:  # a folder that was there keeps its mode
                    os.chmod(target, dir_mode(ti.mode))
                continue
            _make_dirs(target.parent, created)
            src = tf.extractfile(ti)
            assert src is not None
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(target, flags, 0o600)
            created.append(target)
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            os.chmod(target, mode)
    return list(tops.values())
