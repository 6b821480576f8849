"""Service facts on a running host, answered from recorded command output:
``systemctl is-enabled`` / ``is-active`` of each state systemd prints, and
the process list when systemd is not the init (a container)."""

from __future__ import annotations

import pytest

from harborkit.checks import _services
from harborkit.checks._services import Fact
from tests.support.recorded_host import recorded_host

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
