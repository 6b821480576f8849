"""Bounded reading for inventories: the file itself, YAML without alias bombs,
``ansible-inventory`` under a deadline, and ``--limit ~regex`` under a time bound.

Everything here treats the inventory as hostile data: only regular files are
opened (a FIFO would hang, ``/dev/zero`` never ends), at most 4 MiB is read,
YAML is streamed once to bound its nesting and what its aliases expand to
before any tree is built, and every child process has a deadline, a bound on
its output and on its memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import time
from typing import Any

import yaml

from harborkit.errors import InputError
from harborkit.netutil import env_seconds
from harborkit.yamlfile import _Loader

#: An inventory file, and each file ansible-inventory reads beside it, is read up to this size.
MAX_FILE_BYTES = 4 << 20
#: Nesting of a YAML document (mappings and lists within each other).
MAX_DEPTH = 100
#: Values of a YAML document once its aliases are expanded.
MAX_VALUES = 100_000
#: Characters of a YAML document's scalars once its aliases are expanded.
MAX_EXPANDED_CHARS = 16 << 20
#: What ansible-inventory may print on stdout.
MAX_OUTPUT_BYTES = 16 << 20
#: The memory (data segment) ansible-inventory and the ``--limit`` regex matcher may use.
CHILD_DATA_BYTES = 150 << 20
#: Files and folders read beside an inventory (group_vars, host_vars, a folder inventory).
MAX_ENTRIES = 1000


def inventory_timeout() -> float:
    """Seconds ansible-inventory may run (``HARBORKIT_INVENTORY_TIMEOUT``, default 60)."""
    return env_seconds("HARBORKIT_INVENTORY_TIMEOUT", 60.0, most=86400)


def limit_timeout() -> float:
    """Seconds a ``--limit ~regex`` may take (``HARBORKIT_LIMIT_TIMEOUT``, default 5)."""
    return env_seconds("HARBORKIT_LIMIT_TIMEOUT", 5.0, most=86400)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control(text: str) -> bool:
    """A control character (C0, DEL, C1, a line or paragraph separator) in ``text``."""
    return _CONTROL.search(text) is not None


def show(value: object, limit: int = 80) -> str:
    """``value`` for an error line: quoted, control characters escaped, shortened."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text)


def clean(text: str, limit: int = 300) -> str:
    """Free text (a tool's message) as one printable line."""
    one = " ".join(_CONTROL.sub(" ", text).split())
    return one if len(one) <= limit else one[:limit] + "..."


def type_name(value: Any) -> str:
    """How a message names the type of a value read from an inventory."""
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
    }.get(type(value), type(value).__name__)


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def stat_input(path: str, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{what} {path}: no such file or folder") from None
    except OSError as e:
        raise InputError(f"{what} {path}: cannot read: {e.strerror}") from None
    except ValueError:  # a NUL in the path
        raise InputError(f"{what} {show(path)}: not a file name") from None


def read_regular(path: str, what: str) -> str:
    """A regular file's text (UTF-8, at most :data:`MAX_FILE_BYTES`), never blocking:
    a FIFO, device or socket is refused before it is read."""
    st = stat_input(path, what)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {path}: {kind_of(st.st_mode)}, not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise InputError(f"{what} {path}: cannot read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)  # replaced between stat and open: judge what was opened
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{what} {path}: {kind_of(st.st_mode)}, not a regular file")
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(f"{what} {path}: larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError(f"{path}:{line}: not UTF-8 text") from None


# ---- YAML
class _Open:
    __slots__ = ("anchor", "chars", "line", "values")

    def __init__(self, anchor: str | None, line: int) -> None:
        self.anchor, self.line, self.values, self.chars = anchor, line, 1, 0


def yaml_problem(path: str, e: yaml.YAMLError) -> InputError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    if isinstance(e, yaml.reader.ReaderError):
        return InputError(f"{path}: character {e.character!r} is not allowed in YAML")
    problem = getattr(e, "problem", None) or getattr(e, "context", None) or "YAML syntax error"
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    return InputError(f"{where}: {clean(str(problem))}")


def _new_anchor(
    anchor: str | None, anchors: dict[str, Any], stack: list[_Open], path: str, line: int
) -> None:
    if anchor and (anchor in anchors or any(o.anchor == anchor for o in stack)):
        raise InputError(f"{path}:{line}: anchor &{clean(anchor, 40)} is defined twice")


def scan_yaml(text: str, path: str) -> None:
    """Stream the YAML events once (no tree is built): refuse nesting deeper
    than :data:`MAX_DEPTH`, and aliases that expand to more than
    :data:`MAX_VALUES` values or :data:`MAX_EXPANDED_CHARS` characters (a
    "billion laughs"), an alias to an anchor that is still open (recursive)
    and one to no anchor. Each error names ``path:line``."""
    anchors: dict[str, tuple[int, int]] = {}
    stack: list[_Open] = []
    values = chars = 0
    try:
        loader = _Loader(text)
        try:
            while loader.check_event():
                ev = loader.get_event()
                line = ev.start_mark.line + 1 if ev.start_mark else 0
                add: tuple[int, int] | None = None
                if isinstance(ev, yaml.DocumentStartEvent):
                    anchors.clear()  # anchors are per document
                if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                    if len(stack) >= MAX_DEPTH:
                        raise InputError(f"{path}:{line}: nested deeper than {MAX_DEPTH} levels")
                    _new_anchor(ev.anchor, anchors, stack, path, line)
                    stack.append(_Open(ev.anchor, line))
                    continue
                if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                    node = stack.pop()
                    add = (node.values, node.chars)
                    if node.anchor:
                        anchors[node.anchor] = add
                elif isinstance(ev, yaml.ScalarEvent):
                    add = (1, len(ev.value))
                    _new_anchor(ev.anchor, anchors, stack, path, line)
                    if ev.anchor:
                        anchors[ev.anchor] = add
                elif isinstance(ev, yaml.AliasEvent):
                    if ev.anchor not in anchors:
                        if any(o.anchor == ev.anchor for o in stack):
                            raise InputError(
                                f"{path}:{line}: alias *{clean(str(ev.anchor), 40)} refers to "
                                "a node that contains it (a recursive alias)"
                            )
                        raise InputError(
                            f"{path}:{line}: alias *{clean(str(ev.anchor), 40)} names no anchor"
                        )
                    add = anchors[ev.anchor]
                if add is None:
                    continue
                if stack:
                    stack[-1].values += add[0]
                    stack[-1].chars += add[1]
                    v, c = stack[-1].values, stack[-1].chars
                else:
                    values += add[0]
                    chars += add[1]
                    v, c = values, chars
                if v > MAX_VALUES:
                    raise InputError(
                        f"{path}:{line}: more than {MAX_VALUES} values once aliases are "
                        "expanded: too large for an inventory"
                    )
                if c > MAX_EXPANDED_CHARS:
                    raise InputError(
                        f"{path}:{line}: more than {MAX_EXPANDED_CHARS >> 20} MiB of text once "
                        "aliases are expanded: too large for an inventory"
                    )
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise yaml_problem(path, e) from None


# ---- child processes
def _limit_data() -> str:
    return (
        "import os, resource, sys\n"
        "hard = resource.getrlimit(resource.RLIMIT_DATA)[1]\n"
        f"lim = {CHILD_DATA_BYTES} if hard == resource.RLIM_INFINITY else min({CHILD_DATA_BYTES}, hard)\n"
        "resource.setrlimit(resource.RLIMIT_DATA, (lim, lim))\n"
    )


def run_bounded(
    argv: list[str], env: dict[str, str], timeout: float, what: str
) -> tuple[int, str, str]:
    """Run ``argv`` (in its own session, its memory bounded) with a deadline and
    a bound on stdout; ``(returncode, stdout, stderr)``. The whole process group
    is killed on the deadline, on too much output, and when done."""
    tramp = _limit_data() + "os.execvp(sys.argv[1], sys.argv[1:])\n"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", tramp, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as e:
        raise InputError(f"{what}: cannot run {argv[0]}: {e.strerror}") from None
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    deadline = time.monotonic() + timeout
    problem = ""
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                problem = f"ansible-inventory did not finish within {timeout:g} s"
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 1.0:
                break  # a left-behind child holds the pipes open
            for key, _ in sel.select(min(deadline - now, 0.2)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf: bytearray = key.data
                if buf is out:
                    buf += chunk
                    if len(buf) > MAX_OUTPUT_BYTES:
                        problem = (
                            f"ansible-inventory printed more than {MAX_OUTPUT_BYTES >> 20} MiB"
                        )
                        break
                elif len(buf) < 65536:
                    buf += chunk[: 65536 - len(buf)]
            if problem:
                break
        if not problem:  # its output is closed: let it exit on its own (or not)
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problem = f"ansible-inventory did not finish within {timeout:g} s"
    finally:
        sel.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
        rc = proc.wait()
    if problem:
        raise InputError(f"{what}: {problem}")
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


_MATCHER = (
    "import json, re\n"
    "req = json.loads(sys.stdin.read())\n"
    "try:\n"
    "    rx = re.compile(req['pattern'])\n"
    "except (re.error, RecursionError, OverflowError, ValueError, MemoryError) as e:\n"
    "    print(json.dumps({'error': str(e)}))\n"
    "else:\n"
    "    print(json.dumps({'found': [i for i, n in enumerate(req['names']) if rx.search(n)]}))\n"
)


def regex_search(pattern: str, names: list[str], what: str) -> list[int]:
    """Indexes of the ``names`` that ``pattern`` matches (``re.search``), found
    in a child process killed after :func:`limit_timeout` seconds: a regular
    expression that backtracks catastrophically cannot hang the run."""
    timeout = limit_timeout()
    payload = json.dumps({"pattern": pattern, "names": names})
    try:
        r = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _limit_data() + _MATCHER],
            input=payload,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InputError(
            f"{what}: the regular expression {show(pattern)} took longer than {timeout:g} s "
            "(it backtracks too much)"
        ) from None
    try:
        answer: Any = json.loads(r.stdout)
    except ValueError:
        reason = clean((r.stderr.strip().splitlines() or ["no answer"])[-1])
        raise InputError(
            f"{what}: the regular expression {show(pattern)} could not be matched: {reason}"
        ) from None
    if "error" in answer:
        raise InputError(
            f"{what}: bad regular expression {show(pattern)}: {clean(str(answer['error']))}"
        )
    return [int(i) for i in answer["found"]]
