"""What ansible-inventory would read, checked before it runs (it has no bounds
of its own): YAML nesting and alias bombs, host ranges over
:data:`~harborkit.host.inventory_model.MAX_HOSTS`, huge lines, folders too
deep or too wide, file names with control characters."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from harborkit.errors import InputError
from harborkit.host import inventory_io as io
from harborkit.host.inventory_io import show
from harborkit.host.inventory_model import MAX_LINE
from harborkit.host.inventory_ranges import Budget, expand_hosts
from harborkit.host.inventory_static import SECTION, is_yaml
from harborkit.yamlfile import JsonRefused, _Loader, parse_json


def scan_text(text: str, path: str, yaml_only: bool = False) -> None:
    """Refuse what would make ansible-inventory hang or exhaust memory: YAML
    nesting and alias bombs, host ranges over :data:`MAX_HOSTS`, huge lines."""
    if yaml_only or is_yaml(path, text):
        try:
            io.scan_yaml(text, path)
        except InputError:
            if Path(path).suffix == ".json":
                try:
                    data = parse_json(text)
                except (JsonRefused, ValueError):
                    pass
                else:
                    _scan_json_hosts(data, path)
                    return
            raise
        if not yaml_only:
            _scan_yaml_hosts(text, path)
        return
    budget = Budget()
    kind = "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_LINE:
            raise InputError(f"{path}:{n}: line longer than {MAX_LINE} characters")
        line = raw.strip()
        if line.startswith("["):
            m = SECTION.fullmatch(line)
            kind = (m.group(2) or "hosts") if m else "hosts"
        elif line and not line.startswith(("#", ";")):
            if kind == "vars":
                budget.assign(1, f"{path}:{n}")
            elif kind == "hosts":
                words = line.split("#")[0].split() or [""]
                nvars = sum("=" in w for w in words[1:])
                budget.assign(nvars, f"{path}:{n}")
                expand_hosts(words[0], f"{path}:{n}", budget, nvars)


def _scan_yaml_hosts(text: str, path: str) -> None:
    """Host ranges in the keys of every ``hosts:`` mapping (Ansible expands them),
    counted before ansible-inventory would build them. The tree is composed,
    not constructed (any tag is fine): :func:`io.scan_yaml` bounded it."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        raise io.yaml_problem(path, e) from None
    finally:
        loader.dispose()
    budget = Budget()
    stack = [root] if root is not None else []
    while stack:  # aliases are visited again, as Ansible reads them again
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):  # a group's hosts, then its children (as read)
            for k, v in node.value:
                if (
                    isinstance(k, yaml.ScalarNode)
                    and k.value == "hosts"
                    and isinstance(v, yaml.MappingNode)
                ):
                    for hk, hv in v.value:
                        if isinstance(hk, yaml.ScalarNode):
                            nvars = len(hv.value) if isinstance(hv, yaml.MappingNode) else 0
                            where = f"{path}:{hk.start_mark.line + 1}"
                            expand_hosts(hk.value, where, budget, nvars)
            stack.extend(reversed([v for _, v in node.value]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def _scan_json_hosts(data: Any, path: str) -> None:
    budget = Budget()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            hosts = node.get("hosts")
            if isinstance(hosts, dict):
                for h in hosts:
                    expand_hosts(str(h), path, budget)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def scan_entry(p: str, *, yaml_only: bool, depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise InputError(f"--inventory {p}: more than {io.MAX_ENTRIES} files to read")
    try:
        st = os.stat(p)
    except OSError:
        return  # a dangling link: Ansible skips it too
    if stat.S_ISDIR(st.st_mode):
        if depth >= 10:
            raise InputError(f"--inventory {p}: folders nested deeper than 10 levels")
        try:
            names = _listdir(p)
        except OSError as e:
            raise InputError(f"--inventory {p}: cannot read: {e.strerror}") from None
        for name in names:
            _plain_name(p, name)
            if not name.startswith("."):
                scan_entry(
                    os.path.join(p, name), yaml_only=yaml_only, depth=depth + 1, budget=budget
                )
        return
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"--inventory {p}: {io.kind_of(st.st_mode)}, not a regular file")
    text = io.read_regular(p, "--inventory")
    if text.startswith("#!") and os.access(p, os.X_OK):
        return
    scan_text(text, p, yaml_only=yaml_only)


def _listdir(folder: str) -> list[str]:
    """A folder's names, sorted; at most :data:`io.MAX_ENTRIES` are listed."""
    names: list[str] = []
    with os.scandir(folder) as it:
        for entry in it:
            names.append(entry.name)
            if len(names) > io.MAX_ENTRIES:
                raise InputError(f"--inventory {folder}: more than {io.MAX_ENTRIES} files to read")
    return sorted(names)


def _plain_name(folder: str, name: str) -> None:
    """A file name read from a folder goes into messages: no control characters."""
    if io.has_control(name):
        raise InputError(
            f"--inventory {os.path.join(folder, show(name))}: a file name with a control character"
        )


def scan_folder(path: str) -> None:
    """Every file of a folder inventory (``group_vars``/``host_vars`` as YAML)."""
    budget = [io.MAX_ENTRIES]
    try:
        names = _listdir(path)
    except OSError as e:
        raise InputError(f"--inventory {path}: cannot read: {e.strerror}") from None
    for name in names:
        _plain_name(path, name)
        if not name.startswith("."):
            vars_dir = name in ("group_vars", "host_vars")
            scan_entry(os.path.join(path, name), yaml_only=vars_dir, depth=1, budget=budget)
