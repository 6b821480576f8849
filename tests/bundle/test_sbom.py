"""The CycloneDX SBOM: what it lists, checked with cyclonedx-python-lib's own validator."""

from __future__ import annotations

import json

import pytest

from harborkit.bundle.format import BundleMetadata, ImageRecord, InstallerRecord, LayerRecord
from harborkit.bundle.sbom import SbomFile, SbomInvalid, build_sbom, validate_sbom
from harborkit.errors import ExitCode

D = "sha256:"


def _meta() -> BundleMetadata:
    base, top = D + "a" * 64, D + "b" * 64
    return BundleMetadata(
        format_version=1,
        harbor_version="v1.8.0",
        created="2026-11-28T00:00:00Z",
        harborkit_version="0.1.0",
        images=(
            ImageRecord("goharbor/harbor-core:v1.8.0", D + "1" * 64, 3000, (base, top)),
            ImageRecord("goharbor/harbor-log:v1.8.0", D + "2" * 64, 2000, (base,)),
        ),
        layers=(
            LayerRecord(base, D + "c" * 64, 100, 1000),
            LayerRecord(top, D + "d" * 64, 200, 2000),
        ),
        installer=InstallerRecord(
            "harbor-online-installer-v1.8.0.tgz", 42, "e" * 64, "http://x/i.tgz"
        ),
    )


def test_sbom_lists_images_layers_installer_and_files_and_is_valid() -> None:
    raw = build_sbom(
        _meta(),
        manifest_digests={"goharbor/harbor-core:v1.8.0": D + "f" * 64},
        files=[
            SbomFile("docker-compose", "9" * 64, 7, "http://x/dc", "/usr/local/bin/docker-compose")
        ],
    )
    doc = validate_sbom(raw)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    comps = {c["bom-ref"]: c for c in doc["components"]}
    assert set(comps) == {
        "goharbor/harbor-core:v1.8.0",
        "goharbor/harbor-log:v1.8.0",
        "installer/harbor-online-installer-v1.8.0.tgz",
        "files/docker-compose",
    }
    core = comps["goharbor/harbor-core:v1.8.0"]
    assert (core["type"], core["name"], core["version"]) == (
        "container",
        "goharbor/harbor-core",
        "v1.8.0",
    )
    assert core["hashes"] == [{"alg": "SHA-256", "content": "1" * 64}]
    props = {p["name"]: p["value"] for p in core["properties"]}
    assert props["harborkit:image_id"] == D + "1" * 64
    assert props["harborkit:manifest_digest"] == D + "f" * 64
    assert core["purl"] == (
        f"pkg:oci/harbor-core@{D}{'f' * 64}?repository_url=goharbor/harbor-core&tag=v1.8.0"
    )
    layers = [
        (c["name"], {p["name"]: p["value"] for p in c["properties"]}) for c in core["components"]
    ]
    assert [n for n, _ in layers] == [D + "a" * 64, D + "b" * 64]
    assert layers[1][1]["harborkit:size"] == "200"
    assert layers[1][1]["harborkit:uncompressed_size"] == "2000"
    log = comps["goharbor/harbor-log:v1.8.0"]
    assert "purl" not in log  # no manifest digest known for a daemon build
    assert comps["installer/harbor-online-installer-v1.8.0.tgz"]["hashes"][0]["content"] == "e" * 64
    dc = {p["name"]: p["value"] for p in comps["files/docker-compose"]["properties"]}
    assert dc["harborkit:install_path"] == "/usr/local/bin/docker-compose"


def test_an_sbom_that_fails_its_schema_is_refused() -> None:
    doc = json.loads(build_sbom(_meta()))
    doc["components"][0]["hashes"][0]["alg"] = "SHA-257"
    with pytest.raises(SbomInvalid) as exc:
        validate_sbom(json.dumps(doc).encode(), "b.tar: sbom.cdx.json")
    assert exc.value.exit_code == ExitCode.USAGE
    assert exc.value.message.startswith(
        "b.tar: sbom.cdx.json fails the CycloneDX 1.6 schema at components/0/hashes/0/alg: 'SHA-257'"
    )
    with pytest.raises(SbomInvalid) as exc:
        validate_sbom(b"{not json", "s")
    assert exc.value.message.startswith("s is not valid JSON: ")
