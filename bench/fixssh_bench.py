"""Benchmark: ``harborkit fix --apply`` over 30 sshd hosts against ``ansible-playbook``
of the same plan (issue 22).

The hosts are the remote bench's (containers of the tests' debootstrap image,
the guide-as-written files, each sshd on its own loopback address), started
with :mod:`bench.remote_bench`'s host starter. Each round, both cold (no SSH
connection of an earlier run reused), on the same hosts reset to the same files:

- ``harborkit fix -i INV --apply --forks 10``: plans every host from its own
  files (an audit over SSH), applies each plan with its journal, audits again
  and prints BEFORE/AFTER;
- ``ansible-playbook -i INV -f 10 PLAYBOOK``: the playbook ``harborkit fix
  --format ansible -o DIR`` wrote for these hosts (they hold the same files, so
  one playbook is every host's plan: Ansible's most favourable case, one
  process for the fleet).

Between runs the hosts get their files back (and harborkit's journals go),
untimed. Goal: harborkit <= 0.5x Ansible's time. ``HK_BENCH_FIX_HOSTS``
(default 30) and ``HK_BENCH_ROUNDS`` (default 2) change the size and rounds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.remote_bench import FIXTURE, FORKS, _inventory, start_fleet
from tests.support.dockerd import start_dockerd
from tests.support.sshhost import SshHost, import_image, make_client

HOSTS = int(os.environ.get("HK_BENCH_FIX_HOSTS", "30"))
ROUNDS = int(os.environ.get("HK_BENCH_ROUNDS", "2"))
#: issue 22: fix --apply over 30 hosts in at most half the time of ansible-playbook
TARGET_RATIO = 0.5
#: the checks whose plan is files only (no service is restarted in a container)
ONLY = "limits.pam,sysctl.persisted"
#: files the plan creates (removed between runs, with harborkit's journals)
CREATED = "/etc/security/limits.d/90-harbor.conf /etc/sysctl.d/90-harbor.conf"


def _log(msg: str) -> None:
    print(f"[fixssh bench] {msg}", file=sys.stderr, flush=True)


def _run(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    """Wall time of one process; anything but an ``ok`` exit stops the bench."""
    t = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if r.returncode not in ok:
        raise RuntimeError(f"{argv[:5]} exited {r.returncode}: {(r.stdout + r.stderr)[-800:]}")
    return wall


def _reset(hosts: list[SshHost]) -> None:
    """Every host as the fixture made it: its files back, no journal."""

    def one(h: SshHost) -> None:
        h.exec(f"rm -rf /var/lib/harborkit {CREATED}")
        h.put_tree(FIXTURE)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, hosts))


def _same_files(hosts: list[SshHost]) -> str:
    """sha256 of the plan's files on every host (one line when all hosts agree)."""
    files = f"/etc/security/limits.conf {CREATED}"
    out = {h.exec(f"cat {files} 2>/dev/null | sha256sum || true") for h in hosts}
    return "".join(sorted(out))


def run_fixssh_bench() -> list[tuple[str, str]]:
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "ansible-playbook").exists():
        return [("ansible", "ansible-core is not installed in this venv: no baseline")]
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
    }
    hk = [sys.executable, "-m", "harborkit", "fix"]
    hk_times: list[float] = []
    an_times: list[float] = []
    with start_dockerd() as daemon, make_client() as client, tempfile.TemporaryDirectory() as tmp:
        denv = daemon.env()
        env["ANSIBLE_LOCAL_TEMP"] = f"{tmp}/ansible-tmp"
        env["ANSIBLE_CONFIG"] = f"{tmp}/none.cfg"
        _log("importing the sshd host image (debootstrap once, cached)")
        image = import_image(denv)
        hosts: list[SshHost] = []
        try:
            start_fleet(hosts, HOSTS, image, denv, client)
            _log(f"{HOSTS} hosts up")
            inv = _inventory(hosts, client.key, client.known_hosts, Path(tmp) / "inv.ini")
            common = ["-i", str(inv), "--ssh-config", str(client.config), "--only", ONLY]
            plans = Path(tmp) / "plans"
            _run([*hk, *common, "-f", "ansible", "-o", str(plans)], env)
            book = plans / f"{hosts[0].name}.yml"
            texts = {p.read_text().split("\n", 3)[-1] for p in plans.iterdir()}
            _log(f"{len(list(plans.iterdir()))} playbooks written, {len(texts)} distinct bodies")
            fixed = ""
            for n in range(ROUNDS):
                _reset(hosts)
                hk_times.append(_run([*hk, *common, "--apply", "--forks", str(FORKS)], env))
                fixed = _same_files(hosts)
                _reset(hosts)
                cold = {**env, "ANSIBLE_SSH_CONTROL_PATH_DIR": f"{tmp}/cp-{n}"}
                argv = [str(venv_bin / "ansible-playbook"), "-i", str(inv), "-f", str(FORKS)]
                an_times.append(_run([*argv, str(book)], cold))
                if _same_files(hosts) != fixed:
                    raise RuntimeError("the playbook and fix --apply left different files")
                _log(f"round {n + 1}: harborkit {hk_times[-1]:.2f} s, ansible {an_times[-1]:.2f} s")
        finally:
            for h in hosts:
                h.stop()
    return _rows(hk_times, an_times)


def _rows(hk_times: list[float], an_times: list[float]) -> list[tuple[str, str]]:
    hk_t, an_t = statistics.median(hk_times), statistics.median(an_times)
    ratios = [hk_times[i] / an_times[i] for i in range(len(an_times))]
    ratio = hk_t / an_t
    return [
        (
            f"{HOSTS} hosts: harborkit fix -i --apply (forks {FORKS})",
            f"{hk_t:.2f} s median of {len(hk_times)} (audit, apply, audit again)",
        ),
        (
            f"{HOSTS} hosts: ansible-playbook -f {FORKS} (cold)",
            f"{an_t:.2f} s median of {len(an_times)} (the same plan, --format ansible)",
        ),
        (
            "harborkit/ansible",
            f"{ratio:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)}; target <= "
            f"{TARGET_RATIO}: {'ok' if ratio <= TARGET_RATIO else 'MISSED'})",
        ),
    ]


def report(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"{label:48} {figure}" for label, figure in rows)


if __name__ == "__main__":
    print(report(run_fixssh_bench()))
