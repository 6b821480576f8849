"""harborkit fix's Ansible playbook against a real SSH test host.

A host of the lab's image gets the guide-as-written files; the playbook made
from the plan of that fixture runs over SSH with ansible-playbook: --check
--diff changes nothing, the run fixes, a second run reports changed=0, and
harborkit check over SSH then passes the fixed checks there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from tests.remote.conftest import FIXTURES, Lab, hk, verdicts
from tests.support.sshhost import SshHost, start_host

ANSIBLE = Path(sys.executable).parent / "ansible-playbook"
FILES = (
    "/etc/security/limits.conf",
    "/etc/security/limits.d/20-nproc.conf",
    "/etc/profile",
    "/etc/docker/daemon.json",
)


@pytest.fixture
def target(lab: Lab) -> Iterator[SshHost]:
    host = start_host(lab.image, lab.env, "server58", lab.client.public_key)
    try:
        host.put_tree(FIXTURES / "guide-as-written")
        lab.client.trust([host])
        yield host
    finally:
        host.stop()


def sums(host: SshHost) -> str:
    return str(host.exec("sha256sum " + " ".join(FILES)))


def play(book: Path, inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ANSIBLE), "-i", str(inventory), *extra, str(book)],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PIPELINING": "1"},
        timeout=600,
    )


def changed(out: str) -> int:
    m = re.search(r"^server58\s*:.*\bchanged=(\d+).*\bfailed=(\d+)", out, re.M)
    assert m and m.group(2) == "0", out
    return int(m.group(1))


def test_playbook_over_ssh_fixes_then_changes_nothing(
    lab: Lab, target: SshHost, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "guide-as-written", root, symlinks=True)
    book = tmp_path / "fix.yml"
    made = hk(
        "fix", "--root", str(root), "--install-dir", "/opt/harbor", "-f", "ansible", "-o", str(book)
    )
    assert made.returncode == ExitCode.OK, made.stderr
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        f"server58 ansible_host={target.address} ansible_user=root "
        "ansible_python_interpreter=/usr/bin/python3 "
        f"ansible_ssh_common_args='-F {lab.client.config}'\n"
    )
    opts = ("--install-dir", "/opt/harbor", "--only", "limits.pam,docker.daemon_json", "-f", "json")
    before = hk("check", "--host", target.target, *opts, config=lab.client.config)
    assert verdicts(before.stdout)["server58"] == {
        "limits.pam": "fail",
        "docker.daemon_json": "fail",
    }, before.stderr

    untouched = sums(target)
    dry = play(book, inventory, "--check", "--diff")
    assert changed(dry.stdout) == 7, dry.stdout  # 6 files and one new folder
    assert sums(target) == untouched

    real = play(book, inventory)
    assert changed(real.stdout) == 7, real.stdout
    again = play(book, inventory)
    assert changed(again.stdout) == 0, again.stdout

    after = hk("check", "--host", target.target, *opts, config=lab.client.config)
    assert after.returncode == ExitCode.OK, after.stdout + after.stderr
    assert verdicts(after.stdout)["server58"] == {
        "limits.pam": "pass",
        "docker.daemon_json": "pass",
    }


# -- issue 18 class 9: the playbook and the script of a hostile host, over SSH ---


@pytest.fixture
def hostile_target(lab: Lab, tmp_path: Path) -> Iterator[tuple[SshHost, Path]]:
    """A lab host holding a hostile sysroot's files, and that sysroot here."""
    from tests.fix.test_hostile_export import HOSTILE_NAMES, TYPO, hostile_host, hostile_lines

    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "guide-as-written", root, symlinks=True)
    (root / "etc/hostname").write_text(hostile_host("/tmp/hk-canary") + "\n")
    with open(root / "etc/profile", "ab") as f:
        f.write(hostile_lines("/tmp/hk-canary"))
    for name in HOSTILE_NAMES:
        (root / "etc/security/limits.d" / name).write_bytes(TYPO)
    host = start_host(lab.image, lab.env, "server58", lab.client.public_key)
    try:
        host.put_tree(root)
        lab.client.trust([host])
        yield host, root
    finally:
        host.stop()


def target_canaries(host: SshHost) -> str:
    return str(host.exec("find / -xdev -name 'hk-canary*' 2>/dev/null; true"))


def assert_holds_the_plan(host: SshHost, root: Path) -> None:
    import shlex

    from tests.fix.test_hostile_export import planned

    plan = planned(root)
    assert len(plan.files) >= 14
    for f in plan.files:
        assert host.exec(f"cat {shlex.quote(f.path)}", raw=True) == f.new, f.path


def test_playbook_of_a_hostile_host_over_ssh_templates_nothing(
    lab: Lab, hostile_target: tuple[SshHost, Path], tmp_path: Path
) -> None:
    host, root = hostile_target
    book = tmp_path / "fix.yml"
    made = hk(
        "fix", "--root", str(root), "--install-dir", "/opt/harbor", "-f", "ansible", "-o", str(book)
    )
    assert (made.returncode, made.stdout, made.stderr) == (ExitCode.OK, "", "")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        f"server58 ansible_host={host.address} ansible_user=root "
        "ansible_python_interpreter=/usr/bin/python3 "
        f"ansible_ssh_common_args='-F {lab.client.config}'\n"
    )
    real = play(book, inventory)
    assert real.returncode == 0, real.stdout + real.stderr
    assert changed(real.stdout) > 0
    assert "\x1b" not in real.stdout
    assert target_canaries(host) == ""
    assert sorted(str(p) for p in tmp_path.rglob("hk-canary*")) == []
    assert sorted(str(p) for p in Path("/tmp").glob("hk-canary*")) == []
    assert_holds_the_plan(host, root)
    again = play(book, inventory)
    assert changed(again.stdout) == 0, again.stdout


def test_sh_script_of_a_hostile_host_runs_as_root_on_the_host(
    hostile_target: tuple[SshHost, Path], tmp_path: Path
) -> None:
    host, root = hostile_target
    script = tmp_path / "fix.sh"
    made = hk(
        "fix", "--root", str(root), "--install-dir", "/opt/harbor", "-f", "sh", "-o", str(script)
    )
    assert (made.returncode, made.stdout, made.stderr) == (ExitCode.OK, "", "")
    host.exec("cat > /root/fix.sh", input=script.read_bytes())
    out = host.exec("cd /root && sh /root/fix.sh; echo rc=$?")
    assert "not run: systemctl restart docker\n" in out  # no systemd in the container
    assert out.endswith("rc=0\n"), out
    assert "\x1b" not in out
    assert target_canaries(host) == ""
    assert_holds_the_plan(host, root)
    again = host.exec("cd /root && sh /root/fix.sh; echo rc=$?")
    assert again.endswith("rc=0\n") and "\nchanged: " not in again, again
