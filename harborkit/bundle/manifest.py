"""Bundle manifests: which images and which installer a bundle holds (YAML, schema-checked)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.bundle.errors import ManifestError
from harborkit.bundle.tools import FileSpec
from harborkit.errors import InputError
from harborkit.resources import default_manifest
from harborkit.yamlfile import Located, load_yaml, validate

MANIFEST_SCHEMA = "bundle-manifest.schema.json"


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


def manifest_from_dict(data: Any, source: Path, doc: Located | None = None) -> BundleManifest:
    """Validate ``data`` against the manifest schema and build a :class:`BundleManifest`.

    ``doc`` (the parsed file) lets the error name the file's line.
    """
    validate(doc or Located(data, str(source), {}), MANIFEST_SCHEMA, ManifestError)
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
                size=f.get("size"),
            )
            for f in data.get("files", [])
        ),
    )


def load_manifest(path: Path | None = None) -> BundleManifest:
    """Read a manifest (default: ``bundles/harbor-v1.8.0.yaml``); :class:`ManifestError` if bad."""
    path = path or default_manifest()
    try:
        doc = load_yaml(path, "bundle manifest")
    except InputError as e:
        raise ManifestError(e.message) from e
    return manifest_from_dict(doc.data, path, doc)
