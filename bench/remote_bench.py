"""Benchmark: ``harborkit check --inventory`` on 10, 30 and 60 real sshd hosts.

Same run, same hosts (containers of the tests' debootstrap image, each sshd on
its own loopback address), three ways:

- ``harborkit check --inventory`` (``--forks 10``): the whole audit;
- ``ansible all -m setup -f 10``: Ansible's fact gathering only, the lightest
  thing it does per host (the baseline the issue names);
- ``harborkit check --inventory --forks N`` (N = the hosts, at most 64): never
  slower than ``--forks 10``.

Both tools cold: no SSH connection is reused across runs (harborkit's control
folder is per run; Ansible gets a fresh ControlPath folder each run). Each
timed figure is the median of ``HK_BENCH_RUNS`` (3) runs, the three commands
interleaved round by round (a burst of load hits all of them alike), and the
load average is printed with them. The hosts are containers on this same
machine, so the CPU of a run is split too: harborkit's own process, its ssh
clients, and the hosts' side (sshd, the collector: the containers' cgroups).
Also:
seconds per host at each size (linear growth), peak memory, SSH round trips
per host, the collector's run time on a host and the judging per host.
Targets (issue 24): 30 hosts in <= 0.5x Ansible's fact gathering, seconds per
host flat across sizes, judging < 50 ms per host, peak memory under 200 MB.
At 30 hosts harborkit is also timed with ``KexAlgorithms curve25519-sha256``
in its ssh_config (informational: OpenSSH 9's default post-quantum key
exchange is most of the ssh client's CPU per host; the choice is the
operator's). ``HK_BENCH_HOSTS=10,30`` picks other sizes, ``HK_BENCH_RUNS``
the runs per figure.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.dockerd import start_dockerd
from tests.support.sshhost import Client, SshHost, import_image, make_client, start_host

SIZES = tuple(int(n) for n in os.environ.get("HK_BENCH_HOSTS", "10,30,60").split(","))
#: each timed figure is the median of this many runs
RUNS = int(os.environ.get("HK_BENCH_RUNS", "3"))
#: at this size, harborkit is also timed with an ssh_config that picks the
#: classic key exchange (informational: the default stays ssh's own choice)
KEX_SIZE = int(os.environ.get("HK_BENCH_KEX_SIZE", "30"))
KEX = "curve25519-sha256"
FORKS = 10
TARGET_MEMORY_MB = 200
TARGET_COLLECTOR_S = 1.0
#: issue 24 goal 1: 30 hosts in at most half the time of ansible -m setup -f 10
TARGET_RATIO = 0.5
#: judging (the checks on a snapshot) per host
TARGET_JUDGING_MS = 50
#: seconds per host at the largest fleet against the smallest: linear growth
TARGET_GROWTH = 1.25
FIXTURE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sysroots" / "guide-as-written"
)


def _log(msg: str) -> None:
    print(f"[remote bench] {msg}", file=sys.stderr, flush=True)


#: run harborkit with this in front: its own CPU (without its children) is
#: written to the file HK_BENCH_SELF_CPU names, when it exits
PRELUDE = (
    "import atexit, os, resource, sys\n"
    "def _hk_self_cpu():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    with open(os.environ['HK_BENCH_SELF_CPU'], 'w') as f:\n"
    "        f.write(repr(r.ru_utime + r.ru_stime))\n"
    "if os.environ.get('HK_BENCH_SELF_CPU'):\n"
    "    atexit.register(_hk_self_cpu)\n"
    "sys.argv[0] = 'harborkit'\n"
    "from harborkit.commands import main\n"
    "main()\n"
)


@dataclass
class Run:
    """One process: wall seconds, peak RSS (MiB), CPU seconds of the process
    and its children, and of the process alone when it said (else nan)."""

    wall: float
    mb: int
    cpu: float
    self_cpu: float = float("nan")
    hosts_cpu: float = float("nan")


def _timed(argv: list[str], env: dict[str, str], hosts: Sequence[SshHost] = ()) -> Run:
    """Wall time, peak RSS and CPU of one process (and of the hosts' containers)."""
    with tempfile.NamedTemporaryFile(prefix="hk-bench-cpu-") as selffile:
        env = {**env, "HK_BENCH_SELF_CPU": selffile.name}
        before = _containers_cpu(hosts)
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        after = _containers_cpu(hosts)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {err[-500:]}")
        text = Path(selffile.name).read_text().strip()
    return Run(
        wall,
        usage.ru_maxrss // 1024,
        usage.ru_utime + usage.ru_stime,
        float(text) if text else float("nan"),
        after - before,
    )


def _cgroup_usage(container_id: str) -> float | None:
    """CPU seconds a container used so far (cgroup v1 or v2), None if unknown."""
    v1 = Path("/sys/fs/cgroup/cpuacct/docker", container_id, "cpuacct.usage")
    with contextlib.suppress(OSError, ValueError):
        return int(v1.read_text()) / 1e9
    for v2 in (
        Path("/sys/fs/cgroup/docker", container_id, "cpu.stat"),
        Path("/sys/fs/cgroup/system.slice", f"docker-{container_id}.scope", "cpu.stat"),
    ):
        with contextlib.suppress(OSError, ValueError):
            for line in v2.read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
    return None


_IDS: dict[str, str] = {}


def _containers_cpu(hosts: Sequence[SshHost]) -> float:
    """CPU seconds used so far by the hosts' containers (nan if not readable)."""
    total = 0.0
    for h in hosts:
        if h.container not in _IDS:
            _IDS[h.container] = subprocess.run(
                ["docker", "inspect", "-f", "{{.Id}}", h.container],
                env=h.docker_env,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        used = _cgroup_usage(_IDS[h.container])
        if used is None:
            return float("nan")
        total += used
    return total


def _inventory(hosts: list[SshHost], key: Path, known: Path, path: Path) -> Path:
    common = (
        f"-o UserKnownHostsFile={known} -o GlobalKnownHostsFile=/dev/null "
        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
    )
    lines = ["[nodes]"]
    lines += [f"{h.name} ansible_host={h.address}" for h in hosts]
    lines += [
        "[all:vars]",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={key}",
        f"ansible_ssh_common_args='{common}'",
        "ansible_python_interpreter=/usr/bin/python3",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _collector_seconds(host: SshHost, script: str) -> float:
    """The collector's run time on the host itself (no SSH), median of 3."""
    host.write("/tmp/collect.sh", script)
    times = []
    for _ in range(3):
        out = host.exec(
            "s=$(date +%s%N); sh /tmp/collect.sh > /dev/null; e=$(date +%s%N); echo $((e - s))"
        )
        times.append(int(out.strip()) / 1e9)
    return statistics.median(times)


def _round_trips(inv: Path, config: Path) -> dict[str, int]:
    from harborkit.commands.options import RemoteOptions
    from harborkit.commands.remote import run_remote
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile
    from harborkit.engine.runner import Selection
    from harborkit.model.check import CheckOptions

    loaded, failures = discover()
    prof = load_profile(None)
    run = run_remote(
        RemoteOptions(inventory=str(inv), ssh_config=str(config), forks=FORKS),
        loaded=loaded,
        profile=prof,
        selection=Selection(prof.select, prof.skip),
        waivers=[],
        plugin_failures=failures,
        options=CheckOptions(None, "/opt/harbor"),
    )
    return run.round_trips


def _ansible(
    venv_bin: Path, inv: Path, env: dict[str, str], tmp: str, hosts: Sequence[SshHost]
) -> Run:
    """``ansible all -m setup -f 10``, cold: a control folder of its own (no
    master of an earlier run reused)."""
    cold = {**env, "ANSIBLE_SSH_CONTROL_PATH_DIR": f"{tmp}/cp-{time.monotonic_ns()}"}
    argv = [str(venv_bin / "ansible"), "all", "-i", str(inv), "-m", "setup", "-f", str(FORKS)]
    return _timed(argv, cold, hosts)


def _judging_ms(hosts: list[SshHost], script: str, hk: list[str], env: dict[str, str]) -> float:
    """Judging per host (ms): ``check --snapshot`` of every host's snapshot less
    the same of one, over the hosts but one (start-up and profile cancel out)."""
    with tempfile.TemporaryDirectory() as snaps:
        for h in hosts:
            h.write("/tmp/collect.sh", script)
            Path(snaps, f"{h.name}.hksnap").write_bytes(h.exec("sh /tmp/collect.sh", raw=True))
        one = Path(snaps, f"{hosts[0].name}.hksnap")
        common = ["check", "--install-dir", "/opt/harbor", "-f", "json", "-o", os.devnull]
        t_all = min(_timed([*hk, *common, "--snapshot", snaps], env).wall for _ in range(3))
        t_one = min(_timed([*hk, *common, "--snapshot", str(one)], env).wall for _ in range(3))
    return (t_all - t_one) / (len(hosts) - 1) * 1000


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def _median(runs: list[Run], attr: str) -> float:
    values = [getattr(r, attr) for r in runs]
    return statistics.median(values) if values else float("nan")


def _size_rows(size: int, hk: list[Run], an: list[Run], wide: list[Run]) -> list[tuple[str, str]]:
    hk_t, an_t = _median(hk, "wall"), _median(an, "wall")
    ratio = hk_t / an_t
    mb = max(r.mb for r in hk + wide)
    rows = [
        (
            f"{size} hosts: harborkit check -i (forks {FORKS})",
            f"{hk_t:.2f} s = {hk_t / size:.3f} s per host (median of {len(hk)}: "
            + ", ".join(f"{r.wall:.2f}" for r in hk)
            + ")",
        ),
        (
            f"{size} hosts: ansible all -m setup -f {FORKS} (cold)",
            f"{an_t:.2f} s = {an_t / size:.3f} s per host (harborkit/ansible = {ratio:.2f}x;"
            f" target <= {TARGET_RATIO}: {'ok' if ratio <= TARGET_RATIO else 'MISSED'})",
        ),
    ]
    if wide:
        wide_t = _median(wide, "wall")
        rows.append(
            (
                f"{size} hosts: harborkit --forks {min(size, 64)}",
                f"{wide_t:.2f} s (vs forks {FORKS}: {wide_t / hk_t:.2f}x; target <= 1.1: "
                + ("ok)" if wide_t <= hk_t * 1.1 else "MISSED)"),
            )
        )
    rows += [
        (
            f"{size} hosts: harborkit peak memory",
            f"{mb} MiB (target < {TARGET_MEMORY_MB}: "
            + ("ok)" if mb < TARGET_MEMORY_MB else "MISSED)"),
        ),
        _cpu_row(size, "harborkit", hk),
    ]
    if an:
        rows.append(_cpu_row(size, "ansible", an))
    return rows


def _cpu_row(size: int, tool: str, runs: list[Run]) -> tuple[str, str]:
    """CPU seconds per host (medians): the tool's process, its children, the hosts."""
    own = _median(runs, "self_cpu")
    total = _median(runs, "cpu")
    hosts = _median(runs, "hosts_cpu")
    if own == own:  # harborkit said its own
        tool_part = (
            f"harborkit {own / size * 1000:.0f} + its ssh clients {(total - own) / size * 1000:.0f}"
        )
    else:
        tool_part = f"ansible and its children {total / size * 1000:.0f}"
    return (
        f"{size} hosts: {tool} CPU per host (ms)",
        f"{tool_part} + hosts (sshd, collector) {hosts / size * 1000:.0f} = "
        f"{(total + hosts) / size * 1000:.0f} ms ({(total + hosts) / _median(runs, 'wall'):.2f}"
        " cores busy)",
    )


def _linear_row(per_host: dict[int, float]) -> tuple[str, str]:
    """Seconds per host at the largest size against the smallest: linear is ~1."""
    small, large = min(per_host), max(per_host)
    growth = per_host[large] / per_host[small]
    figures = ", ".join(f"{n}: {t:.3f}" for n, t in sorted(per_host.items()))
    return (
        "seconds per host by fleet size",
        f"{figures} ({large}/{small} hosts: {growth:.2f}x per host; target <= "
        f"{TARGET_GROWTH}: {'ok' if growth <= TARGET_GROWTH else 'MISSED'})",
    )


def _rounds(
    size: int,
    hosts: Sequence[SshHost],
    check: list[str],
    env: dict[str, str],
    venv_bin: Path,
    inv: Path,
    tmp: str,
    kex_check: list[str] | None = None,
) -> tuple[list[Run], list[Run], list[Run], list[Run]]:
    """RUNS rounds of harborkit (forks 10), ansible and harborkit (forks = hosts)
    (and ``kex_check``), interleaved: a burst of load hits them alike."""
    hk_runs: list[Run] = []
    an_runs: list[Run] = []
    wide_runs: list[Run] = []
    kex_runs: list[Run] = []
    has_ansible = (venv_bin / "ansible").exists()
    for n in range(RUNS):
        hk_runs.append(_timed([*check, "--forks", str(FORKS)], env, hosts))
        if has_ansible:
            an_runs.append(_ansible(venv_bin, inv, env, tmp, hosts))
        if size > FORKS:
            wide_runs.append(_timed([*check, "--forks", str(min(size, 64))], env, hosts))
        if kex_check:
            kex_runs.append(_timed([*kex_check, "--forks", str(FORKS)], env, hosts))
        _log(
            f"{size} hosts, round {n + 1}: harborkit {hk_runs[-1].wall:.2f} s"
            + (f", ansible {an_runs[-1].wall:.2f} s" if an_runs else "")
            + (f", --forks {min(size, 64)} {wide_runs[-1].wall:.2f} s" if wide_runs else "")
            + (f", {KEX} {kex_runs[-1].wall:.2f} s" if kex_runs else "")
            + f" ({_load()})"
        )
    return hk_runs, an_runs, wide_runs, kex_runs


def _kex_row(size: int, kex: list[Run], hk: list[Run], an: list[Run]) -> tuple[str, str]:
    t = _median(kex, "wall")
    return (
        f"{size} hosts: harborkit, Kex {KEX}",
        f"{t:.2f} s = {t / size:.3f} s per host (vs ssh's default: "
        f"{t / _median(hk, 'wall'):.2f}x; vs ansible: {t / _median(an, 'wall'):.2f}x;"
        " informational: the key exchange is the operator's choice in --ssh-config)",
    )


def start_fleet(
    hosts: list[SshHost], size: int, image: str, denv: dict[str, str], client: Client
) -> None:
    """Start sshd hosts ``node01``... with the guide-as-written files until
    ``hosts`` holds ``size`` (each appended as it is up: the caller stops them).

    Every host's /etc/hosts then names every host of the fleet, as the guide has an
    operator write it: each host resolves the others from the file, and the fleet's
    name-resolution check passes. (Without it, every name failed on every host: the
    hosts have no name server, so each lookup ended at loopback's port 53, and the
    bench measured a fleet no operator would install on.)
    """
    while len(hosts) < size:
        n = len(hosts) + 1
        h = start_host(image, denv, f"node{n:02d}", client.public_key)
        h.put_tree(FIXTURE)
        hosts.append(h)
        client.trust([h])
    names = "".join(f"{h.address} {h.name}\n" for h in hosts)
    text = (FIXTURE / "etc" / "hosts").read_text() + names
    for h in hosts:
        h.write("/etc/hosts", text)


def run_remote_bench() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
    }
    hk = [sys.executable, "-c", PRELUDE]
    has_ansible = (venv_bin / "ansible").exists()
    per_host: dict[int, float] = {}
    with start_dockerd() as daemon, make_client() as client, tempfile.TemporaryDirectory() as tmp:
        denv = daemon.env()
        _log("importing the sshd host image (debootstrap once, cached)")
        image = import_image(denv)
        env["ANSIBLE_LOCAL_TEMP"] = f"{tmp}/ansible-tmp"
        env["ANSIBLE_CONFIG"] = f"{tmp}/none.cfg"
        hosts: list[SshHost] = []
        try:
            script = subprocess.run(
                [*hk, "collect", "--script", "--install-dir", "/opt/harbor"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for size in SIZES:
                start_fleet(hosts, size, image, denv, client)
                _log(f"{size} hosts up")
                inv = _inventory(
                    hosts, client.key, client.known_hosts, Path(tmp) / f"inv{size}.ini"
                )
                check = [*hk, "check", "-i", str(inv), "--ssh-config", str(client.config)]
                check += ["--install-dir", "/opt/harbor", "-f", "json", "-o", os.devnull]
                if size == SIZES[0]:  # warm caches (page cache, sshd key exchange code) once
                    _timed([*check, "--only", "kernel"], env)
                kex_check = None
                if size == KEX_SIZE:
                    kex_config = Path(tmp) / "ssh_config_kex"
                    kex_config.write_text(f"KexAlgorithms {KEX}\n" + client.config.read_text())
                    kex_check = [*check]
                    kex_check[kex_check.index(str(client.config))] = str(kex_config)
                hk_runs, an_runs, wide_runs, kex_runs = _rounds(
                    size, hosts, check, env, venv_bin, inv, tmp, kex_check
                )
                per_host[size] = _median(hk_runs, "wall") / size
                rows += _size_rows(size, hk_runs, an_runs, wide_runs)
                if kex_runs:
                    rows.append(_kex_row(size, kex_runs, hk_runs, an_runs))
                rows.append((f"{size} hosts: load while measured", _load()))
                if size == SIZES[0]:
                    rows += _first_size_rows(hosts, inv, client.config, script, hk, env)
            rows.append(_linear_row(per_host))
            if not has_ansible:
                rows.append(("ansible", "ansible-core is not installed in this venv: no baseline"))
        finally:
            for h in hosts:
                h.stop()
    return rows


def _first_size_rows(
    hosts: list[SshHost],
    inv: Path,
    config: Path,
    script: str,
    hk: list[str],
    env: dict[str, str],
) -> list[tuple[str, str]]:
    trips = _round_trips(inv, config)
    worst = max(trips.values())
    col = _collector_seconds(hosts[0], script)
    judging = _judging_ms(hosts, script, hk, env)
    return [
        (
            f"{len(hosts)} hosts: SSH round trips per host",
            f"max {worst}, mean {statistics.mean(trips.values()):.1f} (one connection each;"
            f" target <= 2: {'ok' if worst <= 2 else 'MISSED'})",
        ),
        (
            "collector run time on one host",
            f"{col:.3f} s (target < {TARGET_COLLECTOR_S:g} s: "
            + ("ok)" if col < TARGET_COLLECTOR_S else "MISSED)"),
        ),
        (
            "judging per host (check --snapshot)",
            f"{judging:.1f} ms (target < {TARGET_JUDGING_MS:g} ms: "
            + ("ok)" if judging < TARGET_JUDGING_MS else "MISSED)"),
        ),
    ]


def report(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"{label:48} {figure}" for label, figure in rows)


if __name__ == "__main__":
    print(report(run_remote_bench()))
