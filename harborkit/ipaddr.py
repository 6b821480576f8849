"""IP addresses read from data (a host, a profile, an inventory, a bundle, a registry).

Python's own :mod:`ipaddress` is not the same on every Python harborkit runs on:
3.9.0-3.9.4 (Debian 11's 3.9.2) read ``01.2.3.4`` as 1.2.3.4, later ones refuse it,
and dockerd, ssh and the C library read it otherwise again (octal, or refused).
Every reader goes through :func:`parse_ip` so that the answer is the same
everywhere: a dotted IPv4 part with a leading zero is not an address, nor is text
with anything but hex digits, ``:`` and ``.`` (a scope id, ``fe80::1%eth0``,
takes letters, digits, ``_``, ``.`` and ``-`` only: Python takes any text there,
a newline too).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

_CHARS = re.compile(r"[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?", re.ASCII)


def leading_zero_octet(address: str) -> bool:
    """An IPv4 part with a leading zero (``01.2.3.4``, ``::ffff:1.2.3.04``)."""
    tail = address.rsplit(":", 1)[-1]
    return "." in tail and any(len(p) > 1 and p.startswith("0") for p in tail.split("."))


def parse_ip(text: str, *, scope: bool = True, version: int | None = None) -> IPAddress:
    """``text`` as an address (``version`` 4 or 6 only that one; without ``scope`` no
    ``%zone``); :class:`ValueError` when it is not one, on every Python alike."""
    m = _CHARS.fullmatch(text) if isinstance(text, str) else None
    refused = ValueError(f"{text!r} is not an IP address")
    if m is None or (m.group(1) and not scope) or leading_zero_octet(text.split("%", 1)[0]):
        raise refused
    try:
        if version == 4:
            return ipaddress.IPv4Address(text)
        if version == 6:
            return ipaddress.IPv6Address(text)
        return ipaddress.ip_address(text)
    except ValueError:
        raise refused from None


def is_ip(text: str, *, scope: bool = True, version: int | None = None) -> bool:
    """True when :func:`parse_ip` takes ``text``."""
    try:
        parse_ip(text, scope=scope, version=version)
    except ValueError:
        return False
    return True


def is_loopback(text: str) -> bool:
    """True for a loopback address (its scope id, any text, left aside); False for
    anything else, a name or a malformed address included."""
    try:
        return parse_ip(text.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def parse_network(address: str, bits: str) -> IPNetwork:
    """``address/bits`` as a network (host bits allowed); :class:`ValueError` when the
    address is not one by :func:`parse_ip` (no scope id) or ``bits`` is not a prefix."""
    parse_ip(address, scope=False)
    if not bits.isascii() or not bits.isdigit():
        raise ValueError(f"{bits!r} is not a prefix length")
    return ipaddress.ip_network(f"{address}/{bits}", strict=False)
