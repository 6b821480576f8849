"""Fixtures for the bundle tests: private daemons, test images, an installer server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.dockerd import Daemon, start_dockerd
from tests.support.images import (
    HARBOR_V180_IMAGES,
    Image,
    busybox_layer,
    harbor_test_images,
    load_images,
    make_image,
    make_layer,
)


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")


REPO = Path(__file__).resolve().parents[2]
INSTALLER_NAME = "harbor-online-installer-v1.8.0.tgz"
RANDOM_IMAGE = "hk-test/random:1"


def make_installer_tgz() -> bytes:
    """A small stand-in for Harbor's online installer."""
    from tests.support.bundles import installer_tgz

    return installer_tgz(
        [
            ("harbor/install.sh", b"#!/bin/sh\necho installing harbor\n", 0o755),
            ("harbor/prepare", b"#!/bin/sh\necho preparing\n", 0o755),
            ("harbor/harbor.yml", b"hostname: reg.mydomain.com\nhttp:\n  port: 80\n", 0o644),
            ("harbor/LICENSE", b"Apache License 2.0\n", 0o644),
        ]
    )


@dataclass(frozen=True)
class HttpServer:
    """The loopback server: ``files`` by path; ``/slow/<name>`` trickles them out;
    ``/stall/<anything>`` sends headers and two bytes, then nothing for 30 s."""

    url: str
    files: dict[str, bytes]


@pytest.fixture(scope="session")
def installer_bytes() -> bytes:
    return make_installer_tgz()


@pytest.fixture(scope="session")
def http_server(installer_bytes: bytes) -> Iterator[HttpServer]:
    files = {f"/{INSTALLER_NAME}": installer_bytes}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/stall/"):  # headers, a few bytes, then nothing
                self.send_response(200)
                self.send_header("Content-Length", str(1 << 20))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(b"\x1f\x8b")
                    self.wfile.flush()
                    time.sleep(30)
                return
            slow = self.path.startswith("/slow/")
            data = files.get(self.path[5:] if slow else self.path)
            if data is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) * (200 if slow else 1)))
            self.end_headers()
            try:
                if slow:
                    for _ in range(200):
                        self.wfile.write(data)
                        time.sleep(0.1)
                else:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpServer(f"http://127.0.0.1:{server.server_address[1]}", files)
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class BuildHost:
    """The build daemon and the images loaded into it."""

    daemon: Daemon
    images: tuple[Image, ...]
    random_image: Image


@pytest.fixture(scope="session")
def build_host() -> Iterator[BuildHost]:
    images = harbor_test_images()
    random_image = make_image(
        [RANDOM_IMAGE],
        [busybox_layer(), make_layer([("data/random.bin", os.urandom(8 << 20), 0o644)])],
    )
    _need_root()
    with start_dockerd(stop_in_background=True) as daemon:
        client = daemon.client()
        load_images(client, [*images, random_image])
        client.close()
        yield BuildHost(daemon, tuple(images), random_image)


@pytest.fixture(scope="session")
def target_daemon() -> Iterator[Daemon]:
    _need_root()
    with start_dockerd(stop_in_background=True) as daemon:
        yield daemon


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``harborkit`` as a user would, in a subprocess.

    A ``bundle build`` of the default manifest gets ``--no-tools``: its
    docker-compose comes from GitHub, which tests cannot reach (the tests that
    carry tools use their own manifest with a loopback stand-in).
    """
    if args[:2] == ("bundle", "build") and not {"-m", "--manifest", "--file", "--no-tools"} & set(
        args
    ):
        args = (*args, "--no-tools")
    return subprocess.run(
        [sys.executable, "-m", "harborkit", *args],
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def built_bundle(build_host: BuildHost, http_server: HttpServer, bundle_dir: Path) -> Path:
    """The Harbor v1.8.0 bundle built once through the CLI (installer over HTTP)."""
    out = bundle_dir / "harbor-v1.8.0.bundle.tar"
    r = run_cli(
        "bundle",
        "build",
        "--no-pull",
        "--no-tools",  # the manifest's docker-compose comes from GitHub: tests carry a stand-in elsewhere
        "--installer",
        f"{http_server.url}/{INSTALLER_NAME}",
        "-o",
        str(out),
        env=build_host.daemon.env(),
    )
    assert r.returncode == 0, r.stderr
    return out


def image_list(daemon: Daemon) -> dict[str, str]:
    """tag -> image id in ``daemon``."""
    client = daemon.client()
    try:
        return {t: img.id for img in client.images.list() for t in img.tags}
    finally:
        client.close()


__all__ = ["HARBOR_V180_IMAGES", "INSTALLER_NAME", "RANDOM_IMAGE", "image_list", "run_cli"]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount tmpfs file systems of a given size (``tmpfs("1m")``): real file systems
    that fill up, with free space nobody else changes; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        d = tmp_path / f"tmpfs{len(mounted)}"
        d.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", str(d)], check=False)
