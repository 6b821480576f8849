"""URLs a registry sends are read once, strictly (issue 19, classes 13 and 14): what is left
is read alike by urlsplit, urllib3 and requests; anything else is one refusal line."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from urllib3.util import parse_url

from harborkit.errors import ExitCode
from harborkit.registry.url import AmbiguousURL, join_target, parse_target

REFUSED = {
    "http://127.0.0.2:5000\\@127.0.0.1:5000/v2/": "it holds a backslash",
    "http://127.0.0.1:5000/v2/\\x": "it holds a backslash",
    "http://127.0.0.2:5000%5C@127.0.0.1:5000/": "it holds user info (an '@' before the host)",
    "http://user:pw@127.0.0.1:5000/": "it holds user info (an '@' before the host)",
    "http://[127.0.0.2]:5000/": "its bracketed host is not an IPv6 address",
    "http://[localhost]/": "its bracketed host is not an IPv6 address",
    "http://[::1/": "its bracketed host is malformed",
    "http://[fe80::1%25eth0]:5/": "its host is percent-encoded",
    "http://127.0.0.%31:5000/": "its host is percent-encoded",
    "http://127.0.0.1 @127.0.0.2/": "it holds whitespace, a control or a non-ASCII character",
    "http://127.0.0.1\t/": "it holds whitespace, a control or a non-ASCII character",
    "http://127.0.0.1\x00.evil/": "it holds whitespace, a control or a non-ASCII character",
    "http://r\u00e9g.example/": "it holds whitespace, a control or a non-ASCII character",
    "http://127.0.0.1:0/": "its port is not a number from 1 to 65535",
    "http://127.0.0.1:65536/": "its port is not a number from 1 to 65535",
    "http://127.0.0.1:/": "its port is not a number from 1 to 65535",
    "http://127.0.0.1:+80/": "its port is not a number from 1 to 65535",
    "http://127.0.0.1:0x50/": "its port is not a number from 1 to 65535",
    "http://-127.0.0.1/": "its host is not a plain host name or address",
    "http://example.com./": "its host is not a plain host name or address",
    "http:///x": "its host is not a plain host name or address",
    "ftp://127.0.0.1/": "it is not an http or https URL",
    "file:///etc/passwd": "it is not an http or https URL",
    "http:/127.0.0.1/x": "it is not an http or https URL",
    "//127.0.0.1/x": "it is not an http or https URL",
    "http://" + "a" * 9000: "longer than 8192 characters",
}


@pytest.mark.parametrize(("url", "why"), REFUSED.items(), ids=range(len(REFUSED)))
def test_an_ambiguous_url_is_refused_in_one_line(url: str, why: str) -> None:
    with pytest.raises(AmbiguousURL) as e:
        parse_target(url, "reg:5000: fetch blob")
    assert e.value.exit_code == ExitCode.REGISTRY
    assert e.value.message.startswith("reg:5000: fetch blob: the URL '")
    assert e.value.message.endswith(f"' is refused: {why}")
    assert "\n" not in e.value.message


ACCEPTED = {
    "http://127.0.0.1:5000/v2/x/blobs/uploads/1?_state=a%2Fb": ("http", "127.0.0.1", 5000),
    "HTTPS://Registry.Example.com/v2/": ("https", "registry.example.com", 443),
    "http://[::1]:5000/v2/": ("http", "::1", 5000),
    "https://auth.docker.io/token?service=registry.docker.io": ("https", "auth.docker.io", 443),
    "http://127.0.0.1:5000/x#@127.0.0.2/": ("http", "127.0.0.1", 5000),
}


@pytest.mark.parametrize(("url", "origin"), ACCEPTED.items(), ids=range(len(ACCEPTED)))
def test_a_plain_url_is_read_as_every_parser_reads_it(
    url: str, origin: tuple[str, str, int]
) -> None:
    t = parse_target(url, "w")
    assert t.origin == origin
    # the very parsers that connect agree
    assert (parse_url(url).host or "").lower().strip("[]") == origin[1]
    assert (urlsplit(url).hostname or "") == origin[1]
    prepared = requests.Request("GET", t.url).prepare().url or ""
    assert (parse_url(prepared).host or "").lower().strip("[]") == origin[1]


@pytest.mark.parametrize(
    ("location", "origin"),
    [
        ("/v2/x/blobs/uploads/2", ("http", "127.0.0.1", 5000)),
        ("uploads/2?x=1", ("http", "127.0.0.1", 5000)),
        ("//127.0.0.3:6000/up", ("http", "127.0.0.3", 6000)),
        ("https://127.0.0.4/up", ("https", "127.0.0.4", 443)),
    ],
)
def test_a_location_is_joined_then_checked(location: str, origin: tuple[str, str, int]) -> None:
    assert join_target("http://127.0.0.1:5000/v2/x/", location, "w").origin == origin


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("\\\\127.0.0.2/x", "it holds a backslash"),
        ("//[127.0.0.2]:5/x", "its bracketed host is not an IPv6 address"),
        ("//u@127.0.0.2/x", "it holds user info (an '@' before the host)"),
        ("http://[127.0.0.2]:5/x", "its bracketed host is not an IPv6 address"),
        ("", "it is empty"),
        ("/x\r\nX-Injected: 1", "it holds whitespace, a control or a non-ASCII character"),
    ],
)
def test_a_bad_location_is_refused_before_it_is_joined(location: str, why: str) -> None:
    with pytest.raises(AmbiguousURL, match=f"is refused: {re.escape(why)}$"):
        join_target("http://127.0.0.1:5000/v2/", location, "w")
