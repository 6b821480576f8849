"""The facts a run reads, as the collector's work list.

:func:`wants_for` lists them (files, folders, globs, commands, programs,
processes) from the profile, the options and what each check declares
(``Check.reads`` / ``Check.commands``); the engine hands the list to the
collector (:func:`harborkit.collect.script`) as data, so the collector needs
nothing from the engine or the checks.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from harborkit.engine.profile import builtin_data
from harborkit.model.check import Check, CheckOptions

# what the built-in checks read, named once here so that a snapshot answers
# them without a second round trip (a miss costs one more, never a wrong verdict)
_FILES = (
    "/etc/hosts",
    "/etc/hostname",
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/selinux/config",
    "/sys/fs/selinux/enforce",
    "/sys/fs",
    "/run/systemd/system",
    "/proc/sys/kernel",
    "/proc/sys/kernel/hostname",
    "/proc/meminfo",
    "/proc/net/tcp",
    "/proc/net/tcp6",
    "/etc/profile",
    "/etc/bashrc",
    "/etc/bash.bashrc",
    "/etc/sysctl.conf",
    "/etc/security/limits.conf",
    "/etc/ufw/ufw.conf",
    "/etc/ntp.conf",
    "/etc/ntpsec/ntp.conf",
    "/etc/chrony.conf",
    "/etc/chrony/chrony.conf",
    "/etc/systemd/timesyncd.conf",
)
_EXISTS = (
    "/usr/lib/systemd/systemd-timesyncd",
    "/lib/systemd/systemd-timesyncd",
    "/data",
    "/var/log/harbor",
)
_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
    "/etc/security/limits.d",
    "/etc/profile.d",
    "/etc/chrony.d",
    "/etc/chrony/conf.d",
    "/etc/chrony/sources.d",
    "/usr/lib/systemd/timesyncd.conf.d",
    "/usr/local/lib/systemd/timesyncd.conf.d",
    "/run/systemd/timesyncd.conf.d",
    "/etc/systemd/timesyncd.conf.d",
    "/etc/systemd/system/docker.service.d",
    "/usr/lib/systemd/system/docker.service.d",
    "/run/systemd/system/docker.service.d",
)
_UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
_INIT_DIRS = ("/etc/rc.d/init.d", "/etc/init.d")
_RC_DIRS = ("/etc/rc.d/rc{n}.d", "/etc/rc{n}.d")
_CLI_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
    "/root/.docker/cli-plugins",
)
_PROGRAMS = (
    "dockerd",
    "docker",
    "docker-compose",
    "systemctl",
    "timedatectl",
    "chronyc",
    "chronyd",
    "ntpd",
    "ntpstat",
    "ntpq",
    "firewall-cmd",
    "firewalld",  # firewall.firewalld says whether it is installed without a unit
    "iptables",  # firewall.iptables says whether the command exists beside the service
    "ufw",
    "getenforce",
    "getent",
)
_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("docker", "version", "--format", "{{json .Server}}"),
    ("docker", "info", "--format", "{{json .}}"),
    ("docker", "version", "--format", "{{json .}}"),
    ("docker", "compose", "version", "--short"),
    ("timedatectl", "show", "-p", "NTPSynchronized", "--value"),
    ("chronyc", "tracking"),
    ("ntpstat",),
    ("ntpq", "-pn"),
    ("firewall-cmd", "--state"),
    ("ufw", "status"),
)
_PROCESSES = ("dockerd", "ntpd", "chronyd", "systemd-timesyncd", "firewalld")
#: services whose unit files, enablement and state the checks ask about
_SERVICES = (
    "docker",
    "ntpd",
    "ntp",
    "ntpsec",
    "chronyd",
    "chrony",
    "systemd-timesyncd",
    "firewalld",
    "iptables",
    "ufw",
)


def _unit(name: str) -> str:
    return name if "." in name else f"{name}.service"


def wants_for(
    profile: Mapping[str, Any],
    options: CheckOptions | None = None,
    checks: Iterable[type[Check]] = (),
) -> list[str]:
    """The collector's work list: one ``KIND ARG`` line per fact."""
    options = options or CheckOptions()
    out: list[str] = []
    out += [f"f {p}" for p in _FILES]
    out += [f"e {p}" for p in _EXISTS]
    out += [f"d {d}" for d in _DIRS]
    # unit folders and init script folders are listed once for every service
    out += [f"l {d}" for d in (*_UNIT_DIRS, *_INIT_DIRS)]
    out += [f"l {pattern.format(n=n)}" for pattern in _RC_DIRS for n in (2, 3, 4, 5)]
    out += ["m /etc/systemd/system/*.wants", "m /etc/systemd/system/*.requires"]
    # the built-in profile's facts whatever the profile given: a snapshot made
    # with the site profile answers a run with the built-in one, and back
    profiles = [profile, _builtin_profile()]
    for prof in profiles:
        for key in prof.get("sysctl") or {}:
            out.append("f /proc/sys/" + str(key).replace(".", "/"))
    out += [f"w {p}" for p in _PROGRAMS]
    compose = (profile.get("compose") or {}).get("binary", "docker-compose")
    out.append(f"w {compose}")
    dj = (profile.get("daemon_json") or {}).get("path", "/etc/docker/daemon.json")
    out.append(f"f {dj}")
    for d in _CLI_PLUGIN_DIRS:
        out.append(f"e {d}/docker-compose")
    for unit_path in ("/usr/lib/systemd/system", "/lib/systemd/system", "/etc/systemd/system"):
        out.append(f"f {unit_path}/docker.service")
    for name in _SERVICES:
        unit = _unit(name)
        out.append("c " + shlex.join(["systemctl", "is-enabled", unit]))
        out.append("c " + shlex.join(["systemctl", "is-active", unit]))
    out += ["c " + shlex.join(argv) for argv in _COMMANDS]
    out += [f"p {p}" for p in _PROCESSES]
    out.append("k sockets")
    for binary in (compose,):
        for d in ("/usr/local/bin", "/usr/bin"):
            path = f"{d}/{binary}"
            out.append("c " + shlex.join([path, "version", "--short"]))
            out.append("c " + shlex.join([path, "--version"]))
    # harbor.yml and the places it names
    if options.harbor_config:
        out.append(f"y {options.harbor_config}")
    if options.install_dir:
        out.append(f"f {options.install_dir}")
        for name in (profile.get("harbor") or {}).get("config_names") or ["harbor.yml"]:
            out.append(f"y {posixpath.join(options.install_dir, str(name))}")
        # ports.harbor reads the ports ./prepare's compose file publishes
        out.append(f"f {posixpath.join(options.install_dir, 'docker-compose.yml')}")
    out += ["s /data", "s /var/log/harbor"]
    for prof in profiles:
        for node in prof.get("nodes") or []:
            node_name = node.get("name") if isinstance(node, Mapping) else None
            if node_name:
                out.append(f"h {node_name}")
        # time.sync resolves the time master and servers to know the host's role
        time_section = prof.get("time") or {}
        if isinstance(time_section, Mapping):
            names = [time_section.get("master"), *(time_section.get("servers") or [])]
            out += [f"h {n}" for n in names if isinstance(n, str) and n]
    # the host's own name is asked for by name; the collector resolves it too
    out.append("h -")
    out.append("H -")
    for check in checks:
        out += declared_wants(check)
    return list(dict.fromkeys(out))


def declared_wants(check: type[Check]) -> list[str]:
    """What a (plugin) check declares it reads: ``reads`` paths/globs, ``commands`` argv."""
    out = []
    for item in getattr(check, "reads", ()) or ():
        path = str(item)
        if not path.startswith("/"):
            continue
        out.append(("g " if any(c in path for c in "*?[") else "f ") + path)
    for command in getattr(check, "commands", ()) or ():
        argv = [str(a) for a in command]
        if argv:
            out.append("w " + argv[0] if "/" not in argv[0] else "f " + argv[0])
            out.append("c " + shlex.join(argv))
    return out


def _builtin_profile() -> Mapping[str, Any]:
    """The built-in profile, read once per process and not copied (only read here)."""
    return builtin_data()
