"""Live-host verdicts on a state the test builds, never on what this machine has.

Each test runs ``harborkit check`` as a live host inside a private mount and
pid namespace (:mod:`tests.support.liveroot`): the time daemons, firewalls,
systemd, /data and the processes there are exactly the ones the test put in.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harborkit.errors import ExitCode
from tests.support.liveroot import LiveRoot

#: everything the time, firewall and docker checks consult, hidden from this machine
BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
TOOLS = (
    "ntpd", "chronyd", "chronyc", "ntpq", "ntpstat", "timedatectl", "systemctl",
    "firewalld", "firewall-cmd", "iptables-restore", "ufw", "getenforce", "dockerd", "docker",
)  # fmt: skip
HIDDEN = (
    "/etc/ntp.conf", "/etc/ntpsec", "/etc/chrony.conf", "/etc/chrony", "/etc/systemd",
    "/etc/init.d", "/etc/rc.d", "/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d", "/etc/rc5.d",
    "/etc/ufw", "/etc/selinux", "/etc/os-release", "/usr/lib/os-release",
    "/etc/security", "/etc/profile", "/etc/profile.d", "/etc/bashrc", "/etc/bash.bashrc",
    "/etc/sysctl.conf", "/etc/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/systemd", "/lib/systemd", "/usr/local/lib/systemd", "/etc/hostname",
    *(f"{d}/{t}" for d in BIN_DIRS for t in TOOLS),
)  # fmt: skip
NTPD_UNIT = "/usr/lib/systemd/system/ntpd.service"
CHRONYD_UNIT = "/usr/lib/systemd/system/chronyd.service"
WANTS = "/etc/systemd/system/multi-user.target.wants"
NO_TOOL = "could not tell (no tool to ask (timedatectl, chronyc, ntpstat, ntpq))"


def live(
    files: dict[str, str | None] | None = None,
    *,
    symlinks: dict[str, str] | None = None,
    daemons: tuple[str, ...] = (),
    data_size: str | None = None,
    tmpfs: tuple[str, ...] = (),
) -> LiveRoot:
    base: dict[str, str | None] = {"/etc/os-release": 'ID="centos"\nID_LIKE="rhel fedora"\n'}
    return LiveRoot(
        files={**base, **(files or {})},
        remove=HIDDEN,
        symlinks=symlinks or {},
        daemons=daemons,
        data_size=data_size,
        tmpfs=tmpfs,
    )


def check(root: LiveRoot, only: str, *args: str) -> tuple[int, dict[str, Any]]:
    r = root.harborkit("check", "--only", only, "-f", "json", *args)
    assert r.stderr == "", r.stderr
    data = json.loads(r.stdout)
    assert data["live"] is True
    (res,) = data["results"]
    return r.returncode, res


def rows(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["status"], f["subject"], f["message"]) for f in res["findings"]]


# --- time.sync ---------------------------------------------------------------------


def test_running_daemon_is_judged_not_the_one_only_enabled() -> None:
    root = live(
        {
            "/etc/ntp.conf": "server 192.0.2.1 iburst\n",
            NTPD_UNIT: "[Service]\nExecStart=/usr/sbin/ntpd\n",
            "/etc/chrony.conf": "server 192.0.2.2 iburst\n",
            CHRONYD_UNIT: "[Service]\nExecStart=/usr/sbin/chronyd\n",
        },
        symlinks={f"{WANTS}/ntpd.service": NTPD_UNIT},
        daemons=("/usr/sbin/chronyd",),
    )
    rc, res = check(root, "time.sync")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == (
        "warn",
        "2 of 4 warn: chronyd enabled, clock synchronised",
    )
    found = rows(res)
    assert found[0] == ("pass", "chronyd configured", "time source 192.0.2.2")
    assert found[1] == (
        "warn",
        "chronyd enabled",
        "not enabled at boot (no link to chronyd.service under /etc/systemd/system/*.wants or rc?.d)",
    )
    assert found[2][:2] == ("pass", "chronyd running")
    assert re.fullmatch(r"process chronyd running \(pid \d+\)", found[2][2])
    assert found[3] == ("warn", "clock synchronised", NO_TOOL)


def test_enabled_daemon_that_is_not_running_fails() -> None:
    root = live(
        {"/etc/ntp.conf": "server 192.0.2.1 iburst\n", NTPD_UNIT: "[Service]\n"},
        symlinks={f"{WANTS}/ntpd.service": NTPD_UNIT},
    )
    rc, res = check(root, "time.sync")
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == (
        "fail",
        "ntpd running: not running (no ntpd process; systemd is not the init)",
    )
    assert rows(res) == [
        ("pass", "ntpd configured", "time source 192.0.2.1"),
        ("pass", "ntpd enabled", f"enabled: {WANTS}/ntpd.service"),
        ("fail", "ntpd running", "not running (no ntpd process; systemd is not the init)"),
        ("warn", "clock synchronised", NO_TOOL),
    ]


def test_no_time_daemon_installed_fails() -> None:
    rc, res = check(live(), "time.sync")
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == (
        "fail",
        "time service: none of ntpd, chronyd, systemd-timesyncd is installed",
    )


def test_running_but_unconfigured_daemon_fails_configured() -> None:
    root = live(
        {"/etc/chrony.conf": "driftfile /var/lib/chrony/drift\n"}, daemons=("/usr/sbin/chronyd",)
    )
    rc, res = check(root, "time.sync")
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == (
        "fail",
        "chronyd configured: no server configured (/etc/chrony.conf)",
    )


# --- firewalls ----------------------------------------------------------------------


def test_firewalld_running_and_enabled_fails_both() -> None:
    unit = "/usr/lib/systemd/system/firewalld.service"
    root = live(
        {unit: "[Service]\nExecStart=/usr/sbin/firewalld --nofork\n"},
        symlinks={f"{WANTS}/firewalld.service": unit},
        daemons=("/usr/sbin/firewalld",),
    )
    rc, res = check(root, "firewall.firewalld")
    assert rc == ExitCode.FAILED
    assert res["status"] == "fail"
    assert res["message"] == "2 of 2 fail: firewalld stopped, firewalld disabled"
    (stopped, disabled) = res["findings"]
    assert (stopped["status"], disabled["status"]) == ("fail", "fail")
    assert re.fullmatch(r"running \(process firewalld running \(pid \d+\)\)", stopped["message"])
    assert disabled["message"] == f"starts at boot (enabled: {WANTS}/firewalld.service)"


def test_firewalld_installed_stopped_and_disabled_passes() -> None:
    root = live({"/usr/lib/systemd/system/firewalld.service": "[Service]\n"})
    rc, res = check(root, "firewall.firewalld")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == ("pass", "firewalld is stopped and disabled")
    assert rows(res) == [
        (
            "pass",
            "firewalld stopped",
            "not running (no firewalld process; systemd is not the init)",
        ),
        (
            "pass",
            "firewalld disabled",
            "does not start at boot (no link to firewalld.service under "
            "/etc/systemd/system/*.wants or rc?.d)",
        ),
    ]


def test_firewalld_not_installed_passes() -> None:
    rc, res = check(live(), "firewall.firewalld")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == (
        "pass",
        "firewalld is not installed (no firewalld.service unit or init script)",
    )


def test_ufw_on_debian_not_installed_passes() -> None:
    root = live({"/etc/os-release": "ID=debian\n"})
    rc, res = check(root, "firewall.ufw")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == ("pass", "ufw is not installed")


def test_ufw_skips_on_the_rhel_family() -> None:
    rc, res = check(live(), "firewall.ufw")
    assert rc == ExitCode.OK
    assert res["status"] == "skip"
    assert res["message"] == "ufw is the Debian/Ubuntu firewall; this host is centos"


# --- hardware.disk: /data -----------------------------------------------------------


def test_disk_under_data_when_it_exists() -> None:
    rc, res = check(live(data_size="100g"), "hardware.disk")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == (
        "warn",
        "100.0 GiB free under /data: meets the minimum, below the preferred 160 GiB",
    )


def test_disk_without_data_uses_its_nearest_parent() -> None:
    root = live({"/srv/small": None})
    # the private root is a 300 GiB tmpfs (see LiveRoot); /data does not exist
    rc, res = check(root, "hardware.disk")
    assert rc == ExitCode.OK
    assert res["status"] == "pass"
    assert re.fullmatch(
        r"(299\.\d|300\.0) GiB free under /data \(nearest existing folder: /\)", res["message"]
    ), res["message"]


def test_small_data_volume_fails_the_minimum() -> None:
    root = live(
        {
            "/opt/harbor/harbor.yml": "hostname: 192.0.2.9\nhttp:\n  port: 80\ndata_volume: /data/harbor\n"
        },
        data_size="20g",
    )
    rc, res = check(root, "hardware.disk", "--install-dir", "/opt/harbor")
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == (
        "fail",
        "20.0 GiB free under /data/harbor (nearest existing folder: /data): "
        "below Harbor's minimum of 40 GiB",
    )


# --- selinux.mode: the running kernel's mode --------------------------------------


def test_selinux_disabled_in_config_but_enforcing_until_reboot() -> None:
    root = live(
        {
            "/etc/selinux/config": "SELINUX=disabled\nSELINUXTYPE=targeted\n",
            "/sys/fs/selinux/enforce": "1\n",
        },
        tmpfs=("/sys/fs",),
    )
    rc, res = check(root, "selinux.mode")
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == ("fail", "disabled in config, enforcing until reboot")


def test_selinux_absent_passes() -> None:
    rc, res = check(live(tmpfs=("/sys/fs",)), "selinux.mode")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == ("pass", "SELinux not present")


# --- docker.engine: the binaries on PATH ------------------------------------------


def test_docker_engine_reports_the_binaries_found() -> None:
    # an executable dockerd; a folder named docker is no program
    root = live({"/usr/bin/docker": None}, daemons=("/usr/sbin/dockerd",))
    rc, res = check(root, "docker.engine")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == ("pass", "dockerd at /usr/sbin/dockerd")
    assert rows(res) == [("pass", "dockerd", "found at /usr/sbin/dockerd")]


def test_docker_engine_missing_fails() -> None:
    rc, res = check(live(), "docker.engine")
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == (
        "fail",
        "Docker is not installed: neither dockerd nor docker found",
    )


# --- sysctl.persisted and limits.pam on a live host --------------------------------


def test_persisted_sysctl_names_the_winning_file_and_line() -> None:
    root = live(
        {
            "/etc/sysctl.d/90-harbor.conf": "vm.max_map_count = 1\nvm.swappiness = 0\n",
            "/usr/lib/sysctl.d/90-harbor.conf": "vm.max_map_count = 2\n",
            "/etc/sysctl.conf": "# guide\nvm.max_map_count = 655360\n",
        }
    )
    rc, res = check(root, "sysctl.persisted", "-v")
    assert rc == ExitCode.FAILED
    found = {f["subject"]: f for f in res["findings"]}
    assert (found["vm.max_map_count"]["status"], found["vm.max_map_count"]["location"]) == (
        "pass",
        "/etc/sysctl.conf:2",
    )
    assert found["vm.swappiness"]["location"] == "/etc/sysctl.d/90-harbor.conf:2"
    assert (found["fs.file-max"]["status"], found["fs.file-max"]["message"]) == (
        "fail",
        "not persisted (lost at reboot)",
    )


def test_pam_limits_on_a_live_host() -> None:
    root = live(
        {
            "/etc/security/limits.conf": "* soft nofile 655350\n* hard nofile 655350\n",
            "/etc/security/limits.d/20-nproc.conf": "* - nproc unlimited\n* - stack unlimited\n",
            "/etc/profile": "ulimit -n 655350\n",
        }
    )
    rc, res = check(root, "limits.pam")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == (
        "warn",
        "ulimit -n 655350: only login shells run this: services such as dockerd "
        "(and so containers) do not get it",
    )


# --- names: the host's own name and the cluster nodes ------------------------------

RESOLVER = {
    "/etc/nsswitch.conf": "hosts: files dns\n",
    "/etc/resolv.conf": "nameserver 127.0.0.1\n",
}


def test_own_name_resolving_to_its_address_passes() -> None:
    hosts = "127.0.0.1 localhost\n192.0.2.58 harbor01\n192.0.2.59 harbor02\n"
    rc, res = check(live({**RESOLVER, "/etc/hosts": hosts}), "network.hostname")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == ("pass", "harbor01: resolves to 192.0.2.58")


def test_own_name_not_resolving_fails() -> None:
    rc, res = check(live({**RESOLVER, "/etc/hosts": "127.0.0.1 localhost\n"}), "network.hostname")
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == ("fail", "harbor01: does not resolve")


def test_nodes_resolve_or_say_which_line_to_add() -> None:
    hosts = "192.0.2.58 harbor01\n192.0.2.59 harbor02\n"
    root = live({**RESOLVER, "/etc/hosts": hosts})
    rc, res = check(
        root,
        "network.nodes",
        "--node",
        "harbor02=192.0.2.59",
        "--node",
        "harbor03=192.0.2.60",
    )
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == (
        "fail",
        "harbor03: does not resolve (add '192.0.2.60 harbor03' to /etc/hosts)",
    )


# --- docker.compose and ports with nothing installed or listening -------------------


def test_compose_absent_on_a_live_host_fails() -> None:
    plugins = (
        "/usr/local/lib/docker", "/usr/local/libexec/docker", "/usr/lib/docker",
        "/usr/libexec/docker", "/root/.docker",
    )  # fmt: skip
    root = live()
    root.remove = (*root.remove, *plugins, *(f"{d}/docker-compose" for d in BIN_DIRS))
    rc, res = check(root, "docker.compose")
    assert rc == ExitCode.FAILED
    assert (res["status"], res["message"]) == ("fail", "docker-compose not found")


def test_default_ports_free_in_an_empty_network() -> None:
    rc, res = check(live(), "ports.harbor")
    assert rc == ExitCode.OK
    assert (res["status"], res["message"]) == (
        "pass",
        "ports 80, 443, 4443, 127.0.0.1:1514 free (profile defaults: no harbor.yml given "
        "(--harbor-config or --install-dir))",
    )
