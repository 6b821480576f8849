"""Where harborkit's data lives: profiles (checks/), manifests (bundles/), schemas/.

The data folders sit at the top of the source tree (the package is installed
in editable mode from it); a wheel build ships copies under ``harborkit/data``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(kind: str) -> Path:
    """``kind`` is ``checks``, ``bundles`` or ``schemas``."""
    for candidate in (_PKG.parent / kind, _PKG / "data" / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"harborkit data folder '{kind}' not found next to {_PKG}")


def schema_path(name: str) -> Path:
    return data_dir("schemas") / name


def default_profile() -> Path:
    return data_dir("checks") / "harbor-v1.8.0.yaml"
