"""Small parsers for host files shared by several checks."""

from __future__ import annotations


def parse_hosts(text: str) -> list[tuple[str, list[str]]]:
    """``/etc/hosts`` as (address, [names...]) in file order, comments dropped."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) >= 2:
            out.append((fields[0], fields[1:]))
    return out
