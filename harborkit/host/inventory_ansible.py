"""Reading an inventory through ``ansible-inventory --list`` under a deadline
and bounds, its JSON checked for shape and size, its errors made one clean line."""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any

from harborkit.errors import InputError
from harborkit.host import inventory_io as io
from harborkit.host.inventory_io import clean, show
from harborkit.host.inventory_model import MAX_GROUPS, MAX_HOSTS, MAX_NAME, Groups, Inventory
from harborkit.host.inventory_static import parse_static
from harborkit.host.inventory_vars import target


def from_ansible(tool: str, path: str, text: str | None) -> Inventory:
    env = {
        **os.environ,
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "PYTHONWARNINGS": "ignore",
    }
    rc, out, err = io.run_bounded(
        [tool, "-i", path, "--list"], env, io.inventory_timeout(), f"--inventory {path}"
    )
    if rc != 0:
        if text is not None:
            _explain(text, path)
        raise InputError(f"--inventory {path}: {_ansible_error(err, rc)}")
    try:
        data = json.loads(out, parse_int=_json_int)  # NaN/Infinity: Ansible prints YAML's .nan
    except (ValueError, RecursionError) as e:
        raise InputError(
            f"--inventory {path}: ansible-inventory printed no JSON: {clean(str(e))}"
        ) from None
    try:
        inv = _from_list(data, path)
    except InputError:
        if text is not None:
            _explain(text, path)  # the same problem, at its line
        raise
    if not inv.hosts and text is not None:
        _explain(text, path)  # a group misspelt, vars not a mapping: Ansible only warns
    inv.text = text
    inv.reread = parse_static
    return inv


def _json_int(s: str) -> int:
    digits = len(s.lstrip("-"))
    if digits > 1000:
        raise ValueError(f"integer of {digits} digits is out of range")
    return int(s)


def _explain(text: str, path: str) -> None:
    """Raise what this reader finds wrong with a static file that ansible-inventory
    refused (or found no hosts in): its error names ``file:line``."""
    if re.search(r"^plugin\s*:", text, re.M):
        return  # an inventory plugin's configuration: not an inventory this reader knows
    builtin = parse_static(text, path)
    for h, hv in builtin.hosts.items():
        target(h, hv, functools.partial(builtin.where, h))


def _ansible_error(err: str, rc: int) -> str:
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    for ln in lines:
        m = re.match(r"\[WARNING\]: Failed to parse inventory with '(\w+)' plugin: (.+)", ln)
        if m and "no root 'plugin' key" not in ln:
            return clean(f"ansible-inventory ({m.group(1)} plugin): {m.group(2)}")
    for ln in lines:
        if ln.startswith(("[ERROR]:", "ERROR!")):
            text = ln.split(":", 1)[1] if ln.startswith("[") else ln.removeprefix("ERROR!")
            return clean(f"ansible-inventory: {text.strip()}")
    if rc < 0:
        return f"ansible-inventory was killed by signal {-rc} (out of memory?)"
    last = lines[-1] if lines else f"exit status {rc}"
    if "MemoryError" in err:
        last = f"ran out of memory (more than {io.CHILD_DATA_BYTES >> 20} MiB)"
    return clean(f"ansible-inventory failed: {last}")


def _shape(path: str, what: str) -> InputError:
    return InputError(f"--inventory {path}: ansible-inventory printed {what}")


def _names(value: Any, path: str, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _shape(path, f"{what} that is not a list of names")
    for v in value:
        if len(v) > MAX_NAME:
            raise _shape(path, f"a name longer than {MAX_NAME} characters in {what}")
        if io.has_control(v):
            raise _shape(path, f"a name with a control character ({show(v)}) in {what}")
    return value


def _from_list(data: Any, path: str) -> Inventory:
    """The JSON of ``ansible-inventory --list``, checked for shape and bounds."""
    if not isinstance(data, dict):
        raise _shape(path, "JSON that is not a mapping of groups")
    meta = data.get("_meta") or {}
    hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
    if hostvars is None:
        hostvars = {}
    if not isinstance(hostvars, dict) or not all(isinstance(v, dict) for v in hostvars.values()):
        raise _shape(path, "_meta.hostvars that is not a mapping of host variables")
    _names(list(hostvars), path, "_meta.hostvars")
    group_hosts: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for g, node in data.items():
        if g == "_meta":
            continue
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise _shape(path, f"group {show(g)} that is not a mapping")
        if len(g) > MAX_NAME or io.has_control(g):
            raise _shape(
                path, f"a group name {show(g)} that is too long or has a control character"
            )
        group_hosts[g] = _names(node.get("hosts"), path, f"hosts of group {show(g)}")
        children[g] = _names(node.get("children"), path, f"children of group {show(g)}")
        if len(group_hosts) - ("all" in group_hosts) - ("ungrouped" in group_hosts) > MAX_GROUPS:
            raise InputError(f"--inventory {path}: more than {MAX_GROUPS} groups")
    order: list[str] = []
    seen_h: set[str] = set()
    seen_g: set[str] = set()
    stack = ["all"]
    while stack:  # every group's hosts, then its children, in file order
        g = stack.pop()
        if g in seen_g:
            continue
        seen_g.add(g)
        for h in group_hosts.get(g, []):
            if h not in seen_h:
                seen_h.add(h)
                order.append(h)
        stack.extend(reversed(children.get(g, [])))
    for h in hostvars:
        if h not in seen_h:
            seen_h.add(h)
            order.append(h)
    if len(order) > MAX_HOSTS:
        raise InputError(f"--inventory {path}: more than {MAX_HOSTS} hosts")
    inv = Inventory(path)
    inv.hosts = {h: dict(hostvars.get(h) or {}) for h in order}
    inv.groups = Groups(group_hosts, children, {"all": set(order)})
    return inv
