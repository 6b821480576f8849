"""The bundle's layout and metadata: names, dataclasses and the one JSON shape.

A bundle is one uncompressed tar::

    installer/<installer file>
    images/blobs/sha256/<digest>   layer (gzip, digest of the stored bytes) or image config
    images/manifest.json           legacy ``docker load`` manifest
    harbor-bundle.json             :class:`BundleMetadata`
    SHA256SUMS                     last member; coreutils format over every other member
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from harborkit.bundle.errors import MetadataError
from harborkit.resources import data_dir

FORMAT_VERSION = 1
METADATA_NAME = "harbor-bundle.json"
SUMS_NAME = "SHA256SUMS"
IMAGES_DIR = "images"
IMAGES_MANIFEST = "images/manifest.json"
BLOB_DIR = "images/blobs/sha256"
INSTALLER_DIR = "installer"
FILES_DIR = "files"

SCHEMA_DIR = data_dir("schemas")
METADATA_SCHEMA = SCHEMA_DIR / "bundle-metadata.schema.json"


def blob_member(digest: str) -> str:
    """Outer-tar member name of the blob with ``digest`` (``sha256:<hex>``)."""
    return f"{BLOB_DIR}/{digest.split(':', 1)[1]}"


def blob_path_in_images(digest: str) -> str:
    """Path of the blob relative to ``images/`` (as ``images/manifest.json`` names it)."""
    return "blobs/sha256/" + digest.split(":", 1)[1]


def file_member(name: str) -> str:
    """Outer-tar member name of the extra file ``name``."""
    return f"{FILES_DIR}/{name}"


def installer_member(name: str) -> str:
    """Outer-tar member name of the installer file ``name``."""
    return f"{INSTALLER_DIR}/{name}"


@dataclass(frozen=True)
class LayerRecord:
    """A layer blob stored once in the bundle."""

    digest: str  # sha256 of the stored (gzip) bytes: the blob name
    diff_id: str  # sha256 of the uncompressed tar, as in the image config
    size: int  # stored (compressed) bytes
    uncompressed_size: int


@dataclass(frozen=True)
class ImageRecord:
    """An image in the bundle, by reference."""

    reference: str
    image_id: str  # sha256 of the config; also the config blob's digest
    size: int  # size the daemon reported (uncompressed, all layers)
    layers: tuple[str, ...]  # layer digests, bottom first


@dataclass(frozen=True)
class InstallerRecord:
    """The Harbor installer archive carried in the bundle."""

    name: str
    size: int
    sha256: str
    source: str  # URL or local path it was taken from


@dataclass(frozen=True)
class FileRecord:
    """An extra file stored in a bundle as ``files/<name>`` (a tool such as docker-compose)."""

    name: str
    size: int
    sha256: str
    source: str  # URL or local path it was taken from
    install_path: str  # absolute path on the target (under ``--prefix``)
    mode: int

    @property
    def member(self) -> str:
        """Its member name in the bundle."""
        return file_member(self.name)


@dataclass(frozen=True)
class BaseImage:
    """An image of a delta bundle's base that the target must hold."""

    reference: str
    image_id: str


@dataclass(frozen=True)
class BaseRecord:
    """What a delta bundle leaves to its base bundle."""

    name: str  # the base bundle's file name
    sums_sha256: str  # sha256 of the base's SHA256SUMS
    images: tuple[BaseImage, ...]  # base images whose layers this bundle relies on
    layers: tuple[str, ...]  # layer digests not stored here


@dataclass(frozen=True)
class BundleMetadata:
    """Contents of ``harbor-bundle.json``."""

    format_version: int
    harbor_version: str
    created: str  # UTC ISO 8601
    harborkit_version: str
    images: tuple[ImageRecord, ...]
    layers: tuple[LayerRecord, ...]
    installer: InstallerRecord
    files: tuple[FileRecord, ...] = ()
    base: BaseRecord | None = None

    @cached_property
    def _layer_index(self) -> dict[str, LayerRecord]:
        index: dict[str, LayerRecord] = {}
        for rec in self.layers:
            index.setdefault(rec.digest, rec)
        return index

    def layer(self, digest: str) -> LayerRecord:
        """The (first) layer record with ``digest``, found in constant time (``inspect``
        looks up every shared layer: a linear search made that quadratic)."""
        return self._layer_index[digest]

    def shared_layers(self) -> dict[str, list[str]]:
        """Layers used by more than one image: digest -> references using it."""
        users: dict[str, list[str]] = {}
        for img in self.images:
            for digest in dict.fromkeys(img.layers):
                users.setdefault(digest, []).append(img.reference)
        return {d: refs for d, refs in users.items() if len(refs) > 1}


#: the deepest nesting a bundle's JSON document may have (the SBOM needs about 8)
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays and objects of ``raw`` nest deeper than ``limit`` (strings skipped),
    found without recursion so 100,000 ``[`` are one line, not a ``RecursionError``."""
    depth = 0
    for c in _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", raw)):
        depth += 1 if c in b"[{" else -1
        if depth > limit:
            return True
    return False


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k)
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(raw: bytes, where: str, error: type[Exception]) -> Any:
    """Parse a bundle document as every JSON reader reads it alike, or ``error`` in one line:
    UTF-8 only, no key twice in an object, no NaN/Infinity, at most
    :data:`MAX_JSON_DEPTH` levels deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{where} is not valid JSON: it is not UTF-8 (byte {e.start})") from e
    if json_depth_exceeds(raw):
        raise error(f"{where} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Duplicate as e:
        raise error(f"{where} repeats key {str(e)!r} in one object") from e
    except (ValueError, RecursionError) as e:
        raise error(f"{where} is not valid JSON: {e}") from e


def metadata_to_dict(meta: BundleMetadata) -> dict[str, Any]:
    """The JSON shape of ``harbor-bundle.json`` (the only place it is written)."""
    out: dict[str, Any] = {
        "format_version": meta.format_version,
        "harbor_version": meta.harbor_version,
        "created": meta.created,
        "harborkit_version": meta.harborkit_version,
        "images": [
            {
                "reference": i.reference,
                "image_id": i.image_id,
                "size": i.size,
                "layers": list(i.layers),
            }
            for i in meta.images
        ],
        "layers": [
            {
                "digest": lr.digest,
                "diff_id": lr.diff_id,
                "size": lr.size,
                "uncompressed_size": lr.uncompressed_size,
            }
            for lr in meta.layers
        ],
        "installer": {
            "name": meta.installer.name,
            "size": meta.installer.size,
            "sha256": meta.installer.sha256,
            "source": meta.installer.source,
        },
        "files": [
            {
                "name": f.name,
                "size": f.size,
                "sha256": f.sha256,
                "source": f.source,
                "install_path": f.install_path,
                "mode": f.mode,
            }
            for f in meta.files
        ],
    }
    if meta.base is not None:
        out["base"] = {
            "name": meta.base.name,
            "sums_sha256": meta.base.sums_sha256,
            "images": [
                {"reference": i.reference, "image_id": i.image_id} for i in meta.base.images
            ],
            "layers": list(meta.base.layers),
        }
    return out


def metadata_to_json(meta: BundleMetadata) -> bytes:
    """Serialised ``harbor-bundle.json``."""
    return (json.dumps(metadata_to_dict(meta), indent=2) + "\n").encode()


def validate_metadata_dict(data: Any, where: str = METADATA_NAME) -> None:
    """Validate ``data`` against ``schemas/bundle-metadata.schema.json``."""
    from harborkit.schemacheck import first_schema_error

    error = first_schema_error(data, METADATA_SCHEMA.name)
    if error is not None:
        raise MetadataError(f"{where} fails its schema at {error[0]}: {error[1]}")


def metadata_from_json(raw: bytes, where: str = METADATA_NAME) -> BundleMetadata:
    """Parse and validate ``harbor-bundle.json``; :class:`MetadataError` if it is bad."""
    data = strict_json(raw, where, MetadataError)
    validate_metadata_dict(data, where)
    inst = data["installer"]
    return BundleMetadata(
        format_version=data["format_version"],
        harbor_version=data["harbor_version"],
        created=data["created"],
        harborkit_version=data["harborkit_version"],
        images=tuple(
            ImageRecord(i["reference"], i["image_id"], i["size"], tuple(i["layers"]))
            for i in data["images"]
        ),
        layers=tuple(
            LayerRecord(x["digest"], x["diff_id"], x["size"], x["uncompressed_size"])
            for x in data["layers"]
        ),
        installer=InstallerRecord(inst["name"], inst["size"], inst["sha256"], inst["source"]),
        files=tuple(
            FileRecord(f["name"], f["size"], f["sha256"], f["source"], f["install_path"], f["mode"])
            for f in data.get("files", [])
        ),
        base=_base_from_dict(data.get("base")),
    )


def _base_from_dict(data: Any) -> BaseRecord | None:
    if data is None:
        return None
    return BaseRecord(
        data["name"],
        data["sums_sha256"],
        tuple(BaseImage(i["reference"], i["image_id"]) for i in data["images"]),
        tuple(data["layers"]),
    )


def format_sums(entries: list[tuple[str, str]]) -> bytes:
    """``SHA256SUMS`` text (coreutils format) from ``(member, hex digest)`` pairs."""
    return "".join(f"{hexdigest}  {name}\n" for name, hexdigest in entries).encode()


def parse_sums(raw: bytes) -> dict[str, str]:
    """Parse ``SHA256SUMS``: member -> hex digest. ``ValueError`` names the bad line."""
    out: dict[str, str] = {}
    # lines end at LF only (an optional CR before it), as sha256sum -c reads them:
    # str.splitlines would also split at VT, FF, NEL, U+2028... and see other names
    for n, line in enumerate(raw.decode("utf-8", "replace").split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        hexdigest, sep, name = line.partition("  ")
        if not sep:
            hexdigest, sep, name = line.partition(" *")
        if not sep or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
            raise ValueError(f"line {n} is not '<sha256>  <name>'")
        if name in out:
            raise ValueError(f"line {n} repeats {name}")
        out[name] = hexdigest
    return out
