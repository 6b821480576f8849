"""Helpers the check tests share: write files into a sysroot, compare findings."""

from __future__ import annotations

from pathlib import Path

from harborkit.model.check import Finding


def rows(findings: tuple[Finding, ...]) -> list[tuple[str, str, str, str | None]]:
    """``(status, subject, message, location)`` of each finding, for exact comparison."""
    return [(f.status.value, f.subject, f.message, f.location) for f in findings]


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``{"/etc/x": text}`` below ``root`` (folders made as needed); ``root``."""
    for rel, text in files.items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root
