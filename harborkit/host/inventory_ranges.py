"""Host ranges (``srv[001:250]``, ``node[a:f]``) expanded within a budget: at
most :data:`MAX_HOSTS` hosts, :data:`MAX_NAMES` names and :data:`MAX_HOST_VARS`
host variables in all, whichever reader (or ansible-inventory) builds them."""

from __future__ import annotations

import re

from harborkit.errors import InputError
from harborkit.host import inventory_io as io
from harborkit.host.inventory_io import show
from harborkit.host.inventory_model import MAX_HOSTS, MAX_NAME

RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9a-zA-Z]+))?\]")


class Budget:
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


def expand_hosts(name: str, where: str, budget: Budget, nvars: int = 0) -> list[str]:
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
        m = RANGE.search(n)
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
