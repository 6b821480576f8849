"""``/etc/hosts``: the one parser, for hosts (name lookup) and checks (file:line)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostsEntry:
    """One line of ``/etc/hosts`` that maps an address to names."""

    line: int
    address: str
    names: tuple[str, ...]


def parse_hosts(text: str) -> list[HostsEntry]:
    """Every address line in file order; comments and blank lines dropped.

    As glibc reads the file: ``#`` starts a comment anywhere, fields are split
    on blanks, and a line needs an address and at least one name.
    """
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            out.append(HostsEntry(n, fields[0], tuple(fields[1:])))
    return out


def addresses_of(text: str, name: str) -> list[str]:
    """The addresses ``name`` resolves to through this file, in file order, once each."""
    found: list[str] = []
    for e in parse_hosts(text):
        if name in e.names and e.address not in found:
            found.append(e.address)
    return found
