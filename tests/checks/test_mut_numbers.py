"""Numbers at their exact limits: the kernel's 21-character token, C's
saturation of strtoull/strtol, and the profile's ASCII digit run."""

from __future__ import annotations

import math

import pytest

from harborkit.checks._compare import parse_scalar, parse_value, show
from harborkit.checks._parse import ULLONG_MAX, kernel_number, kernel_numbers, strtol, strtoul


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
