"""Benchmark: ``harborkit check --inventory`` on 10 and 30 real sshd hosts.

Same run, same hosts (containers of the tests' debootstrap image, each sshd on
its own loopback address), three ways:

- ``harborkit check --inventory`` (``--forks 10``): the whole audit;
- ``ansible all -m setup -f 10``: Ansible's fact gathering only, the lightest
  thing it does per host (the baseline the issue names);
- ``harborkit check --inventory --forks 1``: the hosts one after another.

Also: peak memory of the harborkit process, SSH round trips per host, and the
collector's own run time on a host. Targets: 30 hosts no slower than Ansible's
fact gathering, at most two round trips per host, peak memory under 200 MB,
the collector under 1 s per host.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.dockerd import start_dockerd
from tests.support.sshhost import SshHost, import_image, make_client, start_host

SIZES = (10, 30)
FORKS = 10
TARGET_MEMORY_MB = 200
TARGET_COLLECTOR_S = 1.0
FIXTURE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sysroots" / "guide-as-written"
)


def _log(msg: str) -> None:
    print(f"[remote bench] {msg}", file=sys.stderr, flush=True)


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall time, exit code and peak RSS (MiB) of one process."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {err[-500:]}")
    return wall, proc.returncode, usage.ru_maxrss // 1024


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
    hk = [sys.executable, "-m", "harborkit"]
    with start_dockerd() as daemon, make_client() as client, tempfile.TemporaryDirectory() as tmp:
        denv = daemon.env()
        _log("importing the sshd host image (debootstrap once, cached)")
        image = import_image(denv)
        env["ANSIBLE_LOCAL_TEMP"] = f"{tmp}/ansible-tmp"
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = f"{tmp}/cp"
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
                while len(hosts) < size:
                    n = len(hosts) + 1
                    h = start_host(image, denv, f"node{n:02d}", client.public_key)
                    h.put_tree(FIXTURE)
                    hosts.append(h)
                    client.trust([h])
                _log(f"{size} hosts up")
                inv = _inventory(
                    hosts, client.key, client.known_hosts, Path(tmp) / f"inv{size}.ini"
                )
                check = [*hk, "check", "-i", str(inv), "--ssh-config", str(client.config)]
                check += ["--install-dir", "/opt/harbor", "-f", "json"]
                if size == SIZES[0]:  # warm caches (page cache, sshd key exchange code) once
                    _timed([*check, "--only", "kernel"], env)
                hk_t, _, hk_mb = _timed([*check, "--forks", str(FORKS)], env)
                an_t, _, _ = _timed(
                    [
                        str(venv_bin / "ansible"),
                        "all",
                        "-i",
                        str(inv),
                        "-m",
                        "setup",
                        "-f",
                        str(FORKS),
                    ],
                    env,
                )
                seq_t, _, _ = _timed([*check, "--forks", "1"], env)
                rows += [
                    (f"{size} hosts: harborkit check -i (forks {FORKS})", f"{hk_t:.2f} s"),
                    (
                        f"{size} hosts: ansible all -m setup -f {FORKS}",
                        f"{an_t:.2f} s (harborkit/ansible = {hk_t / an_t:.2f}x"
                        + ("; target <= 1: ok)" if hk_t <= an_t else "; target <= 1: MISSED)"),
                    ),
                    (
                        f"{size} hosts: harborkit one after another",
                        f"{seq_t:.2f} s (parallel speed-up {seq_t / hk_t:.1f}x)",
                    ),
                    (
                        f"{size} hosts: harborkit peak memory",
                        f"{hk_mb} MiB (target < {TARGET_MEMORY_MB}: "
                        + ("ok)" if hk_mb < TARGET_MEMORY_MB else "MISSED)"),
                    ),
                ]
                if size == SIZES[0]:
                    trips = _round_trips(inv, client.config)
                    worst = max(trips.values())
                    rows.append(
                        (
                            f"{size} hosts: SSH round trips per host",
                            f"max {worst}, mean {statistics.mean(trips.values()):.1f} (target <= 2: "
                            + ("ok)" if worst <= 2 else "MISSED)"),
                        )
                    )
                    col = _collector_seconds(hosts[0], script)
                    rows.append(
                        (
                            "collector run time on one host",
                            f"{col:.3f} s (target < {TARGET_COLLECTOR_S:g} s: "
                            + ("ok)" if col < TARGET_COLLECTOR_S else "MISSED)"),
                        )
                    )
        finally:
            for h in hosts:
                h.stop()
    return rows


def report(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"{label:48} {figure}" for label, figure in rows)


if __name__ == "__main__":
    print(report(run_remote_bench()))
