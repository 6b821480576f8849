"""The target's folders, checked before ``bundle load`` sends anything: the install
folder and the folders the extra files (tools) go into exist or can be made, hold no
file where a folder must go, and are writable; tools go only into :data:`TOOL_FOLDERS`
unless the bundle's signature was checked.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harborkit.bundle.errors import BundleHostile, InstallTargetExists, OutputError
from harborkit.bundle.format import FileRecord

#: folders an extra file may be installed into unless its bundle's signature was
#: checked (``--key``) or ``--allow-install-path`` is given
TOOL_FOLDERS = ("/usr/local/bin",)


def _probe_writable(folder: Path, what: str) -> None:
    """:class:`OutputError` unless a file can be created in ``folder`` (read-only, no permission)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".harborkit-probe-", dir=folder)
    except OSError as e:
        raise OutputError(f"cannot write {what} into {folder}: {e.strerror or e}") from e
    os.close(fd)
    os.unlink(name)


def check_folder(dest: Path, what: str) -> None:
    """``dest`` is, or can be made as, a folder harborkit can write into: every part of the
    path that exists is a folder (exit 2 otherwise) and the deepest one is writable (exit 3)."""
    d = dest
    while not (d.exists() or d.is_symlink()) and d != d.parent:
        d = d.parent
    if not d.is_dir():
        raise InstallTargetExists(f"{d} is not a folder; {what} needs a folder at {dest}")
    _probe_writable(d, what)


def check_tool_targets(
    plan: list[tuple[FileRecord, Path, bool]],
    bundle: Path,
    signature_checked: bool,
    allow_install_path: bool,
) -> None:
    """Before anything is sent: where the extra files go is allowed, and a folder that
    exists or can be made (a file in the way: exit 2; read-only: exit 3)."""
    for rec, target, same in plan:
        folder = str(Path(rec.install_path).parent)
        if not (signature_checked or allow_install_path or folder in TOOL_FOLDERS):
            raise BundleHostile(
                f"bundle {bundle}: {rec.name} would be installed as {rec.install_path}, "
                f"outside {', '.join(TOOL_FOLDERS)}; a bundle whose signature is not checked "
                "installs tools only there (check it with --key, or pass --allow-install-path)"
            )
        if same:
            continue
        if target.is_dir() and not target.is_symlink():
            raise InstallTargetExists(
                f"{target} is a folder; not replacing it with {rec.name}, even with --force"
            )
        check_folder(target.parent, rec.name)


def missing_folders(folder: Path) -> list[Path]:
    """The folders ``folder.mkdir(parents=True)`` would make, outermost first."""
    missing: list[Path] = []
    while not (folder.exists() or folder.is_symlink()) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]
