"""Fixtures: real ``docker-registry`` processes on loopback, one per mode, per session."""

from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.registry.auth import Credentials
from harborkit.registry.client import RegistryClient
from tests.support.registry import (
    MODES,
    PASSWORD,
    USER,
    Registry,
    TestImage,
    start_registry,
)

REPO = Path(__file__).resolve().parents[2]
INSTALLER = "harbor-online-installer-v1.8.0.tgz"


def write_installer(tmp: Path) -> Path:
    """A small online-installer tarball in ``tmp``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"#!/bin/sh\necho install\n"
        ti = tarfile.TarInfo("harbor/install.sh")
        ti.size, ti.mode = len(data), 0o755
        tf.addfile(ti, io.BytesIO(data))
    p = tmp / INSTALLER
    p.write_bytes(buf.getvalue())
    return p


def write_manifest(tmp: Path, refs: list[str], name: str = "m.yaml") -> Path:
    """A bundle manifest naming ``refs`` in ``tmp``."""
    import yaml

    p = tmp / name
    p.write_text(
        yaml.safe_dump(
            {
                "harbor_version": "v1.8.0",
                "images": refs,
                "installer": {"name": INSTALLER, "url": f"https://example.invalid/{INSTALLER}"},
            }
        )
    )
    return p


_HERE = Path(__file__).resolve().parent
_NEED_REGISTRY = {"test_client.py", "test_bundle_registry.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests that run registries where Debian's docker-registry or skopeo is missing."""
    missing = [b for b in ("docker-registry", "skopeo") if shutil.which(b) is None]
    if not missing:
        return
    mark = pytest.mark.skip(reason="needs " + " and ".join(missing))
    for item in items:
        path = Path(str(item.path)).resolve()
        if path.parent == _HERE and path.name in _NEED_REGISTRY:
            item.add_marker(mark)


@pytest.fixture(scope="session")
def registries() -> Iterator[dict[str, Registry]]:
    """All four modes, started once."""
    with contextlib.ExitStack() as stack:
        yield {m: stack.enter_context(start_registry(m)) for m in MODES}


@pytest.fixture(params=MODES)
def registry(request: pytest.FixtureRequest, registries: dict[str, Registry]) -> Registry:
    """Each mode in turn."""
    return registries[request.param]


def client_for(reg: Registry, *, creds: Credentials | None | bool = True) -> RegistryClient:
    """A client with the right TLS settings and (by default) the right credentials."""
    if creds is True:
        creds = Credentials(USER, PASSWORD) if reg.needs_auth else None
    elif creds is False:
        creds = None
    return RegistryClient(reg.host, insecure=reg.insecure, ca_file=reg.ca_file, credentials=creds)


def push_image(client: RegistryClient, image: TestImage, media_type: str | None = None) -> str:
    """Push ``image`` (blobs then manifest bytes); return the manifest digest."""
    import json

    from harborkit.registry.client import Manifest

    for digest, data in image.blobs.items():
        client.push_blob(
            image.repository,
            digest,
            len(data),
            lambda data=data: contextlib.nullcontext(io.BytesIO(data)),
        )
    mt = media_type or json.loads(image.manifest)["mediaType"]
    return client.put_manifest(
        image.repository, image.tag, Manifest(image.digest, mt, image.manifest)
    )
