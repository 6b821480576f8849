"""Reference parsing follows ``docker pull``'s rules."""

from __future__ import annotations

import pytest

from harborkit.errors import InputError
from harborkit.registry.reference import DOCKER_HUB, parse_reference


@pytest.mark.parametrize(
    ("text", "registry", "repo", "tag", "digest"),
    [
        ("goharbor/harbor-core:v1.8.0", DOCKER_HUB, "goharbor/harbor-core", "v1.8.0", None),
        ("busybox", DOCKER_HUB, "library/busybox", "latest", None),
        ("docker.io/busybox:1", DOCKER_HUB, "library/busybox", "1", None),
        ("index.docker.io/a/b", DOCKER_HUB, "a/b", "latest", None),
        ("127.0.0.1:5000/x/y:2", "127.0.0.1:5000", "x/y", "2", None),
        ("localhost/x", "localhost", "x", "latest", None),
        ("reg.example.com/p/a/b:t", "reg.example.com", "p/a/b", "t", None),
        ("x/y@sha256:" + "a" * 64, DOCKER_HUB, "x/y", None, "sha256:" + "a" * 64),
    ],
)
def test_parse(text: str, registry: str, repo: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)


def test_default_registry_has_no_library_rule() -> None:
    ref = parse_reference("busybox:1", default_registry="127.0.0.1:5000")
    assert (ref.registry, ref.repository) == ("127.0.0.1:5000", "busybox")
    assert ref.short() == "busybox:1"


@pytest.mark.parametrize(
    "bad",
    [
        "UPPER/case",
        "x@sha256:abc",
        "a//b",
        "x:bad tag",
        "",
        # a newline inside (``$`` matched before it), non-ASCII word characters, controls
        "127.0.0.1:5000/a/b\n:v1",
        "127.0.0.1:5000\n/a/b:v1",
        "a/b:v\u0131",
        "a/b:\uff56\uff11",
        "a/b\x00:v1",
        "a/b@sha256:" + "a" * 64 + "\n:x",
    ],
)
def test_malformed(bad: str) -> None:
    with pytest.raises(InputError):
        parse_reference(bad)


@pytest.mark.parametrize(
    "host", ["[127.0.0.2]:5000", "[127.0.0.2]", "[localhost]:5000", "[::ffff:zz]:1", "[1.2.3.4.5]"]
)
def test_a_bracketed_registry_address_must_be_ipv6(host: str) -> None:
    from harborkit.registry.reference import check_host

    with pytest.raises(InputError, match=r"is not HOST\[:PORT\]"):
        check_host(host)


@pytest.mark.parametrize("host", ["[::1]:5000", "[::1]", "127.0.0.1:5000", "reg.example.com"])
def test_a_plain_registry_address_is_kept(host: str) -> None:
    from harborkit.registry.reference import check_host

    assert check_host(host) == host


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1:\uff15\uff10\uff10\uff10", r"is not HOST\[:PORT\]"),  # int() reads them
        ("127.0.0.1:\u0665\u0660\u0660\u0660", r"is not HOST\[:PORT\]"),
        ("127.0.0.1:0", "port 0 is not from 1 to 65535"),
        ("127.0.0.1:65536", "port 65536 is not from 1 to 65535"),
        ("[::1]:99999", "port 99999 is not from 1 to 65535"),
    ],
)
def test_a_registry_port_is_ascii_digits_in_range(host: str, why: str) -> None:
    from harborkit.registry.reference import check_host

    with pytest.raises(InputError, match=why):
        check_host(host)
