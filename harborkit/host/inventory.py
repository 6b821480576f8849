"""Ansible inventories: the hosts to audit and how to reach them.

When ``ansible-inventory`` is installed it reads the file (``--list``), so
dynamic inventories, ``group_vars``/``host_vars`` and every plugin work as in
Ansible. Without it, static INI and YAML inventories are read here. Either
way a syntax error is one line with ``file:line``. ``--limit`` takes Ansible's
pattern syntax: names and groups, ``*`` wildcards, ``~regex``, ``!`` to
exclude, ``&`` to intersect, separated by ``,`` or ``:``.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harborkit.errors import InputError
from harborkit.host.ssh import SshTarget


@dataclass
class Inventory:
    """Hosts with their merged variables, and group membership."""

    path: str
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # in file order
    groups: dict[str, set[str]] = field(default_factory=dict)


def _ansible_inventory() -> str | None:
    found = shutil.which("ansible-inventory")
    if found:
        return found
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.exists() else None


def load_inventory(path: str) -> Inventory:
    """Read an inventory (through ``ansible-inventory`` when it is installed)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"--inventory {path}: no such file or folder")
    tool = _ansible_inventory()
    if tool is not None:
        return _from_ansible(tool, path)
    if p.is_dir():
        raise InputError(
            f"--inventory {path}: a folder inventory needs ansible-inventory (pip install ansible-core)"
        )
    text = p.read_text(encoding="utf-8", errors="replace")
    if p.suffix in (".yml", ".yaml") or text.lstrip().startswith(("all:", "---")):
        return parse_yaml(text, path)
    return parse_ini(text, path)


def _from_ansible(tool: str, path: str) -> Inventory:
    env = {
        **os.environ,
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "False",
    }
    r = subprocess.run(  # noqa: S603 - argv list
        [tool, "-i", path, "--list"], capture_output=True, text=True, env=env, check=False
    )
    if r.returncode != 0:
        # our own parser names file:line for static files; else Ansible's words
        p = Path(path)
        if p.is_file():
            text = p.read_text(encoding="utf-8", errors="replace")
            if p.suffix in (".yml", ".yaml") or text.lstrip().startswith(("all:", "---")):
                parse_yaml(text, path)
            else:
                parse_ini(text, path)
        m = re.search(r"(\S+:\d+: [^\n]+)", r.stderr)
        last = m.group(1) if m else (r.stderr.strip().splitlines() or ["failed"])[-1]
        raise InputError(f"--inventory {path}: {last.removeprefix('ERROR! ')}")
    try:
        data = json.loads(r.stdout)
    except ValueError as e:
        raise InputError(f"--inventory {path}: ansible-inventory printed no JSON: {e}") from e
    inv = Inventory(path)
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}

    def members(group: str, seen: set[str]) -> set[str]:
        if group in seen:
            return set()
        seen.add(group)
        node = data.get(group) or {}
        found = set(node.get("hosts") or [])
        for child in node.get("children") or []:
            found |= members(child, seen)
        return found

    order: list[str] = []

    def walk(group: str, seen: set[str]) -> None:
        if group in seen:
            return
        seen.add(group)
        node = data.get(group) or {}
        for h in node.get("hosts") or []:
            if h not in order:
                order.append(h)
        for child in node.get("children") or []:
            walk(child, seen)

    walk("all", set())
    for h in hostvars:
        if h not in order:
            order.append(h)
    for h in order:
        inv.hosts[h] = dict(hostvars.get(h) or {})
    for g in data:
        if g != "_meta":
            inv.groups[g] = members(g, set())
    inv.groups["all"] = set(order)
    return inv


# ---- static INI
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]")


def _expand(name: str, where: str) -> list[str]:
    m = _RANGE.search(name)
    if not m:
        return [name]
    a, b, step = m.group(1), m.group(2), int(m.group(3) or 1)
    head, tail = name[: m.start()], name[m.end() :]
    if a.isdigit() and b.isdigit():
        width = len(a) if a.startswith("0") else 0
        items = [str(i).zfill(width) for i in range(int(a), int(b) + 1, step)]
    elif len(a) == 1 and len(b) == 1 and a.isalpha() and b.isalpha():
        items = [chr(c) for c in range(ord(a), ord(b) + 1, step)]
    else:
        raise InputError(f"{where}: bad host range [{a}:{b}]")
    return [x for i in items for x in _expand(head + i + tail, where)]


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_ini(text: str, path: str) -> Inventory:
    """A static INI inventory; errors say ``path:line``."""
    hosts: dict[str, dict[str, Any]] = {}
    group_hosts: dict[str, list[str]] = {"all": [], "ungrouped": []}
    group_vars: dict[str, dict[str, Any]] = {}
    children: dict[str, list[str]] = {}
    section, kind = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        where = f"{path}:{n}"
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            m = re.fullmatch(r"\[([^\[\]:\s]+)(?::(\w+))?\]", line)
            if not m:
                raise InputError(f"{where}: bad section header {line!r}")
            section, kind = m.group(1), m.group(2) or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise InputError(
                    f"{where}: [{section}:{kind}]: the section kind must be vars or children"
                )
            group_hosts.setdefault(section, [])
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as e:
            raise InputError(f"{where}: {e}") from None
        if not tokens:
            continue
        if kind == "vars":
            name, eq, value = line.partition("=")
            if not eq:
                raise InputError(f"{where}: expected key=value in [{section}:vars], got {line!r}")
            group_vars.setdefault(section, {})[name.strip()] = _value(value.strip())
            continue
        if kind == "children":
            children.setdefault(section, []).append(tokens[0])
            group_hosts.setdefault(tokens[0], [])
            continue
        spec, *assigns = tokens
        hvars: dict[str, Any] = {}
        for a in assigns:
            k, eq, v = a.partition("=")
            if not eq or not k:
                raise InputError(f"{where}: expected key=value host variable assignment, got {a!r}")
            hvars[k] = _value(v)
        m = re.fullmatch(r"(.+?)(?::(\d+))?", spec)
        assert m is not None
        base, port = m.group(1), m.group(2)
        if ":" in base and not base.startswith("["):
            base, port = spec, None  # an IPv6 address
        if port:
            hvars.setdefault("ansible_port", int(port))
        for name in _expand(base, where):
            hosts.setdefault(name, {}).update(hvars)
            if name not in group_hosts[section]:
                group_hosts[section].append(name)
    for g, kids in children.items():
        for k in kids:
            if k not in group_hosts:
                raise InputError(f"{path}: [{g}:children] names {k}, which is no group")
    inv = Inventory(path)
    members = {g: _members(g, group_hosts, children, set()) for g in group_hosts}
    grouped = set().union(*(m for g, m in members.items() if g not in ("all", "ungrouped")))
    members["ungrouped"] = {h for h in group_hosts["ungrouped"] if h not in grouped} | (
        members["ungrouped"] - grouped
    )
    members["all"] = set(hosts)
    inv.groups = members
    depth = {g: _depth(g, children) for g in group_hosts}
    for h, hv in hosts.items():
        merged: dict[str, Any] = dict(group_vars.get("all", {}))
        for g in sorted((g for g in members if h in members[g] and g != "all"), key=depth.get):  # type: ignore[arg-type]
            merged.update(group_vars.get(g, {}))
        merged.update(hv)
        inv.hosts[h] = merged
    return inv


def _members(
    g: str, hosts: dict[str, list[str]], children: dict[str, list[str]], seen: set[str]
) -> set[str]:
    if g in seen:
        return set()
    seen.add(g)
    out = set(hosts.get(g, []))
    for c in children.get(g, []):
        out |= _members(c, hosts, children, seen)
    return out


def _depth(g: str, children: dict[str, list[str]]) -> int:
    parents = [p for p, kids in children.items() if g in kids]
    return 1 + max((_depth(p, children) for p in parents if p != g), default=0)


# ---- static YAML
def parse_yaml(text: str, path: str) -> Inventory:
    """A static YAML inventory (``all: {hosts, vars, children}``); errors say ``path:line``."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise InputError(f"{path}{line}: {e.problem or e.context or 'YAML syntax error'}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: an inventory is a mapping of groups (all: ...)")
    inv = Inventory(path)
    order: list[str] = []
    hostvars: dict[str, dict[str, Any]] = {}
    members: dict[str, set[str]] = {}

    def group(name: str, node: Any, inherited: dict[str, Any]) -> set[str]:
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise InputError(f"{path}: group {name}: expected a mapping with hosts/vars/children")
        unknown = set(node) - {"hosts", "vars", "children"}
        if unknown:
            raise InputError(f"{path}: group {name}: unknown key {sorted(unknown)[0]!r}")
        gvars = {**inherited, **(node.get("vars") or {})}
        found: set[str] = set()
        for h, hv in (node.get("hosts") or {}).items():
            h = str(h)
            if h not in order:
                order.append(h)
            merged = hostvars.setdefault(h, {})
            for k, v in gvars.items():
                merged.setdefault(k, v)
            merged.update(hv or {})
            found.add(h)
        for child, sub in (node.get("children") or {}).items():
            found |= group(str(child), sub, gvars)
        members[name] = members.get(name, set()) | found
        return found

    for name, node in data.items():
        group(str(name), node, {})
    inv.hosts = {h: hostvars[h] for h in order}
    members["all"] = set(order)
    inv.groups = members
    return inv


# ---- --limit
def select(inv: Inventory, pattern: str | None) -> list[SshTarget]:
    """The SSH targets of the hosts ``pattern`` picks (all without one)."""
    names = list(inv.hosts)
    if pattern:
        chosen: set[str] = set()
        if "," in pattern:
            parts = pattern.split(",")
        elif pattern.lstrip("!&") in inv.hosts:  # an IPv6 address is one name
            parts = [pattern]
        else:
            parts = pattern.split(":")
        terms = [t.strip() for t in parts if t.strip()]
        plain = [t for t in terms if not t.startswith(("!", "&"))]
        if plain:
            for t in plain:
                chosen |= _match(inv, t, pattern)
        else:
            chosen = set(names)
        for t in terms:
            if t.startswith("&"):
                chosen &= _match(inv, t[1:], pattern)
            elif t.startswith("!"):
                chosen -= _match(inv, t[1:], pattern)
        names = [n for n in names if n in chosen]
        if not names:
            raise InputError(f"--limit {pattern}: no host of {inv.path} is left")
    if not names:
        raise InputError(f"--inventory {inv.path}: no hosts")
    return [target(n, inv.hosts[n]) for n in names]


def _match(inv: Inventory, term: str, pattern: str) -> set[str]:
    if term.startswith("~"):
        try:
            rx = re.compile(term[1:])
        except re.error as e:
            raise InputError(
                f"--limit {pattern}: bad regular expression {term[1:]!r}: {e}"
            ) from None
        found = {h for h in inv.hosts if rx.search(h)}
        found |= {h for g, m in inv.groups.items() if rx.search(g) for h in m}
    elif any(c in term for c in "*?["):
        found = {h for h in inv.hosts if fnmatch.fnmatchcase(h, term)}
        found |= {h for g, m in inv.groups.items() if fnmatch.fnmatchcase(g, term) for h in m}
    else:
        found = set(inv.groups.get(term, set()))
        if term in inv.hosts:
            found.add(term)
        elif term not in inv.groups:
            raise InputError(f"--limit {pattern}: {term} is no host or group of {inv.path}")
        return found
    if not found:
        raise InputError(f"--limit {pattern}: {term} matches no host or group of {inv.path}")
    return found


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def target(name: str, hv: dict[str, Any]) -> SshTarget:
    """How Ansible would reach ``name`` (ansible_host, _port, _user, _become ...)."""
    port = hv.get("ansible_port") or hv.get("ansible_ssh_port")
    args: list[str] = []
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if hv.get(key):
            args += shlex.split(str(hv[key]))
    become = hv.get("ansible_become")
    return SshTarget(
        host=str(hv.get("ansible_host") or hv.get("ansible_ssh_host") or name),
        user=str(hv["ansible_user"]) if hv.get("ansible_user") else None,
        port=int(port) if port else None,
        name=name,
        become=None if become is None else _truthy(become),
        identity=str(hv["ansible_ssh_private_key_file"])
        if hv.get("ansible_ssh_private_key_file")
        else None,
        ssh_args=tuple(args),
    )
