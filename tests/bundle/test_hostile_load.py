"""bundle load against a hostile bundle and a hostile moment, on a real private dockerd.

Each test runs ``harborkit bundle load`` as a user would (a subprocess) and checks
the exit code, the one line on stderr, and that the daemon holds exactly the image
ids and tags it held before (nothing loaded, nothing moved, nothing left):

- the bundle changes on disk between verify and the send (issue 19 class 1): a
  config or layer edited in place (same size), in a whole bundle or a signed
  bundle in parts, the installer; the load sends only what it hashed;
- SIGINT/SIGTERM while the images go out, and once the daemon has them (class 8);
- install folders, tool folders and --prefix that cannot work, refused before any
  image is sent (class 9); a delta whose base claims do not hold (class 10);
- a tag moved off another image is named; ``images/manifest.json`` entries or keys
  beyond the metadata; tool paths outside /usr/local/bin in a bundle whose
  signature is not checked; a signature not checked is said (class 12).

The moment "after verify" is reached with a small runner that wraps
``load.verify_bundle`` and ``load._tar_stream`` in the child process (the
documented test hook, ``HK_TEST_HOOK``): it edits files after verify returns, and
writes a marker file when the stream reaches a given point.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harborkit.bundle import cleanup, load, sign
from harborkit.bundle.format import ImageRecord
from harborkit.errors import ExitCode
from tests.bundle.conftest import REPO
from tests.bundle.craft import bundle_members, crafted_images, installer_tgz, write_members
from tests.support.dockerd import Daemon, start_dockerd
from tests.support.images import Image, load_images, make_image, make_layer

pytestmark = [pytest.mark.daemon]

REFS = ("hk-hostile/one:1", "hk-hostile/two:1")

#: the child's ``python -c``: wrap verify and the stream as HK_TEST_HOOK says, then run the CLI
RUNNER = r"""
import json, os, sys, time
from pathlib import Path
import harborkit.bundle.load as load

spec = json.loads(os.environ.get("HK_TEST_HOOK") or "{}")
real_verify, real_stream = load.verify_bundle, load._tar_stream

def verify(*args, **kwargs):
    res = real_verify(*args, **kwargs)
    for path, offset, hexdata in spec.get("write", []):
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(bytes.fromhex(hexdata))
    return res

def stream(*args, **kwargs):
    state = args[4] if len(args) > 4 else kwargs.get("state")
    marker, at = spec.get("marker"), spec.get("at")
    first = True
    for chunk in real_stream(*args, **kwargs):
        yield chunk
        if first and at == "sending":
            Path(marker).write_text("sending")
            state.cancel.wait(30)  # the signal reaches the main thread meanwhile
        first = False
    if at == "sent":
        Path(marker).write_text("sent")

load.verify_bundle, load._tar_stream = verify, stream
sys.argv = ["harborkit", *sys.argv[1:]]
from harborkit.cli import main
main()
"""


def hk(
    daemon: Daemon, *args: str, hook: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    env = daemon.env()
    env["HK_TEST_HOOK"] = json.dumps(hook or {})
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    with start_dockerd() as d:
        yield d


@pytest.fixture
def docker(daemon: Daemon) -> Iterator[Any]:
    """The daemon's client; the daemon holds an image under one of the bundle's
    references (another image) and an unrelated one; everything goes afterwards."""
    client = daemon.client()
    cleanup.reset()
    load_images(client, [OLD, KEEP])
    try:
        yield client
    finally:
        for img in client.images.list(all=True):
            client.api.remove_image(img.id, force=True)
        client.close()
        cleanup.reset()


OLD = make_image([REFS[0]], [make_layer([("old", b"old\n", 0o644)])])
KEEP = make_image(["keep/x:1"], [make_layer([("keep", b"keep\n", 0o644)])])


def state(client: Any) -> tuple[dict[str, str], set[str]]:
    """(tag -> id, every image id) in the daemon."""
    images = client.images.list(all=True)
    return {t: i.id for i in images for t in i.tags}, {i.id for i in images}


BEFORE = ({REFS[0]: OLD.id, "keep/x:1": KEEP.id}, {OLD.id, KEEP.id})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def offsets(path: Path) -> dict[str, tuple[int, int]]:
    """member -> (data offset, size) in the tar at ``path``."""
    import tarfile

    with tarfile.open(path) as tf:
        return {ti.name: (ti.offset_data, ti.size) for ti in tf}


def write_bundle(
    path: Path,
    images: list[Image] | None = None,
    *,
    files: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    key: sign.SecretKey | None = None,
    edit: Any = None,
) -> list[tuple[str, bytes]]:
    """A crafted bundle (tools as ``(name, bytes, install_path)``; signed with ``key``)."""
    members, meta = bundle_members(images or crafted_images(REFS), installer_tgz())
    meta["files"] = [
        {
            "name": name,
            "size": len(data),
            "sha256": sha(data),
            "source": "https://example.invalid/" + name,
            "install_path": where,
            "mode": 0o755,
        }
        for name, data, where in files
    ]
    if edit is not None:
        edit(meta, members)
    members = [
        (n, json.dumps(meta).encode() if n == "harbor-bundle.json" else d) for n, d in members
    ]
    members += [(f"files/{name}", data) for name, data, _ in files]
    sums = "".join(f"{sha(d)}  {n}\n" for n, d in members).encode()
    tail = [("SHA256SUMS", sums)]
    if key is not None:
        tail.append(("SHA256SUMS.minisig", sign.sign(key, sums, "SHA256SUMS")))
    write_members(path, [*members, *tail], sums=False)
    return members


def split(path: Path, size: int) -> list[Path]:
    """``path`` as ``NAME.part-NNN`` of ``size`` bytes and ``NAME.parts.sha256``; the whole goes."""
    data = path.read_bytes()
    parts = []
    for i in range(0, len(data), size):
        p = path.with_name(f"{path.name}.part-{i // size:03d}")
        p.write_bytes(data[i : i + size])
        parts.append(p)
    path.with_name(path.name + ".parts.sha256").write_text(
        "".join(f"{sha(p.read_bytes())}  {p.name}\n" for p in parts)
    )
    path.unlink()
    return parts


# --------------------------------------------------------------------------- class 1: TOCTOU


def _edit_config(data: bytes) -> bytes:
    return data.replace(b'"/bin/sh"', b'"/bin/xx"')


def _edit_layer(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


@pytest.mark.parametrize(
    ("which", "edit"),
    [
        (0, _edit_config),  # the first image's config: dockerd would load another image id
        (1, _edit_config),  # the second one's: the first image's blobs are already out
        (1, _edit_layer),  # a layer: same size, other bytes
    ],
    ids=["first-config", "second-config", "layer"],
)
def test_bundle_changed_after_verify_loads_nothing(
    docker: Any, daemon: Daemon, tmp_path: Path, which: int, edit: Any
) -> None:
    images = crafted_images(REFS)
    path = tmp_path / "b.tar"
    write_bundle(path, images)
    img = images[which]
    if edit is _edit_config:
        name = f"images/blobs/sha256/{img.id[7:]}"
        new = edit(img.config)
    else:
        gz = gzip.compress(img.layers[-1].data, mtime=0)
        name, new = f"images/blobs/sha256/{sha(gz)}", edit(gz)
    offset, size = offsets(path)[name]
    assert len(new) == size and new != path.read_bytes()[offset : offset + size]
    assert state(docker) == BEFORE

    r = hk(daemon, "bundle", "load", str(path), hook={"write": [[str(path), offset, new.hex()]]})
    assert r.stderr == (
        f"harborkit: error: bundle {path}: member {name} changed after it was verified "
        f"(sha256 now {sha(new)[:16]}...); not loaded\n"
    )
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert state(docker) == BEFORE


def test_signed_bundle_in_parts_changed_after_verify_loads_nothing(
    docker: Any, daemon: Daemon, tmp_path: Path
) -> None:
    key = sign.generate()
    images = crafted_images(REFS)
    path = tmp_path / "s.tar"
    write_bundle(path, images, key=key)
    name = f"images/blobs/sha256/{images[1].id[7:]}"
    offset, size = offsets(path)[name]
    parts = split(path, 4096)
    part, at = parts[offset // 4096], offset % 4096
    new = _edit_config(images[1].config)
    # the edit stays inside one part (the one the member starts in)
    cut = min(size, 4096 - at)
    assert new[:cut] != images[1].config[:cut]

    r = hk(
        daemon,
        "bundle",
        "load",
        str(parts[0]),
        "--key",
        key.public.base64,
        hook={"write": [[str(part), at, new[:cut].hex()]]},
    )
    where = ", ".join(p.name for p in parts[offset // 4096 : (offset + size - 1) // 4096 + 1])
    changed = sha(new[:cut] + images[1].config[cut:])
    assert r.stderr == (
        f"harborkit: error: bundle {parts[0]}: member {name} (in {where}) changed after it was "
        f"verified (sha256 now {changed[:16]}...); not loaded\n"
    )
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert state(docker) == BEFORE


def test_installer_changed_after_verify_unpacks_and_loads_nothing(
    docker: Any, daemon: Daemon, tmp_path: Path
) -> None:
    path = tmp_path / "b.tar"
    members = write_bundle(path)
    name = next(n for n, _ in members if n.startswith("installer/"))
    offset, size = offsets(path)[name]
    data = dict(members)[name]
    new = _edit_layer(data)
    opt = tmp_path / "opt"
    r = hk(
        daemon,
        "bundle",
        "load",
        str(path),
        "--install-dir",
        str(opt),
        hook={"write": [[str(path), offset, new.hex()]]},
    )
    assert r.stderr == (
        f"harborkit: error: bundle {path}: member {name} changed after it was verified "
        f"(sha256 now {sha(new)[:16]}...); not unpacked\n"
    )
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert state(docker) == BEFORE
    assert not opt.exists()


def test_roll_back_restores_every_tag_whatever_it_names_now(docker: Any) -> None:
    """The daemon loaded other images than the bundle's under its references (what a
    bundle changed on disk would give): each reference goes back to the image it named
    before or is removed, and the images that came in go."""
    images = crafted_images(REFS)
    others = [
        make_image([ref], [make_layer([("x", ref.encode(), 0o644)])], cmd=("/bin/xx",))
        for ref in REFS
    ]
    undo = load._Undo(
        tags=list(REFS),
        before={REFS[0]: OLD.id, REFS[1]: None},
        ids_before=set(BEFORE[1]),
    )
    load_images(docker, others)  # REFS[0] moved off OLD, REFS[1] new
    records = [ImageRecord(i.tags[0], i.id, 0, ()) for i in images]
    load._roll_back(docker, records, undo)
    assert state(docker) == BEFORE
    assert cleanup.removed() == [
        f"tag {REFS[0]} (back on {OLD.id[:19]})",
        f"image {REFS[1]}",
        f"image {others[0].id[:19]}",
    ]


# --------------------------------------------------------------------------- class 8: signals


def _big_images() -> list[Image]:
    """Two images with 12 MB of incompressible data: dockerd takes a moment to load them."""
    rnd = make_layer([("data.bin", os.urandom(12 << 20), 0o644)])
    base = make_layer([("etc/os-release", b"NAME=hk-hostile\n", 0o644)])
    return [make_image([REFS[0]], [base, rnd]), make_image([REFS[1]], [base])]


@pytest.fixture(scope="module")
def big_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Image]]:
    images = _big_images()
    path = tmp_path_factory.mktemp("big") / "big.tar"
    write_bundle(path, images)
    return path, images


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("at", ["sending", "sent"])
def test_interrupted_load_leaves_the_daemon_as_it_was(
    docker: Any,
    daemon: Daemon,
    tmp_path: Path,
    big_bundle: tuple[Path, list[Image]],
    signum: int,
    at: str,
) -> None:
    """While the stream goes out the load stops it (dockerd gets no manifest.json and
    loads nothing); once it is all out, the load waits for dockerd's answer, then
    rolls back what arrived and says so. Exit 130 either way (README)."""
    path, images = big_bundle
    marker = tmp_path / "marker"
    env = daemon.env()
    env["HK_TEST_HOOK"] = json.dumps({"marker": str(marker), "at": at})
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "bundle", "load", str(path)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never reached the point"
        time.sleep(0.01)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    if at == "sending":
        assert err == "harborkit: interrupted; nothing was left to remove\n"
    else:
        assert err == (
            f"harborkit: interrupted; removed tag {REFS[0]} (back on {OLD.id[:19]}), "
            f"image {REFS[1]}, image {images[0].id[:19]}\n"
        )
    assert (proc.returncode, out) == (ExitCode.INTERRUPTED, "")
    assert state(docker) == BEFORE
    time.sleep(1)  # and the daemon adds nothing afterwards
    assert state(docker) == BEFORE


def test_second_interrupt_during_the_roll_back_does_not_cut_it(docker: Any) -> None:
    """A signal while rolling back only sets a flag: the roll-back runs to its end."""
    images = crafted_images(REFS)
    load_images(docker, images)
    undo = load._Undo(
        tags=list(REFS), before={REFS[0]: OLD.id, REFS[1]: None}, ids_before=set(BEFORE[1])
    )
    with load._signals_held() as again:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        load._roll_back(docker, [ImageRecord(i.tags[0], i.id, 0, ()) for i in images], undo)
    assert again.is_set()
    assert state(docker) == BEFORE
