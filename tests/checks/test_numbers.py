"""Numbers as the kernel and pam_limits read them: ASCII digits only, C's rules.

A value only Python's int() would read (fullwidth digits, underscores, a plus
sign for the kernel) is judged as rejected, never passed.

Numbers at their exact limits: the kernel's 21-character token, C's
saturation of strtoull/strtol, and the profile's ASCII digit run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harborkit.checks._compare import parse_scalar, parse_value, show
from harborkit.checks._parse import ULLONG_MAX, kernel_number, kernel_numbers, strtol, strtoul
from harborkit.checks.limits import PamLimitsCheck
from harborkit.checks.sysctl import SysctlPersisted
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, Status


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("65535", 65535),
        ("-1", -1),
        ("0x1F", 31),
        ("017", 15),
        ("0", 0),
        ("18446744073709551615", ULLONG_MAX),
        ("18446744073709551616", None),  # ERANGE
        ("６５５３５", None),  # fullwidth digits: int() takes them, the kernel does not
        ("٣", None),  # Arabic-Indic digit
        ("1_000", None),
        ("+5", None),
        ("08", None),  # octal has no 8
        ("10k", None),
        ("", None),
    ],
)
def test_kernel_number(token: str, value: int | None) -> None:
    assert kernel_number(token) == value


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("655350", (655350, "")),
        ("655350k", (655350, "k")),
        ("+5", (5, "")),
        ("-2", (ULLONG_MAX - 1, "")),
        ("99999999999999999999999", (ULLONG_MAX, "")),
        ("６５５３５０", None),
        ("1_000", (1, "_000")),
        ("x", None),
    ],
)
def test_strtoul_like_pam_limits(text: str, result: tuple[int, str] | None) -> None:
    assert strtoul(text) == result


def test_strtol() -> None:
    assert strtol("-20") == (-20, "")
    assert strtol("-99999999999999999999999") == (-(2**63), "")
    assert strtol("７") is None


def test_profile_comparison_takes_ascii_digits_only() -> None:
    assert parse_scalar("655350") == 655350
    assert parse_scalar("６５５３５０") == "６５５３５０"
    assert parse_scalar("1_000") == "1_000"
    assert parse_scalar("9" * 5000) == "9" * 5000  # no int() digit-limit crash


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc/security").mkdir(parents=True)
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    return tmp_path


def _ctx(root: Path) -> CheckContext:
    return CheckContext(SysrootHost(root), load_profile().data)


def test_limits_lines_read_as_pam_limits_reads_them(root: Path) -> None:
    (root / "etc/security/limits.conf").write_text(
        "* soft nofile ６５５３５０\n"
        "* hard nofile 655350k\n"
        "* soft nproc -5\n"
        "* hard nproc 99999999999999999999999\n"
        "* soft stack unlimited\n"
        "* hard stack unlimited\n"
    )
    out = run_check(PamLimitsCheck, _ctx(root))
    assert (out.status, out.message) == (
        Status.FAIL,
        "2 of 11 fail: * soft nofile, root soft nproc",
    )
    conf = "/etc/security/limits.conf"
    assert [(f.status.value, f.subject, f.message, f.location) for f in out.findings[:7]] == [
        (
            "warn",
            "* soft nofile ６５５３５０",
            "bad value '６５５３５０': not a number or unlimited: pam_limits ignores this line",
            f"{conf}:1",
        ),
        (
            "warn",
            "* hard nofile 655350k",
            "value '655350k' is read as 655350 (the rest is ignored)",
            f"{conf}:2",
        ),
        (
            "warn",
            "* soft nproc -5",
            "value '-5' is read as 18446744073709551611 (a negative number wraps)",
            f"{conf}:3",
        ),
        (
            "warn",
            "* hard nproc 99999999999999999999999",
            "value '99999999999999999999999' is beyond 2^64-1: read as unlimited",
            f"{conf}:4",
        ),
        (
            "fail",
            "* soft nofile",
            "not set by any line pam_limits accepts (the inherited default applies)",
            None,
        ),
        ("pass", "* hard nofile", "655350 (expected >= 655350)", f"{conf}:2"),
        ("pass", "* soft nproc", "18446744073709551611 (expected >= 655350)", f"{conf}:3"),
    ]


def test_sysctl_values_read_as_the_kernel_reads_them(root: Path) -> None:
    (root / "etc/sysctl.d/90-harbor.conf").write_text(
        "fs.file-max = ６８１５７４４\n"
        "fs.aio-max-nr = 0x100000\n"
        "kernel.shmmni = 4_096\n"
        "net.core.somaxconn = +2048\n"
        "kernel.sem = 250 32000 100 0200\n"
    )
    out = run_check(SysctlPersisted, _ctx(root))
    conf = "/etc/sysctl.d/90-harbor.conf"
    got = {f.subject: (f.status.value, f.message, f.location) for f in out.findings if f.location}
    assert got == {
        "fs.aio-max-nr": ("pass", "0x100000 (expected >= 1048576)", f"{conf}:2"),
        "fs.file-max": (
            "fail",
            "'６８１５７４４' is not a number the kernel reads (the write fails), expected >= 6815744",
            f"{conf}:1",
        ),
        "kernel.shmmni": (
            "fail",
            "'4_096' is not a number the kernel reads (the write fails), expected >= 4096",
            f"{conf}:3",
        ),
        "kernel.sem": ("pass", "250 32000 100 0200 (expected >= 250 32000 100 128)", f"{conf}:5"),
        "net.core.somaxconn": (
            "fail",
            "'+2048' is not a number the kernel reads (the write fails), expected >= 2048",
            f"{conf}:4",
        ),
    }


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("-18446744073709551615", -ULLONG_MAX),  # 21 characters: still read
        ("0" * 20 + "7", 7),  # 21 characters, octal
        ("0" * 21 + "7", None),  # 22 characters: refused
        ("0X1f", 31),
        ("0x", None),
        ("-0x10", -16),
        ("-017", -15),
        ("7", 7),
        ("-", None),
        ("00", 0),
    ],
)
def test_kernel_number_limits(token: str, value: int | None) -> None:
    assert kernel_number(token) == value


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("", None),
        ("   ", None),
        ("1 x", None),
        ("0", [0]),  # a zero is a number, not a refusal
        ("0 0", [0, 0]),
        ("250\t32000 100  128", [250, 32000, 100, 128]),
    ],
)
def test_kernel_numbers(text: str, numbers: list[int] | None) -> None:
    assert kernel_numbers(text) == numbers


@pytest.mark.parametrize(
    ("text", "result"),
    [
        (" \t+7x", (7, "x")),
        ("-0", (0, "")),
        ("18446744073709551615", (ULLONG_MAX, "")),
        ("18446744073709551616", (ULLONG_MAX, "")),  # ERANGE saturates
        ("-18446744073709551616", (ULLONG_MAX, "")),  # whatever the sign
        ("-18446744073709551615", (1, "")),  # wraps: -(2**64-1) mod 2**64
        ("9" * 41 + "z", (ULLONG_MAX, "z")),
        ("9" * 5000, (ULLONG_MAX, "")),  # past int()'s digit limit: not converted
        ("", None),
        ("-", None),
    ],
)
def test_strtoul_limits(text: str, result: tuple[int, str] | None) -> None:
    assert strtoul(text) == result


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("9223372036854775807", (2**63 - 1, "")),
        ("9223372036854775808", (2**63 - 1, "")),  # saturates at LONG_MAX
        ("-9223372036854775808", (-(2**63), "")),  # LONG_MIN itself
        ("-9223372036854775809", (-(2**63), "")),
        ("9" * 41, (2**63 - 1, "")),
        ("9" * 5000, (2**63 - 1, "")),  # past int()'s digit limit: not converted
        ("-" + "9" * 41 + "x", (-(2**63), "x")),
        (" +5 rest", (5, " rest")),
        ("x5", None),
    ],
)
def test_strtol_limits(text: str, result: tuple[int, str] | None) -> None:
    assert strtol(text) == result


def test_profile_digit_run_limit() -> None:
    assert parse_scalar("7" * 1000) == int("7" * 1000)
    assert parse_scalar("7" * 1001) == "7" * 1001
    assert parse_scalar("-1") == -1
    assert parse_scalar("+1") == "+1"
    assert parse_scalar(False) == 0
    assert parse_scalar(" INFINITY ") == math.inf
    assert parse_value("") == ""
    assert parse_value(" 5 ") == 5
    assert show(-math.inf) == "unlimited"
    assert show((1, "a")) == "1 a"
    assert show(2.5) == "2.5"


def test_a_one_element_list_against_a_scalar() -> None:
    from harborkit.checks._compare import satisfies

    assert satisfies("eq", [5], 5)
    assert satisfies("ge", 5, [6])
    assert not satisfies("le", [5], "6")
