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

import ast
import fnmatch
import functools
import json
import os
import re
import shlex
import shutil
import stat
import sys
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harborkit.errors import InputError
from harborkit.host import inventory_io as io
from harborkit.host.inventory_io import clean, show
from harborkit.host.ssh import SshTarget

#: Hosts an inventory may hold, host ranges (``srv[001:250]``) expanded.
MAX_HOSTS = 10_000
#: Groups an inventory may hold.
MAX_GROUPS = 1_000
#: Characters of one line of an INI inventory.
MAX_LINE = 65_536
#: Characters of a host or group name (a range in a longer one would multiply it).
MAX_NAME = 1024
#: Characters of a value harborkit uses (``ansible_host``, ``ansible_ssh_common_args`` ...).
MAX_VALUE = 8192


@dataclass
class Inventory:
    """Hosts with their merged variables, and group membership."""

    path: str
    hosts: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # in file order
    groups: Mapping[str, set[str]] = field(default_factory=dict)
    #: host -> variable -> line of the file where its value was set (when known)
    lines: dict[str, Mapping[str, int]] = field(default_factory=dict)
    #: the file's text, to find lines of what ansible-inventory read
    text: str | None = field(default=None, repr=False)
    _builtin: Inventory | None = field(default=None, repr=False)

    def where(self, host: str, var: str) -> str:
        """``file:line`` of ``host``'s ``var``, or ``file`` when no line is known.

        For what ansible-inventory read, the line is found by reading the file
        here too; it is named only when this reader found the same value there
        (not one set by ``host_vars/`` or a plugin)."""
        src: Inventory = self
        if self.text is not None:
            if self._builtin is None:
                try:
                    self._builtin = _parse(self.text, self.path)
                except InputError:
                    self._builtin = Inventory(self.path)
            src = self._builtin
        line = src.lines.get(host, {}).get(var)
        mine, theirs = src.hosts.get(host, {}).get(var), self.hosts[host].get(var)
        if src is not self and mine != theirs and not (mine != mine and theirs != theirs):  # NaN
            line = None
        return f"{self.path}:{line}" if line else self.path


def _ansible_inventory() -> str | None:
    chosen = os.environ.get("HARBORKIT_ANSIBLE_INVENTORY")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "none") else chosen
    found = shutil.which("ansible-inventory")
    if found:
        return found
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.exists() else None


def _is_yaml(path: str, text: str) -> bool:
    return Path(path).suffix in (".yml", ".yaml", ".json") or text.lstrip().startswith(
        ("all:", "---", "{")
    )


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
        _scan_folder(path)
        return _from_ansible(tool, path, None)
    text: str | None = io.read_regular(path, "--inventory")
    assert text is not None
    if tool is None:
        return _parse(text, path)
    if text.startswith("#!") and os.access(path, os.X_OK):
        text = None  # a script is code: Ansible runs it, and its output is checked
    else:
        _scan(text, path)
    parent = os.path.dirname(path)
    budget = [io.MAX_ENTRIES]
    for sub in ("group_vars", "host_vars"):
        vars_dir = os.path.join(parent, sub)
        if os.path.lexists(vars_dir):
            _scan_entry(vars_dir, yaml_only=True, depth=0, budget=budget)
    return _from_ansible(tool, path, text)


def _parse(text: str, path: str) -> Inventory:
    if _is_yaml(path, text):
        return parse_yaml(text, path)
    return parse_ini(text, path)


# ---- what ansible-inventory reads, checked first (it has no bounds of its own)
def _scan(text: str, path: str, yaml_only: bool = False) -> None:
    """Refuse what would make ansible-inventory hang or exhaust memory: YAML
    nesting and alias bombs, host ranges over :data:`MAX_HOSTS`, huge lines."""
    if yaml_only or _is_yaml(path, text):
        try:
            io.scan_yaml(text, path)
        except InputError:
            if Path(path).suffix == ".json":
                from harborkit.yamlfile import JsonRefused, parse_json

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
    budget = _Budget()
    kind = "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_LINE:
            raise InputError(f"{path}:{n}: line longer than {MAX_LINE} characters")
        line = raw.strip()
        if line.startswith("["):
            m = _SECTION.fullmatch(line)
            kind = (m.group(2) or "hosts") if m else "hosts"
        elif line and not line.startswith(("#", ";")):
            if kind == "vars":
                budget.assign(1, f"{path}:{n}")
            elif kind == "hosts":
                words = line.split("#")[0].split() or [""]
                nvars = sum("=" in w for w in words[1:])
                budget.assign(nvars, f"{path}:{n}")
                _expand(words[0], f"{path}:{n}", budget, nvars)


def _scan_yaml_hosts(text: str, path: str) -> None:
    """Host ranges in the keys of every ``hosts:`` mapping (Ansible expands them),
    counted before ansible-inventory would build them. The tree is composed,
    not constructed (any tag is fine): :func:`io.scan_yaml` bounded it."""
    import yaml

    from harborkit.yamlfile import _Loader

    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        raise io.yaml_problem(path, e) from None
    finally:
        loader.dispose()
    budget = _Budget()
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
                            _expand(hk.value, where, budget, nvars)
            stack.extend(reversed([v for _, v in node.value]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def _scan_json_hosts(data: Any, path: str) -> None:
    budget = _Budget()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            hosts = node.get("hosts")
            if isinstance(hosts, dict):
                for h in hosts:
                    _expand(str(h), path, budget)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _scan_entry(p: str, *, yaml_only: bool, depth: int, budget: list[int]) -> None:
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
                _scan_entry(
                    os.path.join(p, name), yaml_only=yaml_only, depth=depth + 1, budget=budget
                )
        return
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"--inventory {p}: {io.kind_of(st.st_mode)}, not a regular file")
    text = io.read_regular(p, "--inventory")
    if text.startswith("#!") and os.access(p, os.X_OK):
        return
    _scan(text, p, yaml_only=yaml_only)


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


def _scan_folder(path: str) -> None:
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
            _scan_entry(os.path.join(path, name), yaml_only=vars_dir, depth=1, budget=budget)


def _from_ansible(tool: str, path: str, text: str | None) -> Inventory:
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
    builtin = _parse(text, path)
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


class Groups(Mapping[str, set[str]]):
    """Group name -> its hosts, its descendants' included. Computed when asked
    (not kept: a chain of 1,000 groups over 10,000 hosts would hold 10**7)."""

    def __init__(
        self,
        direct: Mapping[str, Iterable[str]],
        children: Mapping[str, list[str]],
        fixed: dict[str, set[str]] | None = None,
    ) -> None:
        self._direct, self._children, self._fixed = direct, children, fixed or {}

    def __getitem__(self, group: str) -> set[str]:
        if group in self._fixed:
            return set(self._fixed[group])
        if group not in self._direct:
            raise KeyError(group)
        found: set[str] = set()
        seen = {group}
        stack = [group]
        while stack:  # iterative; a cycle ends
            x = stack.pop()
            found.update(self._direct.get(x, ()))
            for c in self._children.get(x, ()):
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        return found

    def __iter__(self) -> Iterator[str]:
        yield from self._direct
        yield from (g for g in self._fixed if g not in self._direct)

    def __len__(self) -> int:
        return len(self._direct) + sum(g not in self._direct for g in self._fixed)

    def __contains__(self, group: object) -> bool:
        return group in self._direct or group in self._fixed


# ---- host ranges
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9a-zA-Z]+))?\]")


class _Budget:
    """At most :data:`MAX_HOSTS` distinct hosts, and at most :data:`MAX_NAMES`
    names made by ranges in all (the same range listed again and again)."""

    def __init__(self) -> None:
        self.hosts: set[str] = set()
        self.names = 0
        self.host_vars = 0
        self.assignments = 0

    def assign(self, count: int, where: str) -> None:
        """``count`` more variable assignments (``key=value``) in the file."""
        self.assignments += count
        if self.assignments > MAX_ASSIGNMENTS:
            raise InputError(f"{where}: more than {MAX_ASSIGNMENTS} variable assignments")


#: Host names host ranges may make in all, repeats included.
MAX_NAMES = 10 * MAX_HOSTS
#: Host variables in all, each variable set on a host line counted once per host
#: its range makes (ansible-inventory copies them into every host).
MAX_HOST_VARS = 200_000
#: ``key=value`` assignments an INI inventory may hold (a YAML one: MAX_VALUES values).
MAX_ASSIGNMENTS = 100_000


def _range_items(m: re.Match[str], where: str, room: int) -> list[str]:
    a, b, s = m.group(1), m.group(2), m.group(3)
    text = m.group(0)
    if s is not None and not (s.isdigit() and len(s) <= 9 and int(s) > 0):
        raise InputError(
            f"{where}: host range {show(text)}: the step must be a whole number from 1"
        )
    step = int(s) if s else 1
    if a.isdigit() and b.isdigit():
        if len(a) > 9 or len(b) > 9:
            raise InputError(f"{where}: host range {show(text)}: numbers of more than 9 digits")
        lo, hi = int(a), int(b)
        width = len(a) if a.startswith("0") and len(a) > 1 else 0
    elif len(a) == 1 and len(b) == 1 and a.isalpha() and b.isalpha():
        lo, hi, width = ord(a), ord(b), -1
    else:
        raise InputError(f"{where}: bad host range {show(text)}")
    if lo > hi:
        raise InputError(f"{where}: host range {show(text)}: the start is after the end")
    count = (hi - lo) // step + 1
    if count > MAX_HOSTS:  # its names are distinct: that many hosts
        raise InputError(f"{where}: host range {show(text)} expands to more than {MAX_HOSTS} hosts")
    if count > room:
        raise InputError(f"{where}: host ranges make more than {MAX_NAMES} host names in all")
    if width < 0:
        return [chr(c) for c in range(lo, hi + 1, step)]
    return [str(i).zfill(width) for i in range(lo, hi + 1, step)]


def _expand(name: str, where: str, budget: _Budget, nvars: int = 0) -> list[str]:
    """``name`` with its ranges expanded, within ``budget``; ``nvars`` variables
    are set on each of its hosts."""
    if len(name) > MAX_NAME:
        raise InputError(f"{where}: host name {show(name)} is longer than {MAX_NAME} characters")
    if io.has_control(name):
        raise InputError(f"{where}: host name {show(name)} holds a control character")
    done: list[str] = []
    todo = [name]
    while todo:
        n = todo.pop()
        m = _RANGE.search(n)
        if not m:
            budget.names += 1
            if n not in budget.hosts:
                if len(budget.hosts) >= MAX_HOSTS:
                    raise InputError(f"{where}: more than {MAX_HOSTS} hosts in all")
                budget.hosts.add(n)
            done.append(n)
            continue
        # every name still to do makes one name at least: that many are spoken for
        items = _range_items(m, where, MAX_NAMES - budget.names - len(todo))
        head, tail = n[: m.start()], n[m.end() :]
        todo.extend(head + i + tail for i in reversed(items))
    budget.host_vars += nvars * len(done)
    if budget.host_vars > MAX_HOST_VARS:
        raise InputError(
            f"{where}: {nvars} variables on {len(done)} hosts: more than {MAX_HOST_VARS} "
            "host variables in all"
        )
    return done


# ---- static INI
_SECTION = re.compile(r"\[([^\[\]:\s]+)(?::(\w+))?\]\s*(?:[#;].*)?")
_LITERAL = re.compile(r"[\[\{\(\"'0-9+\-.TFN]")


def _value(text: str) -> Any:
    if len(text) > 1024 or not _LITERAL.match(text):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


@dataclass
class _Model:
    """What a static file says, with the line of everything."""

    path: str
    #: host -> the variable assignments of each line naming it (later ones win); the
    #: same dict is shared by every host of a range (10,000 hosts x 8,000 vars of one
    #: line made 6 GB when copied)
    hosts: dict[str, list[dict[str, tuple[Any, int]]]] = field(default_factory=dict)
    group_hosts: dict[str, dict[str, None]] = field(default_factory=dict)  # ordered sets
    group_vars: dict[str, dict[str, tuple[Any, int]]] = field(default_factory=dict)
    children: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    budget: _Budget = field(default_factory=lambda: _Budget())

    def group(self, name: str, line: int) -> dict[str, None]:
        if name not in self.group_hosts:
            if len(name) > MAX_NAME:
                raise InputError(
                    f"{self.path}:{line}: group name {show(name)} is longer than {MAX_NAME} characters"
                )
            if io.has_control(name):
                raise InputError(
                    f"{self.path}:{line}: group name {show(name)} holds a control character"
                )
            if len(self.group_hosts) >= MAX_GROUPS + 2:  # all and ungrouped besides
                raise InputError(f"{self.path}:{line}: more than {MAX_GROUPS} groups")
            self.group_hosts[name] = {}
        return self.group_hosts[name]

    def add_host(
        self, group: str, name: str, hvars: dict[str, tuple[Any, int]], where: str, line: int
    ) -> None:
        members = self.group(group, line)
        for h in _expand(name, where, self.budget, len(hvars)):
            layers = self.hosts.setdefault(h, [])
            if hvars:
                layers.append(hvars)
            members[h] = None


def parse_ini(text: str, path: str) -> Inventory:
    """A static INI inventory; errors say ``path:line``."""
    model = _Model(path, group_hosts={"all": {}, "ungrouped": {}})
    section, kind = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        where = f"{path}:{n}"
        if len(raw) > MAX_LINE:
            raise InputError(f"{where}: line longer than {MAX_LINE} characters")
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            m = _SECTION.fullmatch(line)
            if not m:
                raise InputError(f"{where}: bad section header {show(line)}")
            section, kind = m.group(1), m.group(2) or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise InputError(
                    f"{where}: [{clean(section, 80)}:{clean(kind, 40)}]: "
                    "the section kind must be vars or children"
                )
            model.group(section, n)
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as e:
            raise InputError(f"{where}: {e}") from None
        if not tokens:
            continue
        if kind == "vars":
            name, eq, value = line.partition("=")
            if not eq or not name.strip():
                raise InputError(
                    f"{where}: expected key=value in [{section}:vars], got {show(line)}"
                )
            model.budget.assign(1, where)
            model.group_vars.setdefault(section, {})[name.strip()] = (_value(value.strip()), n)
            continue
        if kind == "children":
            model.group(tokens[0], n)
            model.children.setdefault(section, []).append((tokens[0], n))
            continue
        spec, *assigns = tokens
        model.budget.assign(len(assigns), where)
        hvars: dict[str, tuple[Any, int]] = {}
        for a in assigns:
            k, eq, v = a.partition("=")
            if not eq or not k:
                raise InputError(
                    f"{where}: expected key=value host variable assignment, got {show(a)}"
                )
            hvars[k] = (_value(v), n)
        m = re.fullmatch(r"(.+?)(?::(\d+))?", spec)
        assert m is not None
        base, port = m.group(1), m.group(2)
        if ":" in _RANGE.sub("", base) and not base.startswith("["):
            base, port = spec, None  # an IPv6 address
        if port:
            hvars.setdefault("ansible_port", (int(port) if len(port) <= 9 else port, n))
        model.add_host(section, base, hvars, where, n)
    return _finish(model)


def _cycle_check(model: _Model) -> None:
    """A group that is its own descendant is an error at the line that closes the loop."""
    state: dict[str, int] = {}  # 1 open, 2 done
    for root in model.group_hosts:
        if root in state:
            continue
        path: list[str] = [root]
        iters = [iter(model.children.get(root, []))]
        state[root] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            child, line = nxt
            if state.get(child) == 1:
                loop = [*path[path.index(child) :], child]
                shown = " -> ".join(clean(g, 40) for g in loop)
                raise InputError(
                    f"{model.path}:{line}: group {show(child)} is its own descendant: {shown}"
                )
            if child not in state:
                state[child] = 1
                path.append(child)
                iters.append(iter(model.children.get(child, [])))


def _finish(model: _Model) -> Inventory:
    _cycle_check(model)
    kids = {g: [c for c, _ in cs] for g, cs in model.children.items()}
    grouped: set[str] = set()
    for g, hs in model.group_hosts.items():
        if g not in ("all", "ungrouped"):
            grouped.update(hs)
    plain = Groups(model.group_hosts, kids)
    members = Groups(
        model.group_hosts,
        kids,
        {"all": set(model.hosts), "ungrouped": plain["ungrouped"] - grouped},
    )
    # depth: the longest chain of parents above a group (Ansible merges shallow first)
    parents: dict[str, list[str]] = {}
    for g, cs in kids.items():
        for c in cs:
            parents.setdefault(c, []).append(g)
    depth: dict[str, int] = {}
    for g in model.group_hosts:  # iterative, memoised: no cycles are left
        stack = [g]
        while stack:
            x = stack[-1]
            if x in depth:
                stack.pop()
                continue
            todo = [p for p in parents.get(x, []) if p not in depth and p != x]
            if todo:
                stack.extend(todo)
                continue
            depth[x] = 1 + max((depth[p] for p in parents.get(x, []) if p != x), default=0)
            stack.pop()
    # the groups (with vars) above each group, shallow first
    with_vars = [g for g in model.group_vars if g != "all"]
    direct: dict[str, list[str]] = {}
    for g, hs in model.group_hosts.items():
        for h in hs:
            direct.setdefault(h, []).append(g)
    ancestors: dict[str, set[str]] = {}

    def above(g: str) -> set[str]:
        if g not in ancestors:
            found = {g}
            stack = [g]
            while stack:
                for p in parents.get(stack.pop(), []):
                    if p not in found:
                        found.add(p)
                        stack.append(p)
            ancestors[g] = found
        return ancestors[g]

    inv = Inventory(model.path)
    # hosts of the same groups share one layer of group vars (1,000 groups of vars
    # over 10,000 hosts would otherwise be 10**7 entries); a host's own vars go on top
    shared: dict[tuple[str, ...], tuple[dict[str, Any], dict[str, int]]] = {}
    split_memo: dict[int, tuple[dict[str, Any], dict[str, int]]] = {}

    def split(layer: dict[str, tuple[Any, int]]) -> tuple[dict[str, Any], dict[str, int]]:
        if id(layer) not in split_memo:  # once per line, however many hosts it names
            split_memo[id(layer)] = (
                {k: v for k, (v, _) in layer.items()},
                {k: n for k, (_, n) in layer.items()},
            )
        return split_memo[id(layer)]

    for h, hv in model.hosts.items():
        key = tuple(direct.get(h, ()))
        if key not in shared:
            from_groups = dict(model.group_vars.get("all", {}))
            if with_vars:
                mine: set[str] = set()
                for g in key:
                    mine |= above(g)
                for g in sorted((g for g in with_vars if g in mine), key=lambda g: (depth[g], g)):
                    from_groups.update(model.group_vars[g])
            shared[key] = (
                {k: v for k, (v, _) in from_groups.items()},
                {k: line for k, (_, line) in from_groups.items()},
            )
        values, lines = shared[key]
        own = [split(layer) for layer in reversed(hv)]
        inv.hosts[h] = ChainMap(*(v for v, _ in own), values)
        inv.lines[h] = ChainMap(*(n for _, n in own), lines)
    inv.groups = members
    return inv


# ---- static YAML
def parse_yaml(text: str, path: str) -> Inventory:
    """A static YAML inventory (``all: {hosts, vars, children}``); errors say ``path:line``."""
    from harborkit.yamlfile import parse_yaml as load

    io.scan_yaml(text, path)
    try:
        doc = load(text, path)
    except InputError as e:  # "path:line:col: invalid YAML: problem"
        m = re.match(r"(.*?:\d+):\d+: invalid YAML: (.*)", e.message, re.S)
        raise InputError(f"{m.group(1)}: {m.group(2)}" if m else e.message) from None
    data = doc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{doc.where()}: an inventory is a mapping of groups (all: ...)")
    model = _Model(path, group_hosts={"all": {}, "ungrouped": {}})

    def line(key: tuple[str | int, ...]) -> int:
        return doc.line_of(key) or 0

    def name_of(value: Any, key: tuple[str | int, ...], what: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InputError(f"{doc.where(key)}: {what} {show(value)} is not a name")
        return str(value)

    def mapping(node: Any, key: tuple[str | int, ...], what: str) -> dict[Any, Any]:
        if node is None:
            return {}
        if not isinstance(node, dict):
            raise InputError(f"{doc.where(key)}: {what} must be a mapping, not {_type(node)}")
        return node

    def var_map(node: Any, key: tuple[str | int, ...], what: str) -> dict[str, tuple[Any, int]]:
        out: dict[str, tuple[Any, int]] = {}
        for k, v in mapping(node, key, what).items():
            name = name_of(k, key, "a variable name")
            out[name] = (v, line((*key, str(k))))
        return out

    todo: list[tuple[str, Any, tuple[str | int, ...]]] = [
        (name_of(g, (str(g),), "group name"), node, (str(g),))
        for g, node in reversed(list(data.items()))
    ]
    while todo:
        name, node, key = todo.pop()
        node = mapping(node, key, f"group {show(name)}")
        unknown = sorted(str(k) for k in node if k not in ("hosts", "vars", "children"))
        if unknown:
            raise InputError(
                f"{doc.where((*key, unknown[0]))}: group {show(name)}: unknown key {show(unknown[0])} "
                "(hosts, vars or children)"
            )
        model.group(name, line(key))
        if "vars" in node:
            gv = var_map(node["vars"], (*key, "vars"), f"vars of group {show(name)}")
            model.group_vars.setdefault(name, {}).update(gv)
        hosts = mapping(node.get("hosts"), (*key, "hosts"), f"hosts of group {show(name)}")
        for h, hv in hosts.items():
            hkey = (*key, "hosts", str(h))
            hname = name_of(h, hkey, "host name")
            hvars = var_map(hv, hkey, f"variables of host {show(hname)}")
            model.add_host(name, hname, hvars, doc.where(hkey), line(hkey))
        kids = mapping(node.get("children"), (*key, "children"), f"children of group {show(name)}")
        below: list[tuple[str, Any, tuple[str | int, ...]]] = []
        for c, sub in kids.items():
            ckey = (*key, "children", str(c))
            cname = name_of(c, ckey, "group name")
            model.children.setdefault(name, []).append((cname, line(ckey)))
            below.append((cname, sub, ckey))
        todo.extend(reversed(below))
    return _finish(model)


def _type(value: Any) -> str:
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
    }.get(type(value), type(value).__name__)


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


# ---- the variables harborkit uses
def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def _problem(where: Callable[[str], str], name: str, var: str, what: str) -> InputError:
    return InputError(f"{where(var)}: host {show(name)}: {var} {what}")


def _port(name: str, hv: Mapping[str, Any], where: Callable[[str], str]) -> int | None:
    for var in ("ansible_port", "ansible_ssh_port"):
        v = hv.get(var)
        if v is None or v == "":
            continue
        n: int | None = None
        if isinstance(v, int) and not isinstance(v, bool):
            n = v
        elif (
            isinstance(v, str)
            and v.strip().isascii()
            and v.strip().isdigit()
            and len(v.strip()) <= 5
        ):
            n = int(v.strip())
        if n is None or not 1 <= n <= 65535:
            raise _problem(where, name, var, f"{show(v)} is not a port number (1-65535)")
        return n
    return None


def _text(
    name: str, hv: Mapping[str, Any], keys: Iterable[str], where: Callable[[str], str]
) -> str | None:
    for var in keys:
        v = hv.get(var)
        if v is None or v == "":
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise _problem(where, name, var, f"must be a string, not {_type(v)}")
        s = str(v)
        if len(s) > MAX_VALUE:
            raise _problem(where, name, var, f"is longer than {MAX_VALUE} characters")
        if io.has_control(s):
            raise _problem(where, name, var, f"{show(s)} holds a control character")
        return s
    return None


def _where_unknown(var: str) -> str:
    return "--inventory"


def target(
    name: str, hv: Mapping[str, Any], where: Callable[[str], str] = _where_unknown
) -> SshTarget:
    """How Ansible would reach ``name`` (ansible_host, _port, _user, _become ...);
    a value harborkit cannot use is an error naming ``where(var)`` and the host."""
    args: list[str] = []
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        v = hv.get(key)
        if v is None or v == "":
            continue
        if not isinstance(v, str):
            raise _problem(where, name, key, f"must be a string, not {_type(v)}")
        if len(v) > MAX_VALUE:
            raise _problem(where, name, key, f"is longer than {MAX_VALUE} characters")
        try:
            args += shlex.split(v)
        except ValueError as e:
            raise _problem(where, name, key, f"cannot be split into arguments: {e}") from None
    become = hv.get("ansible_become")
    if become is not None and not isinstance(become, (bool, int, str)):
        raise _problem(where, name, "ansible_become", f"must be true or false, not {_type(become)}")
    return SshTarget(
        host=_text(name, hv, ("ansible_host", "ansible_ssh_host"), where) or name,
        user=_text(name, hv, ("ansible_user",), where),
        port=_port(name, hv, where),
        name=name,
        become=None if become is None else _truthy(become),
        identity=_text(name, hv, ("ansible_ssh_private_key_file",), where),
        ssh_args=tuple(args),
    )
