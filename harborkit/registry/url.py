"""URLs a registry hands us (redirects, upload ``Location``, token realms): parsed once, strictly.

A URL decides where credentials go, so it must mean one thing to everybody:
the check that says "same origin" and the library that connects. Python's
``urlsplit`` and urllib3's ``parse_url`` (which ``requests`` connects with)
read ``http://127.0.0.2:P\\@127.0.0.1:P/`` as two different hosts; skopeo
(Go's ``net/url``) refuses it. :func:`parse_target` refuses every URL whose
reading could differ: a backslash, user info, whitespace, control or non-ASCII
characters, a ``%`` in the authority, a bracketed host that is not an IPv6
address, an empty or out-of-range port, a scheme other than http(s); and, as a
last guard, any URL on which ``urlsplit``, urllib3 and ``requests``' own
preparation do not name the same scheme, host and port. What is left is
connected to exactly as checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from harborkit.ipaddr import parse_ip
from harborkit.registry.errors import ProtocolError

#: longer URLs are refused (a Location is a path and a short query)
MAX_URL = 8192
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")


class AmbiguousURL(ProtocolError):
    """A URL that is not one plain http(s) URL (its reason in the message)."""


@dataclass(frozen=True)
class Target:
    """A checked URL and the origin it connects to."""

    url: str
    scheme: str  # "http" or "https"
    host: str  # lower case; an IPv6 address without brackets
    port: int  # default port filled in

    @property
    def origin(self) -> tuple[str, str, int]:
        """Scheme, host and port."""
        return (self.scheme, self.host, self.port)

    @property
    def netloc(self) -> str:
        """``host:port`` as written in a URL (IPv6 bracketed)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def shown(url: str, limit: int = 240) -> str:
    """``url`` fit for a one-line message: quoted, printable, without its query."""
    text = url.split("?", 1)[0]
    text = "".join(c if c.isprintable() and c.isascii() else "?" for c in text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def _why(url: str) -> str | None:
    """Why ``url`` is ambiguous (``None``: it is one plain http(s) URL)."""
    if len(url) > MAX_URL:
        return f"longer than {MAX_URL} characters"
    if any(not 0x21 <= ord(c) <= 0x7E for c in url):
        return "it holds whitespace, a control or a non-ASCII character"
    if "\\" in url:
        return "it holds a backslash"
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return "it is not an http or https URL"
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        return "it holds user info (an '@' before the host)"
    if "%" in authority:
        return "its host is percent-encoded"
    if authority.startswith("["):
        m = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", authority)
        if not m:
            return "its bracketed host is malformed"
        try:
            parse_ip(m.group(1), version=6)
        except ValueError:
            return "its bracketed host is not an IPv6 address"
        port = m.group(2)
    else:
        host, colon, port_text = authority.partition(":")
        if not _NAME.fullmatch(host):
            return "its host is not a plain host name or address"
        port = port_text if colon else None
    if port is not None and (not _PORT.fullmatch(port) or not 0 < int(port) < 65536):
        return "its port is not a number from 1 to 65535"
    return None


def _readings(url: str) -> set[tuple[str, str, int]]:
    """Scheme, host and port as ``urlsplit``, urllib3 and ``requests`` each read ``url``."""
    import requests
    from urllib3.util import parse_url

    def norm(scheme: str | None, host: str | None, port: int | None) -> tuple[str, str, int]:
        s = (scheme or "").lower()
        h = (host or "").lower().strip("[]")
        return s, h, port or (443 if s == "https" else 80)

    out = set()
    u = urlsplit(url)
    out.add(norm(u.scheme, u.hostname, u.port))
    p = parse_url(url)
    out.add(norm(p.scheme, p.host, p.port))
    prepared = requests.Request("GET", url).prepare().url or ""
    q = parse_url(prepared)
    out.add(norm(q.scheme, q.host, q.port))
    return out


def parse_target(url: str, where: str) -> Target:
    """``url`` checked (see the module docstring); :class:`AmbiguousURL` naming ``where`` if not."""
    why = _why(url) if isinstance(url, str) else "it is not text"
    readings: set[tuple[str, str, int]] = set()
    if why is None:
        try:
            readings = _readings(url)
        except Exception:
            why = "a URL parser refuses it"
        else:
            if len(readings) != 1:
                why = "URL parsers disagree on its host"
    if why is not None:
        raise _refused(where, str(url), why)
    scheme, host, port = readings.pop()
    return Target(url, scheme, host, port)


def join_target(base: str, location: str, where: str) -> Target:
    """A ``Location`` (absolute or relative) against ``base``, checked before and after joining."""
    why = None
    if not isinstance(location, str) or not location:
        why = "it is empty"
    elif len(location) > MAX_URL:
        why = f"longer than {MAX_URL} characters"
    elif any(not 0x21 <= ord(c) <= 0x7E for c in location):
        why = "it holds whitespace, a control or a non-ASCII character"
    elif "\\" in location:
        why = "it holds a backslash"
    if why is not None:
        raise _refused(where, str(location), why)
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", location):  # absolute: judged as it is
        return parse_target(location, where)
    if location.startswith("//"):  # scheme-relative
        return parse_target(base.split(":", 1)[0] + ":" + location, where)
    try:
        joined = urljoin(base, location)
    except ValueError as e:
        raise _refused(where, location, "a URL parser refuses it") from e
    return parse_target(joined, where)


def _refused(where: str, url: str, why: str) -> AmbiguousURL:
    return AmbiguousURL(f"{where}: the URL {shown(url)} is refused: {why}")
