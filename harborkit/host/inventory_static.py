"""The built-in readers of static INI and YAML inventories (used without
ansible-inventory, and to name the line of what it read); errors say ``path:line``."""

from __future__ import annotations

import ast
import re
import shlex
from collections import ChainMap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from harborkit.errors import InputError
from harborkit.host import inventory_io as io
from harborkit.host.inventory_io import clean, show, type_name
from harborkit.host.inventory_model import MAX_GROUPS, MAX_LINE, MAX_NAME, Groups, Inventory
from harborkit.host.inventory_ranges import RANGE, Budget, expand_hosts
from harborkit.yamlfile import Located
from harborkit.yamlfile import parse_yaml as load


def is_yaml(path: str, text: str) -> bool:
    return Path(path).suffix in (".yml", ".yaml", ".json") or text.lstrip().startswith(
        ("all:", "---", "{")
    )


def parse_static(text: str, path: str) -> Inventory:
    if is_yaml(path, text):
        return parse_yaml(text, path)
    return parse_ini(text, path)


# ---- static INI
SECTION = re.compile(r"\[([^\[\]:\s]+)(?::(\w+))?\]\s*(?:[#;].*)?")
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
    budget: Budget = field(default_factory=lambda: Budget())

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
        for h in expand_hosts(name, where, self.budget, len(hvars)):
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
            m = SECTION.fullmatch(line)
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
        if ":" in RANGE.sub("", base) and not base.startswith("["):
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


_Split = tuple[dict[str, Any], dict[str, int]]


def _finish(model: _Model) -> Inventory:
    """The inventory the file describes: no group its own descendant, each
    host's variables merged as Ansible merges them."""
    _cycle_check(model)
    kids = {g: [c for c, _ in cs] for g, cs in model.children.items()}
    members = _members(model, kids)
    inv = Inventory(model.path)
    _Merge(model, kids).into(inv)
    inv.groups = members
    return inv


def _members(model: _Model, kids: dict[str, list[str]]) -> Groups:
    """Each group's hosts; ``all`` holds every host, ``ungrouped`` those of no other group."""
    grouped: set[str] = set()
    for g, hs in model.group_hosts.items():
        if g not in ("all", "ungrouped"):
            grouped.update(hs)
    plain = Groups(model.group_hosts, kids)
    return Groups(
        model.group_hosts,
        kids,
        {"all": set(model.hosts), "ungrouped": plain["ungrouped"] - grouped},
    )


class _Merge:
    """A host's variables: ``all``'s, then those of the groups (with vars) above
    its groups, shallow first, then its own lines, later ones on top. Hosts of
    the same groups share one layer of group vars (1,000 groups of vars over
    10,000 hosts would otherwise be 10**7 entries)."""

    def __init__(self, model: _Model, kids: dict[str, list[str]]) -> None:
        self.model = model
        self.parents: dict[str, list[str]] = {}
        for g, cs in kids.items():
            for c in cs:
                self.parents.setdefault(c, []).append(g)
        self.depth = self._depths()
        self.with_vars = [g for g in model.group_vars if g != "all"]
        self.ancestors: dict[str, set[str]] = {}
        self.split_memo: dict[int, _Split] = {}

    def _depths(self) -> dict[str, int]:
        """The longest chain of parents above each group (Ansible merges shallow first)."""
        depth: dict[str, int] = {}
        parents = self.parents
        for g in self.model.group_hosts:  # iterative, memoised: no cycles are left
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
        return depth

    def above(self, g: str) -> set[str]:
        """``g`` and every group above it."""
        if g not in self.ancestors:
            found = {g}
            stack = [g]
            while stack:
                for p in self.parents.get(stack.pop(), []):
                    if p not in found:
                        found.add(p)
                        stack.append(p)
            self.ancestors[g] = found
        return self.ancestors[g]

    def group_layer(self, groups: tuple[str, ...]) -> _Split:
        """The values and lines the groups of a host give it."""
        model = self.model
        from_groups = dict(model.group_vars.get("all", {}))
        if self.with_vars:
            mine: set[str] = set()
            for g in groups:
                mine |= self.above(g)
            chosen = (g for g in self.with_vars if g in mine)
            for g in sorted(chosen, key=lambda g: (self.depth[g], g)):
                from_groups.update(model.group_vars[g])
        return (
            {k: v for k, (v, _) in from_groups.items()},
            {k: line for k, (_, line) in from_groups.items()},
        )

    def split(self, layer: dict[str, tuple[Any, int]]) -> _Split:
        """One line's assignments as values and lines."""
        if id(layer) not in self.split_memo:  # once per line, however many hosts it names
            self.split_memo[id(layer)] = (
                {k: v for k, (v, _) in layer.items()},
                {k: n for k, (_, n) in layer.items()},
            )
        return self.split_memo[id(layer)]

    def into(self, inv: Inventory) -> None:
        """Every host of the file, with its variables, into ``inv`` (in file order)."""
        direct: dict[str, list[str]] = {}
        for g, hs in self.model.group_hosts.items():
            for h in hs:
                direct.setdefault(h, []).append(g)
        shared: dict[tuple[str, ...], _Split] = {}
        for h, hv in self.model.hosts.items():
            key = tuple(direct.get(h, ()))
            if key not in shared:
                shared[key] = self.group_layer(key)
            values, lines = shared[key]
            own = [self.split(layer) for layer in reversed(hv)]
            inv.hosts[h] = ChainMap(*(v for v, _ in own), values)
            inv.lines[h] = ChainMap(*(n for _, n in own), lines)


# ---- static YAML
_Key = tuple[Union[str, int], ...]
#: a group still to read: its name, its node, where it is
_Todo = tuple[str, Any, _Key]


def parse_yaml(text: str, path: str) -> Inventory:
    """A static YAML inventory (``all: {hosts, vars, children}``); errors say ``path:line``."""
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
    reader = _YamlReader(doc, _Model(path, group_hosts={"all": {}, "ungrouped": {}}))
    todo: list[_Todo] = [
        (reader.name_of(g, (str(g),), "group name"), node, (str(g),))
        for g, node in reversed(list(data.items()))
    ]
    while todo:
        todo.extend(reversed(reader.group(*todo.pop())))
    return _finish(reader.model)


class _YamlReader:
    """The groups of a parsed YAML inventory into a model, each error at its line."""

    def __init__(self, doc: Located, model: _Model) -> None:
        self.doc = doc
        self.model = model

    def line(self, key: _Key) -> int:
        return self.doc.line_of(key) or 0

    def name_of(self, value: Any, key: _Key, what: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InputError(f"{self.doc.where(key)}: {what} {show(value)} is not a name")
        return str(value)

    def mapping(self, node: Any, key: _Key, what: str) -> dict[Any, Any]:
        if node is None:
            return {}
        if not isinstance(node, dict):
            raise InputError(
                f"{self.doc.where(key)}: {what} must be a mapping, not {type_name(node)}"
            )
        return node

    def var_map(self, node: Any, key: _Key, what: str) -> dict[str, tuple[Any, int]]:
        out: dict[str, tuple[Any, int]] = {}
        for k, v in self.mapping(node, key, what).items():
            name = self.name_of(k, key, "a variable name")
            out[name] = (v, self.line((*key, str(k))))
        return out

    def group(self, name: str, node: Any, key: _Key) -> list[_Todo]:
        """Read one group (its vars and hosts) into the model; its children, to read next."""
        model, doc = self.model, self.doc
        node = self.mapping(node, key, f"group {show(name)}")
        unknown = sorted(str(k) for k in node if k not in ("hosts", "vars", "children"))
        if unknown:
            raise InputError(
                f"{doc.where((*key, unknown[0]))}: group {show(name)}: unknown key {show(unknown[0])} "
                "(hosts, vars or children)"
            )
        model.group(name, self.line(key))
        if "vars" in node:
            gv = self.var_map(node["vars"], (*key, "vars"), f"vars of group {show(name)}")
            model.group_vars.setdefault(name, {}).update(gv)
        hosts = self.mapping(node.get("hosts"), (*key, "hosts"), f"hosts of group {show(name)}")
        for h, hv in hosts.items():
            hkey = (*key, "hosts", str(h))
            hname = self.name_of(h, hkey, "host name")
            hvars = self.var_map(hv, hkey, f"variables of host {show(hname)}")
            model.add_host(name, hname, hvars, doc.where(hkey), self.line(hkey))
        kids = self.mapping(
            node.get("children"), (*key, "children"), f"children of group {show(name)}"
        )
        below: list[_Todo] = []
        for c, sub in kids.items():
            ckey = (*key, "children", str(c))
            cname = self.name_of(c, ckey, "group name")
            model.children.setdefault(name, []).append((cname, self.line(ckey)))
            below.append((cname, sub, ckey))
        return below
