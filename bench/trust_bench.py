"""Benchmark the costs of signing and splitting (issue 11) against a plain bundle.

Same realistic image set as :mod:`bench.bundle_bench` (15 images, ~1.5 GB
uncompressed, cached layer tars). In one run, on one private build daemon:

* ``bundle build`` plain vs ``bundle build --sign KEY --split-size 200M``
  (rounds interleaved, best of each; target: within 2 %);
* ``bundle verify`` of the signed bundle without and with ``--key``
  (target: within 2 %), and ``verify`` reading the parts.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bundle_bench import (  # noqa: E402
    DOCKER,
    WORK,
    _drop_write_cache,
    _log,
    _timed,
    ensure_layers,
    load_into,
)
from tests.support.dockerd import start_dockerd  # noqa: E402

ROUNDS = 3
VERIFY_ROUNDS = 5
SPLIT = "200M"


def run_trust_bench() -> dict[str, float]:
    """Run the comparison; returns the figures."""
    layers = ensure_layers()
    refs = list(layers)
    hk = [sys.executable, "-m", "harborkit", "bundle"]
    r: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hkt-", dir=str(WORK)) as tmp_s:
        tmp = Path(tmp_s)
        installer = tmp / "harbor-online-installer-v1.8.0.tgz"
        subprocess.run(["tar", "-czf", str(installer), "-C", str(REPO), "README.md"], check=True)
        key = tmp / "bench.key"
        subprocess.run([*hk, "keygen", "-o", str(key), "--no-password"], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        base = [*hk, "build", "--quiet", "--no-pull", "--no-tools", "--installer", str(installer)]
        plain, split_dir = tmp / "plain.tar", tmp / "split"
        split_dir.mkdir()
        with start_dockerd(WORK) as build:
            _log(f"loading {len(refs)} images into the build daemon ({build.storage_driver})")
            load_into(build, layers)
            subprocess.run([DOCKER, "-H", build.url, "save", "-o", str(tmp / "warm.tar"), *refs],
                           check=True)  # fmt: skip
            (tmp / "warm.tar").unlink()
            plains, signed = [], []

            def build_plain() -> None:
                _drop_write_cache()
                plain.unlink(missing_ok=True)
                plains.append(_timed([*base, "-o", str(plain)], env=build.env(), cwd=REPO)[0])

            def build_signed() -> None:
                _drop_write_cache()
                for p in split_dir.iterdir():
                    p.unlink()
                argv = [*base, "--sign", str(key), "--split-size", SPLIT]
                signed.append(
                    _timed([*argv, "-o", str(split_dir / "hb.tar")], env=build.env(), cwd=REPO)[0]
                )

            for n in range(ROUNDS):  # the order alternates: neither side always goes first
                _log(f"bundle build plain / --sign --split-size {SPLIT} (round {n + 1})")
                for fn in (
                    (build_plain, build_signed) if n % 2 == 0 else (build_signed, build_plain)
                ):
                    fn()
            _log("bundle build --sign (one file, for verify)")
            signed_one = tmp / "signed.tar"
            _timed([*base, "--sign", str(key), "-o", str(signed_one)], env=build.env(), cwd=REPO)
        r.update(
            build_plain_s=min(plains),
            build_signed_split_s=min(signed),
            build_ratio=min(signed) / min(plains),
            parts=float(len(list(split_dir.glob("hb.tar.part-*")))),
            bundle_bytes=float(plain.stat().st_size),
        )
        without, with_key, parts = [], [], []
        pub = str(key) + ".pub"
        for n in range(VERIFY_ROUNDS):
            _log(f"bundle verify without / with --key / parts (round {n + 1})")
            plain_v = [*hk, "verify", "--quiet", str(signed_one)]
            key_v = [*hk, "verify", "--quiet", "--key", pub, str(signed_one)]
            for argv, out in ((plain_v, without), (key_v, with_key))[:: 1 if n % 2 else -1]:
                out.append(_timed(argv, cwd=REPO)[0])
            parts.append(
                _timed(
                    [*hk, "verify", "--quiet", "--key", pub, str(split_dir / "hb.tar.part-000")],
                    cwd=REPO,
                )[0]
            )
        r.update(
            verify_s=min(without),
            verify_key_s=min(with_key),
            verify_ratio=min(with_key) / min(without),
            verify_parts_s=min(parts),
            verify_parts_ratio=min(parts) / min(without),
        )
    return r


def report(r: dict[str, float]) -> str:
    """Human summary with the targets."""

    def ok(cond: bool) -> str:
        return "ok " if cond else "MISS"

    return "\n".join(
        [
            f"harborkit bundle sign/split benchmark (15 images, {r['bundle_bytes'] / 1e9:.2f} GB bundle;"
            f" best of {ROUNDS} builds, {VERIFY_ROUNDS} verifies)",
            f"  [{ok(r['build_ratio'] <= 1.02)}] build --sign --split-size {SPLIT} ({r['parts']:.0f} parts)"
            f" {r['build_signed_split_s']:.2f}s / plain build {r['build_plain_s']:.2f}s"
            f" = {r['build_ratio']:.3f}x (target <= 1.02x)",
            f"  [{ok(r['verify_ratio'] <= 1.02)}] verify --key {r['verify_key_s']:.2f}s / verify"
            f" {r['verify_s']:.2f}s = {r['verify_ratio']:.3f}x (target <= 1.02x)",
            f"        verify --key of the parts {r['verify_parts_s']:.2f}s"
            f" = {r['verify_parts_ratio']:.3f}x of verify of the one file",
        ]
    )


if __name__ == "__main__":
    print(report(run_trust_bench()))
