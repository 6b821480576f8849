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
