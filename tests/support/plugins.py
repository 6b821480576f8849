"""A plugin distribution laid out on disk as pip lays one out, for discovery tests."""

from __future__ import annotations

from pathlib import Path


def lay_out_dist(
    root: Path, module: str, dist: str, source: str, entry_points: str, *, package: bool = False
) -> None:
    """``module`` (a package when ``package``) holding ``source``, beside its
    ``<module>-1.0.dist-info`` with METADATA naming ``dist`` and ``entry_points``
    (the text of entry_points.txt, section headers included)."""
    if package:
        (root / module).mkdir()
        (root / module / "__init__.py").write_text(source)
    else:
        (root / f"{module}.py").write_text(source)
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
