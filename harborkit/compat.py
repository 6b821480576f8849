"""What Python 3.10 and 3.11 added that harborkit uses, for Python 3.9 (issue 25).

``zip_strict`` is ``zip(..., strict=True)`` (3.10); ``StrEnum`` is ``enum.StrEnum``
(3.11): members are str, and ``str()``/``format()`` give the value; ``entry_points``
is ``importlib.metadata.entry_points(group=...)`` (3.10), each with its ``.dist``.
"""

from __future__ import annotations

import enum
import itertools
import re
import sys
import types
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:  # imported where used: importlib.metadata costs 20 ms of every start (issue 24)
    import importlib.metadata

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:

    class StrEnum(str, enum.Enum):
        """enum.StrEnum of Python 3.11: a str whose str() and format() are its value."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)


@overload
def zip_strict(a: Iterable[A], b: Iterable[B], /) -> Iterator[tuple[A, B]]: ...
@overload
def zip_strict(a: Iterable[A], b: Iterable[B], c: Iterable[C], /) -> Iterator[tuple[A, B, C]]: ...
def zip_strict(*iterables: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """``zip(*iterables, strict=True)``: ValueError when one ends before the others."""
    if sys.version_info >= (3, 10):
        return zip(*iterables, strict=True)
    return _zip_strict(iterables)


def _zip_strict(iterables: tuple[Iterable[Any], ...]) -> Iterator[tuple[Any, ...]]:
    end = object()
    for row in itertools.zip_longest(*iterables, fillvalue=end):
        if any(v is end for v in row):
            raise ValueError("zip_strict(): arguments have different lengths")
        yield row


def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The entry points of ``group``, one distribution of a name (the first on sys.path)
    each, as 3.10's ``entry_points(group=)``; on 3.9 ``.dist.name`` is set on each too."""
    import importlib.metadata

    if sys.version_info >= (3, 10):
        return list(importlib.metadata.entry_points(group=group))
    out: list[importlib.metadata.EntryPoint] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        for ep in dist.entry_points:
            if ep.group == group:
                ep.dist = types.SimpleNamespace(name=name)  # 3.9's EntryPoint has no dist
                out.append(ep)
    return out
