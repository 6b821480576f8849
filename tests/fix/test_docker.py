"""fix and a real dockerd: the daemon.json fix seen by a restarted daemon, and
no restart while containers run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harborkit.errors import ExitCode
from tests.fix.helpers import copy_sysroot, hk


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    return copy_sysroot("guide-as-written", tmp_path / "root")


def test_restarted_dockerd_uses_the_fixed_daemon_json(guide: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    from tests.support.dockerd import DaemonStartError, start_dockerd

    config = guide / "etc/docker/daemon.json"
    # the guide's daemon.json (typographic quotes) keeps dockerd from starting
    with pytest.raises(DaemonStartError), start_dockerd(extra_args=["--config-file", str(config)]):
        pass
    r = hk(
        "fix",
        "--root",
        str(guide),
        "--install-dir",
        "/opt/harbor",
        "--only",
        "docker.daemon_json",
        "--apply",
    )
    assert r.returncode == ExitCode.OK, r.stdout + r.stderr
    assert "docker.daemon_json       fail    pass\n" in r.stdout
    assert "not run (a sysroot has no running system): systemctl restart docker\n" in r.stdout
    # the restart a supervisor would do: the same daemon started again with the file
    with start_dockerd(extra_args=["--config-file", str(config)]) as daemon:
        client = daemon.client()
        try:
            info = client.info()
        finally:
            client.close()
    index = info["RegistryConfig"]["IndexConfigs"]
    assert index["192.168.3.60:8888"]["Secure"] is False
    assert json.loads(config.read_text()) == {"insecure-registries": ["192.168.3.60:8888"]}


def test_no_docker_restart_while_containers_run(
    busybox_daemon: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harborkit.commands.fix import _running_containers
    from harborkit.fix.apply import check_preconditions
    from harborkit.fix.target import FixRefused, Target
    from harborkit.model.change import Command, Plan

    client = busybox_daemon.client()
    c = client.containers.run(
        "hk-test/busybox-fix:1",
        ["sh", "-c", "sleep 300"],
        detach=True,
        network_mode="none",
        name="hk-fix-busy",
    )
    try:
        monkeypatch.setenv("DOCKER_HOST", busybox_daemon.url)
        running = _running_containers(None)
        assert running == ["hk-fix-busy"]
        plan = Plan(
            commands=(
                Command(
                    ("docker.daemon_json",),
                    ("systemctl", "restart", "docker"),
                    "r",
                    restarts_docker=True,
                ),
            )
        )
        live = Target(None, Path("/nonexistent-journal"))
        with pytest.raises(FixRefused) as e:
            check_preconditions(plan, live, running_containers=running, restart_docker=False)
        assert e.value.message == (
            "the plan restarts docker, which would stop 1 running container(s) (hk-fix-busy): "
            "pass --restart-docker to allow it (nothing was changed)"
        )
        check_preconditions(plan, live, running_containers=running, restart_docker=True)
    finally:
        c.remove(force=True)
        client.close()
