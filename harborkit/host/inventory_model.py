"""What an inventory holds once read (hosts, their variables and the line of
each, groups), and the bounds every reader keeps."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harborkit.errors import InputError

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
    #: the built-in reader that reads ``text`` again for those lines (set with it)
    reread: Callable[[str, str], Inventory] | None = field(default=None, repr=False)
    _builtin: Inventory | None = field(default=None, repr=False)

    def where(self, host: str, var: str) -> str:
        """``file:line`` of ``host``'s ``var``, or ``file`` when no line is known.

        For what ansible-inventory read, the line is found by reading the file
        here too; it is named only when this reader found the same value there
        (not one set by ``host_vars/`` or a plugin)."""
        src: Inventory = self
        if self.text is not None and self.reread is not None:
            if self._builtin is None:
                try:
                    self._builtin = self.reread(self.text, self.path)
                except InputError:
                    self._builtin = Inventory(self.path)
            src = self._builtin
        line = src.lines.get(host, {}).get(var)
        mine, theirs = src.hosts.get(host, {}).get(var), self.hosts[host].get(var)
        if src is not self and mine != theirs and not (mine != mine and theirs != theirs):  # NaN
            line = None
        return f"{self.path}:{line}" if line else self.path


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
