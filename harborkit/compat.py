"""What Python 3.10 and 3.11 added that harborkit uses, for Python 3.9 (issue 25).

``zip_strict`` is ``zip(..., strict=True)`` (3.10); ``StrEnum`` is ``enum.StrEnum``
(3.11): members are str, and ``str()``/``format()`` give the value.
"""

from __future__ import annotations

import enum
import itertools
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar, overload

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
