"""harborkit check --host against real sshd hosts."""

from __future__ import annotations

import subprocess
import sys

from tests.remote.conftest import Lab

HK = [sys.executable, "-m", "harborkit"]


def hk(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HK, "check", "--ssh-config", str(lab.client.config), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_guide_host_over_ssh(lab: Lab) -> None:
    r = hk(lab, "--host", lab.guide.target, "-f", "json", "--install-dir", "/opt/harbor")
    print(r.stderr)
    print(r.stdout[:3000])
    assert r.returncode == 1
