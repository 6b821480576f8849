"""Bundles built straight from a registry and pushed into another (real registries, loopback)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.bundle.from_registry import (
    SOURCE_MANIFESTS,
    build_from_registry,
    validate_source_manifests,
)
from harborkit.bundle.manifest import manifest_from_dict
from harborkit.bundle.push import push_bundle
from harborkit.errors import ExitCode
from harborkit.registry.client import DOCKER_LIST, Manifest
from harborkit.registry.endpoint import Endpoint
from harborkit.registry.errors import RegistryError
from tests.registry.conftest import INSTALLER, REPO, client_for, push_image
from tests.registry.conftest import write_installer as _installer
from tests.registry.conftest import write_manifest as _manifest_yaml
from tests.support.dockerd import SpareDaemons
from tests.support.registry import (
    PASSWORD,
    USER,
    Registry,
    TestImage,
    make_image,
    make_layer,
    skopeo_digest,
    start_registry,
)


def _spec(refs: list[str]):
    return manifest_from_dict(
        {
            "harbor_version": "v1.8.0",
            "images": refs,
            "installer": {"name": INSTALLER, "url": f"https://example.invalid/{INSTALLER}"},
        },
        Path("test"),
    )


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m harborkit ...`` as a process."""
    return subprocess.run(
        [sys.executable, "-m", "harborkit", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env or dict(os.environ),
        timeout=300,
    )


def _image_set(version: str, *, top_seed: int) -> list[TestImage]:
    """Three images sharing a base layer; one OCI; top layers change with ``top_seed``."""
    base = (
        make_layer({"etc/os-release": b"ID=hk\n" * 500, "bin/x": os.urandom(0) + b"x" * 70_000}),
    )
    return [
        make_image("goharbor/harbor-core", version, seed=top_seed + 1, base=base),
        make_image(
            "goharbor/harbor-db", version, seed=top_seed + 2, base=base, layer_sizes=(90_000,)
        ),
        make_image("goharbor/prepare", version, seed=top_seed + 3, base=base, oci=True),
    ]


def _push_set(reg: Registry, images: list[TestImage]) -> None:
    with client_for(reg) as c:
        for img in images:
            push_image(c, img)


@pytest.fixture(scope="module")
def source() -> Iterator[Registry]:
    with start_registry("plain") as reg:
        _push_set(reg, _image_set("v1.8.0", top_seed=100))
        yield reg


def test_build_verify_push_roundtrip(source: Registry, tmp_path: Path) -> None:
    refs = [f"goharbor/{n}:v1.8.0" for n in ("harbor-core", "harbor-db", "prepare")]
    out = tmp_path / "bundle.tar"
    r = run_cli(
        "bundle", "build", "--from", f"registry://{source.host}", "--insecure",
        "-m", str(_manifest_yaml(tmp_path, refs)), "--installer", str(_installer(tmp_path)),
        "--cache", str(tmp_path / "cache"), "-o", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "3 images" in r.stdout and "fetched" in r.stdout
    assert run_cli("bundle", "verify", str(out)).returncode == 0

    # the plain-tools path: tar + sha256sum -c
    x = tmp_path / "x"
    x.mkdir()
    subprocess.run(["tar", "-xf", str(out), "-C", str(x)], check=True)
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=x, check=True)
    src_doc = json.loads((x / SOURCE_MANIFESTS).read_text())
    meta = json.loads((x / "harbor-bundle.json").read_text())
    load = json.loads((x / "images/manifest.json").read_text())
    assert [e["RepoTags"] for e in load] == [[ref] for ref in refs]
    for e in load:  # every file docker load needs is there
        for rel in (e["Config"], *e["Layers"]):
            assert (x / "images" / rel).is_file()
    shared = [d for d, n in _layer_use(meta).items() if n == 3]
    assert len(shared) == 1  # the base layer is stored once, used by all three
    validate_source_manifests(src_doc, "test")  # the shape written is the schema's
    for entry in src_doc["images"]:
        digest = entry["manifest"]["digest"]
        raw = (x / "images/blobs/sha256" / digest.split(":")[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
        assert skopeo_digest(source, f"{entry['repository']}:v1.8.0") == digest

    # push into a token-auth registry, credentials from the docker config file
    with start_registry("token") as target:
        cfg = tmp_path / "dockercfg"
        cfg.mkdir()
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        (cfg / "config.json").write_text(json.dumps({"auths": {target.host: {"auth": auth}}}))
        env = {**os.environ, "DOCKER_CONFIG": str(cfg)}
        r = run_cli("bundle", "push", str(out), "--registry", target.host, "--insecure", env=env)
        assert r.returncode == 0, r.stderr
        assert "0 already there" in r.stdout and "mounted" in r.stdout
        for entry in src_doc["images"]:
            name = f"{entry['repository']}:v1.8.0"
            assert skopeo_digest(target, name) == skopeo_digest(source, name)
        again = run_cli(
            "bundle", "push", str(out), "--registry", target.host, "--insecure", env=env
        )
        assert again.returncode == 0 and " 0 blobs uploaded" in again.stdout, again.stdout
        # into a Harbor-style project
        r = run_cli(
            "bundle", "push", str(out), "--registry", target.host, "--insecure",
            "--project", "library", "-q", env=env,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert skopeo_digest(target, "library/harbor-db:v1.8.0") == skopeo_digest(
            source, "goharbor/harbor-db:v1.8.0"
        )


def _layer_use(meta: dict) -> dict[str, int]:  # type: ignore[type-arg]
    use: dict[str, int] = {}
    for img in meta["images"]:
        for d in set(img["layers"]):
            use[d] = use.get(d, 0) + 1
    return use


def test_incremental_build_fetches_only_changed_blobs(source: Registry, tmp_path: Path) -> None:
    refs18 = [f"goharbor/{n}:v1.8.0" for n in ("harbor-core", "harbor-db", "prepare")]
    new = _image_set("v1.8.1", top_seed=200)
    _push_set(source, new)
    cache = tmp_path / "cache"
    inst = str(_installer(tmp_path))
    ep = Endpoint(source.host, insecure=True)
    first = build_from_registry(
        _spec(refs18), tmp_path / "a.tar", source=ep, cache_dir=cache, installer=inst
    )
    assert first.stats.cached == 0 and first.stats.fetched == first.stats.blobs
    again = build_from_registry(
        _spec(refs18), tmp_path / "b.tar", source=ep, cache_dir=cache, installer=inst
    )
    assert again.stats.fetched == 0 and again.stats.cached == again.stats.blobs
    refs181 = [r.replace("v1.8.0", "v1.8.1") for r in refs18]
    nxt = build_from_registry(
        _spec(refs181), tmp_path / "c.tar", source=ep, cache_dir=cache, installer=inst
    )
    changed = {d for img in new for d in img.blobs} - {
        d for img in _image_set("v1.8.0", top_seed=100) for d in img.blobs
    }
    assert nxt.stats.fetched == len(changed)  # new configs and top layers only
    assert nxt.stats.cached == nxt.stats.blobs - len(changed) > 0


def test_manifest_list_source_keeps_index_and_platform_manifest(tmp_path: Path) -> None:
    with start_registry("tls") as reg:
        amd = make_image("goharbor/harbor-log", "v1.8.0", seed=300)
        with client_for(reg) as c:
            push_image(c, amd)
            index = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": DOCKER_LIST,
                    "manifests": [
                        {
                            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                            "size": len(amd.manifest),
                            "digest": amd.digest,
                            "platform": {"architecture": "amd64", "os": "linux"},
                        }
                    ],
                }
            ).encode()
            idx = Manifest("sha256:" + hashlib.sha256(index).hexdigest(), DOCKER_LIST, index)
            c.put_manifest("goharbor/harbor-log", "v1.8.0", idx)
        ep = Endpoint(reg.host, ca_file=reg.ca_file)
        res = build_from_registry(
            _spec(["goharbor/harbor-log:v1.8.0"]), tmp_path / "b.tar", source=ep,
            cache_dir=tmp_path / "c", installer=str(_installer(tmp_path)),
        )  # fmt: skip
    (img,) = res.images
    assert img.manifest_digest == amd.digest and img.index_digest == idx.digest


def test_wrong_credentials_and_unknown_image_exit_10(tmp_path: Path) -> None:
    with start_registry("htpasswd") as reg:
        m = _manifest_yaml(tmp_path, ["goharbor/nothing:v1.8.0"])
        common = [
            "bundle", "build", "--from", f"registry://{reg.host}", "--insecure", "-m", str(m),
            "--installer", str(_installer(tmp_path)), "--cache", str(tmp_path / "c"),
            "-o", str(tmp_path / "out.tar"),
        ]  # fmt: skip
        bad = run_cli(*common, "--username", USER, "--password", "nope")
        assert bad.returncode == ExitCode.REGISTRY
        assert "rejected the credentials" in bad.stderr and "nope" not in bad.stderr
        unknown = run_cli(*common, "--username", USER, "--password", PASSWORD)
        assert unknown.returncode == ExitCode.REGISTRY
        assert "goharbor/nothing:v1.8.0" in unknown.stderr and "not found" in unknown.stderr
        assert len(unknown.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.tar").exists()


class _KillingProgress:
    """A Progress whose blob-fetch bar SIGKILLs the registry once ``after`` bytes arrived."""

    def __init__(self, reg: Registry, after: int) -> None:
        self.reg, self.after, self.seen, self.killed = reg, after, 0, False

    def task(self, description: str, total: int | None = None):
        outer = self

        class T:
            def advance(self, n: int) -> None:
                if description == "fetch blobs":
                    outer.seen += n
                    if outer.seen >= outer.after and not outer.killed:
                        outer.killed = True
                        outer.reg.kill()

            def set_total(self, total: int | None) -> None:
                pass

            def done(self) -> None:
                pass

        return T()


def test_registry_dies_mid_build_then_resume(tmp_path: Path) -> None:
    with start_registry("plain") as reg:
        images = [
            make_image("goharbor/harbor-core", "v1.8.0", seed=400, layer_sizes=(6 << 20, 6 << 20)),
            make_image(
                "goharbor/harbor-portal", "v1.8.0", seed=401, layer_sizes=(6 << 20, 5 << 20)
            ),
        ]
        _push_set(reg, images)
        total = sum(len(b) for i in images for b in i.blobs.values())
        refs = ["goharbor/harbor-core:v1.8.0", "goharbor/harbor-portal:v1.8.0"]
        ep = Endpoint(reg.host, insecure=True)
        out = tmp_path / "out.tar"
        cache = tmp_path / "cache"
        inst = str(_installer(tmp_path))
        kp = _KillingProgress(reg, total // 2)
        with pytest.raises(RegistryError) as ei:
            build_from_registry(
                _spec(refs), out, source=ep, cache_dir=cache, installer=inst, progress=kp, workers=2
            )
        assert kp.killed and reg.host in ei.value.message
        assert ei.value.exit_code == ExitCode.REGISTRY
        assert not out.exists() and [p.name for p in tmp_path.iterdir() if "out" in p.name] == []
        left = list((cache / "sha256").iterdir())
        assert left, "the blobs fetched before the failure stay in the cache"
        reg.start()
        res = build_from_registry(_spec(refs), out, source=ep, cache_dir=cache, installer=inst)
        assert res.stats.cached + res.stats.resumed > 0
        assert res.stats.bytes_fetched < total
        assert out.is_file()
    assert run_cli("bundle", "verify", str(out)).returncode == 0


def test_push_refuses_a_corrupt_bundle(source: Registry, tmp_path: Path) -> None:
    refs = ["goharbor/harbor-db:v1.8.0"]
    out = tmp_path / "b.tar"
    build_from_registry(
        _spec(refs), out, source=Endpoint(source.host, insecure=True),
        cache_dir=tmp_path / "c", installer=str(_installer(tmp_path)),
    )  # fmt: skip
    data = bytearray(out.read_bytes())
    data[len(data) // 3] ^= 0x01
    out.write_bytes(bytes(data))
    with start_registry("plain") as target:
        r = run_cli("bundle", "push", str(out), "--registry", target.host, "--insecure")
        assert r.returncode == ExitCode.BUNDLE_CORRUPT, r.stderr
        with client_for(target) as c, pytest.raises(RegistryError):
            c.get_manifest("goharbor/harbor-db", "v1.8.0")


def test_push_then_docker_pull(
    source: Registry, tmp_path: Path, spare_daemons: SpareDaemons
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for dockerd")

    refs = ["goharbor/harbor-core:v1.8.0", "goharbor/prepare:v1.8.0"]
    out = tmp_path / "b.tar"
    build_from_registry(
        _spec(refs), out, source=Endpoint(source.host, insecure=True),
        cache_dir=tmp_path / "c", installer=str(_installer(tmp_path)),
    )  # fmt: skip
    with start_registry("plain") as target, spare_daemons.fresh() as daemon:
        # the registry-built bundle loads with the daemon path's `bundle load`
        r = run_cli("bundle", "load", "-q", str(out), env=daemon.env())
        assert r.returncode == 0, r.stderr
        res = push_bundle(out, Endpoint(target.host, insecure=True))
        client = daemon.client()
        try:
            meta = {i.reference: i.image_id for i in res_meta(out)}
            for ref, image_id in meta.items():
                assert client.images.get(ref).id == image_id
            for img in res.images:
                repo, tag = img.target.rsplit(":", 1)
                pulled = client.images.pull(repo, tag=tag)
                assert f"{repo}@{img.digest}" in pulled.attrs["RepoDigests"]
                assert img.digest == skopeo_digest(source, img.reference)
        finally:
            client.close()


def res_meta(bundle: Path):
    """The image records of a verified bundle."""
    from harborkit.bundle.verify import verify_bundle

    return verify_bundle(bundle).metadata.images


@pytest.mark.parametrize("mode", ["htpasswd", "token"])
def test_daemon_built_bundle_pushes_and_pulls_with_docker_cli(
    mode: str, tmp_path: Path, spare_daemons: SpareDaemons
) -> None:
    """A bundle from the daemon path has no source manifests: push writes schema 2 ones."""
    if os.geteuid() != 0:
        pytest.skip("needs root for dockerd")
    from tests.support.images import HARBOR_V180_IMAGES, harbor_test_images, load_images

    names = list(HARBOR_V180_IMAGES[:3])
    images = harbor_test_images(names)
    out = tmp_path / "daemon.tar"
    with spare_daemons.fresh() as build:
        client = build.client()
        try:
            load_images(client, images)
        finally:
            client.close()
        r = run_cli(
            "bundle", "build", "--no-pull", "-q", "-m", str(_manifest_yaml(tmp_path, names)),
            "--installer", str(_installer(tmp_path)), "-o", str(out), env=build.env(),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    with start_registry(mode) as target, spare_daemons.fresh() as puller:
        r = run_cli(
            "bundle", "push", str(out), "--registry", target.host, "--insecure",
            "--username", USER, "--password", PASSWORD,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        env = {**puller.env(), "DOCKER_CONFIG": str(tmp_path / "docker-cli")}
        docker = ["docker", "-H", puller.url]

        def sh(*args: str, stdin: str | None = None) -> str:
            p = subprocess.run(
                [*docker, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
            )
            assert p.returncode == 0, p.stderr
            return p.stdout.strip()

        sh("login", target.host, "-u", USER, "--password-stdin", stdin=PASSWORD)
        for img in images:
            ref = f"{target.host}/{img.tags[0]}"
            sh("pull", "-q", ref)
            assert sh("image", "inspect", "--format", "{{.Id}}", ref) == img.id
            digest = sh("image", "inspect", "--format", "{{index .RepoDigests 0}}", ref)
            assert digest.split("@")[1] == skopeo_digest(target, img.tags[0])


def test_damaged_cache_entry_is_fetched_again_and_inspect_works(
    source: Registry, tmp_path: Path
) -> None:
    refs = ["goharbor/harbor-core:v1.8.0", "goharbor/harbor-db:v1.8.0"]
    cache = tmp_path / "cache"
    inst = str(_installer(tmp_path))
    ep = Endpoint(source.host, insecure=True)
    first = build_from_registry(
        _spec(refs), tmp_path / "a.tar", source=ep, cache_dir=cache, installer=inst
    )
    victim = next(p for p in (cache / "sha256").iterdir() if "." not in p.name)
    data = bytearray(victim.read_bytes())
    data[0] ^= 0xFF
    victim.write_bytes(bytes(data))
    again = build_from_registry(
        _spec(refs), tmp_path / "b.tar", source=ep, cache_dir=cache, installer=inst
    )
    assert again.stats.fetched == 1 and again.stats.cached == first.stats.blobs - 1
    # a kept diff id that is not a digest (or a wrong one) is recomputed, never trusted blindly
    sidecars = sorted((cache / "sha256").glob("*.diffid"))
    sidecars[0].write_text("sha256:../../x")
    sidecars[1].write_text("sha256:" + "0" * 64)
    third = build_from_registry(
        _spec(refs), tmp_path / "c.tar", source=ep, cache_dir=cache, installer=inst
    )
    assert third.stats.cached == first.stats.blobs
    r = run_cli("bundle", "inspect", "--format", "json", str(tmp_path / "b.tar"))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert sorted(i["reference"] for i in report["metadata"]["images"]) == sorted(refs)
    assert len(report["shared_layers"]) == 1  # the base layer
    assert run_cli("bundle", "inspect", str(tmp_path / "b.tar")).returncode == 0


class _FreezingProgress(_KillingProgress):
    """Once ``after`` bytes arrived: SIGSTOP the registry, then SIGINT this process."""

    def task(self, description: str, total: int | None = None):
        outer = self

        class T:
            def advance(self, n: int) -> None:
                if description != "fetch blobs":
                    return
                outer.seen += n
                if outer.seen >= outer.after and not outer.killed:
                    import signal
                    import threading

                    outer.killed = True
                    assert outer.reg.proc is not None
                    outer.reg.proc.send_signal(signal.SIGSTOP)
                    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()

            def set_total(self, total: int | None) -> None:
                pass

            def done(self) -> None:
                pass

        return T()


def test_interrupt_while_the_registry_stalls_is_prompt_and_resumable(tmp_path: Path) -> None:
    import signal
    import time

    with start_registry("plain") as reg:
        images = [
            make_image("goharbor/harbor-core", "v1.8.0", seed=500, layer_sizes=(12 << 20,)),
            make_image("goharbor/harbor-db", "v1.8.0", seed=501, layer_sizes=(12 << 20,)),
        ]
        _push_set(reg, images)
        total = sum(len(b) for i in images for b in i.blobs.values())
        refs = ["goharbor/harbor-core:v1.8.0", "goharbor/harbor-db:v1.8.0"]
        ep = Endpoint(reg.host, insecure=True)
        out, cache, inst = tmp_path / "out.tar", tmp_path / "cache", str(_installer(tmp_path))
        fp = _FreezingProgress(reg, total // 4)
        t0 = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                build_from_registry(
                    _spec(refs), out, source=ep, cache_dir=cache, installer=inst,
                    progress=fp, workers=2,
                )  # fmt: skip
            elapsed = time.monotonic() - t0
        finally:
            assert reg.proc is not None
            reg.proc.send_signal(signal.SIGCONT)
        assert fp.killed and elapsed < 10  # not the 60 s read timeout
        assert not out.exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]
        entries = list((cache / "sha256").iterdir())
        partial = [p.stat().st_size for p in entries if p.name.endswith(".partial")]
        complete = [p.stat().st_size for p in entries if "." not in p.name]  # no .diffid
        assert sum(partial) + sum(complete) >= total // 4  # what arrived before the freeze stays
        res = build_from_registry(_spec(refs), out, source=ep, cache_dir=cache, installer=inst)
        assert res.stats.resumed == sum(1 for n in partial if n > 0)
        assert res.stats.cached == len(complete)
        assert res.stats.bytes_fetched == total - sum(partial) - sum(complete)
    assert run_cli("bundle", "verify", str(out)).returncode == 0


def test_source_manifests_schema_rejects_bad_shapes() -> None:
    from harborkit.bundle.errors import BundleCorrupt

    good = {
        "version": 1,
        "registry": "h:1",
        "images": [
            {
                "reference": "a/b:1",
                "repository": "a/b",
                "manifest": {"digest": "sha256:" + "0" * 64, "media_type": "x"},
                "index": None,
            }
        ],
    }
    validate_source_manifests(good, "t")
    bad = json.loads(json.dumps(good))
    bad["images"][0]["manifest"]["digest"] = "md5:1"
    with pytest.raises(BundleCorrupt, match="images/0/manifest/digest"):
        validate_source_manifests(bad, "t")


@pytest.mark.parametrize("mode", ["tls", "token"])
def test_cli_build_with_ca_or_credentials_options(mode: str, tmp_path: Path) -> None:
    with start_registry(mode) as reg:
        img = make_image("goharbor/harbor-jobservice", "v1.8.0", seed=600)
        _push_set(reg, [img])
        args = [
            "bundle", "build", "--from", f"registry://{reg.host}",
            "-m", str(_manifest_yaml(tmp_path, ["goharbor/harbor-jobservice:v1.8.0"])),
            "--installer", str(_installer(tmp_path)), "--cache", str(tmp_path / "c"),
            "-o", str(tmp_path / "b.tar"), "-q",
        ]  # fmt: skip
        if mode == "tls":
            no_ca = run_cli(*args)
            assert no_ca.returncode == ExitCode.REGISTRY and "--ca" in no_ca.stderr
            r = run_cli(*args, "--ca", str(reg.ca_file))
        else:
            env = {**os.environ, "HARBORKIT_REGISTRY_PASSWORD": PASSWORD}
            r = run_cli(*args, "--insecure", "--username", USER, env=env)
        assert r.returncode == 0, r.stderr
    res = json.loads(
        run_cli("bundle", "inspect", "--format", "json", str(tmp_path / "b.tar")).stdout
    )
    assert res["metadata"]["images"][0]["image_id"] == img.config_digest


def test_zstd_layers_are_refused_before_anything_is_fetched(
    source: Registry, tmp_path: Path
) -> None:
    from harborkit.registry.errors import UnsupportedManifest

    img = make_image("goharbor/harbor-redis", "zstd", seed=700, oci=True)
    doc = json.loads(img.manifest)
    doc["layers"][-1]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"
    raw = json.dumps(doc).encode()
    with client_for(source) as c:
        push_image(c, img)
        c.put_manifest(
            img.repository,
            "zstd",
            Manifest("sha256:" + hashlib.sha256(raw).hexdigest(), doc["mediaType"], raw),
        )
    with pytest.raises(UnsupportedManifest, match="zstd"):
        build_from_registry(
            _spec(["goharbor/harbor-redis:zstd"]), tmp_path / "b.tar",
            source=Endpoint(source.host, insecure=True), cache_dir=tmp_path / "c",
            installer=str(_installer(tmp_path)),
        )  # fmt: skip
    assert not (tmp_path / "b.tar").exists() and not list((tmp_path / "c" / "sha256").iterdir())


def test_interrupted_push_to_a_stalled_registry_is_prompt_and_rerunnable(
    source: Registry, tmp_path: Path
) -> None:
    import signal
    import time

    big = make_image("goharbor/harbor-migrator", "v1.8.0", seed=800, layer_sizes=(24 << 20,))
    _push_set(source, [big])
    out = tmp_path / "b.tar"
    build_from_registry(
        _spec(["goharbor/harbor-migrator:v1.8.0"]), out, source=Endpoint(source.host, insecure=True),
        cache_dir=tmp_path / "c", installer=str(_installer(tmp_path)),
    )  # fmt: skip
    with start_registry("plain") as target:
        fp = _FreezingProgress(target, 4 << 20)
        fp_task = fp.task

        def task(description: str, total: int | None = None):
            return fp_task("fetch blobs" if description == "push" else "-", total)

        fp.task = task  # type: ignore[method-assign]
        t0 = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                push_bundle(out, Endpoint(target.host, insecure=True), progress=fp)
            elapsed = time.monotonic() - t0
        finally:
            assert target.proc is not None
            target.proc.send_signal(signal.SIGCONT)
        assert fp.killed and elapsed < 10
        res = push_bundle(out, Endpoint(target.host, insecure=True))
        assert (
            res.images[0].digest == big.digest == skopeo_digest(target, big.repository + ":v1.8.0")
        )
