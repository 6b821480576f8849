"""Comparing an observed value with a profile's ``{op, value}``.

Values are integers, strings, ``unlimited`` (infinity, as limits and
ulimit spell it) or lists of those compared element by element
(``kernel.sem`` is four numbers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Union

from harborkit.compat import zip_strict

Number = Union[int, float]
Value = Union[Number, str, list[Union[Number, str]]]

_SYMBOL = {"eq": "=", "ge": ">=", "le": "<=", "in": "one of", "ignore": "(ignored)"}


def parse_scalar(text: Any) -> Number | str:
    """``"65536"`` -> 65536, ``"unlimited"``/``"infinity"``/``-1`` stay meaningful."""
    if isinstance(text, bool):
        return int(text)
    if isinstance(text, (int, float)):
        return text
    s = str(text).strip()
    if s.lower() in ("unlimited", "infinity"):
        return math.inf
    if re.fullmatch(r"-?[0-9]{1,1000}", s, re.ASCII):  # not int()'s "６５", "1_0", "+5"
        return int(s)
    return s


def parse_value(text: Any) -> Value:
    """A whitespace-separated list of numbers becomes a list; else a scalar."""
    if isinstance(text, list):
        return [parse_scalar(t) for t in text]
    s = str(text).split()
    if len(s) > 1:
        return [parse_scalar(t) for t in s]
    return parse_scalar(text)


def _cmp(op: str, expected: Any, actual: Any) -> bool:
    e, a = parse_scalar(expected), parse_scalar(actual)
    if op == "eq":
        return e == a
    if isinstance(e, str) or isinstance(a, str):
        return False  # ordering needs numbers
    if op == "ge":
        return a >= e
    if op == "le":
        return a <= e
    raise ValueError(f"unknown operator {op!r}")


def satisfies(op: str, expected: Any, actual: Any) -> bool:
    """True when ``actual`` meets ``op expected``."""
    if op == "ignore":
        return True
    if op == "in":
        return any(satisfies("eq", e, actual) for e in expected)
    exp, act = parse_value(expected), parse_value(actual)
    if isinstance(exp, list) or isinstance(act, list):
        el = exp if isinstance(exp, list) else [exp]
        al = act if isinstance(act, list) else [act]
        return len(el) == len(al) and all(_cmp(op, e, a) for e, a in zip_strict(el, al))
    return _cmp(op, exp, act)


def show(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "unlimited"
    if isinstance(value, (list, tuple)):
        return " ".join(show(v) for v in value)
    return str(value)


def describe(op: str, expected: Any) -> str:
    """Human form: ``>= 655350``, ``one of 1, 2``, ``= unlimited``."""
    if op == "in":
        return "one of " + ", ".join(show(v) for v in expected)
    return f"{_SYMBOL[op]} {show(expected)}"


def version_tuple(text: str) -> tuple[int, ...]:
    """``"17.06.0-ce"`` -> (17, 6, 0); ``"v2.24.1"`` -> (2, 24, 1)."""
    import re

    m = re.search(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        raise ValueError(f"no version number in {text!r}")
    return tuple(int(g) for g in m.groups(default="0"))


def version_at_least(actual: str, minimum: str) -> bool:
    return version_tuple(actual) >= version_tuple(minimum)


__all__: Sequence[str] = ["describe", "parse_value", "satisfies", "show", "version_at_least"]
