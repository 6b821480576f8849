"""The plan layer: one change per file across checks, hints from line edits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harborkit.errors import ExitCode
from harborkit.model.change import (
    Command,
    FileChange,
    ManualStep,
    PlanConflict,
    describe_file,
    edit_lines,
    hint,
    merge,
)
from tests.fix.helpers import REPO, copy_sysroot, failing, hk, statuses


def fc(check: str, new: str, old: str | None = "a\nb\nc\n", path: str = "/etc/x") -> FileChange:
    return FileChange((check,), path, new.encode(), None if old is None else old.encode(), "r")


def test_same_file_from_two_checks_is_one_change_naming_both() -> None:
    plan = merge(
        [
            fc("sysctl.runtime", "a\n"),
            Command(("sysctl.runtime",), ("sysctl", "--system"), "apply"),
            fc("sysctl.persisted", "a\n"),
            ManualStep(("hardware.memory",), "add memory"),
        ]
    )
    assert [f.check_ids for f in plan.files] == [("sysctl.runtime", "sysctl.persisted")]
    assert plan.check_ids == ("sysctl.runtime", "sysctl.persisted", "hardware.memory")


def test_two_checks_wanting_different_contents_is_a_conflict() -> None:
    with pytest.raises(PlanConflict, match=r"^/etc/x: a and b plan different contents$"):
        merge([fc("a", "one\n"), fc("b", "two\n")])


def test_describe_changes_adds_and_removals_by_line() -> None:
    assert describe_file(fc("t", "a\nB\nc\nd\n")) == (
        "in /etc/x, line 2: change 'b' to 'B'; add at the end:\n    d"
    )
    assert describe_file(fc("t", "a\nc\n")) == "in /etc/x, line 2: remove 'b'"
    assert describe_file(fc("t", "x\n", old=None)) == "create /etc/x as:\n    x"
    assert hint([Command(("t",), ("systemctl", "restart", "docker"), "r")]) == (
        "run: systemctl restart docker"
    )
    assert edit_lines("a\nb\n", {1: None, 2: "B"}, ["c"]) == "B\nc\n"


def test_debian12_apply_fixes_every_file_fixable_check(tmp_path: Path) -> None:
    root = copy_sysroot("debian12", tmp_path / "root")
    doc = yaml.safe_load((REPO / "checks/harbor-v1.8.0.yaml").read_text())
    doc["time"]["servers"] = ["192.168.3.58"]
    profile = tmp_path / "site.yaml"
    profile.write_text(yaml.safe_dump(doc))
    opts = (
        "--profile",
        str(profile),
        "--node",
        "server59=192.168.3.59",
        "--node",
        "harbor01=192.168.3.61",
    )
    before = failing(statuses(root, *opts))
    assert before == {
        "time.sync",
        "firewall.ufw",
        "sysctl.runtime",
        "sysctl.persisted",
        "limits.pam",
        "docker.compose",
        "network.nodes",
    }
    r = hk("fix", "--root", str(root), "--install-dir", "/opt/harbor", *opts, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    # left: the runtime kernel values (sysctl --system needs the running system)
    # and the Compose v2 plugin (a manual step)
    after = statuses(root, *opts)
    assert failing(after) == {"sysctl.runtime", "docker.compose"}
    assert after["network.hostname"] == "pass"
    assert (root / "etc/systemd/timesyncd.conf.d/90-harbor.conf").read_text() == (
        "# Time servers for Harbor (written by harborkit fix)\n[Time]\nNTP=192.168.3.58\n"
    )
    assert "manual step (docker.compose): " in r.stdout
