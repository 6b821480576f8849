"""Service facts read from a sysroot: unit files, SysV scripts, wants/requires
and rc?.d links, and the OS family from os-release.

Service facts on a running host, answered from recorded command output:
``systemctl is-enabled`` / ``is-active`` of each state systemd prints, and
the process list when systemd is not the init (a container)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harborkit.checks import _services
from harborkit.checks._services import Fact
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext
from tests.support.recorded_host import recorded_host

NOT_LIVE = "whether it runs needs a running system; auditing a sysroot"


def write(root: Path, files: dict[str, str]) -> SysrootHost:
    for rel, text in files.items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return SysrootHost(root)


def link(root: Path, at: str, target: str) -> None:
    p = root / at.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)


def test_unit_file_search_order_and_sysv_scripts(tmp_path: Path) -> None:
    host = write(
        tmp_path,
        {
            "lib/systemd/system/a.service": "",
            "usr/lib/systemd/system/a.service": "",
            "usr/local/lib/systemd/system/b.service": "",
            "lib/systemd/system/b.service": "",
            "run/systemd/system/c.service": "",
            "usr/lib/systemd/system/c.service": "",
            "lib/systemd/system/d.socket": "",
            "etc/init.d/e": "",
            "etc/rc.d/init.d/e": "",
            "etc/init.d/f": "",
        },
    )
    assert _services.unit_file(host, "a") == "/usr/lib/systemd/system/a.service"
    assert _services.unit_file(host, "b") == "/usr/local/lib/systemd/system/b.service"
    assert _services.unit_file(host, "c") == "/run/systemd/system/c.service"
    assert _services.unit_file(host, "d.socket") == "/lib/systemd/system/d.socket"
    assert _services.unit_file(host, "d") is None
    assert _services.unit_file(host, "e") == "/etc/rc.d/init.d/e"
    assert _services.unit_file(host, "f") == "/etc/init.d/f"
    assert _services.unit_file(host, "g") is None
    # a masked unit is a dangling link to /dev/null: still found
    link(tmp_path, "etc/systemd/system/g.service", "/dev/null")
    assert _services.unit_file(host, "g") == "/etc/systemd/system/g.service"


def test_enabled_from_wants_and_requires(tmp_path: Path) -> None:
    host = write(tmp_path, {"usr/lib/systemd/system/x.service": ""})
    assert _services.enabled(host, "x") == Fact(
        False, "no link to x.service under /etc/systemd/system/*.wants or rc?.d"
    )
    req = "/etc/systemd/system/basic.target.requires/x.service"
    link(tmp_path, req, "/usr/lib/systemd/system/x.service")
    assert _services.enabled(host, "x") == Fact(True, f"enabled: {req}", req)
    wants = "/etc/systemd/system/multi-user.target.wants/x.service"
    link(tmp_path, wants, "/usr/lib/systemd/system/x.service")
    assert _services.enabled(host, "x") == Fact(True, f"enabled: {wants}", wants)
    # a link to another unit does not enable this one
    link(tmp_path, "/etc/systemd/system/multi-user.target.wants/y.service", "/dev/null")
    assert _services.enabled(host, "x.socket").value is False


def test_enabled_from_sysv_links(tmp_path: Path) -> None:
    host = write(tmp_path, {"etc/rc.d/init.d/ntpd": ""})
    # stop links (K..) and runlevels 0, 1, 6 do not start it
    link(tmp_path, "etc/rc.d/rc3.d/K74ntpd", "../init.d/ntpd")
    link(tmp_path, "etc/rc.d/rc1.d/S58ntpd", "../init.d/ntpd")
    link(tmp_path, "etc/rc6.d/S58ntpd", "../init.d/ntpd")
    link(tmp_path, "etc/rc3.d/S5ntpd", "../init.d/ntpd")
    assert _services.enabled(host, "ntpd").value is False
    link(tmp_path, "etc/rc5.d/S58ntpd", "../init.d/ntpd")
    assert _services.enabled(host, "ntpd") == Fact(
        True, "enabled (SysV): /etc/rc5.d/S58ntpd", "/etc/rc5.d/S58ntpd"
    )
    link(tmp_path, "etc/rc2.d/S01ntpd", "../init.d/ntpd")
    assert _services.enabled(host, "ntpd").location == "/etc/rc2.d/S01ntpd"
    # chkconfig's folders come before update-rc.d's
    link(tmp_path, "etc/rc.d/rc4.d/S58ntpd", "../init.d/ntpd")
    assert _services.enabled(host, "ntpd") == Fact(
        True, "enabled (SysV): /etc/rc.d/rc4.d/S58ntpd", "/etc/rc.d/rc4.d/S58ntpd"
    )
    # the name must follow the number exactly
    assert _services.enabled(host, "ntp").value is False


def test_active_and_service_on_a_sysroot(tmp_path: Path) -> None:
    host = write(tmp_path, {"usr/lib/systemd/system/x.service": "", "run/systemd/system/.k": ""})
    assert _services.systemd_booted(host) is False
    assert _services.active(host, "x", ("x",)) == Fact(None, NOT_LIVE)
    assert _services.service(host, "x", ("x",)) == _services.Service(
        name="x",
        installed=True,
        unit_path="/usr/lib/systemd/system/x.service",
        enabled=Fact(False, "no link to x.service under /etc/systemd/system/*.wants or rc?.d"),
        active=Fact(None, NOT_LIVE),
    )
    s = _services.service(host, "nope")
    assert (s.installed, s.unit_path, s.enabled.value, s.active.value) == (
        False,
        None,
        False,
        None,
    )


def test_parse_os_release() -> None:
    text = (
        "# comment\n"
        "\n"
        'NAME="Rocky Linux"\n'
        "ID=rocky\n"
        "  ID_LIKE='rhel centos fedora'  \n"
        'VERSION_ID="9.3" # trailing\n'
        "EMPTY=\n"
        'BROKEN="unterminated\n'
        "no equals sign\n"
        "KEY = spaced \n"
    )
    assert _services.parse_os_release(text) == {
        "NAME": "Rocky Linux",
        "ID": "rocky",
        "ID_LIKE": "rhel centos fedora",
        "VERSION_ID": "9.3",
        "EMPTY": "",
        "BROKEN": "unterminated",
        "KEY": "spaced",
    }


def ctx(root: Path, files: dict[str, str]) -> CheckContext:
    return CheckContext(host=write(root, files), profile={})


def test_os_family_and_name(tmp_path: Path) -> None:
    cases = [
        ({"etc/os-release": "ID=ubuntu\nPRETTY_NAME='Ubuntu 22.04'\n"}, "debian", "Ubuntu 22.04"),
        ({"etc/os-release": "ID=pop\nID_LIKE='ubuntu debian'\n"}, "debian", "pop"),
        ({"etc/os-release": "ID=AlmaLinux\n"}, "rhel", "AlmaLinux"),
        ({"etc/os-release": "ID=myos\nID_LIKE=Fedora\n"}, "rhel", "myos"),
        ({"usr/lib/os-release": "ID=arch\nPRETTY_NAME=Arch\n"}, "other", "Arch"),
        ({"etc/hostname": "x\n"}, "other", "an unknown OS (no /etc/os-release)"),
    ]
    for i, (files, family, name) in enumerate(cases):
        c = ctx(tmp_path / str(i), files)
        assert (_services.os_family(c), _services.os_name(c)) == (family, name), files
    # /etc/os-release wins over /usr/lib/os-release
    c = ctx(tmp_path / "both", {"etc/os-release": "ID=debian\n", "usr/lib/os-release": "ID=rhel\n"})
    assert _services.os_release(c) == {"ID": "debian"}
    # debian-like and rhel-like at once: debian
    c = ctx(tmp_path / "mixed", {"etc/os-release": "ID=centos\nID_LIKE=debian\n"})
    assert _services.os_family(c) == "debian"


SYSTEMCTL = {"systemctl": "/usr/bin/systemctl"}


# `systemctl is-enabled nosuch.service` (systemd 252, Debian 12), rc 1, stdout empty
NO_UNIT = "Failed to get unit file state for {unit}: No such file or directory\n"


# `systemctl is-active x` without systemd as init (Debian 12 container), rc 1
NOT_BOOTED = (
    "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
    "Failed to connect to bus: Host is down\n"
)


WANTS = "/etc/systemd/system/multi-user.target.wants/chronyd.service"


NO_LINK = "no link to chronyd.service under /etc/systemd/system/*.wants or rc?.d"


@pytest.mark.parametrize(
    ("state", "rc", "value"),
    [
        # the states of systemctl(1) "is-enabled", with the exit code systemd gives
        ("enabled", 0, True),
        ("enabled-runtime", 0, True),
        ("alias", 0, True),  # `systemctl is-enabled chronyd.service` on Debian 12
        ("linked", 1, True),
        ("linked-runtime", 1, True),
        ("disabled", 1, False),
        ("masked", 1, False),
        ("masked-runtime", 1, False),
        ("static", 0, False),
        ("indirect", 0, False),
        ("generated", 0, False),
    ],
)
def test_is_enabled_states(state: str, rc: int, value: bool) -> None:
    host = recorded_host(
        commands={"systemctl is-enabled chronyd.service": (rc, state + "\n", "")},
        which=SYSTEMCTL,
        links=[WANTS],  # systemctl's answer wins over the links
    )
    assert _services.enabled(host, "chronyd") == Fact(value, f"systemctl is-enabled: {state}")


def test_is_enabled_first_line_of_the_answer() -> None:
    # the state is the first line; anything after it does not change it
    host = recorded_host(
        commands={
            "systemctl is-enabled chronyd.service": (0, "enabled\n  " + WANTS + "\n", ""),
        },
        which=SYSTEMCTL,
    )
    assert _services.enabled(host, "chronyd") == Fact(True, "systemctl is-enabled: enabled")


@pytest.mark.parametrize(
    ("out", "err", "links", "expected"),
    [
        # an unknown unit: no state on stdout, the files decide
        ("", NO_UNIT.format(unit="chronyd.service"), [], Fact(False, NO_LINK)),
        (
            "",
            NO_UNIT.format(unit="chronyd.service"),
            [WANTS],
            Fact(True, f"enabled: {WANTS}", WANTS),
        ),
        # a state this harborkit does not know ("transient", "bad"): the files decide
        ("transient\n", "", [WANTS], Fact(True, f"enabled: {WANTS}", WANTS)),
        ("bad\n", "", [], Fact(False, NO_LINK)),
        ("\n", "", [], Fact(False, NO_LINK)),
    ],
)
def test_is_enabled_without_a_known_state_reads_the_links(
    out: str, err: str, links: list[str], expected: Fact
) -> None:
    host = recorded_host(
        commands={"systemctl is-enabled chronyd.service": (1, out, err)},
        which=SYSTEMCTL,
        links=links,
    )
    assert _services.enabled(host, "chronyd") == expected


def test_is_enabled_without_systemctl_reads_the_links() -> None:
    # no systemctl on the host: never run (the snapshot has no answer for it)
    host = recorded_host(links=[WANTS])
    assert _services.enabled(host, "chronyd") == Fact(True, f"enabled: {WANTS}", WANTS)
    sysv = "/etc/rc.d/rc3.d/S58ntpd"
    host = recorded_host(links=[sysv])
    assert _services.enabled(host, "ntpd") == Fact(True, f"enabled (SysV): {sysv}", sysv)


@pytest.mark.parametrize(
    ("out", "value", "shown"),
    [
        # systemctl(1) "is-active" states
        ("active\n", True, "active"),
        ("activating\n", True, "activating"),
        ("reloading\n", True, "reloading"),
        ("inactive\n", False, "inactive"),
        ("failed\n", False, "failed"),
        ("deactivating\n", False, "deactivating"),
        ("", False, "unknown"),
    ],
)
def test_is_active_states(out: str, value: bool, shown: str) -> None:
    host = recorded_host(
        commands={"systemctl is-active chronyd.service": (0 if value else 3, out, "")},
        which=SYSTEMCTL,
    )
    assert _services.systemd_booted(host) is True
    assert _services.active(host, "chronyd", ("chronyd",)) == Fact(
        value, f"systemctl is-active: {shown}"
    )


def test_active_of_a_unit_with_a_suffix_and_the_default_processes() -> None:
    host = recorded_host(
        commands={"systemctl is-active docker.socket": (0, "active\n", "")}, which=SYSTEMCTL
    )
    assert _services.active(host, "docker.socket") == Fact(True, "systemctl is-active: active")


def test_active_when_systemd_is_not_the_init_reads_the_processes() -> None:
    procs = [(1, "sh", "/bin/sh"), (812, "chronyd", "/usr/sbin/chronyd")]
    # systemctl is installed, but is-active cannot answer without systemd (see NOT_BOOTED)
    host = recorded_host(
        which=SYSTEMCTL,
        booted=False,
        processes=procs,
        commands={"systemctl is-active chronyd.service": (1, "", NOT_BOOTED)},
    )
    assert _services.systemd_booted(host) is False
    assert _services.active(host, "chronyd", ("ntpd", "chronyd")) == Fact(
        True, "process chronyd running (pid 812)"
    )
    assert _services.active(host, "ntpd", ("ntpd", "ntpsec")) == Fact(
        False, "no ntpd or ntpsec process; systemd is not the init"
    )
    assert _services.active(host, "ntpd") == Fact(
        None, "systemd is not the init here, so the state of ntpd.service is unknown"
    )


def test_active_on_systemd_without_systemctl_reads_the_processes() -> None:
    host = recorded_host(processes=[(40, "ntpd", "/usr/sbin/ntpd")])
    assert _services.systemd_booted(host) is True
    assert _services.active(host, "ntpd", ("ntpd",)) == Fact(True, "process ntpd running (pid 40)")


def test_service_on_a_running_host() -> None:
    host = recorded_host(
        {"/usr/lib/systemd/system/chronyd.service": "[Service]\n"},
        commands={
            "systemctl is-enabled chronyd.service": (0, "enabled\n", ""),
            "systemctl is-active chronyd.service": (3, "inactive\n", ""),
        },
        which=SYSTEMCTL,
    )
    assert _services.service(host, "chronyd") == _services.Service(
        name="chronyd",
        installed=True,
        unit_path="/usr/lib/systemd/system/chronyd.service",
        enabled=Fact(True, "systemctl is-enabled: enabled"),
        active=Fact(False, "systemctl is-active: inactive"),
    )


def test_service_without_systemd_as_init_reads_its_processes() -> None:
    host = recorded_host(
        {"/lib/systemd/system/chrony.service": "[Service]\n"},
        booted=False,
        processes=[(812, "chronyd", "/usr/sbin/chronyd")],
    )
    assert _services.service(host, "chrony", ("chronyd",)).active == Fact(
        True, "process chronyd running (pid 812)"
    )


def test_parse_os_release_comments_and_values_holding_equals() -> None:
    text = (
        "# see https://www.freedesktop.org/software/systemd/man/os-release.html?a=b\n"
        'HOME_URL="https://example.org/?os=1"\n'
        'NAME="XLinux\n'
    )
    assert _services.parse_os_release(text) == {
        "HOME_URL": "https://example.org/?os=1",
        "NAME": "XLinux",
    }
