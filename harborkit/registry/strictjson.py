"""JSON from a registry, parsed as strictly as the strictest reader of it would.

Bodies are bounded before they get here (:func:`~harborkit.registry.transport.read_limited`);
:func:`strict_json` refuses what two readers could read apart.
"""

from __future__ import annotations

import json


def clean_text(text: str, limit: int = 200) -> str:
    """Text a registry sent, fit for a one-line message: printable, short."""
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: a token response or an error body nested deeper than this is refused before parsing
MAX_JSON_DEPTH = 64


class JSONRefused(ValueError):
    """JSON that :func:`strict_json` refuses; its text completes "the document ..."."""


#: a JSON integer beyond this (Go's int64, what Docker and skopeo decode into) is refused
MAX_JSON_INT = (1 << 63) - 1


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:  # json keeps the last, as Go does: another reader may keep the first
            raise JSONRefused(f"holds the key {clean_text(repr(key), 60)} twice")
        out[key] = value
    return out


def _constant(name: str) -> object:
    raise JSONRefused(f"holds {name}, which is not JSON")


def _integer(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_JSON_INT:
        raise JSONRefused(f"holds the number {clean_text(text, 40)}, out of any 64-bit range")
    return value


def strict_json(raw: bytes) -> object:
    """``raw`` (a bounded body) parsed as JSON as strictly as the strictest reader of it would:
    :class:`ValueError` if it is not UTF-8 JSON (Go reads no UTF-16 and no BOM), and
    :class:`JSONRefused` if it is nested deeper than :data:`MAX_JSON_DEPTH`, holds a key
    twice in one object (readers differ on which one counts), ``NaN`` or ``Infinity`` (not
    JSON) or an integer beyond 64 bits (Go's decoders refuse it; Python's ``float()`` raises).

    Linear in the size of ``raw``: ``json`` (in C) stops a deep document at the recursion
    limit, and the depth of what it returns is measured without recursion. (A regular
    expression that skipped strings took quadratic time on ``"\\"\\"\\"...``.)"""
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        doc = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_integer
        )
    except RecursionError as e:
        raise JSONRefused(f"is nested deeper than {MAX_JSON_DEPTH} levels") from e
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise JSONRefused(f"is nested deeper than {MAX_JSON_DEPTH} levels")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items if isinstance(v, (dict, list)))
    return doc
