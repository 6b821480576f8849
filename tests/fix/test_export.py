"""The plan as a POSIX shell script and an Ansible playbook, run for real.

Both are generated from the same plan as --apply; run against a copy of the
guide-as-written sysroot, they make the same checks pass, and a second run
changes nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harborkit.errors import ExitCode
from tests.fix.helpers import copy_sysroot, failing, hk, statuses, tree_hashes

OPTS = ("--install-dir", "/opt/harbor")
BUSYBOX = Path("/usr/bin/busybox")
ANSIBLE = Path(sys.executable).parent / "ansible-playbook"


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    return copy_sysroot("guide-as-written", tmp_path / "root")


def export(root: Path, fmt: str, out: Path) -> Path:
    r = hk("fix", "--root", str(root), *OPTS, "--format", fmt, "--output", str(out))
    assert (r.returncode, r.stdout, r.stderr) == (ExitCode.OK, "", "")
    return out


def test_sh_script_parses_runs_and_is_idempotent(guide: Path, tmp_path: Path) -> None:
    script = export(guide, "sh", tmp_path / "fix.sh")
    assert script.stat().st_mode & 0o777 == 0o755
    for shell in (["sh"], [str(BUSYBOX), "sh"]):
        syn = subprocess.run([*shell, "-n", str(script)], capture_output=True, text=True)
        assert (syn.returncode, syn.stderr) == (0, "")
    assert failing(statuses(guide)) == {"selinux.mode", "limits.pam", "docker.daemon_json"}

    env = {**os.environ, "HK_ROOT": str(guide)}
    first = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert re.findall(r"^changed: (\S+)$", first.stdout, re.M) == [
        "/etc/security/limits.conf",
        "/etc/security/limits.d/20-nproc.conf",
        "/etc/profile",
        "/etc/security/limits.d/90-harbor.conf",
        "/etc/docker/daemon.json",
        "/etc/systemd/system/docker.service.d/90-harbor-environmentfile.conf",
    ]
    assert f"not run for HK_ROOT={guide} (a sysroot): the commands\n" in first.stdout
    assert failing(statuses(guide)) == {"selinux.mode"}

    changed = tree_hashes(guide)
    second = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env)
    assert second.returncode == 0
    assert not re.search(r"^changed:", second.stdout, re.M)
    assert len(re.findall(r"^unchanged: ", second.stdout, re.M)) == 6
    assert tree_hashes(guide) == changed


def test_sh_script_refuses_a_file_that_differs_from_the_plan(tmp_path: Path) -> None:
    planned = copy_sysroot("guide-as-written", tmp_path / "planned")
    script = export(planned, "sh", tmp_path / "fix.sh")
    other = copy_sysroot("guide-as-written", tmp_path / "other")
    (other / "etc/profile").write_text("# another host's profile\n")
    r = subprocess.run(
        ["sh", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "HK_ROOT": str(other)},
    )
    assert r.returncode == 1
    assert r.stderr == "refused: /etc/profile differs from the planned original\n"
    assert (other / "etc/profile").read_text() == "# another host's profile\n"
    assert "changed: /etc/security/limits.conf\n" in r.stdout


def test_sh_script_runs_in_a_busybox_container(
    busybox_daemon: Any, guide: Path, tmp_path: Path
) -> None:
    script = export(guide, "sh", tmp_path / "fix.sh")
    busybox_image = busybox_daemon.client()
    out = busybox_image.containers.run(
        "hk-test/busybox-fix:1",
        ["sh", "/fix.sh"],
        environment={"HK_ROOT": "/target"},
        volumes={
            str(guide): {"bind": "/target", "mode": "rw"},
            str(script): {"bind": "/fix.sh", "mode": "ro"},
        },
        network_mode="none",
        remove=True,
    ).decode()
    assert len(re.findall(r"^changed: ", out, re.M)) == 6, out
    assert failing(statuses(guide)) == {"selinux.mode"}
    again = busybox_image.containers.run(
        "hk-test/busybox-fix:1",
        ["sh", "/fix.sh"],
        environment={"HK_ROOT": "/target"},
        volumes={
            str(guide): {"bind": "/target", "mode": "rw"},
            str(script): {"bind": "/fix.sh", "mode": "ro"},
        },
        network_mode="none",
        remove=True,
    ).decode()
    assert (
        not re.search(r"^changed:", again, re.M)
        and len(re.findall(r"^unchanged: ", again, re.M)) == 6
    )
    busybox_image.close()


def playbook(book: Path, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(ANSIBLE),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"hk_root={root}",
            *extra,
            str(book),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0"},
        timeout=300,
    )


def test_ansible_refuses_a_file_that_differs_from_the_plan(tmp_path: Path) -> None:
    planned = copy_sysroot("guide-as-written", tmp_path / "planned")
    book = export(planned, "ansible", tmp_path / "fix.yml")
    # ansible.builtin modules only (the full run, --check --diff, then changed=0,
    # is tests/remote/test_fix_ansible.py on a real SSH host)
    modules = set(re.findall(r"^\s+(\w+\.\w+\.\w+):", book.read_text(), re.M))
    assert modules == {
        "ansible.builtin.stat",
        "ansible.builtin.assert",
        "ansible.builtin.copy",
        "ansible.builtin.file",
        "ansible.builtin.command",
        "ansible.builtin.systemd_service",
        "ansible.builtin.debug",
    }, modules
    other = copy_sysroot("guide-as-written", tmp_path / "other")
    (other / "etc/security/limits.conf").write_text("# site limits\n")
    r = playbook(book, other)
    assert r.returncode != 0
    assert "/etc/security/limits.conf differs from the planned original" in r.stdout
    assert (other / "etc/security/limits.conf").read_text() == "# site limits\n"
