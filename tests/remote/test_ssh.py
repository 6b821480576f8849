"""harborkit check --host against real sshd hosts (see conftest.py for the lab)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harborkit.errors import ExitCode
from harborkit.host.ssh import UNREACHABLE_EXIT
from tests.remote.conftest import FIXTURES, Lab, hk, host_results, verdicts
from tests.support.sshhost import ADMIN, CLERK

#: checks judged from files alone: a sysroot, a snapshot and SSH must agree on them
FILE_CHECKS = (
    "sysctl.persisted",
    "limits.pam",
    "docker.daemon_json",
    "docker.engine",
    "harbor.config",
    "network.nodes",
)


def snapshot_by_hand(lab_host: object, tmp: Path, *extra: str) -> Path:
    """``harborkit collect --script | sh`` on the host, the file carried back."""
    script = hk("collect", "--script", *extra)
    assert script.returncode == 0, script.stderr
    data = lab_host.exec("exec /bin/sh -s", input=script.stdout.encode(), raw=True)  # type: ignore[attr-defined]
    path = tmp / "host.hksnap"
    path.write_bytes(data)
    return path


def test_same_verdicts_over_ssh_by_snapshot_and_by_root(lab: Lab, tmp_path: Path) -> None:
    opts = ("--install-dir", "/opt/harbor", "--node", "server59=192.168.3.59", "-f", "json")
    ssh = hk("check", "--host", lab.guide.target, *opts, config=lab.client.config)
    assert ssh.returncode == ExitCode.FAILED, ssh.stderr
    snap_file = snapshot_by_hand(
        lab.guide, tmp_path, "--install-dir", "/opt/harbor", "--node", "server59=192.168.3.59"
    )
    snap = hk("check", "--snapshot", str(snap_file), *opts)
    assert snap.returncode == ExitCode.FAILED, snap.stderr
    root = hk("check", "--root", str(FIXTURES / "guide-as-written"), *opts)
    by_ssh = verdicts(ssh.stdout)["server58"]
    by_snap = verdicts(snap.stdout)["server58"]
    by_root = verdicts(root.stdout)["server58"]
    assert by_ssh == by_snap
    assert {c: by_ssh[c] for c in FILE_CHECKS} == {c: by_root[c] for c in FILE_CHECKS}
    # the guide's mistakes are found the same way remotely
    assert by_ssh["limits.pam"] == "fail"
    assert by_ssh["docker.daemon_json"] == "fail"
    assert by_ssh["network.nodes"] == "pass"


def test_one_round_trip_in_the_common_case(lab: Lab) -> None:
    from harborkit.engine.interface import CheckOptions
    from harborkit.engine.profile import load_profile
    from harborkit.engine.registry import discover
    from harborkit.engine.runner import Selection
    from harborkit.remote_cli import RemoteOptions, run_remote

    loaded, failures = discover()
    prof = load_profile(None)
    run = run_remote(
        RemoteOptions(
            hosts=(f"{lab.guide.target},{lab.compliant.target}",),
            ssh_config=str(lab.client.config),
        ),
        loaded=loaded,
        profile=prof,
        selection=Selection(prof.select, prof.skip),
        waivers=[],
        plugin_failures=failures,
        options=CheckOptions(None, "/opt/harbor"),
    )
    assert run.failure_lines == []
    assert [r.host for r in run.report.hosts] == ["server58", "server59"]
    # the collector, plus at most one batch of facts it did not gather
    assert all(n <= 2 for n in run.round_trips.values()), run.round_trips
    assert run.round_trips[lab.guide.target] == 1, run.fetched


def test_become_through_passwordless_sudo(lab: Lab) -> None:
    target = f"{ADMIN}@{lab.sudo.target}"
    r = hk(
        "check",
        "--host",
        target,
        "--become",
        "--only",
        "limits.pam",
        "-f",
        "json",
        config=lab.client.config,
    )
    assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
    assert verdicts(r.stdout)["harbor01"]["limits.pam"] in ("pass", "fail")


def test_sudo_that_wants_a_password_is_one_clear_error(lab: Lab) -> None:
    target = f"{CLERK}@{lab.sudo.target}"
    r = hk("check", "--host", target, "--become", config=lab.client.config)
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"harborkit: error: {lab.sudo.target}: --become: sudo on {CLERK}@{lab.sudo.target} "
        "wants a password (harborkit runs sudo -n): allow this user NOPASSWD in sudoers, "
        "or log in as root"
    )


def test_changed_host_key_is_refused(lab: Lab) -> None:
    r = hk("check", "--host", lab.rekeyed.target, config=lab.client.config)
    assert r.returncode == UNREACHABLE_EXIT
    assert r.stderr.strip().splitlines()[-1] == (
        f"harborkit: error: {lab.rekeyed.target}: host key of {lab.rekeyed.address} changed: "
        "it does not match known_hosts (possible man-in-the-middle); if the host was "
        f"reinstalled, remove the old key with ssh-keygen -R {lab.rekeyed.address} and check "
        "the new one"
    )


def test_changed_host_key_is_refused_even_with_accept_new(lab: Lab) -> None:
    r = hk(
        "check", "--host", lab.rekeyed.target, "--accept-new-host-keys", config=lab.client.config
    )
    assert r.returncode == UNREACHABLE_EXIT
    assert "changed" in r.stderr


def test_unknown_host_key_then_accept_new(lab: Lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.touch()
    config = tmp_path / "ssh_config"
    config.write_text(
        lab.client.config.read_text().replace(str(lab.client.known_hosts), str(known))
    )
    r = hk("check", "--host", lab.compliant.target, "--only", "sysctl.persisted", config=config)
    assert r.returncode == UNREACHABLE_EXIT
    assert r.stderr.strip().splitlines()[-1] == (
        f"harborkit: error: {lab.compliant.target}: host key of {lab.compliant.address} is "
        "not in known_hosts (strict checking): verify it and add it, or pass "
        "--accept-new-host-keys to accept first-seen keys"
    )
    r = hk(
        "check",
        "--host",
        lab.compliant.target,
        "--only",
        "sysctl.persisted",
        "--accept-new-host-keys",
        config=config,
    )
    assert r.returncode == ExitCode.OK, r.stderr
    assert lab.compliant.host_key.split()[1] in known.read_text()


def test_down_host_is_an_error_and_the_others_are_kept(lab: Lab) -> None:
    r = hk(
        "check",
        "--host",
        f"{lab.guide.target},{lab.down_address}",
        "--connect-timeout",
        "5",
        "-f",
        "json",
        config=lab.client.config,
    )
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"harborkit: error: {lab.down_address}: connection to {lab.down_address} refused "
        "(no sshd listening?)"
    )
    v = verdicts(r.stdout)
    assert v[lab.down_address] == {"host.reachable": "error"}
    assert v["server58"]["limits.pam"] == "fail"


def test_connection_dropped_mid_collect(lab: Lab) -> None:
    host = lab.compliant
    # a stand-in nproc that kills this SSH session while the collector runs
    host.write(
        "/usr/local/bin/nproc",
        "#!/bin/sh\nif [ -e /tmp/hk-drop ]; then\n"
        "  kill -9 $(cut -d' ' -f4 /proc/$PPID/stat)\nfi\nexec /usr/bin/nproc \"$@\"\n",
    )
    host.exec("chmod +x /usr/local/bin/nproc && touch /tmp/hk-drop")
    try:
        r = hk(
            "check",
            "--host",
            f"{host.target},{lab.guide.target}",
            "-f",
            "json",
            config=lab.client.config,
        )
    finally:
        host.exec("rm -f /tmp/hk-drop /usr/local/bin/nproc")
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"harborkit: error: {host.target}: connection to {host.address} dropped while collecting (no complete snapshot"
    ), line
    assert verdicts(r.stdout)["server58"]["limits.pam"] == "fail"


def test_permission_denied_file_reads_as_it_would_locally(lab: Lab) -> None:
    host = lab.sudo
    host.exec("chmod 600 /etc/docker/daemon.json")
    try:
        r = hk(
            "check",
            "--host",
            f"{ADMIN}@{host.target}",
            "--only",
            "docker.daemon_json",
            "-f",
            "json",
            config=lab.client.config,
        )
    finally:
        host.exec("chmod 644 /etc/docker/daemon.json")
    assert r.returncode == ExitCode.FAILED, r.stderr
    result = host_results(r.stdout)[0]
    assert "Permission denied" in result["message"] + str(result["findings"])
    assert f"collector ran as {ADMIN}" in r.stdout


def test_bad_host_syntax() -> None:
    r = hk("check", "--host", "root@")
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.strip() == "harborkit: error: --host root@: not [ssh://][USER@]HOST[:PORT]"


def test_root_and_host_together_is_refused(lab: Lab) -> None:
    r = hk("check", "--root", "/", "--host", lab.guide.target)
    assert r.returncode == ExitCode.USAGE
    assert "--root" in r.stderr


_ = subprocess
