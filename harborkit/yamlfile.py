"""YAML and JSON documents that remember where each key came from.

User-given files (profile, waivers, bundle manifest) are read with
:func:`load_yaml`; files of the audited host are read through its Host and
parsed here (:func:`parse_yaml` for harbor.yml and docker-compose.yml,
:func:`parse_json` for daemon.json). Every document is checked against its
schema with :func:`validate`. So a bad file gets one error line naming the
file, the line and the key, whatever layer found the problem, and parsing is
bounded in time and memory whatever the bytes.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml

from harborkit.errors import HarborkitError, InputError
from harborkit.schemacheck import first_schema_error as first_schema_error
from harborkit.schemacheck import short_message, validator_of

Key = tuple[Union[str, int], ...]


@dataclass(frozen=True)
class Located:
    """A parsed document plus the line of every key and list item in it."""

    data: Any
    path: str
    lines: Mapping[Key, int]

    def line_of(self, key: Iterable[str | int]) -> int | None:
        """Line of ``key``, or of its nearest ancestor that has one."""
        k = tuple(key)
        while k:
            if k in self.lines:
                return self.lines[k]
            k = k[:-1]
        return self.lines.get((), None)

    def where(self, key: Iterable[str | int] = ()) -> str:
        line = self.line_of(key)
        return f"{self.path}:{line}" if line else self.path

    def error(
        self, key: Sequence[str | int], message: str, kind: type[HarborkitError] = InputError
    ) -> HarborkitError:
        """An error (:class:`InputError` unless ``kind``) worded ``file:line: key: message``."""
        return kind(f"{self.where(key)}: {dotted(key)}: {message}")


def dotted(key: Iterable[str | int]) -> str:
    parts = [f"[{k}]" if isinstance(k, int) else str(k) for k in key]
    text = ".".join(parts).replace(".[", "[")
    return text or "(top level)"


#: Input files (profiles, waivers, manifests, harbor.yml) are read up to this size.
MAX_INPUT_BYTES = 4 << 20
#: Values a document may hold once its aliases are expanded (a "billion laughs"
#: document holds 10**9 from a few hundred bytes).
MAX_VALUES = 100_000
#: Digits of an integer (Python refuses to convert more than 4300).
MAX_INT_DIGITS = 1000

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Problem = yaml.constructor.ConstructorError


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    digits = sum(c.isdigit() for c in str(node.value))
    if digits > MAX_INT_DIGITS:
        raise _Problem(None, None, f"integer of {digits} digits is too large", node.start_mark)
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


def _construct_str(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    value = yaml.constructor.SafeConstructor.construct_yaml_str(loader, node)
    if isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value):
        raise _Problem(
            None, None, "lone surrogate escape: not a Unicode character", node.start_mark
        )
    return value


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """An explicit ``!!timestamp``: a date that does not exist is an error with its line."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as e:
        raise _Problem(None, None, f"invalid date {node.value!r}: {e}", node.start_mark) from e


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe YAML with no implicit dates (YAML 1.2 has none: ``2027-02-30`` is a
    string that the reader judges, not a crash), bounded integers, no lone
    surrogates."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _Base.yaml_implicit_resolvers.items()
    }


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)
_Loader.add_constructor(_TIMESTAMP, _construct_timestamp)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_nodes(root: yaml.Node) -> None:
    """Refuse what would make construction or any later walk unbounded, or
    silently lose data: more than :data:`MAX_VALUES` values once aliases are
    expanded, a recursive alias, a duplicate key. Iterative (no recursion
    limit) and linear in the file (each node's expanded size is memoised)."""
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            open_.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in _children(node))
            if size[id(node)] > MAX_VALUES:
                raise _Problem(
                    None,
                    None,
                    f"more than {MAX_VALUES} values (each use of an alias counts): "
                    "too large for an input file",
                    node.start_mark,
                )
            continue
        if id(node) in size:
            continue
        if id(node) in open_:
            raise _Problem(None, None, "an alias refers to its own anchor", node.start_mark)
        open_.add(id(node))
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for knode, _ in node.value:
                if not isinstance(knode, yaml.ScalarNode) or knode.value == "<<":
                    continue
                first = seen.setdefault((knode.tag, knode.value), knode.start_mark.line + 1)
                if first != knode.start_mark.line + 1:
                    raise _Problem(
                        None,
                        None,
                        f"duplicate key {knode.value!r} (first on line {first})",
                        knode.start_mark,
                    )
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _positions(root: yaml.Node) -> dict[Key, int]:
    """The line of every key and list item (aliases expanded: bounded by :func:`_check_nodes`)."""
    out: dict[Key, int] = {(): root.start_mark.line + 1}
    stack: list[tuple[yaml.Node, Key]] = [(root, ())]
    while stack:
        node, key = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for knode, vnode in node.value:
                k: Key = (*key, str(knode.value))
                out.setdefault(k, knode.start_mark.line + 1)
                stack.append((vnode, k))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                k = (*key, i)
                out.setdefault(k, item.start_mark.line + 1)
                stack.append((item, k))
    return out


def _reader_problem(text: str, e: yaml.reader.ReaderError) -> _Problem:
    """A ReaderError (control character, ...) as an error with a line and column."""
    pos = max(0, min(e.position, len(text)))
    line = text.count("\n", 0, pos)
    column = pos - (text.rfind("\n", 0, pos) + 1)
    char = e.character
    what = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    mark = yaml.error.Mark("<input>", pos, line, column, None, 0)  # type: ignore[arg-type]
    return _Problem(None, None, f"control character {what} is not allowed in YAML", mark)


def parse_yaml(text: str, path: str) -> Located:
    """Parse YAML text; any problem becomes one line ``file:line:col: invalid YAML: problem``.

    Bounded in time and memory (see :data:`MAX_VALUES`), whatever the text.
    """
    try:
        try:
            loader = _Loader(text)
        except yaml.reader.ReaderError as e:
            raise _reader_problem(text, e) from e
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_nodes(node)
            data = loader.construct_document(node) if node is not None else None
        except yaml.reader.ReaderError as e:
            raise _reader_problem(text, e) from e
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        problem = " ".join(str(e.problem or e.context).split())
        raise InputError(f"{where}: invalid YAML: {problem}") from e
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise InputError(f"{path}: invalid YAML: {first}") from e
    return Located(data, path, _positions(node) if node is not None else {})


def read_input(path: str | Path, what: str = "file") -> str:
    """A user-given input file as text: at most :data:`MAX_INPUT_BYTES`, UTF-8."""
    p = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; anything but a
        # regular file (FIFO, device, socket) is refused before a byte is read
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(f"{p}: not a regular file, not a {what}")
            os.set_blocking(fd, True)
            raw = f.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, not a {what}") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from e
    if len(raw) > MAX_INPUT_BYTES:
        raise InputError(f"{p}: larger than {MAX_INPUT_BYTES >> 20} MiB: not a {what}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text (byte {e.start})") from e


def load_yaml(path: str | Path, what: str = "YAML file") -> Located:
    """Read and parse a user-given YAML file (see :func:`read_input`, :func:`parse_yaml`)."""
    return parse_yaml(read_input(path, what), str(path))


class JsonRefused(json.JSONDecodeError):
    """JSON that parses but that harborkit refuses: a duplicate key, a number out
    of range, ``NaN``/``Infinity``, a lone surrogate, nesting too deep. Has the
    ``lineno``/``colno`` of a syntax error."""


class _Refuse(Exception):
    def __init__(self, message: str, needle: str, nth: int = 1) -> None:
        super().__init__(message)
        self.needle, self.nth = needle, nth


def _nth(text: str, needle: str, nth: int) -> int:
    pos = -1
    for _ in range(nth):
        pos = text.find(needle, pos + 1)
        if pos < 0:
            return 0
    return pos


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Refuse(f"duplicate key {json.dumps(k)}", json.dumps(k), 2)
        out[k] = v
    return out


def _json_int(s: str) -> int:
    if len(s) > MAX_INT_DIGITS:
        raise _Refuse(f"integer of {len(s.lstrip('-'))} digits is out of range", s)
    return int(s)


def _json_float(s: str) -> float:
    f = float(s)
    if f in (float("inf"), float("-inf")):
        raise _Refuse(f"number {s[:20]}{'...' if len(s) > 20 else ''} is out of range", s)
    return f


def _json_constant(s: str) -> Any:
    raise _Refuse(f"{s} is not a JSON value", s)


_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<![89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _has_surrogate(data: Any) -> bool:
    stack = [data]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if any("\ud800" <= c <= "\udfff" for c in v):
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def parse_json(text: str, *, duplicates: bool = False) -> Any:
    """Strict JSON: :class:`json.JSONDecodeError` for a syntax error,
    :class:`JsonRefused` for what parses but is not sound data. With
    ``duplicates`` a repeated key takes its last value (to repair a file)."""
    try:
        data = json.loads(
            text,
            object_pairs_hook=dict if duplicates else _json_pairs,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
        )
    except _Refuse as e:
        raise JsonRefused(str(e), text, _nth(text, e.needle, e.nth)) from None
    except RecursionError:
        raise JsonRefused("nested too deeply", text, 0) from None
    if _has_surrogate(data):
        m = _LONE_SURROGATE.search(text)
        raise JsonRefused(
            "lone surrogate escape: not a Unicode character", text, m.start() if m else 0
        )
    return data


def json_error_position(text: str, e: json.JSONDecodeError) -> str:
    """``line:col`` of a JSON syntax error, naming curly quotes when they are the cause."""
    bad = text[e.pos : e.pos + 1]
    hint = ""
    if bad in "\u201c\u201d\u2018\u2019":
        hint = f' (typographic quote {bad!r} U+{ord(bad):04X}; JSON needs a plain ")'
    return f"{e.lineno}:{e.colno}: {e.msg}{hint}"


def validate(doc: Located, schema_name: str, kind: type[HarborkitError] = InputError) -> None:
    """Validate against ``schemas/<schema_name>``; the first error as one ``kind`` line.

    This is the one way harborkit checks a document against a schema: the
    error names the file, the line and the key (``file:line: key: problem``).
    """
    import jsonschema

    validator = validator_of(schema_name)
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc.data))
    if error is None:
        return
    key = tuple(error.absolute_path)
    raise doc.error(key, short_message(error), kind)


def schema_errors(doc: Located, schema_name: str) -> list[tuple[Key, str]]:
    """Every error of ``doc`` against ``schemas/<schema_name>``, in file order.

    Each is ``(key, message)``; for a missing required key the key names the
    missing entry itself (``log.location``), whose line is its parent's.
    """
    validator = validator_of(schema_name)
    found: list[tuple[Key, str]] = []
    for error in validator.iter_errors(doc.data):
        key: Key = tuple(error.absolute_path)
        if error.validator == "required":
            missing = [k for k in error.validator_value if repr(k) in error.message]
            if missing:
                key = (*key, missing[0])
        found.append((key, short_message(error)))
    found.sort(key=lambda e: (doc.line_of(e[0]) or 0, dotted(e[0])))
    return found
