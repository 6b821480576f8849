"""Service facts read from a sysroot: unit files, SysV scripts, wants/requires
and rc?.d links, and the OS family from os-release."""

from __future__ import annotations

import os
from pathlib import Path

from harborkit.checks import _services
from harborkit.checks._services import Fact
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext

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
