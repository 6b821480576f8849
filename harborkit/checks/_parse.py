"""Numbers in host files, read exactly as the program that reads the file does.

Python's ``int()`` is generous: it takes ``"６５５３５"`` (fullwidth digits),
``"1_000"``, ``" +5 "``. The kernel and pam_limits take ASCII digits only, so
a value that only Python would read must be judged as rejected, not passed.
"""

from __future__ import annotations

import re

ULLONG_MAX = 2**64 - 1

_KERNEL = re.compile(r"(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", re.ASCII)
_STRTOUL = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)", re.ASCII)


def kernel_number(token: str) -> int | None:
    """One number of a ``/proc/sys`` write, as the kernel's ``proc_get_long`` reads
    it: an optional ``-``, then C's base 0 (``0x1f`` hex, ``017`` octal, else
    decimal), ASCII only, the whole token, at most 21 characters, no more than
    ``2**64 - 1``. None when the kernel refuses the write (EINVAL)."""
    if len(token) > 21:
        return None
    m = _KERNEL.fullmatch(token)
    if not m:
        return None
    sign, digits = m.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits, 8)
    else:
        value = int(digits, 10)
    if value > ULLONG_MAX:
        return None
    return -value if sign else value


def kernel_numbers(text: str) -> list[int] | None:
    """Every whitespace-separated number of a value (``kernel.sem`` has four), or None."""
    values = [kernel_number(t) for t in text.split()]
    if not values or any(v is None for v in values):
        return None
    return [v for v in values if v is not None]


def strtoul(text: str) -> tuple[int, str] | None:
    """C's ``strtoull(text, &end, 10)`` as pam_limits calls it: ``(value, rest)``
    or None when no digit was read. Leading blanks and a sign are skipped; a
    negative number wraps around (``-2`` is ``2**64 - 2``); past ``2**64 - 1``
    the value saturates at ``2**64 - 1`` (RLIM_INFINITY). ASCII digits only."""
    m = _STRTOUL.match(text)
    if not m:
        return None
    sign, digits = m.groups()
    rest = text[m.end() :]
    value = int(digits, 10) if len(digits) <= 40 else ULLONG_MAX + 1
    if value > ULLONG_MAX:
        return ULLONG_MAX, rest  # ERANGE: saturates, whatever the sign
    return (-value % 2**64 if sign == "-" else value), rest


def strtol(text: str) -> tuple[int, str] | None:
    """C's ``strtol(text, &end, 10)`` (64-bit long): ``(value, rest)`` or None when
    no digit was read; out of range saturates at the nearest bound."""
    m = _STRTOUL.match(text)
    if not m:
        return None
    sign, digits = m.groups()
    value = int(digits, 10) if len(digits) <= 40 else 2**63
    value = min(value, 2**63 if sign == "-" else 2**63 - 1)
    return (-value if sign == "-" else value), text[m.end() :]
