"""Fixtures of the fix tests that need a private dockerd."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BUSYBOX = Path("/usr/bin/busybox")


@pytest.fixture(scope="module")
def busybox_daemon() -> Iterator[Any]:
    """A private dockerd (tests.support.dockerd.Daemon) holding a busybox image with the applets the script uses."""
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    from tests.support.dockerd import start_dockerd
    from tests.support.images import load_images, make_image, make_layer

    applets = [
        "sh",
        "sha256sum",
        "cut",
        "cp",
        "mv",
        "rm",
        "mkdir",
        "dirname",
        "basename",
        "chmod",
        "cat",
    ]
    layer = make_layer(
        [("bin/busybox", BUSYBOX.read_bytes(), 0o755), ("tmp/.keep", b"", 0o644)],
        symlinks=[(f"bin/{a}", "busybox") for a in applets],
    )
    with start_dockerd(stop_in_background=True) as daemon:
        client = daemon.client()
        load_images(client, [make_image(["hk-test/busybox-fix:1"], [layer])])
        client.close()
        yield daemon
