"""The Ansible path: ansible-core from PyPI runs ansible/collect.yml against the
lab's sshd hosts; harborkit judges the fetched snapshots like an SSH run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harborkit.errors import ExitCode
from tests.remote.conftest import Lab, hk, verdicts

REPO = Path(__file__).resolve().parents[2]


def ansible_env(lab: Lab, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(tmp / "none.cfg"),
            "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
            "ANSIBLE_HOME": str(tmp / "ansible-home"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp / "cp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_STDOUT_CALLBACK": "default",
        }
    )
    return env


def lab_inventory(lab: Lab, path: Path) -> Path:
    common = (
        f"-o UserKnownHostsFile={lab.client.known_hosts} -o GlobalKnownHostsFile=/dev/null "
        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
    )
    path.write_text(
        "[harbor]\n"
        f"server58 ansible_host={lab.guide.address}\n"
        f"server59 ansible_host={lab.compliant.address}\n"
        "[all:vars]\n"
        "ansible_user=root\n"
        f"ansible_ssh_private_key_file={lab.client.key}\n"
        f"ansible_ssh_common_args='{common}'\n"
        "ansible_python_interpreter=/usr/bin/python3\n"
    )
    return path


def test_playbook_snapshots_judge_like_ssh(lab: Lab, tmp_path: Path) -> None:
    inv = lab_inventory(lab, tmp_path / "hosts.ini")
    script = tmp_path / "collect.sh"
    script.write_text(hk("collect", "--script", "--install-dir", "/opt/harbor").stdout)
    snaps = tmp_path / "snapshots"
    r = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(inv),
            str(REPO / "ansible" / "collect.yml"),
            "-e",
            f"collector={script}",
            "-e",
            f"snapshot_dir={snaps}",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(lab, tmp_path),
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert sorted(p.name for p in snaps.iterdir()) == ["server58.hksnap", "server59.hksnap"]
    opts = ("--install-dir", "/opt/harbor", "-f", "json")
    by_snap = hk("check", "--snapshot", str(snaps), *opts)
    by_ssh = hk("check", "-i", str(inv), *opts, config=lab.client.config)
    assert by_snap.returncode == by_ssh.returncode == ExitCode.FAILED, (
        by_snap.stderr + by_ssh.stderr
    )
    snap_v, ssh_v = verdicts(by_snap.stdout), verdicts(by_ssh.stdout)
    for host in ("server58", "server59"):
        assert snap_v[host] == ssh_v[host], host
    assert snap_v["server58"]["limits.pam"] == "fail"
