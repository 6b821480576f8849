"""Baseline profiles: YAML data validated by ``schemas/profile.schema.json``."""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborkit.errors import InputError
from harborkit.ipaddr import is_ip
from harborkit.resources import default_profile
from harborkit.yamlfile import Located, dotted, load_yaml, validate


@dataclass(frozen=True)
class Profile:
    name: str
    path: str
    data: Mapping[str, Any]
    doc: Located

    @property
    def select(self) -> tuple[str, ...]:
        return tuple(self.data.get("select", ["all"]))

    @property
    def skip(self) -> tuple[str, ...]:
        return tuple(self.data.get("skip", []))


def load_profile(path: str | Path | None = None) -> Profile:
    """Load and validate a profile (the built-in Harbor v1.8.0 one by default).

    The built-in profile is read and validated once per process; each call
    gets its own copy, so a caller that edits one changes no other."""
    if path is None:
        return copy.deepcopy(_builtin())
    return _load(Path(path))


def builtin_data() -> Mapping[str, Any]:
    """The built-in profile's settings, shared and read once per process: for
    readers only (no copy is made; :func:`load_profile` gives one to edit)."""
    return _builtin().data


@functools.cache
def _builtin() -> Profile:
    # Shipped with harborkit and proved valid against the schema by the tests
    # (tests/engine/test_profile_startup.py): not validated again at every run,
    # which would import jsonschema (~0.1 s) for nothing. --profile FILE,
    # the built-in file's path included, is always validated.
    return _load(default_profile(), schema=False)


def _load(p: Path, *, schema: bool = True) -> Profile:
    return profile_from_doc(load_yaml(p, "profile"), schema=schema)


def profile_from_doc(doc: Located, *, schema: bool = True) -> Profile:
    """A parsed profile document validated (schema unless told, finite numbers,
    node addresses, names)."""
    if not isinstance(doc.data, dict):
        raise InputError(f"{doc.where()}: a profile is a mapping of settings")
    _finite_numbers(doc)
    if schema:
        validate(doc, "profile.schema.json")
    for i, node in enumerate(doc.data.get("nodes") or []):
        problem = _address_problem(str(node["address"]))
        if problem:
            raise doc.error(("nodes", i, "address"), problem)
    _host_names(doc)
    return Profile(doc.data["name"], doc.path, doc.data, doc)


_SERVER_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?", re.ASCII)


def _host_names(doc: Located) -> None:
    """Names that fix writes into /etc/hosts and ntp/chrony lines: a host name or an
    address, nothing more (the schema's ``$`` lets a trailing newline through)."""
    time = doc.data.get("time") or {}
    named: list[tuple[tuple[str | int, ...], Any]] = [
        *((("nodes", i, "name"), n.get("name")) for i, n in enumerate(doc.data.get("nodes") or [])),
        *((("time", "servers", i), s) for i, s in enumerate(time.get("servers") or [])),
    ]
    if time.get("master"):
        named.append((("time", "master"), time["master"]))
    for key, value in named:
        text = str(value)
        if key[0] == "nodes":
            ok = is_host_name(text)
        else:
            ok = _SERVER_NAME.fullmatch(text) is not None or _address_problem(text) is None
        if not ok:
            raise doc.error(
                key,
                f"{text!r} is not a host name" + ("" if key[0] == "nodes" else " or IP address"),
            )


def _finite_numbers(doc: Located) -> None:
    """``.nan`` and ``.inf`` are YAML floats that every comparison gets wrong
    (a NaN passes ``minimum``): refused wherever they stand, with their line."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), doc.data)]
    bad: list[tuple[tuple[str | int, ...], float]] = []
    while stack:
        key, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            bad.append((key, value))
        if isinstance(value, dict):
            stack.extend(((*key, str(k)), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*key, i), v) for i, v in enumerate(value))
    if bad:  # the first in the file
        key, value = min(bad, key=lambda b: (doc.line_of(b[0]) or 0, dotted(b[0])))
        raise doc.error(key, f"{value} is not a finite number")


_NODE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", re.ASCII)


def _address_problem(address: str) -> str | None:
    """Why ``address`` is not a node address (an IPv4 or IPv6 address), or None."""
    if not is_ip(address):  # the same on every Python: no 01.2.3.4, no "\n" in a scope id
        return f"{address!r} is not an IP address (nodes resolve to addresses, e.g. 192.168.3.58)"
    return None


def parse_node(spec: str) -> dict[str, str]:
    """``--node NAME=ADDRESS`` as a ``nodes`` item; :class:`InputError` (exit 2) if malformed."""
    name, sep, address = spec.partition("=")
    if not sep or not name or not address:
        raise InputError(f"--node {spec!r}: expected NAME=ADDRESS, e.g. server58=192.168.3.58")
    if not is_host_name(name):
        raise InputError(f"--node {spec!r}: {name!r} is not a host name")
    problem = _address_problem(address)
    if problem:
        raise InputError(f"--node {spec!r}: {problem}")
    return {"name": name, "address": address}


def is_host_name(name: str) -> bool:
    """A node name as ``nodes[].name`` allows (letters, digits, dots, dashes)."""
    return _NODE_NAME.fullmatch(name) is not None


def with_nodes(profile: Profile, nodes: Sequence[str]) -> Profile:
    """Add ``NAME=ADDRESS`` nodes from the command line to the profile's list."""
    extra = [parse_node(spec) for spec in nodes]
    if not extra:
        return profile
    data = dict(profile.data)
    data["nodes"] = [*data.get("nodes", []), *extra]
    return Profile(profile.name, profile.path, data, profile.doc)


def with_harbor(profile: Profile, address: str | None) -> Profile:
    """``--harbor ADDRESS`` as the profile's ``harbor.address``: Harbor's address
    for the client-side checks of hosts without its harbor.yml."""
    if address is None:
        return profile
    from harborkit.checks._harbor import parse_address

    parse_address(address)  # a usage error (exit 2) before anything runs
    data = dict(profile.data)
    data["harbor"] = {**(data.get("harbor") or {}), "address": address}
    return Profile(profile.name, profile.path, data, profile.doc)
