"""Bundle manifests: which images and which installer a bundle holds (YAML, schema-checked)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.bundle.errors import ManifestError
from harborkit.bundle.format import REPO_ROOT, SCHEMA_DIR
from harborkit.bundle.tools import FileSpec

BUNDLES_DIR = REPO_ROOT / "bundles"
DEFAULT_MANIFEST = BUNDLES_DIR / "harbor-v1.8.0.yaml"
MANIFEST_SCHEMA = SCHEMA_DIR / "bundle-manifest.schema.json"


@dataclass(frozen=True)
class InstallerSpec:
    """Where the installer comes from and, when known, its sha256."""

    name: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class BundleManifest:
    """A validated bundle manifest."""

    harbor_version: str
    images: tuple[str, ...]
    installer: InstallerSpec
    source: Path
    files: tuple[FileSpec, ...] = ()


def manifest_from_dict(data: Any, source: Path) -> BundleManifest:
    """Validate ``data`` against the manifest schema and build a :class:`BundleManifest`."""
    import jsonschema

    schema = json.loads(MANIFEST_SCHEMA.read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(data),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise ManifestError(f"manifest {source} fails its schema at {where}: {e.message}")
    inst = data["installer"]
    names = [f["name"] for f in data.get("files", [])]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ManifestError(f"manifest {source}: file {dupes[0]} is listed twice")
    return BundleManifest(
        harbor_version=data["harbor_version"],
        images=tuple(data["images"]),
        installer=InstallerSpec(inst["name"], inst["url"], inst.get("sha256")),
        source=source,
        files=tuple(
            FileSpec(
                name=f["name"],
                url=f["url"],
                install_path=f["install_path"],
                mode=int(f["mode"], 8),
                sha256=f.get("sha256"),
                sha256_url=f.get("sha256_url"),
            )
            for f in data.get("files", [])
        ),
    )


def load_manifest(path: Path | None = None) -> BundleManifest:
    """Read a manifest (default: ``bundles/harbor-v1.8.0.yaml``); :class:`ManifestError` if bad."""
    import yaml

    path = path or DEFAULT_MANIFEST
    try:
        text = path.read_text()
    except OSError as e:
        raise ManifestError(f"cannot read manifest {path}: {e.strerror or e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ManifestError(f"manifest {path} is not valid YAML: {e}".splitlines()[0]) from e
    return manifest_from_dict(data, path)
