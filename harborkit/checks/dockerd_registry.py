"""dockerd's own judgement of its registry options (``insecure-registries``,
``registry-mirrors``) and which entries make it talk plain HTTP to an address."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from harborkit.ipaddr import is_ip, parse_ip, parse_network


def _strip_scheme(entry: str) -> str:
    entry = entry.strip()
    if "://" in entry:
        entry = entry.split("://", 1)[1]
    return entry.rstrip("/")


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in entry:
        return None
    address, _, bits = entry.partition("/")
    bits = _no_leading_zeros(bits)  # Go reads "/0008" as /8
    if len(bits) > 3:
        return None
    try:
        net = parse_network(address, bits)
    except ValueError:
        return None
    mapped = getattr(net.network_address, "ipv4_mapped", None)
    if mapped is not None and net.prefixlen >= 96:
        # Go keeps an IPv4-mapped network as IPv4: dockerd lists ::ffff:1.2.3.4/104 as 1.0.0.0/8
        return ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}")
    return net


def _no_leading_zeros(digits: str) -> str:
    """ASCII digits without their leading zeros ("0" stays): Go's number
    parsers take any number of them, and Python's int() refuses past 4300
    digits."""
    return digits.lstrip("0") or ("0" if digits else "")


def _registry_host(entry: str) -> str:
    """The host of a ``host[:port]`` entry: an IPv6 address in brackets
    (``[fd00::5]:5000``) or bare (``fd00::5``), a name or an IPv4 address."""
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    return entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry


def covers(entry: str, hostname: str, port: int) -> bool:
    """True when an insecure-registries entry makes docker talk HTTP to hostname:port."""
    e = _strip_scheme(entry)
    if e == f"{hostname}:{port}" or (port == 80 and e == hostname):
        return True
    net = _network(e)
    if net is None:
        return False
    host = hostname.removeprefix("[").removesuffix("]")
    try:  # an IPv6 Harbor given in brackets ([fd00::5]:5000) is that address
        return parse_ip(host) in net
    except ValueError:
        return False


# dockerd's own checks of its registry options at start (moby registry/config.go,
# as in the docker.io 20.10 that the guide's hosts run): an entry it refuses stops
# the daemon ("failed to start daemon: insecure registry x.x.x.x:port is not
# valid: invalid host "x.x.x.x""). tests/checks/test_daemon_json_dockerd.py holds
# every rule against a real dockerd started with the same file.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_PORT = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?")
_CIDR = re.compile(r"[0-9A-Fa-f:.]+/[0-9]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def _go_ip(text: str) -> bool:
    """Go's ``net.ParseIP``: a dotted IPv4 (no leading zeros) or an IPv6 address, no zone."""
    return is_ip(text, scope=False)


def _go_split_host_port(text: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``: (host, port), or None where Go returns an error."""
    i = text.rfind(":")
    if i < 0:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or end + 1 != i or "[" in text[1:end] or "]" in text[end + 1 :]:
            return None
        return text[1:end], text[i + 1 :]
    host = text[:i]
    if ":" in host or "[" in host or "]" in host or "]" in text[i + 1 :]:
        return None
    return host, text[i + 1 :]


def insecure_entry_refused(entry: str) -> str | None:
    """Why dockerd refuses this ``insecure-registries`` entry at start, or None."""
    if entry.startswith("-") or entry.endswith("-"):
        return "cannot begin or end with a hyphen"
    lower = entry.lower()
    if lower.startswith("http://"):
        entry = entry[7:]
    elif lower.startswith("https://"):
        entry = entry[8:]
    elif "://" in entry:
        return "should not contain '://'"
    if _CIDR.fullmatch(entry):
        address, bits = entry.split("/", 1)
        if _go_ip(address):
            limit = 32 if ":" not in address else 128
            bits = _no_leading_zeros(bits)
            if len(bits) <= 3 and int(bits) <= limit:
                return None
    split = _go_split_host_port(entry)
    host, port = split if split is not None else (entry, "")
    if not _HOST_PORT.fullmatch(entry) and not _go_ip(host):
        return f'invalid host "{host}"'
    if port:
        if not re.fullmatch(r"[+-]?[0-9]+", port):
            return f'port "{port}" is not a number'
        sign, digits = (port[0], port[1:]) if port[0] in "+-" else ("", port)
        digits = _no_leading_zeros(digits)
        if len(digits) > 5 or not 0 <= int(sign + digits) <= 65535:
            return f'invalid port "{port}"'
    return None


#: the ASCII bytes Go's url package lets stand unescaped in a host or an IPv6 zone
_HOST_BYTES = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!$&'()*+,;=:[]<>\"-_.~"
)
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _go_unescape_ok(text: str, *, zone: bool = False) -> bool:
    """Go's ``unescape`` in host (or zone) mode accepts ``text``: every ``%``
    starts two hex digits; in a host only a non-ASCII byte or ``%25`` may be
    escaped, in a zone only a byte that could stand unescaped (or a space);
    other ASCII bytes must be host bytes."""
    b = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x25:  # %
            if i + 2 >= len(b) or b[i + 1] not in _HEX or b[i + 2] not in _HEX:
                return False
            triple = b[i : i + 3]
            value = int(triple[1:], 16)
            if not zone and value < 0x80 and triple != b"%25":
                return False
            if zone and triple != b"%25" and value != 0x20 and value not in _HOST_BYTES:
                return False
            i += 3
            continue
        if c < 0x80 and c not in _HOST_BYTES:
            return False
        i += 1
    return True


def _go_host_ok(host: str) -> str | None:
    """Go's ``parseHost`` (url.Parse): why it refuses ``host[:port]``, or None."""
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            return "not a valid URI (missing ']' in host)"
        port = host[close + 1 :]
        inner = host[:close]
        zone = inner.find("%25")
        if zone >= 0:
            ok = (
                _go_unescape_ok(inner[:zone])
                and _go_unescape_ok(inner[zone:], zone=True)
                and _go_unescape_ok(host[close:])
            )
        else:
            ok = _go_unescape_ok(host)
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
        ok = _go_unescape_ok(host)
    if port and not (port.startswith(":") and (port == ":" or _ASCII_DIGITS.fullmatch(port[1:]))):
        return f'invalid port "{port}"'
    if not ok:
        return "not a valid URI (a character or escape not allowed in a host name)"
    return None


def mirror_refused(entry: str) -> str | None:
    """Why dockerd refuses this ``registry-mirrors`` entry at start (Go's
    ``url.Parse``, then http or https with nothing after the host), or None."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in entry):
        return "not a valid URI"
    main, _, fragment = entry.partition("#")  # Go splits the fragment off first
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", main)
    if m is None or m.group(1).lower() not in ("http", "https"):
        return "not an http:// or https:// URL"
    rest, _, query = main[m.end() :].partition("?")
    if query or fragment:
        return "path, query, or fragment at end of the URI"
    if not rest.startswith("/"):
        return None  # Go reads "https:host" as an opaque URL: no host, no path, accepted
    if not rest.startswith("//"):
        return None if rest == "/" else "path, query, or fragment at end of the URI"
    authority, slash, path = rest[2:].partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    why = _go_host_ok(hostport)
    if why is not None:
        return why
    if slash and path:
        return "path, query, or fragment at end of the URI"
    if at:
        return "username/password not allowed in URI"
    return None


#: the registry keys of daemon.json, as dockerd spells them
_REGISTRY_KEYS = ("insecure-registries", "registry-mirrors")


def _meant_key(key: str) -> str | None:
    """The registry key ``key`` misspells (another case, ``_`` for ``-``,
    spaces around it), or None. dockerd knows keys exactly as it spells them
    and refuses to start on any other ("the following directives don't match
    any configuration option"); the singular (``insecure-registry``) is the
    name of its command-line option, which it accepts."""
    if key in _REGISTRY_KEYS:
        return None
    near = key.strip().lower().replace("_", "-")
    return near if near in _REGISTRY_KEYS else None


def refused_keys(data: Any) -> list[tuple[str, str]]:
    """(key, why) for every registry key dockerd refuses to start with: a
    misspelt one, and ``registry-mirrors`` that is not a list of strings
    (``insecure-registries`` of the wrong shape is judged with Harbor's entry)."""
    out: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        return out
    for key in data:
        meant = _meant_key(str(key))
        if meant is not None:
            out.append((key, f'no such key: dockerd reads "{meant}", spelt exactly so'))
    mirrors = data.get("registry-mirrors")
    if mirrors is not None and not (
        isinstance(mirrors, list) and all(isinstance(v, str) for v in mirrors)
    ):
        out.append(("registry-mirrors", f"{json.dumps(mirrors)} is not a list of strings"))
    return out


def refused_entries(data: Any) -> list[tuple[str, str, str]]:
    """(key, entry, why) for every registry entry dockerd would refuse at start."""
    out: list[tuple[str, str, str]] = []
    if not isinstance(data, dict):
        return out
    for key, judge in (
        ("insecure-registries", insecure_entry_refused),
        ("registry-mirrors", mirror_refused),
    ):
        values = data.get(key)
        if not isinstance(values, list):
            continue
        for value in values:
            if isinstance(value, str):
                why = judge(value)
                if why is not None:
                    out.append((key, value, why))
    return out
