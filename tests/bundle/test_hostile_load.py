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
from tests.support.bundles import bundle_members, crafted_images, installer_tgz, write_members
from tests.support.dockerd import Daemon, start_dockerd
from tests.support.images import Image, load_images, make_image, make_layer

pytestmark = [pytest.mark.daemon]

REFS = ("hk-hostile/one:1", "hk-hostile/two:1")

#: the child's ``python -c``: wrap verify and the stream as HK_TEST_HOOK says, then run the CLI
RUNNER = r"""
import contextlib, json, os, sys, time
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
    for src, dst in spec.get("replace", []):
        os.replace(src, dst)
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
    if at == "sent":  # every byte is out: hold the end of the body until the signal is in
        Path(marker).write_text("sent")
        state.cancel.wait(30)
    if at == "stuck":  # a daemon that does not answer: the body never ends
        Path(marker).write_text("sent")
        time.sleep(60)

real_held = load._signals_held

@contextlib.contextmanager
def held():
    with real_held() as again:  # a signal now only sets the event: say so
        if spec.get("held"):
            Path(spec["held"]).touch()
        yield again

load.verify_bundle, load._tar_stream, load._signals_held = verify, stream, held
sys.argv = ["harborkit", *sys.argv[1:]]
from harborkit.commands import main
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
    with start_dockerd(stop_in_background=True) as d:
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


def test_bundle_swapped_for_another_after_verify_loads_nothing(
    docker: Any, daemon: Daemon, tmp_path: Path
) -> None:
    """Another complete bundle renamed over the verified one: what is read at the
    verified places is not what was verified, and nothing is loaded."""
    images = crafted_images(REFS)
    path, other = tmp_path / "b.tar", tmp_path / "other.tar"
    write_bundle(path, images)
    write_bundle(other, [make_image([r], [make_layer([("o", r.encode(), 0o644)])]) for r in REFS])
    name = f"images/blobs/sha256/{images[0].id[7:]}"  # the first blob sent
    offset, size = offsets(path)[name]
    now = other.read_bytes()[offset : offset + size]
    r = hk(daemon, "bundle", "load", str(path), hook={"replace": [[str(other), str(path)]]})
    assert r.stderr == (
        f"harborkit: error: bundle {path}: member {name} changed after it was verified "
        f"(sha256 now {sha(now)[:16]}...); not loaded\n"
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


def test_tool_changed_after_verify_is_not_installed_and_the_load_rolls_back(
    docker: Any, daemon: Daemon, tmp_path: Path
) -> None:
    """A tool is written under a temporary name and checked before it is renamed into
    place: changed after verify, it never lands, and the images loaded go again."""
    images = crafted_images(REFS)
    path = tmp_path / "b.tar"
    tool = TOOL * 100
    write_bundle(path, images, files=[("tool", tool, "/usr/local/bin/tool")])
    offset, size = offsets(path)["files/tool"]
    new = _edit_layer(tool)
    root = tmp_path / "root"
    root.mkdir()
    r = hk(
        daemon, "bundle", "load", str(path), "--install-tools", "--prefix", str(root),
        hook={"write": [[str(path), offset, new.hex()]]},
    )  # fmt: skip
    assert r.stderr == (
        f"harborkit: error: files/tool read back with sha256 {sha(new)}, expected {sha(tool)}; "
        f"rolled back: removed {root}/usr/local/bin, {root}/usr/local, {root}/usr, "
        f"tag {REFS[0]} (back on {OLD.id[:19]}) and 2 more\n"
    )
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert state(docker) == BEFORE
    assert _tree(root) == []  # the folders it made for the tool go too


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


def test_second_interrupt_stops_waiting_for_the_daemon_and_says_so(
    docker: Any, daemon: Daemon, tmp_path: Path, big_bundle: tuple[Path, list[Image]]
) -> None:
    """The daemon has every image byte but gives no answer: the first SIGINT waits for
    it, the second stops waiting; the one line says the daemon may still add images."""
    path, _ = big_bundle
    marker, held = tmp_path / "marker", tmp_path / "held"
    env = daemon.env()
    env["HK_TEST_HOOK"] = json.dumps({"marker": str(marker), "at": "stuck", "held": str(held)})
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "bundle", "load", str(path)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never reached the point"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    # waiting for the daemon, a second signal caught (not sooner: a loaded machine
    # may take a while to get there, and SIGTERM before it would end the load itself)
    while not held.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never waited for the daemon"
        time.sleep(0.01)
    time.sleep(0.5)
    assert proc.poll() is None  # still waiting for the daemon
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10
    assert err == (
        "harborkit: interrupted; the daemon was still loading the images when harborkit "
        "stopped waiting; it may add them after this; nothing was left to remove\n"
    )
    assert (proc.returncode, out) == (ExitCode.INTERRUPTED, "")
    # the stream never ended: the daemon loads nothing of it
    time.sleep(1)
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


# --------------------------------------------------------------------------- class 9: before sending


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Any]:
    """Mount a small tmpfs (``ro`` for read-only); unmounted afterwards."""
    mounted: list[Path] = []

    def mount(name: str, options: str = "size=1m") -> Path:
        d = tmp_path / name
        d.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(d)], check=True)
        mounted.append(d)
        return d

    yield mount
    for d in reversed(mounted):
        subprocess.run(["umount", str(d)], check=False)


TOOL = b"#!/bin/sh\necho tool\n"


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize(
    "case",
    [
        "install-dir-is-a-file",
        "install-dir-below-a-file",
        "install-dir-read-only",
        "install-dir-installer-there",
        "prefix-read-only",
        "prefix-is-a-file",
        "tool-folder-is-a-file",
        "prefix-cannot-be-made",
        "tool-there-differs",
        "tool-is-a-folder-even-with-force",
    ],
)
def test_install_targets_are_refused_before_any_image_is_sent(
    docker: Any, daemon: Daemon, tmp_path: Path, mount_tmpfs: Any, case: str
) -> None:
    path = tmp_path / "b.tar"
    write_bundle(path, files=[("tool", TOOL, "/usr/local/bin/tool")])
    here = tmp_path / "here"
    here.mkdir()
    args: list[str] = []
    if case == "install-dir-is-a-file":
        (here / "opt").write_text("a file\n")
        args = ["--install-dir", str(here / "opt")]
        want = (
            ExitCode.USAGE,
            f"{here}/opt is not a folder; the installer needs a folder at {here}/opt",
        )
    elif case == "install-dir-below-a-file":
        (here / "opt").write_text("a file\n")
        args = ["--install-dir", str(here / "opt/x")]
        want = (
            ExitCode.USAGE,
            f"{here}/opt is not a folder; the installer needs a folder at {here}/opt/x",
        )
    elif case == "install-dir-read-only":
        ro = mount_tmpfs("here/ro", "size=1m,ro")
        args = ["--install-dir", str(ro / "opt")]
        want = (
            ExitCode.ENVIRONMENT,
            f"cannot write the installer into {ro}: Read-only file system",
        )
    elif case == "install-dir-installer-there":
        (here / "opt/harbor").mkdir(parents=True)
        (here / "opt/harbor/install.sh").write_text("mine\n")
        args = ["--install-dir", str(here / "opt")]
        want = (
            ExitCode.USAGE,
            f"{here}/opt/harbor/install.sh already exists; not overwriting it: the installer was "
            f"unpacked into {here}/opt before; to load only the images (and tools), run "
            f"harborkit bundle load {path} without --install-dir",
        )
    elif case == "prefix-read-only":
        ro = mount_tmpfs("here/ro", "size=1m,ro")
        args = ["--install-tools", "--prefix", str(ro)]
        want = (ExitCode.ENVIRONMENT, f"cannot write tool into {ro}: Read-only file system")
    elif case == "prefix-is-a-file":
        (here / "root").write_text("a file\n")
        args = ["--install-tools", "--prefix", str(here / "root")]
        want = (
            ExitCode.USAGE,
            f"{here}/root is not a folder; tool needs a folder at {here}/root/usr/local/bin",
        )
    elif case == "tool-folder-is-a-file":
        (here / "root/usr/local").mkdir(parents=True)
        (here / "root/usr/local/bin").write_text("a file\n")
        args = ["--install-tools", "--prefix", str(here / "root"), "--force"]
        want = (
            ExitCode.USAGE,
            f"{here}/root/usr/local/bin is not a folder; tool needs a folder at "
            f"{here}/root/usr/local/bin",
        )
    elif case == "prefix-cannot-be-made":
        args = ["--install-tools", "--prefix", "/proc/hk-no-such-root"]
        want = (ExitCode.ENVIRONMENT, "cannot write tool into /proc: No such file or directory")
    elif case == "tool-there-differs":
        (here / "root/usr/local/bin").mkdir(parents=True)
        (here / "root/usr/local/bin/tool").write_text("mine\n")
        args = ["--install-tools", "--prefix", str(here / "root")]
        want = (
            ExitCode.USAGE,
            f"{here}/root/usr/local/bin/tool exists and differs from the bundle's tool; not "
            "replacing it (--force replaces it)",
        )
    else:
        (here / "root/usr/local/bin/tool").mkdir(parents=True)
        args = ["--install-tools", "--prefix", str(here / "root"), "--force"]
        want = (
            ExitCode.USAGE,
            f"{here}/root/usr/local/bin/tool is a folder; not replacing it with tool, even "
            "with --force",
        )
    tree = _tree(here)
    r = hk(daemon, "bundle", "load", str(path), *args)
    assert (r.returncode, r.stderr) == (want[0], f"harborkit: error: {want[1]}\n")
    assert state(docker) == BEFORE
    assert _tree(here) == tree


# --------------------------------------------------------------------------- class 10: deltas


@pytest.mark.parametrize(
    "case", ["unknown-layer", "not-a-tar", "folder", "no-metadata", "metadata-not-json"]
)
def test_bad_base_is_bad_input_before_the_daemon(tmp_path: Path, case: str) -> None:
    """A --base that is no bundle a delta can build on: exit 2 naming it, one line, before
    any daemon is asked (none answers here) and with nothing written."""
    base = tmp_path / "base.tar"
    if case == "unknown-layer":  # its images name a layer it does not list (was a KeyError)

        def lie(meta: dict, members: list) -> None:
            meta["images"][1]["layers"].append("sha256:" + "e" * 64)

        write_bundle(base, edit=lie)
        want = (
            f"--base base.tar: its harbor-bundle.json gives {REFS[1]} layer sha256:{'e' * 64}, "
            "which it does not list; not a bundle a delta can build on"
        )
    elif case == "not-a-tar":
        base.write_bytes(b"\x01" * 5000)
        want = f"--base {base}: {base} is not a tar archive: invalid header"
    elif case == "folder":
        base.mkdir()
        want = f"bundle {base} does not exist or is not a file"
    elif case == "no-metadata":
        write_members(base, [("x", b"x\n")])
        want = f"--base {base}: base bundle {base} is corrupt: missing member harbor-bundle.json"
    else:
        write_members(base, [("harbor-bundle.json", b"{not json")])
        want = (
            f"{base}: harbor-bundle.json is not valid JSON: Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)"
        )
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/none.sock")
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "bundle", "build", "--no-tools", "--base", str(base),
         "-o", str(tmp_path / "d.tar")],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert (r.returncode, r.stderr) == (ExitCode.USAGE, f"harborkit: error: {want}\n")
    assert sorted(os.listdir(tmp_path)) == ["base.tar"]


BASE_REF = "hk-hostile/base:1"


def _delta(path: Path, images: list[Image], edit: Any) -> str:
    """A delta bundle of ``images`` leaving their shared bottom layer to a base; its digest."""
    bottom = "sha256:" + sha(gzip.compress(images[0].layers[0].data, mtime=0))

    def make(meta: dict, members: list) -> None:
        meta["base"] = {
            "name": "base.tar",
            "sums_sha256": "0" * 64,
            "images": [{"reference": BASE_REF, "image_id": BASE_IMAGE.id}],
            "layers": [bottom],
        }
        members[:] = [(n, d) for n, d in members if n != f"images/blobs/sha256/{bottom[7:]}"]
        edit(meta)

    write_bundle(path, images, edit=make)
    return bottom


BASE_IMAGE = make_image([BASE_REF], [make_layer([("etc/os-release", b"NAME=other\n", 0o644)])])


@pytest.mark.parametrize("case", ["base-lacks-the-layer", "foreign-layer", "no-base-image"])
def test_delta_with_inconsistent_base_claims_is_exit_14_before_the_daemon_loads(
    docker: Any, daemon: Daemon, tmp_path: Path, case: str
) -> None:
    """The base image is on the target, but does not hold what the delta leaves to it
    (or the delta's record of its base contradicts itself): exit 14, nothing sent."""
    load_images(docker, [BASE_IMAGE])
    before = state(docker)
    images = crafted_images(REFS)
    foreign = "sha256:" + "f" * 64

    def edit(meta: dict) -> None:
        if case == "foreign-layer":
            meta["base"]["layers"].append(foreign)
        elif case == "no-base-image":
            meta["base"]["images"] = []

    path = tmp_path / "d.tar"
    bottom = _delta(path, images, edit)
    r = hk(daemon, "bundle", "load", str(path))
    head = f"{path} is a delta over base.tar (SHA256SUMS sha256 {'0' * 16}...): its base claims are inconsistent: "
    why = {
        "base-lacks-the-layer": f"layer {bottom[:19]} of {REFS[0]} is left to the base, but none "
        "of its base images on the target holds it there",
        "foreign-layer": f"it leaves layer {foreign} to its base, which none of its images uses",
        "no-base-image": "it leaves layers to its base but names no base image that holds them",
    }[case]
    assert (r.returncode, r.stderr) == (ExitCode.DELTA_BASE, f"harborkit: error: {head}{why}\n")
    assert state(docker) == before


def test_delta_whose_base_holds_its_layers_loads(
    docker: Any, daemon: Daemon, tmp_path: Path
) -> None:
    """The check is not too strict: the base image holding the bottom layer is enough."""
    images = crafted_images(REFS)
    base = make_image([BASE_REF], [images[0].layers[0]])
    load_images(docker, [base])
    path = tmp_path / "d.tar"

    def edit(meta: dict) -> None:
        meta["base"]["images"] = [{"reference": BASE_REF, "image_id": base.id}]

    _delta(path, images, edit)
    r = hk(daemon, "bundle", "load", str(path), "-q")
    assert (r.returncode, r.stderr) == (
        0,
        f"harborkit: moved tag {REFS[0]} from {OLD.id[:19]} to {images[0].id[:19]}\n",
    )
    assert state(docker)[0] == {
        REFS[0]: images[0].id,
        REFS[1]: images[1].id,
        BASE_REF: base.id,
        "keep/x:1": KEEP.id,
    }


# --------------------------------------------------------------------------- class 12


def test_every_tag_moved_off_another_image_is_named(
    docker: Any, daemon: Daemon, tmp_path: Path
) -> None:
    """A bundle declaring busybox:latest (metadata and manifest agree) moves the target's
    tag: by loading, and by re-tagging an image already there; each move is one line on
    stderr, even with -q, and the summary counts stay as they were."""
    images = crafted_images(["busybox:latest", "hk-hostile/two:1", REFS[0]])
    mine = make_image(["busybox:latest"], [make_layer([("bin/sh", b"mine\n", 0o755)])])
    load_images(docker, [mine])
    load_images(docker, [images[1]])
    docker.api.tag(images[1].id, "keep/two", "1")  # only re-tagged: it is there already
    docker.api.remove_image("hk-hostile/two:1")
    docker.api.tag(mine.id, "hk-hostile/two", "1")  # and its tag names another image now
    path = tmp_path / "b.tar"
    write_bundle(path, images)
    r = hk(daemon, "bundle", "load", str(path), "-q")
    assert r.stderr == (
        f"harborkit: moved tag busybox:latest from {mine.id[:19]} to {images[0].id[:19]}\n"
        f"harborkit: moved tag hk-hostile/two:1 from {mine.id[:19]} to {images[1].id[:19]}\n"
        f"harborkit: moved tag {REFS[0]} from {OLD.id[:19]} to {images[2].id[:19]}\n"
    )
    assert (r.returncode, r.stdout) == (0, "")
    # a load that moves nothing says nothing
    r = hk(daemon, "bundle", "load", str(path), "-q")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def _manifest_with(edit: Any) -> Any:
    def change(meta: dict, members: list) -> None:
        i = next(n for n, (name, _) in enumerate(members) if name == "images/manifest.json")
        doc = json.loads(members[i][1])
        extra = edit(doc, members)
        members[i] = ("images/manifest.json", json.dumps(doc).encode())
        members[i:i] = extra or []

    return change


def _layer_sources(doc: list, members: list) -> None:
    digest = doc[0]["Layers"][0].rsplit("/", 1)[1]
    doc[0]["LayerSources"] = {
        "sha256:" + digest: {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                             "size": 1, "digest": "sha256:" + digest, "urls": ["http://127.0.0.1:9/x"]}
    }  # fmt: skip


def _untagged_undeclared(doc: list, members: list) -> list:
    stow = make_image(["hk-hostile/stowaway:1"], [make_layer([("s", b"stowaway\n", 0o644)])])
    gz = gzip.compress(stow.layers[0].data, mtime=0)
    doc.append({"Config": f"blobs/sha256/{stow.id[7:]}", "RepoTags": [],
                "Layers": [f"blobs/sha256/{sha(gz)}"]})  # fmt: skip
    return [
        (f"images/blobs/sha256/{sha(gz)}", gz),
        (f"images/blobs/sha256/{stow.id[7:]}", stow.config),
    ]


def _untagged_duplicate(doc: list, members: list) -> None:
    doc.append({**doc[1], "RepoTags": []})


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (_layer_sources, "entry 1 has LayerSources, which harbor-bundle.json does not account for "
         "(docker load would act on it)"),
        (_untagged_undeclared, "entry 3 (blobs/sha256/{config}) has no tag: docker load would add "
         "an image harbor-bundle.json does not declare"),
        (_untagged_duplicate, "entry 3 (blobs/sha256/{config}) has no tag: docker load would add "
         "an image harbor-bundle.json does not declare"),
    ],
    ids=["LayerSources", "untagged-undeclared", "untagged-duplicate"],
)  # fmt: skip
def test_manifest_entries_beyond_the_metadata_are_refused(
    docker: Any, daemon: Daemon, tmp_path: Path, edit: Any, why: str
) -> None:
    path = tmp_path / "b.tar"
    members = write_bundle(path, edit=_manifest_with(edit))
    doc = json.loads(dict(members)["images/manifest.json"])
    r = hk(daemon, "bundle", "load", str(path))
    config = doc[-1]["Config"].rsplit("/", 1)[1]
    assert (r.returncode, r.stderr) == (
        ExitCode.BUNDLE_HOSTILE,
        f"harborkit: error: bundle {path}: images/manifest.json: {why.format(config=config)}\n",
    )
    assert state(docker) == BEFORE
    # verify refuses it too: the plain-tools path would hand the whole file to dockerd
    v = hk(daemon, "bundle", "verify", str(path))
    assert (v.returncode, v.stderr) == (r.returncode, r.stderr)


@pytest.mark.parametrize("where", ["/etc/cron.d/tool", "/usr/local/sbin/tool", "/tool"])
def test_unchecked_bundle_installs_tools_only_in_the_tool_folders(
    docker: Any, daemon: Daemon, tmp_path: Path, where: str
) -> None:
    key = sign.generate()
    path = tmp_path / "b.tar"
    write_bundle(path, files=[("tool", TOOL, where)], key=key)
    root = tmp_path / "root"
    root.mkdir()
    r = hk(daemon, "bundle", "load", str(path), "--install-tools", "--prefix", str(root))
    assert (r.returncode, r.stderr) == (
        ExitCode.BUNDLE_HOSTILE,
        f"harborkit: error: bundle {path}: tool would be installed as {where}, outside "
        "/usr/local/bin; a bundle whose signature is not checked installs tools only there "
        "(check it with --key, or pass --allow-install-path)\n",
    )
    assert state(docker) == BEFORE
    assert _tree(root) == []
    # its signature checked: the signer chose the path
    r = hk(daemon, "bundle", "load", str(path), "--install-tools", "--prefix", str(root),
           "--key", key.public.base64, "-q")  # fmt: skip
    assert (r.returncode, r.stderr) == (
        0,
        f"harborkit: moved tag {REFS[0]} from {OLD.id[:19]} to {crafted_images(REFS)[0].id[:19]}\n",
    )
    assert (root / where.lstrip("/")).read_bytes() == TOOL


def test_allow_install_path_lets_an_unsigned_bundle_choose(
    docker: Any, daemon: Daemon, tmp_path: Path
) -> None:
    path = tmp_path / "b.tar"
    write_bundle(path, files=[("tool", TOOL, "/opt/tools/tool")])
    root = tmp_path / "root"
    root.mkdir()
    r = hk(daemon, "bundle", "load", str(path), "--install-tools", "--prefix", str(root),
           "--allow-install-path", "-q")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (root / "opt/tools/tool").read_bytes() == TOOL


def test_signed_bundle_loaded_without_key_says_the_signature_was_not_checked(
    docker: Any, daemon: Daemon, tmp_path: Path
) -> None:
    key = sign.generate()
    path = tmp_path / "b.tar"
    write_bundle(path, key=key)
    moved = (
        f"harborkit: moved tag {REFS[0]} from {OLD.id[:19]} to {crafted_images(REFS)[0].id[:19]}\n"
    )
    r = hk(daemon, "bundle", "load", str(path), "-q")
    assert (r.returncode, r.stderr) == (
        0,
        moved
        + f"harborkit: {path} is signed by key {key.public.id_hex}, not checked: pass --key\n",
    )
    # with --key nothing is said about it; an unsigned bundle says nothing either
    r = hk(daemon, "bundle", "load", str(path), "-q", "--key", key.public.base64)
    assert (r.returncode, r.stderr) == (0, "")
    write_bundle(path)
    r = hk(daemon, "bundle", "load", str(path), "-q")
    assert (r.returncode, r.stderr) == (0, "")


def test_failure_after_the_tools_removes_the_tools_it_installed(
    docker: Any, daemon: Daemon, tmp_path: Path, mount_tmpfs: Any
) -> None:
    """The installer does not fit by inodes (its space check counts bytes): the tool
    installed before it goes again with the images; folders that were there stay."""
    path = tmp_path / "b.tar"
    write_bundle(path, files=[("tool", TOOL, "/usr/local/bin/tool")])
    root = tmp_path / "root"
    (root / "usr/local/bin").mkdir(parents=True)
    fs = mount_tmpfs("fs", "size=8m,nr_inodes=4")
    r = hk(daemon, "bundle", "load", str(path), "--install-tools", "--prefix", str(root),
           "--install-dir", str(fs / "opt"))  # fmt: skip
    head, _, rolled = r.stderr.partition("; rolled back: removed ")
    assert head == f"harborkit: error: no space left in {fs}/opt while unpacking the installer"
    assert r.returncode == ExitCode.NO_SPACE
    assert f"{fs}/opt, {root}/usr/local/bin/tool and 3 more\n" in rolled  # then the images
    assert state(docker) == BEFORE
    assert _tree(root) == ["usr", "usr/local", "usr/local/bin"]
    assert os.listdir(fs) == []
