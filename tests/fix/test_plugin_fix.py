"""A plugin check offers its fix the way built-in checks do (Check.plan)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from harborkit.errors import ExitCode
from tests.fix.helpers import REPO, hk

PLUGIN_SRC = REPO / "tests" / "plugins" / "harborkit-example-plugin"


def test_plugin_fix_hint_apply_and_rollback(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(PLUGIN_SRC, src)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(src)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    env = {"PYTHONPATH": str(site)}
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("harbor01\n")
    (root / "etc/motd").write_text("Welcome\n")

    check = hk("check", "--root", str(root), "--only", "site", "-f", "json", env=env)
    import json

    (res,) = json.loads(check.stdout)["results"]
    assert res["remediation"] == (
        "in /etc/motd, add at the end:\n    This host runs Harbor.\n  (the banner names Harbor)"
    )
    fixed = hk("fix", "--root", str(root), "--only", "site", "--apply", env=env)
    assert fixed.returncode == ExitCode.OK, fixed.stdout + fixed.stderr
    assert "site.motd                fail    pass\n" in fixed.stdout
    assert (root / "etc/motd").read_text() == "Welcome\nThis host runs Harbor.\n"
    back = hk("fix", "--root", str(root), "--rollback", env=env)
    assert back.returncode == ExitCode.OK
    assert (root / "etc/motd").read_text() == "Welcome\n"
