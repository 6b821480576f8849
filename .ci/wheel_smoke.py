#!/usr/bin/env python3
"""Smoke test of an INSTALLED harborkit: build the sdist and wheel, install the
wheel into a clean venv, and run every command from a folder outside the
source tree, so that nothing is read from the checkout.

Usage: .ci/wheel_smoke.py [--python PY]   (PY has `build`; default .venv/bin/python)

Standard library only (it must not test harborkit with harborkit). Fixture
files of the test suite (a sysroot, the vendored JUnit schema) are used as
input data only. Exits 1 at the first failed expectation, naming it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYSROOT = REPO / "tests" / "fixtures" / "sysroots" / "guide-as-written"
JUNIT_XSD = REPO / "tests" / "report" / "junit" / "jenkins-junit-10.xsd"
INSTALLER = "harbor-online-installer-v1.8.0.tgz"
IMAGE = "goharbor/harbor-log:v1.8.0"


class SmokeFailure(Exception):
    pass


def expect(cond: bool, what: str, r: subprocess.CompletedProcess[str] | None = None) -> None:
    if cond:
        return
    detail = ""
    if r is not None:
        detail = f"\n  argv: {r.args}\n  rc: {r.returncode}\n  stdout: {r.stdout[-2000:]}\n  stderr: {r.stderr[-2000:]}"
    raise SmokeFailure(what + detail)


def run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def one_error_line(r: subprocess.CompletedProcess[str], rc: int, what: str) -> None:
    """Exit ``rc``, exactly one stderr line ``harborkit: error: ...``, no traceback."""
    lines = r.stderr.strip().splitlines()
    expect(r.returncode == rc, f"{what}: exit {rc}", r)
    expect(
        len(lines) == 1 and lines[0].startswith("harborkit: error: "), f"{what}: one error line", r
    )


def build_and_install(py: str, work: Path) -> Path:
    dist = work / "dist"
    r = run([py, "-m", "build", "--sdist", "--wheel", "-o", str(dist), str(REPO)], cwd=work)
    expect(r.returncode == 0, "python -m build (sdist, then the wheel from the sdist)", r)
    wheels = list(dist.glob("harborkit-*.whl"))
    expect(len(wheels) == 1, f"one wheel in {dist}")
    venv = work / "venv"
    r = run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    expect(r.returncode == 0, "python -m venv", r)
    r = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheels[0])], cwd=work)
    expect(r.returncode == 0, "pip install the wheel into a clean venv", r)
    return venv


def tiny_bundle(path: Path) -> None:
    """A consistent one-image bundle (docker-load layout), written with the stdlib."""
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as tf:
        data = b"smoke\n"
        ti = tarfile.TarInfo("etc/smoke")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    raw = layer_tar.getvalue()
    layer = gzip.compress(raw, mtime=0)
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    image_id = "sha256:" + hashlib.sha256(config).hexdigest()
    inst_buf = io.BytesIO()
    with tarfile.open(fileobj=inst_buf, mode="w:gz") as tf:
        data = b"#!/bin/sh\necho install\n"
        ti = tarfile.TarInfo("harbor/install.sh")
        ti.size, ti.mode = len(data), 0o755
        tf.addfile(ti, io.BytesIO(data))
    installer = inst_buf.getvalue()
    manifest = json.dumps(
        [
            {
                "Config": "blobs/sha256/" + image_id[7:],
                "RepoTags": [IMAGE],
                "Layers": ["blobs/sha256/" + layer_digest[7:]],
            }
        ]
    ).encode()
    meta = json.dumps(
        {
            "format_version": 1,
            "harbor_version": "v1.8.0",
            "created": "2026-01-01T00:00:00Z",
            "harborkit_version": "0.1.0",
            "images": [
                {
                    "reference": IMAGE,
                    "image_id": image_id,
                    "size": len(raw),
                    "layers": [layer_digest],
                }
            ],
            "layers": [
                {
                    "digest": layer_digest,
                    "diff_id": diff_id,
                    "size": len(layer),
                    "uncompressed_size": len(raw),
                }
            ],
            "installer": {
                "name": INSTALLER,
                "size": len(installer),
                "sha256": hashlib.sha256(installer).hexdigest(),
                "source": "smoke",
            },
        }
    ).encode()
    members = [
        ("images/blobs/sha256/" + image_id[7:], config),
        ("images/blobs/sha256/" + layer_digest[7:], layer),
        ("images/manifest.json", manifest),
        ("installer/" + INSTALLER, installer),
        ("harbor-bundle.json", meta),
    ]
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in members).encode()
    members.append(("SHA256SUMS", sums))
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def smoke(venv: Path, work: Path) -> None:
    hk = str(venv / "bin" / "harborkit")
    py = str(venv / "bin" / "python")
    cwd = work / "cwd"
    cwd.mkdir()

    # the code and the data come from the venv, not from the checkout
    r = run(
        [
            py,
            "-c",
            "import harborkit, harborkit.resources as r; print(harborkit.__file__); "
            "print(r.data_dir('checks')); print(r.data_dir('bundles')); print(r.data_dir('schemas'))",
        ],
        cwd,
    )
    expect(r.returncode == 0, "import harborkit from the venv", r)
    for line in r.stdout.split():
        expect(line.startswith(str(venv)), f"{line} lies inside the clean venv", r)

    r = run([hk, "--version"], cwd)
    expect(r.returncode == 0 and r.stdout.strip() == "harborkit 0.1.0", "--version", r)

    # every command and sub-command answers --help, without <bool> or {bundle}
    r = run(
        [
            py,
            "-c",
            "import typer.main, harborkit.commands.app as c\n"
            "def walk(cmd, path):\n"
            "    print(' '.join(path))\n"
            "    for name, sub in sorted(getattr(cmd, 'commands', {}).items()):\n"
            "        walk(sub, path + [name])\n"
            "walk(typer.main.get_command(c.app), [])",
        ],
        cwd,
    )
    expect(r.returncode == 0, "list the command tree", r)
    commands = [line.split() for line in r.stdout.splitlines()]
    for required in (
        ["check"],
        ["bundle", "build"],
        ["bundle", "verify"],
        ["bundle", "inspect"],
        ["bundle", "load"],
        ["bundle", "push"],
    ):
        expect(required in commands, f"command {' '.join(required)} exists")
    for path in commands:
        r = run([hk, *path, "--help"], cwd, {"COLUMNS": "200"})
        expect(r.returncode == 0, f"harborkit {' '.join(path)} --help", r)
        expect(
            "<bool>" not in r.stdout and "{bundle}" not in r.stdout,
            f"harborkit {' '.join(path)} --help shows no <bool> or {{bundle}}",
            r,
        )
    print(f"ok: --version and --help of {len(commands)} commands")

    r = run([hk, "check", "--list"], cwd)
    expect(
        r.returncode == 0 and "ports.harbor" in r.stdout and "selinux.mode" in r.stdout,
        "check --list names the built-in checks",
        r,
    )

    # the built-in profile, harbor.yml schema and checks, on a known sysroot: exit 1
    common = ["check", "--root", str(SYSROOT), "--install-dir", "/opt/harbor"]
    r = run([hk, *common, "--no-color"], cwd)
    expect(
        r.returncode == 1
        and "FAILED:" in r.stdout
        and "selinux.mode" in r.stdout
        and "harbor.config" in r.stdout
        and r.stderr == "",
        "check (table) on a sysroot",
        r,
    )
    r = run([hk, *common, "-f", "json"], cwd)
    expect(r.returncode == 1, "check -f json exit 1", r)
    doc = json.loads(r.stdout)
    expect(doc["schema"] == "harborkit/report/v1" and doc["exit_code"] == 1, "json report", r)
    report = work / "report.json"
    report.write_text(r.stdout)
    r = run(
        [
            py,
            "-c",
            "import json, sys, jsonschema, harborkit.resources as res\n"
            "jsonschema.validate(json.load(open(sys.argv[1])), res.load_schema('report.schema.json'))",
            str(report),
        ],
        cwd,
    )
    expect(r.returncode == 0, "the json report is valid for the installed report schema", r)
    junit = work / "report.xml"
    r = run([hk, *common, "-f", "junit", "-o", str(junit)], cwd)
    expect(
        r.returncode == 1 and r.stdout == "" and r.stderr.startswith("FAILED: "),
        "check -f junit -o FILE: summary on stderr",
        r,
    )
    if shutil.which("xmllint"):
        r = run(["xmllint", "--noout", "--schema", str(JUNIT_XSD), str(junit)], cwd)
        expect(r.returncode == 0, "the junit report is valid for junit-10.xsd", r)
    else:
        raise SmokeFailure("xmllint is missing (make system-deps installs libxml2-utils)")
    # the live host: a report whatever the host is (0 or 1), never a traceback
    r = run([hk, "check", "-f", "json"], cwd)
    expect(r.returncode in (0, 1) and "Traceback" not in r.stderr, "check -f json on this host", r)
    json.loads(r.stdout)
    bad = cwd / "bad-profile.yaml"
    bad.write_text("name: x\nsysctl: [\n")
    r = run([hk, "check", "--profile", str(bad)], cwd)
    one_error_line(r, 2, "check --profile with a YAML syntax error")
    print("ok: check (table, json, junit -o, --list, a bad profile)")
    smoke_site_files(hk, cwd)

    bundle = work / "tiny.bundle.tar"
    tiny_bundle(bundle)
    r = run([hk, "bundle", "verify", str(bundle)], cwd)
    expect(r.returncode == 0 and ": OK (" in r.stdout, "bundle verify of a good bundle", r)
    r = run([hk, "bundle", "inspect", str(bundle)], cwd)
    expect(r.returncode == 0 and IMAGE in r.stdout, "bundle inspect (table)", r)
    r = run([hk, "bundle", "inspect", "-f", "json", str(bundle)], cwd)
    expect(
        r.returncode == 0 and json.loads(r.stdout)["metadata"]["images"][0]["reference"] == IMAGE,
        "bundle inspect -f json",
        r,
    )
    data = bytearray(bundle.read_bytes())
    data[data.index(b'"source": "smoke"') + 11] ^= 0x20  # harbor-bundle.json, now "Smoke"
    altered = work / "altered.bundle.tar"
    altered.write_bytes(bytes(data))
    r = run([hk, "bundle", "verify", str(altered)], cwd)
    one_error_line(r, 4, "bundle verify of an altered bundle")
    nodaemon = {"DOCKER_HOST": f"unix://{work}/no-such-docker.sock"}
    r = run([hk, "bundle", "load", str(bundle)], cwd, nodaemon)
    one_error_line(r, 3, "bundle load with no Docker daemon")
    # build reads the built-in manifest (installed data) before it needs the daemon
    r = run([hk, "bundle", "build", "--no-pull", "-q", "-o", str(work / "b.tar")], cwd, nodaemon)
    one_error_line(r, 3, "bundle build with no Docker daemon")
    expect(not (work / "b.tar").exists(), "a failed build leaves no file")
    badm = cwd / "bad-manifest.yaml"
    badm.write_text("harbor_version: v1.8.0\nimages: nope\n")
    r = run([hk, "bundle", "build", "-m", str(badm), "-o", str(work / "b.tar")], cwd, nodaemon)
    one_error_line(r, 2, "bundle build with a manifest that fails its schema")
    expect(str(badm) + ":" in r.stderr, "the manifest error names file:line", r)
    r = run(
        [
            hk,
            "bundle",
            "push",
            str(bundle),
            "--registry",
            f"127.0.0.1:{closed_port()}",
            "--insecure",
            "-q",
        ],
        cwd,
    )
    expect(
        r.returncode not in (0, 1)
        and r.stderr.startswith("harborkit: error: ")
        and "Traceback" not in r.stderr,
        "bundle push to a closed port: one error line",
        r,
    )
    print("ok: bundle verify, inspect, load, build, push")


def smoke_site_files(hk: str, cwd: Path) -> None:
    """A pipx user's profile and manifest: printed, made and checked with no checkout."""
    r = run([hk, "profile", "show"], cwd)
    expect(r.returncode == 0 and r.stdout == (REPO / "checks/harbor-v1.8.0.yaml").read_text(),
           "profile show prints the packaged profile", r)  # fmt: skip
    site = cwd / "site.yaml"
    r = run([hk, "profile", "init", "--node", "server58=192.168.3.58", "--node",
             "server59=192.168.3.59", "--ntp-master", "server58", "--harbor",
             "192.168.3.60:8888", "-o", str(site)], cwd)  # fmt: skip
    expect(r.returncode == 0 and site.is_file(), "profile init -o site.yaml", r)
    r = run([hk, "profile", "check", str(site)], cwd)
    expect(r.returncode == 0 and "valid profile site (2 nodes)" in r.stdout, "profile check", r)
    r = run([hk, "check", "--profile", str(site), "--root", str(SYSROOT), "-f", "json"], cwd)
    expect(r.returncode in (0, 1) and '"name": "site"' in r.stdout, "check --profile site", r)
    r = run([hk, "bundle", "manifest", "show"], cwd)
    expect(r.returncode == 0 and r.stdout == (REPO / "bundles/harbor-v1.8.0.yaml").read_text(),
           "bundle manifest show prints the packaged manifest", r)  # fmt: skip
    print("ok: profile show, init, check; check --profile site.yaml; bundle manifest show")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="harborkit-smoke-") as tmp:
        work = Path(tmp)
        try:
            venv = build_and_install(os.path.abspath(args.python), work)  # runs in another cwd
            print(f"ok: built the sdist and wheel, installed into {venv}")
            smoke(venv, work)
        except SmokeFailure as e:
            print(f"wheel smoke FAILED: {e}", file=sys.stderr)
            return 1
    print("wheel smoke: every command works from the installed wheel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
