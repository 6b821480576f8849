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
    assert core["purl"] == f"pkg:docker/goharbor/harbor-core@v1.8.0?digest={D}{'f' * 64}"
    layers = [
        (c["name"], {p["name"]: p["value"] for p in c["properties"]}) for c in core["components"]
    ]
    assert [n for n, _ in layers] == [D + "a" * 64, D + "b" * 64]
    assert layers[1][1]["harborkit:size"] == "200"
    assert layers[1][1]["harborkit:uncompressed_size"] == "2000"
    log = comps["goharbor/harbor-log:v1.8.0"]
    # no manifest digest known for a daemon build: the image id names the image
    assert log["purl"] == f"pkg:docker/goharbor/harbor-log@v1.8.0?image_id={D}{'2' * 64}"
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


# ------------------------------------------------------------------ purl (the docker type)

ID, MD = D + "1" * 64, D + "f" * 64


@pytest.mark.parametrize(
    ("reference", "registry", "digest", "purl"),
    [
        (
            "goharbor/harbor-core:v1.8.0",
            "127.0.0.1:5000",
            MD,
            f"pkg:docker/goharbor/harbor-core@v1.8.0?digest={MD}&repository_url=127.0.0.1:5000",
        ),
        (
            "goharbor/harbor-core:v1.8.0",
            None,
            None,
            f"pkg:docker/goharbor/harbor-core@v1.8.0?image_id={ID}",
        ),
        (
            "goharbor/harbor-core:v1.8.0",
            "docker.io",
            MD,
            f"pkg:docker/goharbor/harbor-core@v1.8.0?digest={MD}",
        ),
        (
            "registry.example.test:5000/team/sub/app:1.0",
            None,
            None,
            f"pkg:docker/team/sub/app@1.0?image_id={ID}&repository_url=registry.example.test:5000",
        ),
        ("localhost/app:v1", None, MD, f"pkg:docker/app@v1?digest={MD}&repository_url=localhost"),
        ("alpine:3.19", None, None, f"pkg:docker/alpine@3.19?image_id={ID}"),
        ("docker.io/library/alpine:3", None, None, f"pkg:docker/library/alpine@3?image_id={ID}"),
        (
            "goharbor/registry-photon:v2.7.1-patch-2819-v1.8.0",
            "harbor.local:8888",
            MD,
            f"pkg:docker/goharbor/registry-photon@v2.7.1-patch-2819-v1.8.0?digest={MD}"
            "&repository_url=harbor.local:8888",
        ),
    ],
)
def test_image_purl_follows_the_docker_type(
    reference: str, registry: str | None, digest: str | None, purl: str
) -> None:
    from packageurl import PackageURL

    from harborkit.bundle.sbom import image_purl

    got = image_purl(reference, ID, manifest_digest=digest, registry=registry)
    assert got == purl
    parsed = PackageURL.from_string(got)  # and it parses back to the same parts
    assert parsed.type == "docker" and parsed.to_string() == got
    assert parsed.version == reference.rsplit(":", 1)[1]
    assert parsed.qualifiers.get("digest") == digest


def test_every_image_of_the_builtin_manifest_gets_a_valid_purl() -> None:
    """Each of the 15 images: one purl each, all different, schema-valid SBOM."""
    from harborkit.bundle.manifest import load_manifest

    refs = load_manifest().images
    meta = _meta()
    images = tuple(ImageRecord(r, D + f"{i:064x}", 1, ()) for i, r in enumerate(refs))
    meta = BundleMetadata(**{**meta.__dict__, "images": images, "layers": ()})
    digests = {r: D + f"{i + 100:064x}" for i, r in enumerate(refs)}
    registries = dict.fromkeys(refs, "192.168.3.60:8888")
    doc = validate_sbom(build_sbom(meta, manifest_digests=digests, registries=registries))
    purls = {c["bom-ref"]: c["purl"] for c in doc["components"] if c["type"] == "container"}
    assert len(purls) == len(set(purls.values())) == 15
    assert purls["goharbor/harbor-core:v1.8.0"] == (
        f"pkg:docker/goharbor/harbor-core@v1.8.0?digest={digests[refs[1]]}"
        "&repository_url=192.168.3.60:8888"
    )


def test_the_sbom_is_validated_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """cyclonedx-python-lib's validator with its bundled 1.6 schemas: no socket is opened."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the SBOM validation tried the network")

    raw = build_sbom(_meta(), manifest_digests={"goharbor/harbor-core:v1.8.0": MD})
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    doc = validate_sbom(raw)
    assert doc["specVersion"] == "1.6"
    bad = json.loads(raw)
    bad["components"][0]["purl"] = 42  # a purl is a string: the schema says so
    with pytest.raises(SbomInvalid) as exc:
        validate_sbom(json.dumps(bad).encode(), "s")
    assert exc.value.message.startswith("s fails the CycloneDX 1.6 schema at components/0/purl: 42")
