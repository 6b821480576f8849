"""Registry benchmark (issue 4): harborkit against skopeo, same images, same loopback registry.

* build: ``harborkit bundle build --from registry://A`` (cold cache) against
  ``skopeo copy docker://A/<image> oci:DIR:<image>`` of every image into one OCI
  layout (a shared blob is copied once there too);
* push: ``harborkit bundle push`` into an empty registry B against
  ``skopeo copy oci:DIR:<image> docker://C/<image>`` into an empty registry C.

Images: 15 Harbor-named images, each a shared base layer plus its own layer,
made from the uncompressed layer tars the bundle benchmark leaves under
``.work/bench/layers`` (random data otherwise), gzip-compressed and pushed to A
before timing. Peak RSS is taken per process with ``wait4``. Run directly
(``python bench/registry_bench.py [--images N]``) or from ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".work" / "bench" / "registry"
LAYERS = REPO / ".work" / "bench" / "layers"
RSS_LIMIT_MB = 200


@dataclass(frozen=True)
class Timed:
    """One measured process."""

    seconds: float
    peak_rss_mb: float


@dataclass(frozen=True)
class RegistryBench:
    """The figures of one run."""

    images: int
    blobs_mb: float
    build: Timed
    skopeo_pull: Timed
    push: Timed
    skopeo_push: Timed
    rounds: int = 1

    @property
    def build_ratio(self) -> float:
        """harborkit build time over skopeo copy-to-OCI time."""
        return self.build.seconds / self.skopeo_pull.seconds

    @property
    def push_ratio(self) -> float:
        """harborkit push time over skopeo copy-to-registry time."""
        return self.push.seconds / self.skopeo_push.seconds


def _log(msg: str) -> None:
    print(f"[registry-bench] {msg}", file=sys.stderr, flush=True)


#: runs ``argv`` from a fresh, small interpreter and prints ``seconds maxrss_kb``: the
#: child is forked from that small process, so its peak RSS is its own (a child forked
#: from the bench itself would report the bench's pages as its peak).
_WRAPPER = """
import os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
rc = os.waitstatus_to_exitcode(status)
print(f"{time.perf_counter() - t0} {usage.ru_maxrss}", flush=True)
sys.exit(rc)
"""


def _run(argv: list[str], env: dict[str, str] | None = None) -> Timed:
    """Run ``argv``; its wall time and its own peak RSS (``wait4`` in a small wrapper)."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv],
        capture_output=True,
        env=env or dict(os.environ),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:4])} failed: {proc.stderr.decode(errors='replace')[-800:]}"
        )
    seconds, rss_kb = proc.stdout.split()[-2:]
    return Timed(float(seconds), int(rss_kb) / 1024)


def _layer_sources(n: int) -> tuple[bytes, list[bytes]]:
    """Uncompressed base layer and ``n`` image layers (bundle-bench tars, or random data)."""
    base = LAYERS / "base.tar"
    if base.is_file() and all((LAYERS / f"image{i:02d}.tar").is_file() for i in range(n)):
        return base.read_bytes(), [(LAYERS / f"image{i:02d}.tar").read_bytes() for i in range(n)]
    _log("no bundle-bench layers found; making half-compressible random layers")
    rng = random.Random(7)

    def tar_of(size: int, seed: int) -> bytes:
        data = rng.randbytes(size // 2) + bytes(size // 2)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            ti = tarfile.TarInfo(f"data/{seed}.bin")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        return buf.getvalue()

    return tar_of(120 << 20, 0), [tar_of(40 << 20, i + 1) for i in range(n)]


def _prepare_images(n: int) -> list[tuple[str, bytes, dict[str, bytes]]]:
    """(reference, manifest bytes, blobs) for ``n`` Harbor-named images."""
    from isal import igzip

    from tests.support.images import HARBOR_V180_IMAGES

    base_raw, tops = _layer_sources(n)
    base_gz = igzip.compress(base_raw, 1)
    out = []
    for ref, top_raw in zip(HARBOR_V180_IMAGES[:n], tops):
        top_gz = igzip.compress(top_raw, 1)
        layers = [(base_raw, base_gz), (top_raw, top_gz)]
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/bin/sh"]},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": ["sha256:" + hashlib.sha256(r).hexdigest() for r, _ in layers],
                },
            }
        ).encode()
        blobs = {"sha256:" + hashlib.sha256(config).hexdigest(): config}
        entries = []
        for _, gz in layers:
            d = "sha256:" + hashlib.sha256(gz).hexdigest()
            blobs[d] = gz
            entries.append(
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(gz),
                    "digest": d,
                }
            )
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": len(config),
                    "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                },
                "layers": entries,
            },
            indent=3,
        ).encode()
        out.append((ref, manifest, blobs))
    return out


def _seed_registry(host: str, images: list[tuple[str, bytes, dict[str, bytes]]]) -> None:
    from harborkit.registry.client import Manifest, RegistryClient

    with RegistryClient(host, insecure=True) as c:
        for ref, manifest, blobs in images:
            repo, tag = ref.rsplit(":", 1)
            for d, data in blobs.items():
                c.push_blob(
                    repo, d, len(data), lambda data=data: contextlib.nullcontext(io.BytesIO(data))
                )
            digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
            c.put_manifest(
                repo,
                tag,
                Manifest(digest, "application/vnd.docker.distribution.manifest.v2+json", manifest),
            )


def _drop_caches() -> None:
    """Write back dirty pages so that one run's writes do not slow the next one."""
    os.sync()


def run_registry_bench(n_images: int = 15, rounds: int = 3) -> RegistryBench:
    """Prepare, run every measurement ``rounds`` times, return the best figures."""
    import yaml

    from tests.support.registry import start_registry

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    _log(f"making {n_images} images")
    images = _prepare_images(n_images)
    unique = {d: len(b) for _, _, blobs in images for d, b in blobs.items()}
    installer = WORK / "harbor-online-installer-v1.8.0.tgz"
    with tarfile.open(installer, "w:gz") as tf:
        script = b"#!/bin/sh\necho install\n"
        ti = tarfile.TarInfo("harbor/install.sh")
        ti.size, ti.mode = len(script), 0o755
        tf.addfile(ti, io.BytesIO(script))
    spec = WORK / "manifest.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "harbor_version": "v1.8.0",
                "images": [ref for ref, _, _ in images],
                "installer": {
                    "name": installer.name,
                    "url": f"https://example.invalid/{installer.name}",
                },
            }
        )
    )
    hk = [sys.executable, "-m", "harborkit"]
    env = {**os.environ, "HOME": str(WORK)}  # skopeo keeps no state from the user's home
    refs = [ref for ref, _, _ in images]
    rounds_: list[tuple[Timed, Timed, Timed, Timed]] = []
    with start_registry("plain", WORK) as a:
        _log(f"pushing {len(unique)} blobs ({sum(unique.values()) / 1e6:.0f} MB) to registry A")
        _seed_registry(a.host, images)
        del images  # keep the bench's own memory out of the way
        for n in range(rounds):
            rnd = WORK / f"round{n}"
            rnd.mkdir()
            with start_registry("plain", rnd) as b, start_registry("plain", rnd) as c:
                _drop_caches()
                _log(f"round {n + 1}/{rounds}: skopeo copy docker://A -> oci:DIR")
                oci = rnd / "oci"
                skopeo_pull = _run_all(
                    [
                        ["skopeo", "copy", "-q", "--src-tls-verify=false",
                         f"docker://{a.host}/{ref}", f"oci:{oci}:{ref.split('/')[-1]}"]
                        for ref in refs
                    ],
                    env,
                )  # fmt: skip

                _drop_caches()
                _log(f"round {n + 1}/{rounds}: harborkit bundle build --from registry://A")
                bundle = rnd / "bundle.tar"
                build = _run(
                    [*hk, "bundle", "build", "-q", "--from", f"registry://{a.host}", "--insecure",
                     "-m", str(spec), "--installer", str(installer), "--cache", str(rnd / "cache"),
                     "-o", str(bundle)],
                    env,
                )  # fmt: skip

                _drop_caches()
                _log(f"round {n + 1}/{rounds}: skopeo copy oci:DIR -> docker://C")
                skopeo_push = _run_all(
                    [
                        ["skopeo", "copy", "-q", "--dest-tls-verify=false",
                         f"oci:{oci}:{ref.split('/')[-1]}", f"docker://{c.host}/{ref}"]
                        for ref in refs
                    ],
                    env,
                )  # fmt: skip

                _drop_caches()
                _log(f"round {n + 1}/{rounds}: harborkit bundle push -> B")
                push = _run(
                    [*hk, "bundle", "push", "-q", str(bundle), "--registry", b.host, "--insecure"],
                    env,
                )
            rounds_.append((build, skopeo_pull, push, skopeo_push))
            shutil.rmtree(rnd, ignore_errors=True)
    shutil.rmtree(WORK, ignore_errors=True)

    def best(i: int) -> Timed:  # fastest round; the highest peak RSS of all rounds
        runs = [r[i] for r in rounds_]
        return Timed(min(t.seconds for t in runs), max(t.peak_rss_mb for t in runs))

    return RegistryBench(
        n_images, sum(unique.values()) / 1e6, best(0), best(1), best(2), best(3), rounds
    )


def _run_all(argvs: list[list[str]], env: dict[str, str]) -> Timed:
    """Run the commands one after the other: total time, highest peak RSS."""
    t0 = time.perf_counter()
    rss = max(_run(argv, env).peak_rss_mb for argv in argvs)
    return Timed(time.perf_counter() - t0, rss)


def report(r: RegistryBench) -> str:
    """Printable summary with pass/fail marks against the issue's targets."""

    def mark(ok: bool) -> str:
        return "[ok ]" if ok else "[BAD]"

    peak = max(r.build.peak_rss_mb, r.push.peak_rss_mb)
    return "\n".join(
        [
            f"harborkit registry benchmark ({r.images} images, {r.blobs_mb:.0f} MB of distinct "
            f"blobs, loopback docker-registry, best of {r.rounds} rounds)",
            f"  {mark(r.build_ratio <= 1.0)} build {r.build.seconds:.2f}s / skopeo copy to OCI "
            f"{r.skopeo_pull.seconds:.2f}s = {r.build_ratio:.2f}x (target <= 1.0x)",
            f"  {mark(r.push_ratio <= 1.0)} push {r.push.seconds:.2f}s / skopeo copy to registry "
            f"{r.skopeo_push.seconds:.2f}s = {r.push_ratio:.2f}x (target <= 1.0x)",
            f"  {mark(peak < RSS_LIMIT_MB)} peak RSS harborkit {peak:.0f} MB (build "
            f"{r.build.peak_rss_mb:.0f}, push {r.push.peak_rss_mb:.0f}; skopeo "
            f"{max(r.skopeo_pull.peak_rss_mb, r.skopeo_push.peak_rss_mb):.0f}; target < "
            f"{RSS_LIMIT_MB} MB)",
        ]
    )


def main(argv: list[str]) -> int:
    """Command line entry."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=15, help="number of images (1-15)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the fastest counts")
    args = p.parse_args(argv)
    r = run_registry_bench(max(1, min(15, args.images)), max(1, args.rounds))
    print(report(r))
    ok = r.build_ratio <= 1.0 and r.push_ratio <= 1.0
    ok = ok and max(r.build.peak_rss_mb, r.push.peak_rss_mb) < RSS_LIMIT_MB
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
