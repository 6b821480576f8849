"""The waivers file: dates quoted or not, locations, and the one-line errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harborkit.engine.waivers import Waiver, load_waivers
from harborkit.errors import ExitCode, HarborkitError


def test_dates_quoted_or_not_and_each_location(tmp_path: Path) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(
        "waivers:\n"
        "  - id: a.b\n    reason: r\n    expires: 2027-03-31\n"
        "  - id: c\n    reason: \"q\"\n    expires: '2027-01-02'\n"
        "  - id: d\n    reason: none\n"
    )
    assert load_waivers(p) == [
        Waiver("a.b", "r", dt.date(2027, 3, 31), f"{p}:2"),
        Waiver("c", "q", dt.date(2027, 1, 2), f"{p}:5"),
        Waiver("d", "none", None, f"{p}:8"),
    ]
    w = load_waivers(p)[0]
    assert (w.expired(dt.date(2027, 3, 31)), w.expired(dt.date(2027, 4, 1))) == (False, True)
    assert load_waivers(p)[2].expired(dt.date(2999, 1, 1)) is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "waivers:\n  - id: a\n    reason: r\n    expires: '2027-02-30'\n",
            "{p}:4: waivers[0].expires: not a YYYY-MM-DD date",
        ),
        (
            "waivers:\n  - id: a\n    expires: 2027-01-01\n",
            "{p}:2: waivers[0]: 'reason' is a required property",
        ),
        ("nope: 1\n", "{p}:1: (top level): 'waivers' is a required property"),
        ("waivers: 3\n", "{p}:1: waivers: 3 is not of type 'array'"),
    ],
    ids=["impossible-date", "no-reason", "no-waivers-key", "not-a-list"],
)
def test_bad_waivers_file_is_one_line_usage_error(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(text)
    with pytest.raises(HarborkitError) as e:
        load_waivers(p)
    assert (e.value.exit_code, e.value.message) == (ExitCode.USAGE, message.format(p=p))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "waivers:\n  - id: a.b\n    reason: r\n  - id: c\n    reason: s\n"
            "  - id: a.b\n    reason: t\n",
            "{p}:6: waivers[2].id: a second waiver for a.b (the first is at {p}:2): "
            "keep one waiver per check",
        ),
        (  # the same id, one expired and one not: still two waivers for one check
            "waivers:\n  - id: x\n    reason: r\n    expires: 2020-01-01\n"
            "  - id: x\n    reason: s\n",
            "{p}:5: waivers[1].id: a second waiver for x (the first is at {p}:2): "
            "keep one waiver per check",
        ),
        (  # flow style: both on one line, still named
            "waivers: [{id: q, reason: r}, {id: q, reason: s}]\n",
            "{p}:1: waivers[1].id: a second waiver for q (the first is at {p}:1): "
            "keep one waiver per check",
        ),
    ],
)
def test_two_waivers_for_one_check_are_refused_naming_both_lines(
    tmp_path: Path, text: str, message: str
) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(text)
    with pytest.raises(HarborkitError) as e:
        load_waivers(p)
    assert e.value.exit_code == ExitCode.USAGE
    assert e.value.message == message.format(p=p)


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_waivers_file_that_is_not_a_regular_file_is_refused_at_once(
    tmp_path: Path, kind: str
) -> None:
    import os

    if kind == "fifo":
        p = tmp_path / "w.yaml"
        os.mkfifo(p)  # nobody writes: opening it must not wait
        why = "not a regular file, not a waivers file"
    elif kind == "device":
        p = Path("/dev/zero")
        why = "not a regular file, not a waivers file"
    else:
        p = tmp_path
        why = "is a directory, not a waivers file"
    with pytest.raises(HarborkitError) as e:
        load_waivers(p)
    assert (e.value.exit_code, e.value.message) == (ExitCode.USAGE, f"{p}: {why}")
