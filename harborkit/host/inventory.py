"""Ansible inventories: the hosts to audit and how to reach them.

When ``ansible-inventory`` is installed it reads the file (``--list``), so
dynamic inventories, ``group_vars``/``host_vars`` and every plugin work as in
Ansible. Without it (or with ``HARBORKIT_ANSIBLE_INVENTORY=none``), static INI
and YAML inventories are read here. ``--limit`` takes Ansible's pattern
syntax: names and groups, ``*`` wildcards, ``~regex``, ``!`` to exclude, ``&``
to intersect, separated by ``,`` or ``:``.

An inventory is data, and may be hostile: whichever reader is used, a bad
inventory is one line naming ``file:line`` (where a line is known) and exit 2,
never a traceback, a hang or unbounded memory. Only regular files (and, for
``ansible-inventory``, folders) are read, at most 4 MiB each; a host range may
expand to at most :data:`MAX_HOSTS` hosts in all; YAML is bounded in nesting
and in what its aliases expand to (see :mod:`harborkit.host.inventory_io`);
``ansible-inventory`` runs under a deadline, an output bound and a memory
bound; a ``~regex`` of ``--limit`` under a time bound.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import shutil
import stat
import sys
from pathlib import Path

from harborkit.errors import InputError
from harborkit.host import inventory_io as io
from harborkit.host.inventory_ansible import from_ansible
from harborkit.host.inventory_io import clean
from harborkit.host.inventory_model import Inventory
from harborkit.host.inventory_scan import scan_entry, scan_folder, scan_text
from harborkit.host.inventory_static import parse_static
from harborkit.host.inventory_vars import target
from harborkit.host.ssh import SshTarget


def _ansible_inventory() -> str | None:
    chosen = os.environ.get("HARBORKIT_ANSIBLE_INVENTORY")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "none") else chosen
    found = shutil.which("ansible-inventory")
    if found:
        return found
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.exists() else None


def load_inventory(path: str) -> Inventory:
    """Read an inventory (through ``ansible-inventory`` when it is installed)."""
    st = io.stat_input(path, "--inventory")
    tool = _ansible_inventory()
    if stat.S_ISDIR(st.st_mode):
        if tool is None:
            raise InputError(
                f"--inventory {path}: a folder inventory needs ansible-inventory "
                "(pip install ansible-core)"
            )
        scan_folder(path)
        return from_ansible(tool, path, None)
    text: str | None = io.read_regular(path, "--inventory")
    assert text is not None
    if tool is None:
        return parse_static(text, path)
    if text.startswith("#!") and os.access(path, os.X_OK):
        text = None  # a script is code: Ansible runs it, and its output is checked
    else:
        scan_text(text, path)
    parent = os.path.dirname(path)
    budget = [io.MAX_ENTRIES]
    for sub in ("group_vars", "host_vars"):
        vars_dir = os.path.join(parent, sub)
        if os.path.lexists(vars_dir):
            scan_entry(vars_dir, yaml_only=True, depth=0, budget=budget)
    return from_ansible(tool, path, text)


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
    return [target(n, inv.hosts[n], functools.partial(inv.where, n)) for n in names]


def _match(inv: Inventory, term: str, pattern: str) -> set[str]:
    if term.startswith("~"):
        hosts, groups = list(inv.hosts), list(inv.groups)
        hits = io.regex_search(term[1:], hosts + groups, f"--limit {clean(pattern)}")
        found: set[str] = set()
        for i in hits:
            if i < len(hosts):
                found.add(hosts[i])
            else:
                found |= inv.groups[groups[i - len(hosts)]]
    elif any(c in term for c in "*?["):
        found = {h for h in inv.hosts if fnmatch.fnmatchcase(h, term)}
        for g in inv.groups:
            if fnmatch.fnmatchcase(g, term):
                found |= inv.groups[g]
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
