"""Benchmark ``harborkit bundle`` against plain ``docker save`` / ``docker load`` / ``sha256sum -c``.

Images: 15 images tagged with the Harbor v1.8.0 names, ~1.5 GB uncompressed, made
of real files: a debootstrap'ed Debian bookworm root shared by all, a second
layer shared by eight, and one layer of host files (``/usr/lib``, ``/usr/share``)
per image. Layer tars are cached under ``.work/bench/`` so reruns are quick.

Measured in one run, on private daemons (one build host, fresh empty targets):
build vs ``docker save -o``, bundle size vs save size, verify vs ``sha256sum -c``
on the extracted tree, load vs ``docker load -i``, and peak RSS of harborkit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.dockerd import Daemon, start_dockerd  # noqa: E402
from tests.support.images import HARBOR_V180_IMAGES  # noqa: E402

WORK = REPO / ".work" / "bench"
ROOTFS = WORK / "rootfs"
LAYERS = WORK / "layers"
MIRROR = "http://deb.debian.org/debian"
UNIQUE_BYTES = 72 << 20
SHARED_BYTES = 120 << 20
DOCKER = shutil.which("docker") or "docker"
#: rounds of the cheap measurements; the best round counts (the machine may be shared)
ROUNDS = 2
#: verify and sha256sum -c take about a second: more rounds, less noise
VERIFY_ROUNDS = 5
LAST_CPU = [0.0]


@dataclass(frozen=True)
class LayerFile:
    """A cached layer tar and its diff id."""

    path: Path
    diff_id: str
    size: int


def _log(msg: str) -> None:
    print(f"[bundle-bench] {msg}", file=sys.stderr, flush=True)


def ensure_rootfs() -> Path:
    """Debootstrap a minimal bookworm root once (cached)."""
    if (ROOTFS / "etc" / "debian_version").exists():
        return ROOTFS
    tmp = WORK / "rootfs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    _log("debootstrap --variant=minbase bookworm (once)")
    subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(tmp), MIRROR], check=True)
    tmp.rename(ROOTFS)
    return ROOTFS


def _host_files() -> list[Path]:
    files: list[Path] = []
    for top in ("/usr/lib", "/usr/share"):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath, name)
                if p.is_file() and not p.is_symlink() and os.access(p, os.R_OK):
                    files.append(p)
    return files


def _write_layer(path: Path, add: list[tuple[Path, str]]) -> LayerFile:
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
        for src, arc in add:
            tf.add(src, arcname=arc, recursive=src.is_dir())
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    tmp.rename(path)
    return LayerFile(path, "sha256:" + h.hexdigest(), path.stat().st_size)


def ensure_layers() -> dict[str, list[LayerFile]]:
    """Layer tars per image (cached in .work/bench/layers with an index)."""
    index = LAYERS / "index.json"
    if index.exists():
        data = json.loads(index.read_text())
        return {ref: [LayerFile(Path(x[0]), x[1], x[2]) for x in v] for ref, v in data.items()}
    shutil.rmtree(LAYERS, ignore_errors=True)
    LAYERS.mkdir(parents=True)
    rootfs = ensure_rootfs()
    _log("writing the base layer (debootstrap root)")
    base = _write_layer(LAYERS / "base.tar", [(rootfs, ".")])
    files = _host_files()
    chunks: list[list[Path]] = []
    current: list[Path] = []
    size = 0
    budgets = [SHARED_BYTES] + [UNIQUE_BYTES] * len(HARBOR_V180_IMAGES)
    it = iter(files)
    for budget in budgets:
        current, size = [], 0
        for p in it:
            sz = p.stat().st_size
            if sz > 32 << 20:
                continue
            current.append(p)
            size += sz
            if size >= budget:
                break
        chunks.append(current)
    _log("writing the shared and per-image layers from host files")
    shared = _write_layer(LAYERS / "shared.tar", [(p, "opt/shared" + str(p)) for p in chunks[0]])
    out: dict[str, list[LayerFile]] = {}
    for i, ref in enumerate(HARBOR_V180_IMAGES):
        own = _write_layer(
            LAYERS / f"image{i:02d}.tar", [(p, "opt/app" + str(p)) for p in chunks[i + 1]]
        )
        out[ref] = [base, shared, own] if i % 2 == 0 else [base, own]
    index.write_text(
        json.dumps({r: [[str(x.path), x.diff_id, x.size] for x in v] for r, v in out.items()})
    )
    return out


def load_into(daemon: Daemon, layers: dict[str, list[LayerFile]]) -> None:
    """Stream a legacy docker-save archive of the images into ``docker load``."""
    proc = subprocess.Popen(
        [DOCKER, "-H", daemon.url, "load", "-q"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert proc.stdin is not None
    manifest = []
    configs: dict[str, bytes] = {}
    for n, (ref, lf) in enumerate(layers.items()):
        cfg = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": "2019-05-21T00:00:00Z",
                "config": {"Cmd": ["/bin/sh"], "Labels": {"n": str(n)}},
                "rootfs": {"type": "layers", "diff_ids": [x.diff_id for x in lf]},
                "history": [{"created_by": f"layer {i}"} for i in range(len(lf))],
            },
            sort_keys=True,
        ).encode()
        name = hashlib.sha256(cfg).hexdigest() + ".json"
        configs[name] = cfg
        manifest.append(
            {
                "Config": name,
                "RepoTags": [ref],
                "Layers": [x.diff_id[7:] + "/layer.tar" for x in lf],
            }
        )
    with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        done: set[str] = set()
        for lf in layers.values():
            for x in lf:
                if x.diff_id not in done:
                    done.add(x.diff_id)
                    tf.add(x.path, arcname=x.diff_id[7:] + "/layer.tar")
        import io

        for name, data in [*configs.items(), ("manifest.json", json.dumps(manifest).encode())]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("docker load of the benchmark images failed")


def _timed(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, int]:
    """Run ``argv``; (wall seconds, peak RSS bytes of that process, from wait4).

    The CPU seconds (user + system) of the process are added to ``CPU[argv[...]]``.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    return elapsed, usage.ru_maxrss * 1024


def _drop_write_cache() -> None:
    """Write dirty pages back (the inputs stay cached; only pending writes are flushed)."""
    os.sync()


def bench_verify(bundle: Path, tmp: Path, hk: list[str]) -> dict[str, float]:
    """``bundle verify`` against ``sha256sum -c`` of the extracted tree (issue 24 goal 3),
    rounds interleaved; also run alone: ``python bench/bundle_bench.py --verify BUNDLE``."""
    # byte-compiled as an installed wheel is (an editable checkout run with
    # PYTHONDONTWRITEBYTECODE=1 compiles every module at every start)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "harborkit")], check=False)
    tree = tmp / "tree"
    tree.mkdir()
    subprocess.run(["tar", "-xf", str(bundle), "-C", str(tree)], check=True)
    # rounds interleaved (verify, then sha256sum -c): a change of load hits both sides
    verifies, shas, cpu_verify, cpu_sha, rss_verify = [], [], [], [], 0
    for n in range(VERIFY_ROUNDS):
        _log(f"harborkit bundle verify, sha256sum -c SHA256SUMS (round {n + 1})")
        t, rss = _timed([*hk, "verify", "--quiet", str(bundle)], cwd=REPO)
        verifies.append(t)
        cpu_verify.append(LAST_CPU[0])
        rss_verify = max(rss_verify, rss)
        shas.append(_timed(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=tree)[0])
        cpu_sha.append(LAST_CPU[0])
    t_verify, t_sha = min(verifies), min(shas)
    # fixed cost of starting the CLI (interpreter, typer, imports), for context
    cli_start_s = min(_timed([*hk, "verify", "--help"], cwd=REPO)[0] for _ in range(3))
    python_start_s = min(_timed([sys.executable, "-c", "pass"])[0] for _ in range(3))
    sizes = [p.stat().st_size for p in tree.rglob("*") if p.is_file()]
    shutil.rmtree(tree)
    return dict(
        verify_s=t_verify,
        sha256sum_s=t_sha,
        verify_speedup=t_sha / t_verify,
        verify_mb_s=bundle.stat().st_size / t_verify / 1e6,
        cli_start_s=cli_start_s,
        python_start_s=python_start_s,
        verify_cpu_s=statistics.median(cpu_verify),
        sha256sum_cpu_s=statistics.median(cpu_sha),
        largest_member_share=max(sizes) / sum(sizes),
        rss_verify_mb=rss_verify / 1e6,
    )


def _daemon_cpu(pid: int) -> float:
    """CPU seconds (user + system) the daemon process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_bundle_bench(build_only: bool = False) -> dict[str, float]:
    """Run the whole comparison (``build_only``: save, build and size only); returns the
    figures (also printed)."""
    layers = ensure_layers()
    refs = list(layers)
    hk = [sys.executable, "-m", "harborkit", "bundle"]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hkb-", dir=str(WORK)) as tmp_s:
        tmp = Path(tmp_s)
        installer = tmp / "harbor-online-installer-v1.8.0.tgz"
        subprocess.run(["tar", "-czf", str(installer), "-C", str(REPO), "README.md"], check=True)
        with start_dockerd(WORK) as build:
            _log(f"loading {len(refs)} images into the build daemon ({build.storage_driver})")
            load_into(build, layers)
            save_tar, bundle = tmp / "save.tar", tmp / "harbor.bundle.tar"
            # warm-up: a first save pulls layer data into the page cache for both runs
            subprocess.run(
                [DOCKER, "-H", build.url, "save", "-o", str(save_tar), *refs], check=True
            )
            save_tar.unlink()
            _drop_write_cache()
            build_argv = [
                *hk,
                "build",
                "--quiet",
                "--no-pull",
                "--no-tools",
                "--installer",
                str(installer),
            ]
            saves, builds, rss_build, cpu_build = [], [], 0, 0.0
            cpu_save = dcpu_save = dcpu_build = 0.0
            for n in range(ROUNDS):
                _log(f"docker save -o (round {n + 1})")
                save_tar.unlink(missing_ok=True)
                d0 = _daemon_cpu(build.pid)
                saves.append(
                    _timed([DOCKER, "-H", build.url, "save", "-o", str(save_tar), *refs])[0]
                )
                cpu_save, dcpu_save = LAST_CPU[0], _daemon_cpu(build.pid) - d0
                _drop_write_cache()
                _log(f"harborkit bundle build (round {n + 1})")
                bundle.unlink(missing_ok=True)
                d0 = _daemon_cpu(build.pid)
                t, rss = _timed([*build_argv, "-o", str(bundle)], env=build.env(), cwd=REPO)
                dcpu_build = _daemon_cpu(build.pid) - d0
                builds.append(t)
                rss_build, cpu_build = max(rss_build, rss), LAST_CPU[0]
                _drop_write_cache()
        t_save, t_build = min(saves), min(builds)
        results.update(
            save_s=t_save,
            build_s=t_build,
            build_cpu_s=cpu_build,
            save_cpu_s=cpu_save,
            dockerd_cpu_build_s=dcpu_build,
            dockerd_cpu_save_s=dcpu_save,
            build_ratio=t_build / t_save,
            save_bytes=save_tar.stat().st_size,
            bundle_bytes=bundle.stat().st_size,
        )
        results["size_ratio"] = results["bundle_bytes"] / results["save_bytes"]
        results["rss_build_mb"] = rss_build / 1e6
        if build_only:
            return results

        results.update(bench_verify(bundle, tmp, hk))

        # load: each run into a fresh, empty daemon; dirty pages of the previous run are
        # written back first so that neither side pays for the other's extraction
        loads, dloads, rss_load = [], [], 0
        for n in range(ROUNDS):
            _drop_write_cache()
            with start_dockerd(WORK) as target:
                _log(f"harborkit bundle load (empty target, round {n + 1})")
                t, rss = _timed([*hk, "load", "--quiet", str(bundle)], env=target.env(), cwd=REPO)
                loads.append(t)
                rss_load = max(rss_load, rss)
            _drop_write_cache()
            with start_dockerd(WORK) as target:
                _log(f"docker load -i save.tar (empty target, round {n + 1})")
                dloads.append(
                    _timed([DOCKER, "-H", target.url, "load", "-q", "-i", str(save_tar)])[0]
                )
        t_load, t_dload = min(loads), min(dloads)
        results.update(load_s=t_load, docker_load_s=t_dload, load_ratio=t_load / t_dload)
        results.update(rss_load_mb=rss_load / 1e6)
        results["peak_rss_mb"] = max(
            results["rss_build_mb"], results["rss_verify_mb"], results["rss_load_mb"]
        )
    return results


#: issue 24 goal 3, each a ratio measured in the same run
GOALS = {"build": 1.0, "size": 0.42, "verify": 5.0, "load": 0.85, "rss_mb": 100.0}


def report(r: dict[str, float]) -> str:
    """Human summary, each figure next to its goal (issue 24 goal 3)."""

    def ok(cond: bool) -> str:
        return "ok " if cond else "MISS"

    g = GOALS
    build_lines = [
        f"  docker save size {r['save_bytes'] / 1e9:.2f} GB, bundle {r['bundle_bytes'] / 1e9:.2f} GB",
        f"  [{ok(r['build_ratio'] <= g['build'])}] build {r['build_s']:.1f}s / docker save"
        f" {r['save_s']:.1f}s = {r['build_ratio']:.3f}x (goal <= {g['build']}x; CPU of the last"
        f" round: build {r['build_cpu_s']:.1f}s + dockerd {r['dockerd_cpu_build_s']:.1f}s,"
        f" docker save {r['save_cpu_s']:.1f}s + dockerd {r['dockerd_cpu_save_s']:.1f}s)",
        f"  [{ok(r['size_ratio'] <= g['size'])}] bundle size / save size ="
        f" {r['size_ratio']:.4f}x (goal <= {g['size']}x, compared unrounded)",
    ]
    if "verify_s" not in r:  # --build-only
        return "\n".join(
            [
                f"harborkit bundle benchmark, build and size only (15 images, private dockerd;"
                f" best of {ROUNDS} rounds; load average {os.getloadavg()[0]:.1f} on"
                f" {os.cpu_count()} cores at the end)",
                *build_lines,
                f"  [{ok(r['rss_build_mb'] < g['rss_mb'])}] peak RSS build"
                f" {r['rss_build_mb']:.0f} MB (goal < {g['rss_mb']:.0f} MB)",
            ]
        )
    rss = max(r["rss_build_mb"], r["rss_verify_mb"], r["rss_load_mb"])
    return "\n".join(
        [
            f"harborkit bundle benchmark (15 images, private dockerd; best of {ROUNDS} rounds"
            f" for save/build/load, {VERIFY_ROUNDS} for verify/sha256sum;"
            f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end)",
            *build_lines,
            f"  [{ok(r['verify_speedup'] >= g['verify'])}] verify {r['verify_s']:.2f}s"
            f" ({r['verify_mb_s']:.0f} MB/s) vs sha256sum -c {r['sha256sum_s']:.2f}s ="
            f" {r['verify_speedup']:.2f}x faster (goal >= {g['verify']}x;"
            f" includes {r['cli_start_s']:.2f}s CLI start-up)",
            f"         verify used {r['verify_cpu_s']:.2f}s CPU, sha256sum -c"
            f" {r['sha256sum_cpu_s']:.2f}s (medians); CLI start-up {r['cli_start_s']:.3f}s,"
            f" bare python {r['python_start_s']:.3f}s; largest member"
            f" {r['largest_member_share']:.0%} of the bytes",
            f"  [{ok(r['load_ratio'] <= g['load'])}] load {r['load_s']:.1f}s / docker load -i"
            f" {r['docker_load_s']:.1f}s = {r['load_ratio']:.2f}x (goal <= {g['load']}x)",
            f"  [{ok(rss < g['rss_mb'])}] peak RSS build {r['rss_build_mb']:.0f} MB, verify"
            f" {r['rss_verify_mb']:.0f} MB, load {r['rss_load_mb']:.0f} MB"
            f" (goal < {g['rss_mb']:.0f} MB each)",
        ]
    )


def main() -> int:
    """Run and print; exit 0 (figures are reported, not enforced). ``--build-only``: only
    ``docker save`` vs ``bundle build`` and the size (about a third of the time);
    ``--verify BUNDLE``: verify alone, against a bundle built before."""
    if sys.argv[1:2] == ["--verify"]:
        with tempfile.TemporaryDirectory(prefix="hkb-") as tmp:
            hk = [sys.executable, "-m", "harborkit", "bundle"]
            r = bench_verify(Path(sys.argv[2]).resolve(), Path(tmp), hk)
        print(json.dumps(r, indent=2))
        return 0
    r = run_bundle_bench(build_only="--build-only" in sys.argv[1:])
    print(report(r))
    (WORK / "bundle-bench.json").write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
