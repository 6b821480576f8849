"""The bundle's inventory: a CycloneDX 1.6 SBOM (JSON), made with ``cyclonedx-python-lib``.

One ``container`` component per image (repository as name, tag as version,
image id and manifest digest as hashes/properties, a ``pkg:docker`` purl: see
:func:`image_purl`), its layers as nested ``file`` components with digest and
sizes, the installer and every extra file as ``file`` components with their
sha256. The library serialises and validates against the CycloneDX schema, so
the document is what security tools expect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harborkit.bundle.errors import BundleError
from harborkit.bundle.format import BundleMetadata, ImageRecord, LayerRecord
from harborkit.errors import ExitCode

if TYPE_CHECKING:
    from cyclonedx.model.component import Component

#: the SBOM member in the bundle
SBOM_NAME = "sbom.cdx.json"


class SbomInvalid(BundleError):
    """The SBOM fails the CycloneDX schema (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class SbomFile:
    """An extra file in the bundle (a tool such as docker-compose)."""

    name: str
    sha256: str
    size: int
    source: str
    install_path: str | None = None


def _split_ref(ref: str) -> tuple[str, str]:
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


#: registry names that mean Docker Hub, the docker purl type's default repository
_DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def image_purl(
    reference: str,
    image_id: str,
    *,
    manifest_digest: str | None = None,
    registry: str | None = None,
) -> str:
    """The purl of an image per the purl spec's ``docker`` type.

    ``pkg:docker/NAMESPACE/NAME@TAG?digest=MANIFEST_DIGEST&repository_url=REGISTRY``:
    the namespace is the repository path before the name (``goharbor``), the
    version the tag; ``repository_url`` names the registry the image came from
    (``registry``, else the one the reference names; left out for Docker Hub,
    the type's default); ``digest`` is the registry manifest digest when known
    (registry builds), else ``image_id`` gives the image id (config digest).
    """
    from packageurl import PackageURL

    repo, tag = _split_ref(reference)
    parts = repo.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry = registry or parts[0]
        parts = parts[1:]
    qualifiers: dict[str, str] = {}
    if registry and registry.lower() not in _DOCKER_HUB:
        qualifiers["repository_url"] = registry
    if manifest_digest:
        qualifiers["digest"] = manifest_digest
    else:
        qualifiers["image_id"] = image_id
    purl = PackageURL(
        type="docker",
        namespace="/".join(parts[:-1]) or None,
        name=parts[-1],
        version=tag,
        qualifiers=qualifiers,
    )
    return str(purl.to_string())


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1] if ":" in digest else digest


def build_sbom(
    meta: BundleMetadata,
    *,
    manifest_digests: Mapping[str, str] | None = None,
    files: Iterable[SbomFile] = (),
    omitted_layers: Iterable[str] = (),
    registries: Mapping[str, str] | None = None,
) -> bytes:
    """The SBOM JSON for a bundle described by ``meta``.

    ``manifest_digests`` maps an image reference to its registry manifest digest
    and ``registries`` to the registry it was fetched from (both known for
    registry builds); ``omitted_layers`` are layer digests a delta bundle leaves
    to its base.
    """
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion

    from harborkit import __version__

    digests = dict(manifest_digests or {})
    omitted = set(omitted_layers)
    layers = {lr.digest: lr for lr in meta.layers}
    sources = dict(registries or {})
    components = [
        _image_component(img, layers, digests, omitted, sources.get(img.reference))
        for img in meta.images
    ]
    components += _file_components(meta, files)
    top = Component(
        name="harbor-bundle",
        version=meta.harbor_version,
        type=ComponentType.APPLICATION,
        bom_ref="harbor-bundle",
        description=f"Harbor {meta.harbor_version} air-gap bundle made by harborkit {__version__}",
    )
    bom = Bom(components=components, metadata=BomMetaData(component=top))
    bom.register_dependency(top, components)
    outputter = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6)
    data = json.loads(outputter.output_as_string())
    return (json.dumps(data, indent=2) + "\n").encode()


def _image_component(
    img: ImageRecord,
    layers: Mapping[str, LayerRecord],
    digests: Mapping[str, str],
    omitted: set[str],
    registry: str | None = None,
) -> Component:
    """An image as a container component, its layers as file components inside it."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    repo, tag = _split_ref(img.reference)
    props = [
        Property(name="harborkit:image_id", value=img.image_id),
        Property(name="harborkit:reference", value=img.reference),
        Property(name="harborkit:size", value=str(img.size)),
    ]
    manifest = digests.get(img.reference)
    if manifest:
        props.append(Property(name="harborkit:manifest_digest", value=manifest))
    purl = PackageURL.from_string(
        image_purl(img.reference, img.image_id, manifest_digest=manifest, registry=registry)
    )
    children = []
    for n, d in enumerate(img.layers):
        lr = layers.get(d)
        lprops = [Property(name="harborkit:layer_index", value=str(n))]
        if lr is not None:
            lprops += [
                Property(name="harborkit:diff_id", value=lr.diff_id),
                Property(name="harborkit:size", value=str(lr.size)),
                Property(name="harborkit:uncompressed_size", value=str(lr.uncompressed_size)),
            ]
        if d in omitted:
            lprops.append(Property(name="harborkit:in_base_bundle", value="true"))
        children.append(
            Component(
                name=d,
                type=ComponentType.FILE,
                bom_ref=f"{img.reference}#layer-{n}",
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=_hex(d))],
                properties=lprops,
            )
        )
    return Component(
        name=repo,
        version=tag,
        type=ComponentType.CONTAINER,
        bom_ref=img.reference,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=_hex(img.image_id))],
        purl=purl,
        properties=props,
        components=children,
    )


def _file_components(meta: BundleMetadata, files: Iterable[SbomFile]) -> list[Component]:
    """The installer and the extra files, as file components."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType

    inst = meta.installer
    components = [
        Component(
            name=inst.name,
            version=meta.harbor_version,
            type=ComponentType.FILE,
            bom_ref=f"installer/{inst.name}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=inst.sha256)],
            properties=[
                Property(name="harborkit:size", value=str(inst.size)),
                Property(name="harborkit:source", value=inst.source),
            ],
        )
    ]
    for f in files:
        fprops = [
            Property(name="harborkit:size", value=str(f.size)),
            Property(name="harborkit:source", value=f.source),
        ]
        if f.install_path:
            fprops.append(Property(name="harborkit:install_path", value=f.install_path))
        components.append(
            Component(
                name=f.name,
                type=ComponentType.FILE,
                bom_ref=f"files/{f.name}",
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)],
                properties=fprops,
            )
        )
    return components


def validate_sbom(raw: bytes, where: str = SBOM_NAME) -> dict[str, Any]:
    """Check ``raw`` against the CycloneDX 1.6 JSON schema; :class:`SbomInvalid` if it fails."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from harborkit.bundle.format import strict_json

    data = strict_json(raw, where, SbomInvalid)
    text = raw.decode()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        detail = getattr(error, "data", None)
        msg = getattr(detail, "message", None) or str(error).splitlines()[0]
        path = "/".join(str(p) for p in getattr(detail, "absolute_path", []) or []) or "(top)"
        raise SbomInvalid(f"{where} fails the CycloneDX 1.6 schema at {path}: {msg}")
    return data if isinstance(data, dict) else {}


def sbom_output(raw: bytes, where: str = SBOM_NAME) -> str:
    """The SBOM as ``inspect -f cyclonedx`` prints it: parsed strictly and written again as
    harborkit writes it (byte for byte the stored text for a bundle harborkit made), so a
    crafted one cannot put raw control characters or terminal escapes on the screen."""
    from harborkit.bundle.format import strict_json

    return json.dumps(strict_json(raw, where, SbomInvalid), indent=2) + "\n"


def _sha256_of(component: Mapping[str, Any]) -> str | None:
    for h in component.get("hashes") or []:
        if isinstance(h, dict) and h.get("alg") == "SHA-256":
            return str(h.get("content"))
    return None


def _layer_index(component: Mapping[str, Any]) -> int:
    for p in component.get("properties") or []:
        if isinstance(p, dict) and p.get("name") == "harborkit:layer_index":
            value = str(p.get("value"))
            return int(value) if value.isdigit() and len(value) < 7 else -1
    return -1


def sbom_disagreements(data: Mapping[str, Any], meta: BundleMetadata) -> list[str]:
    """How the SBOM's components differ from ``harbor-bundle.json``: every image (its id
    and its layers in order), the installer and every file, and nothing else."""
    want: dict[str, tuple[str, str, list[str] | None]] = {
        img.reference: ("container", _hex(img.image_id), [_hex(d) for d in img.layers])
        for img in meta.images
    }
    want[f"installer/{meta.installer.name}"] = ("file", meta.installer.sha256, None)
    for f in meta.files:
        want[f"files/{f.name}"] = ("file", f.sha256, None)
    problems: list[str] = []
    seen: set[str] = set()
    for comp in data.get("components") or []:
        if not isinstance(comp, dict):
            continue
        ref = str(comp.get("bom-ref"))
        if ref in seen:
            problems.append(f"lists {ref!r} twice")
            continue
        seen.add(ref)
        if ref not in want:
            problems.append(f"lists {ref!r}, which the metadata does not")
            continue
        kind, sha, layers = want[ref]
        if comp.get("type") != kind or _sha256_of(comp) != sha:
            problems.append(f"gives {ref!r} another sha256 or type")
        elif layers is not None:
            children = [c for c in comp.get("components") or [] if isinstance(c, dict)]
            got = [_sha256_of(c) for c in sorted(children, key=_layer_index)]
            if got != layers or sorted(map(_layer_index, children)) != list(range(len(layers))):
                problems.append(f"gives {ref!r} other layers")
    problems += [f"does not list {ref!r}" for ref in want if ref not in seen]
    return problems


def check_sbom_agrees(data: Mapping[str, Any], meta: BundleMetadata, where: str) -> None:
    """:class:`BundleCorrupt` (exit 4) naming what the SBOM says otherwise than the metadata."""
    from harborkit.bundle.errors import BundleCorrupt

    problems = sbom_disagreements(data, meta)
    if problems:
        raise BundleCorrupt(
            f"{where} disagrees with harbor-bundle.json: " + "; ".join(problems[:4])
        )
