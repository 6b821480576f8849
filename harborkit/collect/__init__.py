"""The collector: one POSIX ``sh`` script that gathers what the checks read.

The caller hands it the facts a run needs as data, one ``KIND ARG`` line each
(files, folders, globs, commands, programs, processes: the engine lists them,
see :func:`harborkit.engine.wants.wants_for`); :func:`script` embeds that list
in ``collect.sh``. The same script runs over SSH and by hand
(``harborkit collect --script``); both write the same snapshot format
(:mod:`harborkit.collect.snapshot`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from importlib import resources

from harborkit import __version__
from harborkit.fsutil import MAX_FILE_BYTES


def want_for_run(argv: Sequence[str]) -> str:
    return "c " + shlex.join(argv)


#: the work list's kinds (see ``collect.sh``)
KINDS = frozenset("feglmdchwpsyHkP")
#: bytes a work-list line carries as they are: printable ASCII (the list is a
#: quoted here-document read with ``IFS= read -r``: nothing in it is expanded)
_PLAIN = re.compile(rb"[ -~]+")


def _arg(value: str) -> str:
    """One argument line of the work list: ``p`` and the bytes when they are
    printable ASCII, else ``o`` and every byte as a ``\\NNN`` octal escape
    (printf decodes it): no byte of a value can end its line, end the list or
    reach a shell, and the script stays ASCII."""
    raw = value.encode("utf-8", "surrogateescape")
    if _PLAIN.fullmatch(raw):
        return "p" + value
    return "o" + "".join(f"\\{b:03o}" for b in raw)


def work_item(want: str) -> list[str] | None:
    """``KIND ARG`` as the collector's arguments: a command's ARG (its
    ``shlex.join`` key) is split into the key and its argv here, in Python; a
    want that cannot be passed (a NUL byte, an unknown kind, bad quoting) is None."""
    kind, sep, arg = want.partition(" ")
    if not sep or kind not in KINDS or "\0" in want:
        return None
    if kind != "c":
        return [arg]
    try:
        argv = shlex.split(arg)
    except ValueError:
        return None
    if not argv or argv[0].startswith("-"):
        return None
    return [arg, *argv]


def encode_wants(wants: Sequence[str]) -> str:
    """The work list embedded in the script: ``KIND COUNT`` then COUNT argument lines."""
    lines: list[str] = []
    for want in wants:
        args = work_item(want)
        if args is None:
            continue
        lines.append(f"{want.partition(' ')[0]} {len(args)}")
        lines += [_arg(a) for a in args]
    return "\n".join(lines)


def script(wants: Sequence[str]) -> str:
    """``collect.sh`` with this work list embedded (as data: see :func:`encode_wants`)."""
    template = resources.files("harborkit.collect").joinpath("collect.sh").read_text("utf-8")
    return (
        template.replace("@HK_VERSION@", __version__)
        .replace("@HK_MAX@", str(MAX_FILE_BYTES))
        .replace("@HK_WANTS@", encode_wants(wants))
    )
