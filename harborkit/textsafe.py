"""Text that came from an audited host, made safe for a terminal and for XML.

Findings quote host files (a hostname, a limits.conf line, a harbor.yml value),
so a hostile file could put terminal escape sequences into the table or bytes
XML 1.0 forbids into the JUnit report. Both renderers pass every string through
here; the JSON report keeps the exact text (JSON escapes everything itself).
"""

from __future__ import annotations

import re

#: a value longer than this is abridged in the table (JSON and JUnit keep it whole)
TABLE_VALUE_LIMIT = 300

# C0 controls (a newline or a tab kept where the caller says), DEL, C1 controls
# (0x9b is a one-byte CSI), line and paragraph separators, bidirectional overrides and isolates ("Trojan Source"),
# and lone surrogates.
_TERMINAL_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# everything XML 1.0 does not allow (its Char production), plus the noncharacters
# U+FFFE/U+FFFF it also excludes
_XML_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def terminal_text(text: str, limit: int | None = None, *, keep: str = "\n") -> str:
    """``text`` with every control, bidi and separator character shown as ``\\xNN``
    / ``\\uNNNN`` but those in ``keep`` (newlines by default; ``"\\t\\n"`` for
    diffs and fix hints, where a tab is the file's own), abridged past ``limit``
    characters."""
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return _TERMINAL_UNSAFE.sub(lambda m: m.group(0) if m.group(0) in keep else _visible(m), text)


def terminal_line(text: str) -> str:
    """One line of ``text`` for a terminal (a name, an error message): like
    :func:`terminal_text`, newlines escaped too, so no byte of a file or host
    name can end the line or start a forged one; a tab stays a tab."""
    return terminal_text(text, keep="\t")


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot carry shown as ``\\xNN``/``\\uNNNN``."""
    return _XML_UNSAFE.sub(_visible, text)


def size_text(n: int) -> str:
    """A size in words a person reads at a glance: ``512 bytes``, ``1 byte``,
    ``30.2 kB``, ``1.3 MB``, ``1,204.5 MB`` (decimal units; never ``0.0 MB``)."""
    if n < 1000:
        return f"{n} byte{'s' if n != 1 else ''}"
    if n < 1_000_000:
        return f"{n / 1e3:.1f} kB"
    return f"{n / 1e6:,.1f} MB"
