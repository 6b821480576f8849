"""harborkit check --host against real sshd hosts (see conftest.py for the lab)."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from harborkit.compat import zip_strict
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
    from harborkit.commands.options import RemoteOptions
    from harborkit.commands.remote import run_remote
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile
    from harborkit.engine.runner import Selection
    from harborkit.model.check import CheckOptions

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
    # a stand-in getent (a program the collector runs from the host's PATH; its
    # own tools come from the system's folders) that kills this SSH session
    host.write(
        "/usr/local/bin/getent",
        "#!/bin/sh\nif [ -e /tmp/hk-drop ]; then\n  p=$PPID\n"
        '  while [ "$p" -gt 1 ]; do\n'
        "    case $(cat /proc/$p/comm) in sshd*) kill -9 $p; exit 1 ;; esac\n"
        "    p=$(cut -d' ' -f4 /proc/$p/stat)\n  done\nfi\nexec /usr/bin/getent \"$@\"\n",
    )
    host.exec("chmod +x /usr/local/bin/getent && touch /tmp/hk-drop")
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
        host.exec("rm -f /tmp/hk-drop /usr/local/bin/getent")
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


def test_ssh_config_alias_and_proxyjump(lab: Lab, tmp_path: Path) -> None:
    # the operator's ssh_config decides: an alias with HostName/User, reached
    # through another host with ProxyJump
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host harbor-via-jump\n"
        f"  HostName {lab.compliant.address}\n"
        f"  ProxyJump root@{lab.guide.address}\n" + lab.client.config.read_text()
    )
    r = hk(
        "check", "--host", "harbor-via-jump", "--only", "limits.pam", "-f", "json", config=config
    )
    assert r.returncode == ExitCode.OK, r.stderr
    assert verdicts(r.stdout)["server59"]["limits.pam"] == "pass"


def test_bad_numbers_are_usage_errors() -> None:
    r = hk("check", "--host", "h1", "--forks", "0")
    assert (r.returncode, r.stderr.strip()) == (
        ExitCode.USAGE,
        "harborkit: error: --forks 0: must be at least 1",
    )
    r = hk("check", "--host", "h1", "--connect-timeout", "0")
    assert (r.returncode, r.stderr.strip()) == (
        ExitCode.USAGE,
        "harborkit: error: --connect-timeout 0: must be more than 0",
    )
    r = hk("check", "--host", "h1:99999")
    assert (r.returncode, r.stderr.strip()) == (
        ExitCode.USAGE,
        "harborkit: error: --host h1:99999: port 99999 is out of range",
    )


def test_host_whose_sh_is_busybox(lab: Lab) -> None:
    # /bin/sh is BusyBox's ash on this host for the duration of the test
    host = lab.compliant
    busybox = Path("/usr/bin/busybox").read_bytes()
    host.exec("cat > /bin/busybox && chmod 755 /bin/busybox", input=busybox)
    host.exec("ln -sf /bin/busybox /bin/sh")
    try:
        assert "BusyBox" in host.exec("/bin/sh --help 2>&1 || true")
        r = hk(
            "check",
            "--host",
            host.target,
            "--only",
            "kernel,limits.pam",
            "-f",
            "json",
            config=lab.client.config,
        )
    finally:
        host.exec("ln -sf dash /bin/sh")  # runs under busybox: the link is replaced whole
    assert r.returncode == ExitCode.FAILED, r.stderr  # sysctl.runtime: the machine's kernel
    v = verdicts(r.stdout)["server59"]
    assert v["limits.pam"] == "pass" and v["sysctl.persisted"] == "pass"


def test_collect_needs_script() -> None:
    r = hk("collect")
    assert (r.returncode, r.stderr.strip()) == (
        ExitCode.USAGE,
        "harborkit: error: collect: say what to print: --script (see harborkit collect --help)",
    )


# ---- hostile hosts: a forced command per login name (issue 18, classes 3 and 4)

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from tests.support.sshhost import SshHost, start_host  # noqa: E402

#: login name -> the command sshd forces on it (ForceCommand), whatever harborkit asks
HOSTILE = {
    "hk-sleep": "sleep 1000",
    "hk-trickle": "while :; do printf x; sleep 0.2; done",
    "hk-trickle-err": "while :; do printf x >&2; sleep 0.2; done",
    "hk-background": "cat >/dev/null; (sleep 1000 &); exit 0",
    "hk-closed-stdout": "exec 1>&-; sleep 1000",
    "hk-closed-both": "exec 1>&- 2>&-; sleep 1000",
    "hk-prompt": "cat >/dev/null; printf '[sudo] password for root: ' >&2; sleep 1000",
    "hk-after-snapshot": "/bin/sh -s clock; sleep 1000",
    "hk-flood": "head -c 500000000 /dev/zero",
    "hk-flood-err": "head -c 500000000 /dev/zero >&2",
    "hk-flood-slow": "while :; do head -c 1000000 /dev/zero; done",
    # the collector's first round trip completes; every later one hangs
    "hk-second": "if mkdir /tmp/hk-second.once 2>/dev/null; then exec /bin/sh -s clock; "
    "else cat >/dev/null; sleep 1000; fi",
    "hk-escape": "cat >/dev/null; printf 'ok\\033]0;owned\\007\\033[2J\\r\\n\\033[31mbad\\n' >&2; exit 3",
    # output exactly at the caps (64 MiB stdout, 1 MiB stderr) and one byte past them
    "hk-cap": "cat >/dev/null; head -c 67108864 /dev/zero",
    "hk-cap-over": "cat >/dev/null; head -c 67108865 /dev/zero",
    "hk-cap-err": "cat >/dev/null; head -c 1048576 /dev/zero >&2",
    "hk-cap-err-over": "cat >/dev/null; head -c 1048577 /dev/zero >&2",
}
#: a short --command-timeout for the hang tests: long enough for the healthy
#: host beside them to finish on a loaded 2-core machine (3 s was not)
DEADLINE = 6
#: how many of the runs that wait out DEADLINE run at once (hang_runs): each
#: spends most of it waiting, but judging the healthy host beside it costs CPU,
#: and with more at once on 2 cores that host no longer finished within DEADLINE
HANG_FORKS = 3


@pytest.fixture(scope="module")
def hostile(lab: Lab) -> Iterator[SshHost]:
    """One more sshd host, named server58 like the guide host (a host that
    answers with another host's name); each login name of HOSTILE gets its
    forced command, root logs in normally."""
    host = start_host(lab.image, lab.env, "server58", lab.client.public_key)
    try:
        blocks, users = [], []
        for user, command in HOSTILE.items():  # one docker exec for all the users
            users.append(
                f"useradd -m -s /bin/sh {user} && mkdir -p /home/{user}/.ssh && "
                f"cp /root/.ssh/authorized_keys /home/{user}/.ssh/ && "
                f"chown -R {user} /home/{user}/.ssh && "
                f"echo '{user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{user}"
            )
            blocks.append(f"Match User {user}\n  ForceCommand {command}\n")
        host.exec(" && ".join(users))
        host.exec("cat >> /etc/ssh/sshd_config", input="".join(blocks).encode())
        host.exec("/usr/sbin/sshd -t")  # the configuration is valid
        listening = _listening(host)
        host.exec("kill -HUP 1")  # sshd re-executes itself with the new configuration
        # re-executed: its listening socket is a new one (until then the old sshd,
        # with the old configuration, still answers a banner)
        deadline = time.monotonic() + 60
        while _listening(host) in ("", listening):
            assert time.monotonic() < deadline, "sshd did not re-execute on SIGHUP"
            time.sleep(0.1)
        _wait_for_sshd(host)
        lab.client.trust([host])
        yield host
    finally:
        host.stop()


def _listening(host: SshHost) -> str:
    """The sockets sshd (the container's pid 1) holds: its listening ones."""
    return str(host.exec("readlink /proc/1/fd/* | grep '^socket:' | sort || true"))


def _wait_for_sshd(host: SshHost) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(1)
            try:
                s.connect((host.address, host.port))
                if s.recv(64).startswith(b"SSH-"):
                    return
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"sshd on {host.address} did not come back")


def hk_measured(*args: str, config: Path) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """``harborkit check --ssh-config config ARGS``: the process, its wall time
    and its peak RSS in KiB (GNU time, this process alone)."""
    with tempfile.NamedTemporaryFile(prefix="hk-rss-") as rss:
        argv = ["/usr/bin/time", "-f", "%M", "-o", rss.name, sys.executable, "-m", "harborkit"]
        argv += [args[0], "--ssh-config", str(config), *args[1:]]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        t0 = time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
        elapsed = time.monotonic() - t0
        peak = int(Path(rss.name).read_text().split()[-1])
    return r, elapsed, peak


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("harborkit: error: ")]


#: the logins of HOSTILE that never finish: one run each, beside the healthy guide host
NEVER_FINISH = [
    "hk-sleep",
    "hk-trickle",
    "hk-trickle-err",
    "hk-background",
    "hk-closed-stdout",
    "hk-closed-both",
    "hk-after-snapshot",
]

Measured = tuple[subprocess.CompletedProcess[str], float, int]


@pytest.fixture(scope="module")
def hang_runs(
    lab: Lab, hostile: SshHost, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The runs that wait out the deadline, each its own ``harborkit check`` process
    as the tests below assert it, HANG_FORKS at a time: together they take one
    deadline per HANG_FORKS runs, not one each (the waiting is for a host that
    never answers; the healthy host beside each is judged well within it).
    Keys: each login of NEVER_FINISH, ``"hk-prompt"`` (with --become),
    ``"stuck-proxy"`` (its own ssh_config), and ``"proxy-marker"``: the
    ``sleep`` argument that ProxyCommand runs, which must not outlive its run."""
    runs: dict[str, tuple[str, ...]] = {
        user: ("--host", f"{user}@{hostile.target},{lab.guide.target}") for user in NEVER_FINISH
    }
    runs["hk-prompt"] = ("--host", f"hk-prompt@{hostile.target},{lab.guide.target}", "--become")
    runs["stuck-proxy"] = ("--host", f"stuck-proxy,{lab.guide.target}")
    # no sshd involved: ConnectTimeout does not cover a ProxyCommand; the deadline does
    marker = f"{os.getpid() % 9000 + 987000}"
    proxy_config = tmp_path_factory.mktemp("stuck-proxy") / "ssh_config"
    proxy_config.write_text(
        f"Host stuck-proxy\n  ProxyCommand sleep {marker}\n" + lab.client.config.read_text()
    )

    def run(key: str) -> Measured:
        config = proxy_config if key == "stuck-proxy" else lab.client.config
        args = ("--command-timeout", str(DEADLINE), "--only", "limits.pam", "-f", "json")
        return hk_measured("check", *runs[key], *args, config=config)

    with ThreadPoolExecutor(max_workers=HANG_FORKS) as pool:
        done = dict(zip_strict(runs, pool.map(run, runs)))
    return {**done, "proxy-marker": marker}


@pytest.mark.parametrize("user", NEVER_FINISH)
def test_a_host_that_never_finishes_is_one_error_within_the_deadline(
    hostile: SshHost, hang_runs: dict[str, Any], user: str
) -> None:
    r, elapsed, _ = hang_runs[user]
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert _errors(r.stderr) == [
        f"harborkit: error: {hostile.address}: the collector did not finish within "
        f"{DEADLINE} s (--command-timeout)"
    ], r.stderr
    assert "Traceback" not in r.stderr
    assert elapsed < DEADLINE + 15, elapsed
    v = verdicts(r.stdout)
    assert v[hostile.address] == {"host.reachable": "error"}
    assert v["server58"] == {"limits.pam": "fail"}  # the healthy host is still judged


def test_a_fake_sudo_prompt_is_one_error_within_the_deadline(
    hostile: SshHost, hang_runs: dict[str, Any]
) -> None:
    r, elapsed, _ = hang_runs["hk-prompt"]
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert _errors(r.stderr) == [
        f"harborkit: error: {hostile.address}: the collector did not finish within "
        f"{DEADLINE} s (--command-timeout); it stopped at a prompt: "
        "'[sudo] password for root:'"
    ], r.stderr
    assert elapsed < DEADLINE + 15, elapsed
    assert verdicts(r.stdout)["server58"] == {"limits.pam": "fail"}


def test_the_deadline_holds_on_its_own_with_one_host(lab: Lab, hostile: SshHost) -> None:
    r, elapsed, _ = hk_measured(
        "check",
        "--host",
        f"hk-trickle@{hostile.target}",
        "--command-timeout",
        "2",
        config=lab.client.config,
    )
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert _errors(r.stderr) == [
        f"harborkit: error: {hostile.address}: the collector did not finish within "
        "2 s (--command-timeout)"
    ]
    assert elapsed < 2 + 15, elapsed


@pytest.mark.parametrize(
    ("user", "line"),
    [
        (
            "hk-flood",
            "the collector sent more than 64 MiB: too large for a snapshot (stopped reading)",
        ),
        (
            "hk-flood-slow",
            "the collector sent more than 64 MiB: too large for a snapshot (stopped reading)",
        ),
        ("hk-flood-err", "the remote side wrote more than 1 MiB on stderr (stopped reading)"),
    ],
)
def test_500_mb_of_remote_output_is_one_error_in_bounded_memory(
    lab: Lab, hostile: SshHost, user: str, line: str
) -> None:
    r, elapsed, peak_kib = hk_measured(
        "check",
        "--host",
        f"{user}@{hostile.target},{lab.guide.target}",
        "--only",
        "limits.pam",
        "-f",
        "json",
        config=lab.client.config,
    )
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert _errors(r.stderr) == [f"harborkit: error: {hostile.address}: {line}"], r.stderr
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"
    assert verdicts(r.stdout)["server58"] == {"limits.pam": "fail"}


def test_a_stopped_host_is_not_asked_again(lab: Lab, hostile: SshHost) -> None:
    # the run-level API: one round trip, then the host is an error; no second try
    from harborkit.commands.options import RemoteOptions
    from harborkit.commands.remote import run_remote
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile
    from harborkit.engine.runner import Selection
    from harborkit.model.check import CheckOptions

    loaded, failures = discover()
    prof = load_profile(None)
    run = run_remote(
        RemoteOptions(
            hosts=(f"hk-sleep@{hostile.target}",),
            ssh_config=str(lab.client.config),
            command_timeout=1,
        ),
        loaded=loaded,
        profile=prof,
        selection=Selection(prof.select, prof.skip),
        waivers=[],
        plugin_failures=failures,
        options=CheckOptions(None, None),
    )
    assert run.round_trips == {hostile.address: 1}
    assert run.failure_lines == [
        f"{hostile.address}: the collector did not finish within 1 s (--command-timeout)"
    ]
    # nothing of that connection is left behind: neither the client nor its ControlMaster
    deadline = time.monotonic() + 10
    while True:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        left = [ln for ln in ps.splitlines() if ln.startswith("ssh ") and "hk-sleep" in ln]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left == []


# ---- which target each section came from (issue 18, "also settle")


def _hosts(report_json: str) -> list[dict[str, object]]:
    return list(json.loads(report_json)["hosts"])


def test_duplicate_targets_are_audited_once(lab: Lab, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host guide-alias\n  HostName {lab.guide.address}\n" + lab.client.config.read_text()
    )
    g = lab.guide
    r = hk(
        "check",
        "--host",
        f"{g.target},root@{g.address}:22,guide-alias",
        "--host",
        f"ssh://root@{g.address}",
        "--only",
        "limits.pam",
        "-f",
        "json",
        config=config,
    )
    assert r.returncode == ExitCode.FAILED, r.stderr
    hosts = _hosts(r.stdout)
    assert [h["name"] for h in hosts] == ["server58"]
    notes = hosts[0]["report"]["notes"]  # type: ignore[index]
    assert notes[:4] == [
        f"target: root@{g.address} port 22 over SSH (given as {g.address})",
        f"also given as root@{g.address}:22: the same target, audited once",
        "also given as guide-alias: the same target, audited once",
        f"also given as root@{g.address}: the same target, audited once",
    ]


def test_other_users_and_ports_are_other_targets(lab: Lab) -> None:
    # the same address as another user is another login: not folded into one
    g = lab.guide
    r = hk(
        "check",
        "--host",
        f"{g.target},{ADMIN}@{g.address}",
        "--only",
        "limits.pam",
        "-f",
        "json",
        config=lab.client.config,
    )
    assert r.returncode == ExitCode.FAILED, r.stderr
    hosts = _hosts(r.stdout)
    assert len(hosts) == 2


def test_a_host_answering_with_another_hosts_name_is_named_by_its_target(
    lab: Lab, hostile: SshHost
) -> None:
    r = hk(
        "check",
        "--host",
        f"{lab.guide.target},{hostile.target}",
        "--only",
        "limits.pam",
        "-f",
        "json",
        config=lab.client.config,
    )
    assert r.returncode == ExitCode.FAILED, r.stderr
    hosts = _hosts(r.stdout)
    names = [h["name"] for h in hosts]
    assert names == [
        f"server58 (root@{lab.guide.address} port 22)",
        f"server58 (root@{hostile.address} port 22)",
    ]
    for h, addr in zip_strict(hosts, (lab.guide.address, hostile.address)):
        notes = h["report"]["notes"]  # type: ignore[index]
        assert notes[0] == f"target: root@{addr} port 22 over SSH (given as {addr})"
        assert notes[1] == f"another section has the name server58: this one is root@{addr} port 22"
    table = hk(
        "check",
        "--host",
        f"{lab.guide.target},{hostile.target}",
        "--only",
        "limits.pam",
        config=lab.client.config,
    )
    # the table wraps long lines: read it as words
    words = " ".join(table.stdout.split())
    assert f"server58 (root@{hostile.address} port 22) (live host): FAILED" in words
    assert f"server58 (root@{lab.guide.address} port 22) (live host): FAILED" in words


def test_an_inventory_host_answering_with_another_name_says_so(
    lab: Lab, hostile: SshHost, tmp_path: Path
) -> None:
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"[harbor]\nserver59 ansible_host={hostile.address} ansible_user=root\n")
    r = hk("check", "-i", str(inv), "--only", "limits.pam", "-f", "json", config=lab.client.config)
    assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
    (h,) = _hosts(r.stdout)
    assert h["name"] == "server59"
    assert h["report"]["notes"][:2] == [  # type: ignore[index]
        f"target: root@{hostile.address} port 22 over SSH (given as root@{hostile.address})",
        f"the host at root@{hostile.address} port 22 answers with the name server58, not server59",
    ]


# ---- option mistakes (issue 18, classes 13 and 14)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("", "--host '': no host (expected [ssh://][USER@]HOST[:PORT])"),
        (",", "--host ',': no host (expected [ssh://][USER@]HOST[:PORT])"),
        (" ", "--host ' ': no host (expected [ssh://][USER@]HOST[:PORT])"),
        (" , ,", "--host ' , ,': no host (expected [ssh://][USER@]HOST[:PORT])"),
        (
            "h1,,h2",
            "--host 'h1,,h2': an empty host between commas (expected [ssh://][USER@]HOST[:PORT])",
        ),
        ("h1,", "--host 'h1,': an empty host between commas (expected [ssh://][USER@]HOST[:PORT])"),
    ],
)
def test_an_empty_host_list_is_a_usage_error(value: str, line: str) -> None:
    r = hk("check", "--host", value)
    assert (r.returncode, r.stderr) == (ExitCode.USAGE, f"harborkit: error: {line}\n")
    assert r.stdout == ""


@pytest.mark.parametrize("option", ["--connect-timeout", "--command-timeout"])
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("nan", "nan: not a number of seconds"),
        ("inf", "inf: not a number of seconds"),
        ("-inf", "-inf: not a number of seconds"),
        ("1e999", "inf: not a number of seconds"),
        ("0", "0: must be more than 0"),
        ("-5", "-5: must be more than 0"),
        ("1e300", "1e+300: at most 86400 seconds"),
    ],
)
def test_timeouts_must_be_finite_seconds(option: str, value: str, why: str) -> None:
    r = hk("check", "--host", "h1", f"{option}={value}")
    assert (r.returncode, r.stderr) == (ExitCode.USAGE, f"harborkit: error: {option} {why}\n")


def test_ssh_config_must_be_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, why in (
        (str(fifo), "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (str(tmp_path), "not a regular file"),
        (str(tmp_path / "nope"), "No such file or directory"),
    ):
        r = hk("check", "--host", "h1", "--ssh-config", path, timeout=30)
        assert (r.returncode, r.stderr) == (
            ExitCode.USAGE,
            f"harborkit: error: --ssh-config {path}: {why}\n",
        )


def test_inventory_names_of_one_machine_are_audited_once(lab: Lab, tmp_path: Path) -> None:
    g = lab.guide
    inv = tmp_path / "hosts.ini"
    inv.write_text(
        "[harbor]\n"
        f"server58 ansible_host={g.address}\n"
        f"server58-again ansible_host={g.address} ansible_port=22 ansible_user=root\n"
    )
    r = hk("check", "-i", str(inv), "--only", "limits.pam", "-f", "json", config=lab.client.config)
    assert r.returncode == ExitCode.FAILED, r.stderr
    (h,) = _hosts(r.stdout)
    assert h["name"] == "server58"
    assert h["report"]["notes"][:2] == [  # type: ignore[index]
        f"target: root@{g.address} port 22 over SSH (given as {g.address})",
        f"also given as server58-again (root@{g.address}:22): the same target, audited once",
    ]


def test_a_later_round_trip_has_the_deadline_too(lab: Lab, hostile: SshHost) -> None:
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile
    from harborkit.engine.wants import wants_for
    from harborkit.host.ssh import (
        ControlDir,
        SshConnection,
        SshError,
        SshOptions,
        parse_target,
    )
    from harborkit.host.ssh import (
        SshHost as RemoteHost,
    )
    from harborkit.model.check import CheckOptions

    loaded, _ = discover()
    wants = wants_for(load_profile(None).data, CheckOptions(), [lc.cls for lc in loaded])
    control = ControlDir()
    conn = SshConnection(
        parse_target(f"hk-second@{hostile.target}"),
        SshOptions(config_file=str(lab.client.config), command_timeout=2),
        control,
    )
    try:
        host = RemoteHost(conn, wants)  # the first round trip: a whole snapshot
        assert host.name == "server58"
        t0 = time.monotonic()
        with pytest.raises(SshError) as e:
            host.fetch_all(wants[:1])  # the second one hangs
        assert time.monotonic() - t0 < 2 + 10
        line = f"{hostile.address}: the collector did not finish within 2 s (--command-timeout)"
        assert e.value.message == line
        assert e.value.exit_code == UNREACHABLE_EXIT
        t0 = time.monotonic()
        with pytest.raises(SshError) as e:  # not asked again: the same error at once
            host.fetch_all(wants[:1])
        # at once: not a third round trip, which would wait out the 2 s deadline again
        assert e.value.message == line and time.monotonic() - t0 < 2
        assert conn.round_trips == 2
    finally:
        conn.close()
        control.cleanup()


def test_terminal_escapes_from_a_host_are_shown_not_sent(lab: Lab, hostile: SshHost) -> None:
    r = hk("check", "--host", f"hk-escape@{hostile.target}", config=lab.client.config)
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr
    assert _errors(r.stderr) == [
        f"harborkit: error: {hostile.address}: the collector failed: \\x1b[31mbad"
    ]


def test_a_host_name_given_to_host_that_answers_as_another_says_so(
    lab: Lab, hostile: SshHost, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host server59.lan\n  HostName {hostile.address}\n"
        f"Host server58.lan\n  HostName {lab.guide.address}\n" + lab.client.config.read_text()
    )
    r = hk(
        "check",
        "--host",
        "server59.lan",
        "--host",
        "server58.lan",  # the short name matches: nothing to say
        "--only",
        "limits.pam",
        "-f",
        "json",
        config=config,
    )
    assert r.returncode == ExitCode.FAILED, r.stderr
    wrong, right = _hosts(r.stdout)
    assert wrong["report"]["notes"][:3] == [  # type: ignore[index]
        f"target: root@{hostile.address} port 22 over SSH (given as server59.lan)",
        f"the host at root@{hostile.address} port 22 answers with the name server58, "
        "not server59.lan",
        f"another section has the name server58: this one is root@{hostile.address} port 22",
    ]
    assert right["report"]["notes"][:2] == [  # type: ignore[index]
        f"target: root@{lab.guide.address} port 22 over SSH (given as server58.lan)",
        f"another section has the name server58: this one is root@{lab.guide.address} port 22",
    ]


def test_a_proxy_command_that_hangs_is_killed_at_the_deadline(hang_runs: dict[str, Any]) -> None:
    # no sshd involved: ConnectTimeout does not cover a ProxyCommand; the deadline does,
    # and everything ssh started (its process group) goes with it
    r, elapsed, _ = hang_runs["stuck-proxy"]
    marker = hang_runs["proxy-marker"]
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert _errors(r.stderr) == [
        f"harborkit: error: stuck-proxy: the collector did not finish within {DEADLINE} s "
        "(--command-timeout)"
    ]
    assert elapsed < DEADLINE + 15
    assert verdicts(r.stdout)["server58"] == {"limits.pam": "fail"}
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert [ln for ln in ps.splitlines() if ln == f"sleep {marker}"] == []


# ---- an adversarial pass over the deadlines (issue 18, class 3): what the
# hostile logins above did not cover


def _procs_with(text: str) -> list[tuple[int, str]]:
    """(pid, args) of every process whose command line holds ``text``."""
    ps = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    out = []
    for line in ps.splitlines():
        pid, _, args = line.strip().partition(" ")
        if text in args and "ps -eo" not in args:
            out.append((int(pid), args))
    return out


def _gone(text: str, within: float = 5.0) -> list[tuple[int, str]]:
    """The processes holding ``text`` still there after ``within`` seconds (none, hopefully)."""
    deadline = time.monotonic() + within
    while (left := _procs_with(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_a_host_that_never_sends_its_banner_ends_at_the_deadline(lab: Lab) -> None:
    # a TCP peer that accepts and says nothing: ConnectTimeout (30 s here) does not
    # bound the banner wait under the deadline; --command-timeout does
    import socket

    with socket.socket() as server:
        server.bind((lab.down_address, 0))
        server.listen(8)
        port = server.getsockname()[1]
        r, elapsed, _ = hk_measured(
            "check",
            "--host",
            f"{lab.down_address}:{port}",
            "--connect-timeout",
            "30",
            "--command-timeout",
            "2",
            config=lab.client.config,
        )
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert _errors(r.stderr) == [
        f"harborkit: error: {lab.down_address}: the collector did not finish within 2 s "
        "(--command-timeout)"
    ]
    assert elapsed < 2 + 10, elapsed


def test_a_control_master_that_hangs_is_killed_with_the_host(lab: Lab) -> None:
    # the connection's ControlMaster stops answering (SIGSTOP) after a good round
    # trip: the next call ends at its deadline, and neither the client nor the
    # hung master outlives it (ssh -O exit cannot stop a master that hangs)
    import signal

    from harborkit.host.ssh import ControlDir, SshConnection, SshError, SshOptions, parse_target

    control = ControlDir()
    conn = SshConnection(
        parse_target(lab.compliant.target),
        SshOptions(config_file=str(lab.client.config), command_timeout=2),
        control,
    )
    try:
        assert conn.run_script("echo ok")[0] == b"ok\n"
        (master,) = _procs_with(f"ssh: {control.path}/")
        os.kill(master[0], signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(SshError) as e:
            conn.run_script("echo again")
        elapsed = time.monotonic() - t0
        assert e.value.message == (
            f"{lab.compliant.address}: the collector did not finish within 2 s (--command-timeout)"
        )
        assert elapsed < 2 + 2, elapsed  # not 5 s more waiting for ssh -O exit
        assert _gone(control.path) == []
    finally:
        for pid, _ in _procs_with(control.path):
            os.kill(pid, signal.SIGKILL)
        control.cleanup()


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_interrupt_leaves_no_ssh_behind(lab: Lab, hostile: SshHost, signame: str) -> None:
    # Ctrl-C (or a TERM from a CI timeout, a HUP from a closed terminal) while
    # hosts hang: harborkit stops at once (not at the 60 s deadline) and no ssh
    # client or ControlMaster of the run is left running
    import signal

    argv = [sys.executable, "-m", "harborkit", "check", "--ssh-config", str(lab.client.config)]
    argv += ["--host", f"hk-sleep@{hostile.target},hk-trickle@{hostile.target}"]
    argv += ["--command-timeout", "60", "--forks", "2", "--only", "limits.pam"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        clients: list[tuple[int, str]] = []
        while time.monotonic() < deadline:
            clients = [
                (pid, args)
                for pid, args in _procs_with("ControlPath=/tmp/hk-ssh-")
                if _parent(pid) == proc.pid
            ]
            if len(clients) == 2:
                break
            time.sleep(0.1)
        assert len(clients) == 2, clients
        path = clients[0][1].split("ControlPath=", 1)[1].split()[0]
        control = "/".join(path.split("/")[:3])  # /tmp/hk-ssh-XXXX
        # both connections made (a master renames itself once it is up): the signal
        # comes while both collectors run, however long a loaded machine took to get there
        while len(_procs_with(f"ssh: {control}/")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_procs_with(f"ssh: {control}/")) == 2, "the ControlMasters run"
        t0 = time.monotonic()
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err
    assert elapsed < 10, elapsed
    assert _gone(control) == []
    assert not Path(control).exists()


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def test_many_hanging_hosts_take_rounds_of_the_deadline(lab: Lab, hostile: SshHost) -> None:
    # six logins that never finish, two at a time: three rounds of the deadline,
    # not six, and never a wait for each one's ControlMaster in turn
    users = ["hk-sleep", "hk-trickle", "hk-trickle-err", "hk-background", "hk-closed-stdout"]
    users.append("hk-closed-both")
    hosts = ",".join(f"{u}@{hostile.target}" for u in users)
    r, elapsed, _ = hk_measured(
        "check",
        "--host",
        hosts,
        "--forks",
        "2",
        "--command-timeout",
        "3",
        "--only",
        "limits.pam",
        config=lab.client.config,
    )
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    # one line each, told apart by login: six targets, not one address
    assert sorted(_errors(r.stderr)) == sorted(
        f"harborkit: error: {hostile.address} ({u}@{hostile.address}): the collector did not "
        "finish within 3 s (--command-timeout)"
        for u in users
    ), r.stderr
    assert 3 * 3 <= elapsed < 3 * 3 + 8, elapsed


def test_a_match_exec_that_hangs_is_bounded_and_killed(lab: Lab, tmp_path: Path) -> None:
    # ssh_config's "Match exec" runs a command in every ssh, even ssh -G (the
    # duplicate check) and ssh -O exit: each is bounded by --command-timeout and
    # the command is killed with ssh (it was left running, and cost 10 s + 5 s more)
    marker = f"{os.getpid() % 9000 + 976000}"
    config = tmp_path / "ssh_config"
    config.write_text(f'Match exec "sleep {marker}"\n  User root\n' + lab.client.config.read_text())
    r, elapsed, _ = hk_measured(
        "check", "--host", lab.guide.target, "--command-timeout", "2", config=config
    )
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert _errors(r.stderr) == [
        f"harborkit: error: {lab.guide.address}: the collector did not finish within 2 s "
        "(--command-timeout)"
    ]
    assert elapsed < 2 + 2 + 5, elapsed  # ssh -G, then the call
    assert _gone(f"sleep {marker}", within=2) == []


@pytest.mark.parametrize(
    ("user", "over"),
    [
        ("hk-cap", False),
        ("hk-cap-over", True),
        ("hk-cap-err", False),
        ("hk-cap-err-over", True),
    ],
)
def test_output_at_the_cap_is_read_and_one_byte_more_is_refused(
    lab: Lab, hostile: SshHost, user: str, over: bool
) -> None:
    # exactly 64 MiB of stdout (1 MiB of stderr) is read whole and judged as a
    # snapshot (it is none: zeros); one byte more is the "too large" line; both
    # in bounded memory
    r, _, peak_kib = hk_measured(
        "check",
        "--host",
        f"{user}@{hostile.target}",
        "--only",
        "limits.pam",
        config=lab.client.config,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    (line,) = _errors(r.stderr)
    assert line.startswith(f"harborkit: error: {hostile.address}: "), line
    too_large = "more than 64 MiB" in line or "more than 1 MiB on stderr" in line
    assert too_large is over, line
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"


def test_a_process_that_outlives_ssh_holding_its_pipes_is_not_waited_for(
    lab: Lab, tmp_path: Path
) -> None:
    """Issue 24: a call ends when ``ssh`` has exited, not when every copy of its
    pipes is closed. A process ssh leaves running with a copy of its stdout and
    stderr (here a LocalCommand's background child; in the field the
    ControlMaster persisted by ControlPersist=60 on OpenSSH versions that keep
    stderr, or a ProxyCommand helper) made each call wait until that process
    ended: up to 60 s per host behind a persisted master, or the whole deadline.
    No wall time is measured: the holders are still alive after harborkit
    finished, so harborkit cannot have waited for them."""
    held = tmp_path / "holder.pid"
    config = tmp_path / "ssh_config"
    config.write_text(
        "PermitLocalCommand yes\n"
        f"LocalCommand sleep 300 </dev/null & echo $! >> {held}\n" + lab.client.config.read_text()
    )
    targets = f"{lab.compliant.target},{lab.guide.target}"
    try:
        r = hk(
            "check",
            "--host",
            targets,
            "--only",
            "limits.pam",
            "-f",
            "json",
            "--command-timeout",
            "100",
            config=config,
            timeout=250,
        )
        holders = [int(p) for p in held.read_text().split()]
        alive = [p for p in holders if Path(f"/proc/{p}").exists()]
        assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
        assert "error" not in r.stderr, r.stderr
        assert verdicts(r.stdout)["server59"]["limits.pam"] == "pass"
        assert set(verdicts(r.stdout)) >= {"server58", "server59"}
        assert len(holders) == 2 and alive == holders  # both holders outlived the run
    finally:
        for pid in [int(p) for p in held.read_text().split()] if held.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
