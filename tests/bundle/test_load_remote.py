"""``bundle load --host``: a real sshd host whose docker CLI talks to a private dockerd
(its socket bind-mounted), a crafted bundle verified here and streamed to ``docker load``
on the host through ssh. Every case checks the daemon's tags and ids before and after."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bundle.conftest import REPO
from tests.support import sshhost
from tests.support.bundles import craft_bundle, crafted_images, installer_tgz
from tests.support.dockerd import Daemon, start_dockerd

REFS = ("hk-remote/prepare:v1", "hk-remote/core:v1", "hk-remote/nginx:v1")
DELTA_REF = "hk-remote/delta:v2"
#: what the host's docker shim of :meth:`Lab.record` logs: one subcommand a line
DOCKER_LOG = "/tmp/hk-docker-calls"


@dataclass
class Lab:
    daemon: Daemon
    host: sshhost.SshHost
    client: sshhost.Client

    def tags(self) -> dict[str, str]:
        """tag -> image id in the host's daemon."""
        out = subprocess.run(
            ["docker", "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
            env=self.daemon.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if "<none>" not in line)

    def ids(self) -> set[str]:
        out = subprocess.run(
            ["docker", "images", "-aq", "--no-trunc"],
            env=self.daemon.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return set(out.split())

    def forget(self) -> None:
        """Remove the bundle's images (each test starts without them)."""
        for ref in (*REFS, DELTA_REF):
            subprocess.run(
                ["docker", "rmi", "-f", ref],
                env=self.daemon.env(),
                capture_output=True,
                check=False,
            )

    def argv(self, bundle: Path, *args: str, quiet: bool = True) -> list[str]:
        return [
            sys.executable,
            "-m",
            "harborkit",
            "bundle",
            "load",
            str(bundle),
            "--host",
            f"root@{self.host.address}",
            "--ssh-config",
            str(self.client.config),
            *(["-q"] if quiet else []),
            *args,
        ]

    def load(
        self,
        bundle: Path,
        *args: str,
        quiet: bool = True,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(bundle, *args, quiet=quiet),
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )

    def shim(self, name: str, script: str) -> None:
        """A test-only ``name`` first on the host's PATH (the host's own tool, as far as
        harborkit can tell)."""
        self.host.exec(
            f"cat > /usr/local/bin/{name} && chmod 755 /usr/local/bin/{name}", input=script.encode()
        )

    def unshim(self, name: str) -> None:
        self.host.exec(f"rm -f /usr/local/bin/{name}")

    @contextlib.contextmanager
    def record(self) -> Iterator[list[str]]:
        """The host's docker CLI logs each subcommand it runs (then runs it); the list
        is filled when the block ends."""
        self.host.exec(f"rm -f {DOCKER_LOG}")
        self.shim("docker", f'#!/bin/sh\necho "$1" >> {DOCKER_LOG}\nexec /usr/bin/docker "$@"\n')
        calls: list[str] = []
        try:
            yield calls
        finally:
            self.unshim("docker")
            calls += self.host.exec(f"cat {DOCKER_LOG} 2>/dev/null; true").split()


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the sshd test host needs root (a private dockerd)")
    docker_cli = shutil.which("docker") or "/usr/bin/docker"
    with start_dockerd(stop_in_background=True) as daemon, sshhost.make_client() as client:
        image = sshhost.import_image(daemon.env())
        host = sshhost.start_host(
            image,
            daemon.env(),
            "harbor60",
            client.public_key,
            volumes=[
                f"{docker_cli}:/usr/bin/docker:ro",
                f"{daemon.socket_path}:/var/run/docker.sock",
            ],
        )
        try:
            client.trust([host])
            # the daemon runs beside the host here: its data root, as the host's df sees it
            root = subprocess.run(
                ["docker", "info", "--format", "{{.DockerRootDir}}"],
                env=daemon.env(),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            host.exec(f"mkdir -p {root}")
            yield Lab(daemon, host, client)
        finally:
            host.stop()


@pytest.fixture
def fresh(lab: Lab) -> Iterator[Lab]:
    lab.forget()
    yield lab
    lab.forget()


@dataclass
class SshLog:
    """A PATH whose ``ssh`` logs each start (then runs the real client)."""

    env: dict[str, str]
    log: Path

    def starts(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def ssh_log(tmp_path: Path) -> SshLog:
    real = shutil.which("ssh") or "/usr/bin/ssh"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ssh-starts"
    (bin_dir / "ssh").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (bin_dir / "ssh").chmod(0o755)
    return SshLog({"PATH": f"{bin_dir}:{os.environ['PATH']}"}, log)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("remote") / "b.tar"
    craft_bundle(path, images=crafted_images(REFS), installer=installer_tgz())
    return path


def _metadata(bundle: Path) -> dict:
    import json
    import tarfile

    with tarfile.open(bundle) as tf:
        f = tf.extractfile("harbor-bundle.json")
        assert f is not None
        return json.load(f)


def _expected(bundle: Path) -> dict[str, str]:
    return {i["reference"]: i["image_id"] for i in _metadata(bundle)["images"]}


def test_images_arrive_with_their_ids_and_tags(fresh: Lab, bundle: Path) -> None:
    before = fresh.tags()
    r = fresh.load(bundle)
    assert r.returncode == 0, r.stderr
    after = fresh.tags()
    want = _expected(bundle)
    assert {ref: after.get(ref) for ref in want} == want
    # nothing else changed
    assert {k: v for k, v in after.items() if k not in want} == before
    # a second load sends nothing and says so
    r = fresh.load(bundle, quiet=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{fresh.host.address}: loaded 0 images, 3 already present"


def test_a_tag_on_another_image_is_moved_and_an_image_there_is_only_tagged(
    fresh: Lab, bundle: Path
) -> None:
    want = _expected(bundle)
    r = fresh.load(bundle)
    assert r.returncode == 0, r.stderr
    # the first reference now names another image; the second's tag is gone, its image stays
    other = next(v for k, v in want.items() if k != REFS[0])
    env = fresh.daemon.env()
    subprocess.run(["docker", "tag", other, REFS[0]], env=env, check=True)
    subprocess.run(["docker", "tag", want[REFS[2]], "hk-remote/keep:v1"], env=env, check=True)
    subprocess.run(["docker", "rmi", REFS[2]], env=env, check=True, capture_output=True)
    r = fresh.load(bundle)
    assert r.returncode == 0, r.stderr
    after = fresh.tags()
    assert {ref: after.get(ref) for ref in want} == want
    subprocess.run(["docker", "rmi", "hk-remote/keep:v1"], env=env, capture_output=True)


@pytest.mark.parametrize("where", ["layer", "config", "installer", "sums"])
def test_a_tampered_bundle_is_refused_before_anything_is_sent(
    fresh: Lab, bundle: Path, tmp_path: Path, where: str, ssh_log: SshLog
) -> None:
    """Verified here first: no ssh client is even started, nothing changes on the host."""
    data = bytearray(bundle.read_bytes())
    import tarfile

    with tarfile.open(bundle) as tf:
        members = tf.getmembers()
    meta = _metadata(bundle)
    layers = {f"images/blobs/sha256/{lr['digest'][7:]}" for lr in meta["layers"]}
    configs = {f"images/blobs/sha256/{i['image_id'][7:]}" for i in meta["images"]}
    pick = {
        "layer": lambda m: m.name in layers,
        "config": lambda m: m.name in configs,
        "installer": lambda m: m.name.startswith("installer/"),
        "sums": lambda m: m.name == "SHA256SUMS",
    }[where]
    m = next(m for m in members if pick(m))
    data[m.offset_data + m.size // 2] ^= 0x01
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    before = fresh.tags()
    r = fresh.load(bad, "--install-dir", "/opt/hk-tampered", env=ssh_log.env)
    assert r.returncode == 4, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"harborkit: error: bundle {bad} is corrupt: "), r.stderr
    assert ssh_log.starts() == []
    assert fresh.tags() == before
    assert fresh.host.exec("test -e /opt/hk-tampered && echo yes || echo no").strip() == "no"


def test_a_bundle_signed_by_another_key_is_refused_before_anything_is_sent(
    fresh: Lab, bundle: Path, tmp_path: Path, ssh_log: SshLog
) -> None:
    from harborkit.bundle import sign

    key = sign.generate()
    sign.write_key_pair(tmp_path / "k", key, None)
    before = fresh.tags()
    r = fresh.load(bundle, "--key", str(tmp_path / "k.pub"), env=ssh_log.env)
    assert r.returncode == 13, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert ssh_log.starts() == []
    assert fresh.tags() == before


@pytest.mark.parametrize("avail", ["10", "0"])
def test_not_enough_space_on_the_host_refused_before_anything_is_sent(
    fresh: Lab, bundle: Path, avail: str
) -> None:
    fresh.shim(
        "df",
        "#!/bin/sh\n"
        "echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
        f"echo 'fake 100000 99990 {avail} 100% /'\n",
    )
    try:
        before = fresh.tags()
        with fresh.record() as calls:
            r = fresh.load(bundle, "--install-dir", "/opt/hk-nospace")
    finally:
        fresh.unshim("df")
    assert r.returncode == 8, r.stderr
    # asked (info, images, inspect), nothing sent, nothing unpacked
    assert set(calls) == {"info", "images", "image"}, calls
    assert fresh.host.exec("test -e /opt/hk-nospace && echo yes || echo no").strip() == "no"
    line = r.stderr.strip()
    assert line.startswith(f"harborkit: {fresh.host.address}: not enough free space in /")
    assert line.endswith("; nothing sent") and "\n" not in line
    assert fresh.tags() == before


@pytest.mark.parametrize(
    "setup,message",
    [
        ("mkdir -p D/harbor && echo old > D/harbor/install.sh", "already exists"),
        ("mkdir -p D && echo file > D/harbor", "is a file where the installer needs a folder"),
        ("mkdir -p D/harbor && ln -s /nowhere D/harbor/prepare", "already exists"),
        ("mkdir -p $(dirname D) && echo file > D", "is a file where the installer needs a folder"),
    ],
)
def test_an_install_folder_that_would_be_overwritten_is_refused_before_any_image(
    fresh: Lab, bundle: Path, setup: str, message: str
) -> None:
    d = f"/opt/hk-{uuid.uuid4().hex[:8]}"
    fresh.host.exec(setup.replace("D", d))
    listing = fresh.host.exec(
        f"ls -lR {d} 2>/dev/null; cat {d}/harbor/install.sh 2>/dev/null; true"
    )
    before = fresh.tags()
    with fresh.record() as calls:
        r = fresh.load(bundle, "--install-dir", d)
    assert r.returncode == 2, r.stderr
    assert set(calls) == {"info", "images", "image"}, calls
    assert message in r.stderr and r.stderr.strip().endswith("nothing sent")
    assert r.stderr.count("\n") == 1
    assert fresh.tags() == before
    assert (
        fresh.host.exec(f"ls -lR {d} 2>/dev/null; cat {d}/harbor/install.sh 2>/dev/null; true")
        == listing
    )


def test_installer_lands_where_asked(fresh: Lab, bundle: Path) -> None:
    d = f"/opt/hk-{uuid.uuid4().hex[:8]}/deep"
    r = fresh.load(bundle, "--install-dir", d)
    assert r.returncode == 0, r.stderr
    got = fresh.host.exec(
        f"cd {d} && find . -type f | sort | while read f; do stat -c '%a %n' \"$f\"; done"
    )
    assert got.split("\n")[:-1] == [
        "644 ./harbor/harbor.yml",
        "755 ./harbor/install.sh",
        "755 ./harbor/prepare",
    ]
    assert fresh.host.exec(f"cat {d}/harbor/install.sh") == "#!/bin/sh\necho installing harbor\n"


def _ssh_children(pid: int, needle: bytes) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and cmd.startswith(b"ssh\0") and needle in cmd:
            out.append(int(d))
    return out


@pytest.mark.parametrize("when", ["after-load", "mid-stream", "host-side", "host-side-mid"])
def test_a_connection_cut_mid_stream_leaves_no_new_tag(fresh: Lab, bundle: Path, when: str) -> None:
    """The host's docker load (through a shim) loads the images, or reads part of them,
    then hangs; the ssh client here is killed, or the host's sshd processes of the
    connection (the whole connection drops): nothing is left tagged that was not before,
    and what was undone is said."""
    if when in ("after-load", "host-side"):
        body = "/usr/bin/docker load; touch /tmp/hk-cut; sleep 60"
    else:
        body = "head -c 3000 >/dev/null; touch /tmp/hk-cut; sleep 60"
    fresh.host.exec("rm -f /tmp/hk-cut")
    fresh.shim(
        "docker",
        f'#!/bin/sh\nif [ "$1" = load ]; then {body}; exit 1; fi\nexec /usr/bin/docker "$@"\n',
    )
    before, ids = fresh.tags(), fresh.ids()
    argv = fresh.argv(bundle)
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        deadline = time.monotonic() + 60
        while fresh.host.exec("test -e /tmp/hk-cut && echo y || echo n").strip() != "y":
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        if when.startswith("host-side"):  # every sshd of a connection (not the listener)
            killed = fresh.host.exec(
                'for p in /proc/[0-9]*; do c=$(tr "\\0" " " < $p/cmdline 2>/dev/null); '
                'case "$c" in "sshd: "*) kill -9 "${p#/proc/}" && echo "$c";; esac; done'
            )
            assert "sshd: root" in killed, killed
        else:  # the harborkit process's ssh client that carries "docker load"
            kids = _ssh_children(proc.pid, b"docker load")
            assert kids
            for k in kids:
                os.kill(k, 9)
        fresh.unshim("docker")
        out, err = proc.communicate(timeout=60)
    finally:
        fresh.unshim("docker")
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 11, err
    line = err.strip()
    assert "\n" not in line and line.startswith(f"harborkit: {fresh.host.address}: ")
    if when in ("after-load", "host-side"):
        assert "; rolled back: " in line and "image hk-remote/" in line
    assert fresh.tags() == before
    assert fresh.ids() == ids


@pytest.mark.parametrize("fail", ["after", "midway"])
def test_a_failed_unpack_rolls_back_the_files_and_the_images(
    fresh: Lab, bundle: Path, fail: str
) -> None:
    """The host's tar (a shim) unpacks all or part of the installer, then fails: the
    files it made and the images this load added go, and the line says so; a folder
    that was there before stays."""
    top = f"/opt/hk-{uuid.uuid4().hex[:8]}"
    fresh.host.exec(f"mkdir -p {top}/keep && echo mine > {top}/keep/file")
    d = f"{top}/keep/new/deeper"
    if fail == "after":
        body = '/bin/tar "$@"; echo "tar: disk trouble" >&2; exit 2'
    else:
        body = 'head -c 100 >/dev/null; echo "tar: Unexpected EOF" >&2; exit 2'
    fresh.shim("tar", f"#!/bin/sh\n{body}\n")
    before, ids = fresh.tags(), fresh.ids()
    try:
        r = fresh.load(bundle, "--install-dir", d)
    finally:
        fresh.unshim("tar")
    assert r.returncode == 3, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"harborkit: {fresh.host.address}: unpacking the installer into {d}")
    assert f"; rolled back: {d}" in line
    assert fresh.tags() == before and fresh.ids() == ids
    assert fresh.host.exec(f"cd {top} && find . | sort") == ".\n./keep\n./keep/file\n"


def test_become_loads_as_root_and_a_password_user_is_refused_in_one_line(
    fresh: Lab, bundle: Path
) -> None:
    argv = fresh.argv(bundle)
    at = argv.index(f"root@{fresh.host.address}")
    # admin cannot reach the daemon's socket; with --become (sudo -n) it can
    fresh.host.exec("chmod 600 /var/run/docker.sock", check=False)
    for user, extra, code, text in [
        ("admin", [], 9, "docker info failed"),
        ("clerk", ["--become"], 11, "wants a password"),
        ("admin", ["--become"], 0, ""),
    ]:
        argv[at] = f"{user}@{fresh.host.address}"
        r = subprocess.run([*argv, *extra], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert r.returncode == code, (user, extra, r.stderr)
        assert text in r.stderr and r.stderr.count("\n") == (1 if code else 0)
    want = _expected(bundle)
    after = fresh.tags()
    assert {ref: after.get(ref) for ref in want} == want


def test_one_failing_host_does_not_stop_the_others(fresh: Lab, bundle: Path) -> None:
    down = sshhost.free_loopback()
    argv = fresh.argv(bundle, quiet=False)
    at = argv.index(f"root@{fresh.host.address}")
    argv[at] = f"root@{down},root@{fresh.host.address}"
    r = subprocess.run(
        [*argv, "--forks", "2"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert r.returncode == 11, r.stderr
    assert r.stdout == f"{fresh.host.address}: loaded 3 images, 0 already present\n"
    assert (
        r.stderr.startswith(f"harborkit: {down}: connection to root@{down}")
        and r.stderr.count("\n") == 1
    )
    want = _expected(bundle)
    after = fresh.tags()
    assert {ref: after.get(ref) for ref in want} == want


@pytest.fixture(scope="module")
def tool_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """The crafted bundle carrying a docker-compose stand-in for /usr/local/bin."""
    import json

    from tests.support.bundles import bundle_members, file_record, write_members

    tool = b"#!/bin/sh\necho docker-compose version 1.24.0\n" + os.urandom(3000)
    members, meta = bundle_members(crafted_images(REFS), installer_tgz())
    meta = {**meta, "files": [file_record("docker-compose", tool)]}
    members = [
        (n, json.dumps(meta).encode() if n == "harbor-bundle.json" else d) for n, d in members
    ]
    path = tmp_path_factory.mktemp("tools") / "t.tar"
    write_members(path, [*members, ("files/docker-compose", tool)])
    return path, tool


def test_tools_are_installed_refused_and_replaced_as_locally(
    fresh: Lab, tool_bundle: tuple[Path, bytes]
) -> None:
    path, tool = tool_bundle
    prefix = f"/srv/hk-{uuid.uuid4().hex[:8]}"
    target = f"{prefix}/usr/local/bin/docker-compose"
    r = fresh.load(path, "--install-tools", "--prefix", prefix, quiet=False)
    assert r.returncode == 0, r.stderr
    assert f"docker-compose installed: {target} (mode 0755)" in r.stdout
    assert fresh.host.exec(f"stat -c %a {target}").strip() == "755"
    assert fresh.host.exec(f"cat {target}", raw=True) == tool
    assert fresh.host.exec(f"ls -A {prefix}/usr/local/bin").split() == ["docker-compose"]
    # again: left alone
    r = fresh.load(path, "--install-tools", "--prefix", prefix, quiet=False)
    assert r.returncode == 0 and f"docker-compose already in place: {target}" in r.stdout
    # another file there: refused before any image is sent, then replaced with --force
    fresh.host.exec(f"echo other > {target}")
    fresh.forget()
    before = fresh.tags()
    r = fresh.load(path, "--install-tools", "--prefix", prefix)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (
        f"harborkit: {fresh.host.address}: {target} exists and differs from the bundle's "
        "docker-compose; not replacing it (--force replaces it)\n"
    )
    assert fresh.tags() == before
    assert fresh.host.exec(f"cat {target}") == "other\n"
    r = fresh.load(path, "--install-tools", "--prefix", prefix, "--force", quiet=False)
    assert r.returncode == 0, r.stderr
    assert f"docker-compose replaced: {target}" in r.stdout
    assert fresh.host.exec(f"cat {target}", raw=True) == tool
    # a folder in its place: refused even with --force
    fresh.host.exec(f"rm -f {target} && mkdir {target}")
    r = fresh.load(path, "--install-tools", "--prefix", prefix, "--force")
    assert r.returncode == 2 and "is a folder; not replacing it" in r.stderr, r.stderr


def test_a_failure_after_the_tools_removes_them_and_their_new_folders(
    fresh: Lab, tool_bundle: tuple[Path, bytes]
) -> None:
    path, _ = tool_bundle
    prefix = f"/srv/hk-{uuid.uuid4().hex[:8]}"
    fresh.host.exec(f"mkdir -p {prefix}")
    fresh.shim("tar", '#!/bin/sh\necho "tar: broken" >&2\nexit 2\n')
    before = fresh.tags()
    try:
        r = fresh.load(
            path, "--install-tools", "--prefix", prefix, "--install-dir", f"{prefix}/opt"
        )
    finally:
        fresh.unshim("tar")
    assert r.returncode == 3, r.stderr
    assert "; rolled back: " in r.stderr and r.stderr.count("\n") == 1
    assert fresh.host.exec(f"cd {prefix} && find . | sort") == ".\n"
    assert fresh.tags() == before


@pytest.mark.parametrize("start", ["part-000", "parts.sha256"])
def test_a_bundle_in_parts_loads_and_a_damaged_part_is_refused_first(
    fresh: Lab, bundle: Path, tmp_path: Path, start: str, ssh_log: SshLog
) -> None:
    import hashlib

    raw = bundle.read_bytes()
    size = 2048
    listing = ""
    for i in range(-(-len(raw) // size)):
        chunk = raw[i * size : (i + 1) * size]
        (tmp_path / f"p.tar.part-{i:03d}").write_bytes(chunk)
        listing += f"{hashlib.sha256(chunk).hexdigest()}  p.tar.part-{i:03d}\n"
    (tmp_path / "p.tar.parts.sha256").write_text(listing)
    with fresh.record() as calls:
        r = fresh.load(tmp_path / f"p.tar.{start}", env=ssh_log.env)
    assert r.returncode == 0, r.stderr
    assert calls.count("load") == 1 and ssh_log.starts()  # the recorders see a load
    ssh_log.log.unlink()
    want = _expected(bundle)
    after = fresh.tags()
    assert {ref: after.get(ref) for ref in want} == want
    fresh.forget()
    before = fresh.tags()
    part = tmp_path / "p.tar.part-002"
    data = bytearray(part.read_bytes())
    data[100] ^= 1
    part.write_bytes(bytes(data))
    r = fresh.load(tmp_path / f"p.tar.{start}", env=ssh_log.env)
    assert r.returncode == 4, r.stderr
    assert "p.tar.part-002" in r.stderr and r.stderr.count("\n") == 1
    assert ssh_log.starts() == []
    assert fresh.tags() == before


def test_an_inventory_and_its_limit_pick_the_hosts(
    fresh: Lab, bundle: Path, tmp_path: Path
) -> None:
    down = sshhost.free_loopback()
    inv = tmp_path / "hosts.ini"
    inv.write_text(
        "[harbor]\n"
        f"harbor60 ansible_host={fresh.host.address} ansible_user=root\n"
        "[nodes]\n"
        f"server58 ansible_host={down} ansible_user=root\n"
    )
    argv = fresh.argv(bundle, quiet=False)
    at = argv.index("--host")
    del argv[at : at + 2]
    r = subprocess.run(
        [*argv, "-i", str(inv), "--limit", "harbor"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "harbor60: loaded 3 images, 0 already present\n"
    r = subprocess.run(
        [*argv, "-i", str(inv)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert r.returncode == 11, r.stderr
    assert r.stdout == "harbor60: loaded 0 images, 3 already present\n"
    assert r.stderr.startswith("harborkit: server58: ") and r.stderr.count("\n") == 1


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_load_rolls_back_and_says_so(fresh: Lab, bundle: Path, sig: str) -> None:
    import signal

    fresh.host.exec("rm -f /tmp/hk-cut")
    fresh.shim(
        "docker",
        '#!/bin/sh\nif [ "$1" = load ]; then /usr/bin/docker load; touch /tmp/hk-cut; sleep 60; '
        'exit 1; fi\nexec /usr/bin/docker "$@"\n',
    )
    before, ids = fresh.tags(), fresh.ids()
    proc = subprocess.Popen(
        fresh.argv(bundle), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        deadline = time.monotonic() + 60
        while fresh.host.exec("test -e /tmp/hk-cut && echo y || echo n").strip() != "y":
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        fresh.unshim("docker")
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        fresh.unshim("docker")
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    line = err.strip()
    assert line.startswith("harborkit: interrupted; ") and "\n" not in line
    assert f"{fresh.host.address}: image hk-remote/" in line
    assert fresh.tags() == before and fresh.ids() == ids


@pytest.mark.parametrize(
    "cmd,body,why",
    [
        ("info", "while :; do printf x; sleep 1; done", "did not finish within 3 s"),
        ("info", "sleep 60", "did not finish within 3 s"),
        ("images", "while :; do echo x; sleep 1; done", "did not finish within 3 s"),
        ("images", "head -c 6000000 /dev/zero", "wrote more than 4 MiB on stdout"),
        ("images", "head -c 6000000 /dev/zero >&2", "wrote more than 4 MiB on stderr"),
        # a docker load that stops reading: the stream's deadline (3 s + its size at 1 MiB/s)
        ("load", "head -c 1000 >/dev/null; sleep 60", "a remote call did not finish within 3"),
    ],
)
def test_a_slow_or_flooding_host_is_stopped_by_the_deadline_and_bounds(
    fresh: Lab, bundle: Path, cmd: str, body: str, why: str
) -> None:
    """``docker info`` or ``docker images`` on the host trickles, hangs or floods: one
    line, exit 11, in time, nothing sent."""
    fresh.shim(
        "docker",
        f'#!/bin/sh\nif [ "$1" = {cmd} ]; then {body}; exit 0; fi\nexec /usr/bin/docker "$@"\n',
    )
    before = fresh.tags()
    t0 = time.monotonic()
    # a flood is stopped by the bound, long before a deadline that a loaded machine's
    # ssh connect and docker info cannot miss
    flood = "wrote more than" in why
    try:
        r = fresh.load(bundle, env={"HARBORKIT_REMOTE_TIMEOUT": "30" if flood else "3"}, timeout=90)
    finally:
        fresh.unshim("docker")
    assert time.monotonic() - t0 < (28 if flood else 20)
    assert r.returncode == 11, r.stderr
    assert r.stderr.startswith(f"harborkit: {fresh.host.address}: ") and why in r.stderr
    assert r.stderr.count("\n") == 1
    assert fresh.tags() == before


def test_a_bundle_changed_after_verify_never_reaches_the_host_whole(
    fresh: Lab, bundle: Path, tmp_path: Path
) -> None:
    """Verified here, then a layer changes on disk: the stream breaks off before that
    member is complete (and before manifest.json), docker load on the host loads nothing,
    exit 4 naming the member."""
    import tarfile

    from harborkit.bundle.errors import BundleCorrupt
    from harborkit.bundle.remote_load import load_on_host
    from harborkit.bundle.verify import verify_bundle
    from harborkit.host.ssh import ControlDir, SshConnection, SshOptions, parse_target
    from harborkit.host.sshstream import Stream

    copy = tmp_path / "c.tar"
    shutil.copy(bundle, copy)
    verified = verify_bundle(copy)
    layers = {f"images/blobs/sha256/{lr['digest'][7:]}" for lr in _metadata(bundle)["layers"]}
    with tarfile.open(copy) as tf:
        m = next(m for m in tf.getmembers() if m.name in layers)
    with open(copy, "r+b") as f:
        f.seek(m.offset_data + 10)
        byte = f.read(1)
        f.seek(m.offset_data + 10)
        f.write(bytes([byte[0] ^ 1]))
    before, ids = fresh.tags(), fresh.ids()
    control = ControlDir()
    conn = SshConnection(
        parse_target(f"root@{fresh.host.address}"),
        SshOptions(config_file=str(fresh.client.config)),
        control,
    )
    try:
        with pytest.raises(BundleCorrupt) as e:
            load_on_host(Stream(conn), verified)
    finally:
        conn.close()
        control.cleanup()
    assert e.value.exit_code == 4
    assert (
        f"member {m.name}" in e.value.message and "changed after it was verified" in e.value.message
    )
    assert fresh.tags() == before and fresh.ids() == ids


def test_the_remote_options_help_says_what_they_do_for_a_load() -> None:
    """check's remote options are reused by load: none of their help may say "Audit"."""
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "bundle", "load", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb"},
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    rows: dict[str, str] = {}
    last = ""
    for line in r.stdout.splitlines():
        words = line.split()
        if words and words[0].startswith("-") and words[0].endswith(","):  # "-i, --inventory"
            words = words[1:]
        if line.startswith("  -") and words[0].startswith("--"):
            last = words[0]
            rows[last] = " ".join(words)
        elif line.startswith("    ") and last:  # the row's help, wrapped
            rows[last] += " " + " ".join(words)
        else:
            last = ""
    for word in ("audit", "collect", "judge"):
        assert word not in r.stdout.lower(), r.stdout
    assert "Load on [ssh://][USER@]HOST[:PORT] over SSH" in rows["--host"]
    assert "Load on the hosts of an Ansible inventory" in rows["--inventory"]
    assert "hosts or groups to load on" in rows["--limit"]
    assert "Hosts loaded on in parallel" in rows["--forks"]
    assert "as root through sudo -n" in rows["--become"]
    assert "ssh_config file" in rows["--ssh-config"]


# ------------------------------------------------------------------ delta bundles over SSH


@pytest.fixture(scope="module")
def delta_bundle(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A delta over ``bundle``: one new image on REFS[0]'s bottom layer, which it leaves
    to the base (REFS[0] holds it)."""
    import hashlib
    import json
    import tarfile

    from tests.support.bundles import bundle_members, write_members
    from tests.support.images import make_image, make_layer

    base_images = crafted_images(REFS)
    bottom = base_images[0].layers[0]
    top = make_layer([("delta.bin", b"hk-remote delta v2\n" * 100, 0o644)])
    members, meta = bundle_members([make_image([DELTA_REF], [bottom, top])], installer_tgz())
    left = meta["images"][0]["layers"][0]
    assert left in {lr["digest"] for lr in _metadata(bundle)["layers"]}
    with tarfile.open(bundle) as tf:
        sums = tf.extractfile("SHA256SUMS").read()  # type: ignore[union-attr]
    meta["base"] = {
        "name": bundle.name,
        "sums_sha256": hashlib.sha256(sums).hexdigest(),
        "images": [{"reference": REFS[0], "image_id": base_images[0].id}],
        "layers": [left],
    }
    members = [
        (n, json.dumps(meta).encode() if n == "harbor-bundle.json" else d)
        for n, d in members
        if n != f"images/blobs/sha256/{left[7:]}"
    ]
    path = tmp_path_factory.mktemp("delta") / "d.tar"
    write_members(path, members)
    return path


def test_a_delta_loads_on_a_host_that_holds_its_base(
    fresh: Lab, bundle: Path, delta_bundle: Path
) -> None:
    r = fresh.load(bundle)
    assert r.returncode == 0, r.stderr
    before = fresh.tags()
    with fresh.record() as calls:
        r = fresh.load(delta_bundle, quiet=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{fresh.host.address}: loaded 1 images, 0 already present\n"
    assert calls.count("load") == 1
    want = _expected(delta_bundle)
    after = fresh.tags()
    assert {ref: after.get(ref) for ref in want} == want
    assert {k: v for k, v in after.items() if k not in want} == before


@pytest.mark.parametrize("case", ["base-absent", "base-another-image", "parts"])
def test_a_delta_whose_base_is_not_on_the_host_is_refused_before_anything_is_sent(
    fresh: Lab, bundle: Path, delta_bundle: Path, tmp_path: Path, case: str
) -> None:
    """exit 14, one line naming the host, the base and what to do; no docker load ran."""
    want_id = _expected(bundle)[REFS[0]]
    path = delta_bundle
    if case == "base-another-image":
        # REFS[0] names another image on the host; the base's image (by id) is not there
        r = fresh.load(bundle)
        assert r.returncode == 0, r.stderr
        env = fresh.daemon.env()
        other = _expected(bundle)[REFS[1]]
        subprocess.run(["docker", "tag", other, REFS[0]], env=env, check=True)
        for ref in REFS[1:]:
            subprocess.run(["docker", "rmi", ref], env=env, check=True, capture_output=True)
        subprocess.run(["docker", "tag", other, REFS[1]], env=env, check=True)
        subprocess.run(["docker", "rmi", "-f", want_id], env=env, capture_output=True)
        assert want_id not in fresh.ids()
    if case == "parts":  # the same refusal for a delta in parts
        raw = delta_bundle.read_bytes()
        for i in range(-(-len(raw) // 4096)):
            (tmp_path / f"d.tar.part-{i:03d}").write_bytes(raw[i * 4096 : (i + 1) * 4096])
        path = tmp_path / "d.tar.part-000"
    before, ids = fresh.tags(), fresh.ids()
    with fresh.record() as calls:
        r = fresh.load(path, "--install-dir", "/opt/hk-delta")
    assert r.returncode == 14, r.stderr
    assert r.stderr == (
        f"harborkit: {fresh.host.address}: {path} is a delta over {bundle.name} (SHA256SUMS "
        f"sha256 {_sums_sha(bundle)[:16]}...): the host lacks its base images "
        f"{REFS[0]} ({want_id[:19]}); load {bundle.name} on it first (bundle load --host); "
        "nothing sent\n"
    )
    assert "load" not in calls and "tag" not in calls and "rmi" not in calls, calls
    assert fresh.tags() == before and fresh.ids() == ids
    assert fresh.host.exec("test -e /opt/hk-delta && echo yes || echo no").strip() == "no"


def test_a_delta_whose_left_out_layer_no_base_image_holds_is_refused(
    fresh: Lab, bundle: Path, delta_bundle: Path, tmp_path: Path
) -> None:
    """The delta names a base image that is on the host but does not hold the layer it
    leaves out: refused before sending (docker load would fail half-way)."""
    import json

    from tests.support.bundles import read_members, write_members

    r = fresh.load(bundle)
    assert r.returncode == 0, r.stderr
    members = [(ti.name, data) for ti, data in read_members(delta_bundle)]
    meta = json.loads(dict(members)["harbor-bundle.json"])
    # a base image that is on the host but holds another chain
    from tests.support.images import load_images, make_image, make_layer

    lone = make_image(["hk-remote/unrelated:v1"], [make_layer([("x", b"x", 0o644)])])
    client = fresh.daemon.client()
    try:
        load_images(client, [lone])
    finally:
        client.close()
    try:
        meta["base"]["images"] = [{"reference": "hk-remote/unrelated:v1", "image_id": lone.id}]
        members = [
            (n, json.dumps(meta).encode() if n == "harbor-bundle.json" else d)
            for n, d in members
            if n != "SHA256SUMS"
        ]
        path = tmp_path / "claims.tar"
        write_members(path, members)
        before = fresh.tags()
        with fresh.record() as calls:
            r = fresh.load(path)
        assert r.returncode == 14, r.stderr
        line = r.stderr.strip()
        assert "\n" not in line and line.startswith(f"harborkit: {fresh.host.address}: {path}")
        assert "is left to the base, but none of its base images on the host holds it" in line
        assert line.endswith("; nothing sent")
        assert "load" not in calls and fresh.tags() == before
    finally:
        subprocess.run(
            ["docker", "rmi", "-f", "hk-remote/unrelated:v1"],
            env=fresh.daemon.env(),
            capture_output=True,
        )


def _sums_sha(bundle: Path) -> str:
    import hashlib
    import tarfile

    with tarfile.open(bundle) as tf:
        return hashlib.sha256(tf.extractfile("SHA256SUMS").read()).hexdigest()  # type: ignore[union-attr]


#: BusyBox applets that stand in for coreutils and tar on the "busybox-tools" host
APPLETS = (
    "tar", "df", "sha256sum", "mktemp", "cut", "dirname", "tail", "sed", "cat", "chmod", "mv",
    "rm", "rmdir", "mkdir", "head",
)  # fmt: skip


@pytest.fixture(params=["dash", "busybox", "busybox-tools", "bash-posix"])
def odd_shell(fresh: Lab, request: pytest.FixtureRequest) -> Iterator[str]:
    """/bin/sh and root's login shell are dash, BusyBox ash (with BusyBox's tar and
    coreutils too), or bash as sh (posix mode)."""
    host = fresh.host
    kind = request.param
    passwd = host.exec("cat /etc/passwd")
    if kind.startswith("busybox"):
        host.exec(
            "cat > /bin/busybox && chmod 755 /bin/busybox",
            input=Path("/usr/bin/busybox").read_bytes(),
        )
        host.exec("ln -sf /bin/busybox /bin/sh")
        assert "BusyBox" in host.exec("/bin/sh --help 2>&1 || true")
    elif kind == "bash-posix":
        host.exec("ln -sf bash /bin/sh")
    if kind == "busybox-tools":
        host.exec(" && ".join(f"ln -sf /bin/busybox /usr/local/bin/{a}" for a in APPLETS))
    host.exec("sed -i 's#^root:\\(.*\\):[^:]*$#root:\\1:/bin/sh#' /etc/passwd")
    assert host.exec("grep ^root: /etc/passwd").strip().endswith(":/bin/sh")
    try:
        yield kind
    finally:
        host.exec(" ; ".join(f"rm -f /usr/local/bin/{a}" for a in APPLETS), check=False)
        # /bin/sh may be busybox: replace the link whole, then the password file
        host.exec("ln -sf dash /bin/sh.hk && mv -f /bin/sh.hk /bin/sh")
        host.exec("cat > /etc/passwd", input=passwd.encode())
        assert host.exec("readlink /bin/sh").strip() == "dash"


def test_a_host_whose_sh_is_dash_busybox_or_bash_posix(
    odd_shell: str, fresh: Lab, tool_bundle: tuple[Path, bytes]
) -> None:
    """The whole load (probe, images, ids, tools, installer) and a roll-back, with the
    host's /bin/sh and login shell each of them."""
    path, tool = tool_bundle
    top = f"/srv/hk-{uuid.uuid4().hex[:8]}"
    d = f"{top}/opt"
    before = fresh.tags()
    r = fresh.load(path, "--install-tools", "--prefix", top, "--install-dir", d, quiet=False)
    assert r.returncode == 0, (odd_shell, r.stderr)
    assert r.stdout.splitlines() == [
        f"{fresh.host.address}: loaded 3 images, 0 already present; docker-compose installed: "
        f"{top}/usr/local/bin/docker-compose (mode 0755); installer unpacked: {d}/harbor"
    ]
    want = _expected(path)
    after = fresh.tags()
    assert {ref: after.get(ref) for ref in want} == want
    assert fresh.host.exec(f"cat {top}/usr/local/bin/docker-compose", raw=True) == tool
    got = fresh.host.exec(f"cd {d} && find . -type f | sort")
    assert got == "./harbor/harbor.yml\n./harbor/install.sh\n./harbor/prepare\n"
    # the installer's unpacking fails after the images and the tool (a file appears where
    # the install folder goes, once the images are in: BusyBox's sh runs its own tar and
    # mkdir whatever PATH says, so the failure comes through docker): all of it is rolled
    # back under this shell too, and the file this load did not make stays
    fresh.forget()
    fresh.host.exec(f"rm -rf {top} && mkdir -p {top} && rm -f /tmp/hk-loaded")
    ids = fresh.ids()
    fresh.shim(
        "docker",
        '#!/bin/sh\n[ "$1" = load ] && touch /tmp/hk-loaded\n'
        f'[ "$1" = image ] && [ -e /tmp/hk-loaded ] && echo in-the-way > {d}\n'
        'exec /usr/bin/docker "$@"\n',
    )
    try:
        r = fresh.load(path, "--install-tools", "--prefix", top, "--install-dir", d)
    finally:
        fresh.unshim("docker")
    assert r.returncode == 3, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line
    assert line.startswith(
        f"harborkit: {fresh.host.address}: unpacking the installer into {d} failed: "
    )
    assert "; rolled back: " in line and f"{top}/usr/local/bin/docker-compose" in line
    assert fresh.host.exec(f"cd {top} && find . | sort") == ".\n./opt\n"
    assert fresh.host.exec(f"cat {d}") == "in-the-way\n"
    assert fresh.tags() == before and fresh.ids() == ids


def test_many_references_are_looked_up_at_once_and_each_answer_kept_apart(
    fresh: Lab, tmp_path: Path
) -> None:
    """Eleven references (more than one batch of parallel docker calls on the host): each
    arrives with its id, then each is found present; one moved tag is put back."""
    refs = tuple(f"hk-remote/many-{n:02d}:v1" for n in range(11))
    path = tmp_path / "many.tar"
    craft_bundle(path, images=crafted_images(refs), installer=installer_tgz())
    env = fresh.daemon.env()
    try:
        r = fresh.load(path, quiet=False)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"{fresh.host.address}: loaded 11 images, 0 already present\n"
        want = _expected(path)
        after = fresh.tags()
        assert {ref: after.get(ref) for ref in want} == want
        subprocess.run(["docker", "tag", want[refs[0]], refs[9]], env=env, check=True)
        r = fresh.load(path, quiet=False)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"{fresh.host.address}: loaded 0 images, 11 already present\n"
        after = fresh.tags()
        assert {ref: after.get(ref) for ref in want} == want
    finally:
        for ref in refs:
            subprocess.run(["docker", "rmi", "-f", ref], env=env, capture_output=True)


@pytest.mark.parametrize("fails", ["inspect", "rmi"])
def test_a_roll_back_step_the_host_fails_once_is_tried_again(
    fresh: Lab, bundle: Path, fails: str
) -> None:
    """docker load loads the images then fails; the roll-back's first docker call (the
    inspect of a tag, or its rmi) fails once as a daemon that does not answer would:
    it is tried again, and nothing is left tagged (it once left hk-remote/prepare:v1)."""
    cmd = "image" if fails == "inspect" else "rmi"
    fresh.host.exec("rm -f /tmp/hk-loaded /tmp/hk-failed-once")
    fresh.shim(
        "docker",
        "#!/bin/sh\n"
        'if [ "$1" = load ]; then /usr/bin/docker load >/dev/null; touch /tmp/hk-loaded; '
        'echo "docker load: broken pipe" >&2; exit 1; fi\n'
        f'if [ "$1" = {cmd} ] && [ -e /tmp/hk-loaded ] && [ ! -e /tmp/hk-failed-once ]; then '
        "touch /tmp/hk-failed-once; "
        'echo "Cannot connect to the Docker daemon. Is the docker daemon running?" >&2; exit 1; fi\n'
        'exec /usr/bin/docker "$@"\n',
    )
    before, ids = fresh.tags(), fresh.ids()
    try:
        r = fresh.load(bundle)
    finally:
        fresh.unshim("docker")
    assert fresh.host.exec("test -e /tmp/hk-failed-once && echo y || echo n").strip() == "y"
    assert r.returncode == 9, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line
    assert line.startswith(
        f"harborkit: {fresh.host.address}: docker load refused the images: "
        "docker load: broken pipe; rolled back: "
    )
    assert all(f"image {ref}" in line for ref in REFS), line
    assert fresh.tags() == before and fresh.ids() == ids
