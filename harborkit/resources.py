"""Where harborkit's data lives: profiles (``checks/``), manifests (``bundles/``), ``schemas/``.

The top-level ``checks/``, ``bundles/`` and ``schemas/`` folders of the source
tree are the only copy in git. A wheel or sdist build copies them into the
package as ``harborkit/data/<kind>`` (``setup.py``), and an installed harborkit
finds them there through :mod:`importlib.resources`. A checkout (the editable
install of ``make setup``) reads the top-level folders directly, so an edit
to them takes effect without reinstalling.

Installs are plain folders (setuptools never installs harborkit zipped), so
the data is returned as :class:`pathlib.Path` and read with ordinary file calls.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from harborkit.errors import EnvironmentProblem

KINDS = ("checks", "bundles", "schemas")
_PKG = Path(__file__).resolve().parent


def _checkout(kind: str) -> Path | None:
    """``<checkout>/<kind>`` when harborkit runs from its source tree."""
    tree = _PKG.parent
    if (tree / "pyproject.toml").is_file() and (tree / kind).is_dir():
        return tree / kind
    return None


def data_dir(kind: str) -> Path:
    """The folder of one kind of data: ``checks``, ``bundles`` or ``schemas``."""
    if kind not in KINDS:
        raise ValueError(f"unknown data kind {kind!r}")
    found = _checkout(kind)
    if found is not None:
        return found
    packaged = files("harborkit").joinpath("data").joinpath(kind)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    raise EnvironmentProblem(
        f"harborkit's built-in {kind}/ folder is missing from this installation "
        f"(looked in {_PKG / 'data' / kind}); reinstall harborkit from a wheel or sdist"
    )


def schema_path(name: str) -> Path:
    """``schemas/<name>``."""
    return data_dir("schemas") / name


@functools.cache
@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON schema ``schemas/<name>``, parsed once per process."""
    with open(schema_path(name), encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def default_profile() -> Path:
    """The built-in baseline: ``checks/harbor-v1.8.0.yaml``."""
    return data_dir("checks") / "harbor-v1.8.0.yaml"


def default_manifest() -> Path:
    """The built-in bundle manifest: ``bundles/harbor-v1.8.0.yaml``."""
    return data_dir("bundles") / "harbor-v1.8.0.yaml"
