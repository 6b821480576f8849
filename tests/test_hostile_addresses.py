"""IP addresses read from data are judged by harborkit.ipaddr, not by the Python's own
``ipaddress``: Python 3.9.0-3.9.4 (Debian 11's 3.9.2) read ``01.2.3.4`` as 1.2.3.4,
later ones refuse it, dockerd and the C library read it as octal or refuse it.

Each reader is run here under :func:`lenient_ipaddress`, which makes this Python's
``ipaddress`` take leading zeros as 3.9.2's does: a reader that still leaned on the
Python's parser would take the address (the first test shows the patch does that).
"""

from __future__ import annotations

import ipaddress
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.checks import _cluster, names
from harborkit.checks.dockerd_registry import covers, insecure_entry_refused
from harborkit.commands.remote import _meant_name
from harborkit.engine.profile import load_profile, parse_node
from harborkit.errors import InputError
from harborkit.host.ssh import SshTarget
from harborkit.ipaddr import is_ip, is_loopback, parse_ip, parse_network
from harborkit.registry.reference import check_host
from harborkit.registry.transport import _environ_proxies
from harborkit.registry.url import AmbiguousURL, parse_target

#: not an address on any Python (by harborkit's reading)
REFUSED = (
    "01.2.3.4",
    "1.2.3.010",
    "1.02.3.4",
    "0x1.2.3.4",
    "1.2.3",
    " 1.2.3.4",
    "1.2.3.4\n",
    "1.2.3.4 ",
    "\uff11.2.3.4",  # a full-width digit
    "fe80::1%eth0\n",
    "fe80::1%eth 0",
    "::ffff:1.2.3.04",
    "",
)
ACCEPTED = ("1.2.3.4", "0.0.0.0", "10.0.0.10", "fd00::5", "fe80::1%eth0", "::ffff:1.2.3.4")


@pytest.fixture
def lenient_ipaddress(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This Python's ``ipaddress`` reading IPv4 parts as 3.9.0-3.9.4 do: leading zeros
    dropped (``010`` is 10), no more than three digits."""
    strict = ipaddress.IPv4Address._parse_octet

    def lenient(cls: type, octet: str) -> int:
        if 1 < len(octet) <= 3 and octet.isascii() and octet.isdigit():
            octet = octet.lstrip("0") or "0"
        return int(strict(octet))

    monkeypatch.setattr(ipaddress.IPv4Address, "_parse_octet", classmethod(lenient))
    yield


def test_the_lenient_python_takes_leading_zeros(lenient_ipaddress: None) -> None:
    """The stand-in for 3.9.2 is one: its ipaddress takes what the readers must refuse."""
    assert ipaddress.ip_address("01.2.3.4") == ipaddress.IPv4Address("1.2.3.4")
    assert ipaddress.ip_address("1.2.3.010") == ipaddress.IPv4Address("1.2.3.10")
    assert ipaddress.ip_address("127.0.0.01").is_loopback
    assert ipaddress.IPv6Address("::ffff:1.2.3.04") == ipaddress.IPv6Address("::ffff:1.2.3.4")


@pytest.mark.parametrize("lenient", [False, True], ids=["this-python", "python-3.9.2"])
@pytest.mark.parametrize("text", REFUSED, ids=repr)
def test_shared_parser_refuses(text: str, lenient: bool, request: pytest.FixtureRequest) -> None:
    if lenient:
        request.getfixturevalue("lenient_ipaddress")
    with pytest.raises(ValueError, match="is not an IP address"):
        parse_ip(text)
    assert not is_ip(text)
    assert not is_loopback(text)


@pytest.mark.parametrize("lenient", [False, True], ids=["this-python", "python-3.9.2"])
@pytest.mark.parametrize("text", ACCEPTED)
def test_shared_parser_takes_addresses(
    text: str, lenient: bool, request: pytest.FixtureRequest
) -> None:
    if lenient:
        request.getfixturevalue("lenient_ipaddress")
    assert parse_ip(text) == ipaddress.ip_address(text)
    assert is_ip(text, scope="%" not in text) == ("%" not in text)
    assert is_ip(text, version=4) == ("." in text and ":" not in text)
    assert is_ip(text, version=6) == (":" in text)


def test_shared_parser_networks(lenient_ipaddress: None) -> None:
    assert str(parse_network("10.1.2.3", "8")) == "10.0.0.0/8"
    for address, bits in (
        ("010.1.2.3", "8"),
        ("10.1.2.3", ""),
        ("10.1.2.3", "255.0.0.0"),
        ("fe80::%eth0", "64"),
        ("10.1.2.3", "\uff18"),
    ):
        with pytest.raises(ValueError):
            parse_network(address, bits)


# --------------------------------------------------------------------------- the readers

LEADING_ZEROS = ("01.2.3.4", "1.2.3.010", "1.02.3.4", "001.2.3.4")
NOT_ADDRESSES = (*LEADING_ZEROS, "0x1.2.3.4", "1.2.3", " 1.2.3.4", "1.2.3.4\n", "fe80::1%a\n")


@pytest.mark.parametrize("address", NOT_ADDRESSES, ids=repr)
def test_node_option_refuses(lenient_ipaddress: None, address: str) -> None:
    spec = f"server58={address}"
    with pytest.raises(InputError) as e:
        parse_node(spec)
    assert str(e.value) == (
        f"--node {spec!r}: {address!r} is not an IP address "
        "(nodes resolve to addresses, e.g. 192.168.3.58)"
    )


@pytest.mark.parametrize("address", NOT_ADDRESSES, ids=repr)
def test_profile_node_address_refused(
    lenient_ipaddress: None, tmp_path: Path, address: str
) -> None:
    path = tmp_path / "site.yaml"
    quoted = address.replace("\n", "\\n")
    path.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: harborkit/v1
            kind: Profile
            name: site
            nodes:
              - name: server58
                address: "{quoted}"
            """
        )
    )
    with pytest.raises(InputError) as e:
        load_profile(path)
    assert str(e.value) == (
        f"{path}:6: nodes[0].address: {address!r} is not an IP address "
        "(nodes resolve to addresses, e.g. 192.168.3.58)"
    )


def test_profile_node_address_taken(lenient_ipaddress: None) -> None:
    assert parse_node("server58=192.168.3.58") == {"name": "server58", "address": "192.168.3.58"}
    assert parse_node("server58=fe80::1%eth0")["address"] == "fe80::1%eth0"


@pytest.mark.parametrize("host", ["0127.0.0.1", "127.0.0.01", "127.000.0.1", "[::ffff:127.0.0.01]"])
def test_registry_proxy_for_leading_zero_loopback(
    lenient_ipaddress: None, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """The C library reads 0127.0.0.1 as 87.0.0.1: not loopback, so the proxy applies."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _environ_proxies(f"{host}:5000") == {"https": "http://127.0.0.1:3128"}
    assert _environ_proxies("127.0.0.1:5000") == {}
    assert _environ_proxies("[::1]:5000") == {}


@pytest.mark.parametrize("host", [*LEADING_ZEROS, "1.2.3"])
def test_ssh_target_given_by_a_leading_zero_address_is_a_name(
    lenient_ipaddress: None, host: str
) -> None:
    """ssh (the C library) does not read 01.2.3.4 as 1.2.3.4: it is named as given."""
    assert _meant_name(SshTarget(host)) == host
    assert _meant_name(SshTarget("1.2.3.4")) is None
    assert _meant_name(SshTarget("fd00::5")) is None


@pytest.mark.parametrize("address", ["0127.0.0.1", "127.0.0.01", "127.0.1.01", "::ffff:127.0.0.01"])
def test_resolved_leading_zero_address_is_not_loopback(
    lenient_ipaddress: None, address: str
) -> None:
    for reader in (names._is_loopback, _cluster._is_loopback):
        assert reader(address) is False
        assert reader("127.0.1.1") is True
        assert reader("::1%lo") is True


@pytest.mark.parametrize("host", LEADING_ZEROS)
def test_insecure_registry_with_leading_zeros(lenient_ipaddress: None, host: str) -> None:
    """dockerd refuses the entry and covers no such Harbor (as on every Python before)."""
    assert insecure_entry_refused(f"{host}/8") is not None
    assert not covers("1.0.0.0/8", host, 80)
    assert not covers(f"{host}/8", "1.2.3.4", 80)
    assert covers("1.0.0.0/8", "1.2.3.4", 80)


@pytest.mark.parametrize("inner", ["::ffff:1.2.3.04", "::ffff:01.2.3.4", "fe80::1%a\n"])
def test_registry_bracketed_hosts(lenient_ipaddress: None, inner: str) -> None:
    with pytest.raises(InputError) as e:
        check_host(f"[{inner}]:5000")
    assert str(e.value).startswith(f"registry address {f'[{inner}]:5000'!r} is not HOST[:PORT]")
    with pytest.raises(AmbiguousURL):
        parse_target(f"https://[{inner}]:5000/v2/", "the registry")
    assert check_host("[::ffff:1.2.3.4]:5000") == "[::ffff:1.2.3.4]:5000"
