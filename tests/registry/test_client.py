"""The registry client against real ``docker-registry`` processes in all four modes."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from harborkit.registry.auth import Credentials
from harborkit.registry.client import DOCKER_LIST, Manifest, PushOutcome
from harborkit.registry.errors import (
    AuthenticationFailed,
    DigestMismatch,
    NotFound,
    RegistryError,
    RegistryUnreachable,
)
from harborkit.registry.reference import parse_reference
from tests.registry.conftest import client_for, push_image
from tests.support.registry import USER, Registry, make_image, skopeo_digest


def test_push_pull_roundtrip_and_skopeo(registry: Registry, tmp_path: Path) -> None:
    img = make_image(f"rt/{registry.mode}", "v1", seed=11)
    with client_for(registry) as c:
        assert push_image(c, img) == img.digest
        res = c.resolve(parse_reference(f"{registry.host}/{img.repository}:v1"))
        assert res.manifest.digest == img.digest
        assert res.manifest.raw == img.manifest  # byte for byte
        assert res.index is None
        for b in res.blobs:
            out = c.fetch_blob(img.repository, b.digest, tmp_path / b.digest, size=b.size)
            assert not out.cached and out.downloaded == b.size
            assert (tmp_path / b.digest).read_bytes() == img.blobs[b.digest]
        again = c.fetch_blob(img.repository, res.config.digest, tmp_path / res.config.digest)
        assert again.cached and again.downloaded == 0
    assert skopeo_digest(registry, f"{img.repository}:v1") == img.digest


def test_second_push_skips_existing_blobs(registries: dict[str, Registry]) -> None:
    reg = registries["plain"]
    img = make_image("skip/me", "v1", seed=12)
    with client_for(reg) as c:
        push_image(c, img)
        outcomes = {
            c.push_blob(img.repository, d, len(b), lambda b=b: contextlib.nullcontext(_bio(b)))
            for d, b in img.blobs.items()
        }
    assert outcomes == {PushOutcome.EXISTS}


def test_cross_repo_mount_and_chunked_upload(registries: dict[str, Registry]) -> None:
    reg = registries["token"]
    img = make_image("mount/src", "v1", seed=13, layer_sizes=(300_000,))
    with client_for(reg) as c:
        push_image(c, img)
        layer = img.layer_digests[0]
        data = img.blobs[layer]
        how = c.push_blob(
            "mount/dst",
            layer,
            len(data),
            lambda: contextlib.nullcontext(_bio(data)),
            mount_from="mount/src",
        )
        assert how is PushOutcome.MOUNTED
        other = make_image("chunked/x", "v1", seed=14, layer_sizes=(200_000,))
        for d, b in other.blobs.items():
            how = c.push_blob(
                other.repository,
                d,
                len(b),
                lambda b=b: contextlib.nullcontext(_bio(b)),
                chunk_size=65536,
            )
            assert how is PushOutcome.UPLOADED
        c.put_manifest(
            other.repository,
            "v1",
            Manifest(other.digest, json.loads(other.manifest)["mediaType"], other.manifest),
        )
    assert skopeo_digest(reg, "chunked/x:v1") == other.digest


def test_manifest_list_picks_linux_amd64_and_keeps_bytes(registries: dict[str, Registry]) -> None:
    reg = registries["tls"]
    amd = make_image("multi/app", "amd64", seed=15)
    arm = make_image("multi/app", "arm64", seed=16)
    with client_for(reg) as c:
        push_image(c, amd)
        push_image(c, arm)
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_LIST,
                "manifests": [
                    {
                        "mediaType": json.loads(m.manifest)["mediaType"],
                        "size": len(m.manifest),
                        "digest": m.digest,
                        "platform": {"architecture": a, "os": "linux"},
                    }
                    for m, a in ((arm, "arm64"), (amd, "amd64"))
                ],
            }
        ).encode()
        idx = Manifest("sha256:" + hashlib.sha256(index).hexdigest(), DOCKER_LIST, index)
        c.put_manifest("multi/app", "v1", idx)
        res = c.resolve(parse_reference(f"{reg.host}/multi/app:v1"))
    assert res.index is not None and res.index.raw == index and res.index.digest == idx.digest
    assert res.manifest.digest == amd.digest and res.manifest.raw == amd.manifest


def test_oci_manifest(registries: dict[str, Registry]) -> None:
    reg = registries["htpasswd"]
    img = make_image("oci/img", "v1", seed=17, oci=True)
    with client_for(reg) as c:
        push_image(c, img)
        res = c.resolve(parse_reference(f"{reg.host}/oci/img:v1"))
    assert res.manifest.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert skopeo_digest(reg, "oci/img:v1") == img.digest


@pytest.mark.parametrize("mode", ["htpasswd", "token"])
def test_wrong_credentials(mode: str, registries: dict[str, Registry]) -> None:
    reg = registries[mode]
    with (
        client_for(reg, creds=Credentials(USER, "wrong", "options")) as c,
        pytest.raises(AuthenticationFailed) as ei,
    ):
        c.get_manifest("any/thing", "v1")
    msg = ei.value.message
    assert "rejected the credentials" in msg and USER in msg and reg.host in msg
    assert "wrong" not in msg.replace("wrong user name", "")  # the password is never shown
    assert ei.value.exit_code == ExitCode.REGISTRY


@pytest.mark.parametrize("mode", ["htpasswd", "token"])
def test_missing_credentials(mode: str, registries: dict[str, Registry]) -> None:
    with client_for(registries[mode], creds=False) as c, pytest.raises(AuthenticationFailed) as ei:
        c.get_manifest("any/thing", "v1")
    assert "needs credentials" in ei.value.message


def test_unknown_image(registry: Registry) -> None:
    with client_for(registry) as c, pytest.raises(NotFound) as ei:
        c.resolve(parse_reference(f"{registry.host}/no/such:v9"))
    assert "no/such:v9" in ei.value.message and "MANIFEST_UNKNOWN" in ei.value.message


def test_tampered_blob_is_refused_and_removed(
    registries: dict[str, Registry], tmp_path: Path
) -> None:
    reg = registries["plain"]
    img = make_image("tamper/x", "v1", seed=18, layer_sizes=(50_000,))
    with client_for(reg) as c:
        push_image(c, img)
        layer = img.layer_digests[0]
        data = reg.blob_data(layer)
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        data.write_bytes(bytes(raw))
        dest = tmp_path / "blob"
        with pytest.raises(DigestMismatch) as ei:
            c.fetch_blob("tamper/x", layer, dest, size=len(raw))
    assert layer in ei.value.message and "tamper/x" in ei.value.message
    assert list(tmp_path.iterdir()) == []


def test_partial_download_resumes(registries: dict[str, Registry], tmp_path: Path) -> None:
    reg = registries["token"]
    img = make_image("resume/x", "v1", seed=19, layer_sizes=(400_000,))
    layer = img.layer_digests[0]
    blob = img.blobs[layer]
    with client_for(reg) as c:
        push_image(c, img)
        dest = tmp_path / layer
        Path(str(dest) + ".partial").write_bytes(blob[: len(blob) // 3])
        out = c.fetch_blob("resume/x", layer, dest, size=len(blob))
        assert out.resumed and out.downloaded == len(blob) - len(blob) // 3
        assert dest.read_bytes() == blob
        # a partial file with garbage: the digest check fails, the fetch starts over at once
        dest.unlink()
        Path(str(dest) + ".partial").write_bytes(b"garbage" * 10)
        out = c.fetch_blob("resume/x", layer, dest, size=len(blob))
        assert not out.resumed and out.downloaded == len(blob) - 70 + len(blob)
        assert dest.read_bytes() == blob
        assert sorted(p.name for p in tmp_path.iterdir()) == [layer]


def test_tls_without_ca_is_a_clear_error(registries: dict[str, Registry]) -> None:
    from harborkit.registry.client import RegistryClient

    reg = registries["tls"]
    with RegistryClient(reg.host) as c, pytest.raises(RegistryUnreachable) as ei:
        c.get_manifest("x/y", "v1")
    assert "TLS verification failed" in ei.value.message and "--ca" in ei.value.message


def test_unreachable_registry() -> None:
    from harborkit.registry.client import RegistryClient
    from tests.support.registry import free_port

    with (
        RegistryClient(f"127.0.0.1:{free_port()}", insecure=True) as c,
        pytest.raises(RegistryError) as ei,
    ):
        c.get_manifest("x/y", "v1")
    assert "cannot reach" in ei.value.message


def test_docker_config_credentials(
    registries: dict[str, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from harborkit.registry.auth import resolve_credentials
    from harborkit.registry.client import RegistryClient
    from tests.support.registry import PASSWORD

    reg = registries["htpasswd"]
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    img = make_image("dcfg/x", "v1", seed=20)
    with RegistryClient(reg.host, insecure=True, credentials=resolve_credentials(reg.host)) as c:
        assert push_image(c, img) == img.digest


def _bio(b: bytes):
    import io

    return io.BytesIO(b)


def test_token_without_push_right_is_access_denied(registries: dict[str, Registry]) -> None:
    from harborkit.registry.errors import AccessDenied
    from tests.support.registry import PASSWORD, READER

    reg = registries["token"]
    img = make_image("ro/x", "v1", seed=21)
    with client_for(reg, creds=Credentials(READER, PASSWORD)) as c:
        with pytest.raises(AccessDenied) as ei:
            push_image(c, img)
        assert READER in ei.value.message and "not allowed to" in ei.value.message
        with pytest.raises(NotFound):  # reading is allowed: the image is simply not there
            c.get_manifest("ro/x", "v1")


@pytest.mark.parametrize("mode", ["htpasswd", "token"])
def test_first_challenge_answered_by_many_threads_at_once(
    mode: str, registries: dict[str, Registry]
) -> None:
    """Parallel requests of a fresh client all meet the 401 challenge; none may fail."""
    from concurrent.futures import ThreadPoolExecutor

    reg = registries[mode]
    img = make_image(f"par/{mode}", "v1", seed=22)
    with client_for(reg) as c:
        push_image(c, img)
    for _ in range(3):
        with client_for(reg) as c, ThreadPoolExecutor(16) as ex:
            sizes = list(ex.map(lambda d: c.blob_size(img.repository, d), list(img.blobs) * 8))
        assert sizes == [len(img.blobs[d]) for d in list(img.blobs) * 8]


def test_missing_credentials_names_the_credential_helper(
    registries: dict[str, Registry], tmp_path: Path
) -> None:
    from harborkit.registry.endpoint import Endpoint

    reg = registries["htpasswd"]
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "secretservice"}))
    ep = Endpoint(reg.host, insecure=True, docker_config=tmp_path / "config.json")
    with ep.client() as c, pytest.raises(AuthenticationFailed) as ei:
        c.get_manifest("x/y", "v1")
    assert "docker-credential-secretservice" in ei.value.message


def test_proxies_from_environment_never_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from harborkit.registry.transport import _environ_proxies

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert _environ_proxies("127.0.0.1:5000") == {}
    assert _environ_proxies("localhost:5000") == {}
    assert _environ_proxies("[::1]:5000") == {}
    assert _environ_proxies("reg.internal.example") == {}
    assert _environ_proxies("registry-1.docker.io")["https"] == "http://proxy.invalid:3128"
