"""Site profiles: the built-in profile with a site's nodes, NTP master and Harbor.

:func:`site_profile` returns the text of ``checks/harbor-v1.8.0.yaml`` (so every
built-in value keeps its comment) with the site keys set: ``name``,
``description``, ``nodes``, ``time.master``, ``time.air_gapped`` and
``harbor.address``. Every value is written by the YAML dumper, never pasted
into the text, and the result is parsed back and compared with the values
meant: a value that would change anything else is an error, not a profile.
:func:`check_profile` validates a profile as ``check --profile`` reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harborkit.engine.profile import (
    Profile,
    is_host_name,
    load_profile,
    parse_node,
    profile_from_doc,
)
from harborkit.errors import InputError
from harborkit.ipaddr import is_ip
from harborkit.resources import default_profile
from harborkit.yamlfile import Key, Located, dotted, parse_yaml, read_input, schema_errors

_SITE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?", re.ASCII)
_ONE_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")


@dataclass(frozen=True)
class Site:
    """What ``profile init`` was told about the site."""

    nodes: tuple[str, ...] = ()  # NAME=ADDRESS
    ntp_master: str | None = None
    harbor: str | None = None
    air_gapped: bool | None = None  # None: the built-in value
    name: str = "site"


def builtin_text() -> str:
    """The built-in profile exactly as packaged."""
    return read_input(default_profile(), "profile")


def _master(site: Site, nodes: list[dict[str, str]]) -> str:
    master = site.ntp_master or ""
    if not nodes:
        if is_host_name(master) or is_ip(master):
            return master
        raise InputError(f"--ntp-master {master!r}: not a host name or IP address")
    for n in nodes:  # host names are case-insensitive: the node's own spelling is kept
        if master.lower() == n["name"].lower() or master == n["address"]:
            return n["name"] if master.lower() == n["name"].lower() else master
    names = ", ".join(n["name"] for n in nodes)
    raise InputError(f"--ntp-master {master!r}: not one of the nodes ({names})")


def _site_values(site: Site) -> dict[Key, Any]:
    """The site keys and their values, validated like the options of ``check``."""
    if not _SITE_NAME.fullmatch(site.name):
        raise InputError(f"--name {site.name!r}: letters, digits, '.', '_' and '-' only")
    nodes = [parse_node(spec) for spec in site.nodes]
    seen: set[str] = set()
    for n in nodes:
        if n["name"].lower() in seen:
            raise InputError(f"--node {n['name']}: the node is given twice")
        seen.add(n["name"].lower())
    values: dict[Key, Any] = {("name",): site.name}
    base = load_profile().data
    values[("description",)] = f"Site profile from {base['name']}: {base.get('description', '')}"
    values[("nodes",)] = nodes
    if site.ntp_master is not None:
        values[("time", "master")] = _master(site, nodes)
    if site.air_gapped is not None:
        values[("time", "air_gapped")] = site.air_gapped
    if site.harbor is not None:
        from harborkit.checks._harbor import parse_address

        if not site.harbor.isascii() or not site.harbor.isprintable():
            raise InputError(f"--harbor {site.harbor!r}: not a Harbor address")
        parse_address(site.harbor)
        values[("harbor", "address")] = site.harbor.strip()
    return values


def _dump(key: str, value: Any) -> list[str]:
    """``key: value`` as YAML lines; a list of mappings one flow mapping per item."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [f"{key}:"] + ["  - " + _flow(item) for item in value]
    return [_flow({key: value})[1:-1]]  # "{key: value}" without its braces


def _flow(value: Any) -> str:
    """One value in YAML flow style on one line, quoted wherever YAML needs it."""
    text = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=1 << 16, allow_unicode=False
    )
    one = text.rstrip("\n")
    if "\n" in one:  # width and ASCII escapes keep every value on one line
        raise InputError(f"profile init: {value!r} does not fit one YAML line; refused")
    return one


HEADER = """\
# harborkit site profile, made by `harborkit profile init` from the built-in
# profile below. Every value is the built-in one, with its comment, except
# the site keys (marked "# site"):
#   name             this profile's name, shown in every report
#   nodes            the cluster nodes: every host must resolve each name to its
#                    address (/etc/hosts); items are {name: NAME, address: IP}
#   time.master      the NTP master (a node's name or address): it serves its
#                    local clock, every other node syncs from it
#   time.air_gapped  true: no route to the internet; public NTP servers and
#                    timesyncd's built-in fallback servers do not count
#   harbor.address   Harbor as the Docker clients reach it (HOST[:PORT] is plain
#                    HTTP, or http[s]://HOST[:PORT]) for hosts without harbor.yml
# Validate it with `harborkit profile check FILE`, use it with
# `harborkit check --profile FILE`.
"""


def _replace(lines: list[str], doc: Located, key: Key, value: Any) -> None:
    """Set the one-line value of ``key`` (its line in the built-in text) to ``value``."""
    line = doc.lines.get(key)
    m = _ONE_LINE.match(lines[line - 1]) if line else None
    if line is None or m is None or m.group("key") != key[-1]:
        raise AssertionError(f"built-in profile: no one-line {'.'.join(map(str, key))}")
    pad = m.group("indent")
    dumped = _dump(str(key[-1]), value)
    dumped[0] += "  # site"
    lines[line - 1] = "\n".join(pad + d for d in dumped)


def _insert(lines: list[str], doc: Located, key: Key, value: Any) -> None:
    """Add ``key`` (absent from the built-in text) as the first child of its parent."""
    parent = key[:-1]
    line = doc.lines.get(parent)
    first_child = min(
        (n for k, n in doc.lines.items() if len(k) == len(key) and k[:-1] == parent),
        default=None,
    )
    if line is None or first_child is None:
        raise AssertionError(f"built-in profile: no section {'.'.join(map(str, parent))}")
    pad = _ONE_LINE.match(lines[first_child - 1])
    indent = pad.group("indent") if pad else "  "
    dumped = _dump(str(key[-1]), value)
    dumped[0] += "  # site"
    lines[line - 1] += "\n" + "\n".join(indent + d for d in dumped)


def site_profile(site: Site) -> str:
    """The text of a site profile (see the module docstring); :class:`InputError` if bad."""
    values = _site_values(site)
    text = builtin_text()
    doc = parse_yaml(text, str(default_profile()))
    lines = text.splitlines()
    for key, value in values.items():
        if key in doc.lines:
            _replace(lines, doc, key, value)
        else:
            _insert(lines, doc, key, value)
    out = HEADER + "\n".join(lines) + "\n"
    _verify(out, doc.data, values)
    return out


def _verify(text: str, base: dict[str, Any], values: dict[Key, Any]) -> None:
    """The text holds the built-in values with exactly ``values`` set, and validates."""
    import copy

    meant = copy.deepcopy(base)
    for key, value in values.items():
        section = meant
        for part in key[:-1]:
            section = section.setdefault(str(part), {})
        section[str(key[-1])] = value
    got = parse_yaml(text, "site profile").data
    if got != meant:
        raise InputError("profile init: a value would change more than its own key; refused")
    check_profile_text(text, "site profile")


def check_profile_text(text: str, path: str) -> Profile:
    """Validate a profile's text as ``check --profile`` does (schema, nodes, harbor.address)."""
    return _semantic(profile_from_doc(parse_yaml(text, path)))


def check_profile(path: str | Path) -> Profile:
    """Load ``path`` as ``check --profile`` does, plus the checks ``check`` makes
    later (``harbor.address``), each error one line ``file:line: key: problem``."""
    return _semantic(load_profile(path))


def profile_problems(path: str | Path) -> list[str]:
    """Every mistake of the profile at ``path``, one ``file:line: key: problem``
    line each, in file order: every schema error when there are some, else the
    first error :func:`check_profile` finds. Empty: ``check --profile`` takes it."""
    try:
        check_profile(path)
    except InputError as e:
        first = e.message
    else:
        return []
    try:
        doc = parse_yaml(read_input(path, "profile"), str(path))
    except InputError:
        return [first]
    if not isinstance(doc.data, dict):
        return [first]
    found = [f"{doc.where(k)}: {dotted(k)}: {m}" for k, m in schema_errors(doc, SCHEMA)]
    return found or [first]


SCHEMA = "profile.schema.json"


def _semantic(prof: Profile) -> Profile:
    from harborkit.checks._harbor import parse_address

    address = (prof.data.get("harbor") or {}).get("address")
    if address is not None:
        try:
            parse_address(str(address), "harbor.address")
        except InputError as e:
            raise prof.doc.error(
                ("harbor", "address"),
                f"{address!r} is not a Harbor address (http[s]://HOST[:PORT] or HOST[:PORT])",
            ) from e
    return prof
