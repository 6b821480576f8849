"""YAML and JSON input files that remember where each key came from.

Every user-written file (profile, waivers, harbor.yml, bundle manifest) is
read here, so that a bad file gets one error line naming the file, the line
and the key, whatever layer found the problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harborkit.errors import HarborkitError, InputError
from harborkit.resources import load_schema

Key = tuple[str | int, ...]


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


def _positions(node: yaml.Node, key: Key, out: dict[Key, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            k: Key = (*key, str(knode.value))
            out[k] = knode.start_mark.line + 1
            _positions(vnode, k, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            k = (*key, i)
            out[k] = item.start_mark.line + 1
            _positions(item, k, out)


def parse_yaml(text: str, path: str) -> Located:
    """Parse YAML text; a syntax error becomes ``file:line:col: problem``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise InputError(f"{where}: invalid YAML: {e.problem or e.context}") from e
    except yaml.YAMLError as e:
        raise InputError(f"{path}: invalid YAML: {e}") from e
    finally:
        loader.dispose()
    lines: dict[Key, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _positions(node, (), lines)
    return Located(data, path, lines)


def load_yaml(path: str | Path) -> Located:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text (byte {e.start})") from e
    return parse_yaml(text, str(p))


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

    schema = load_schema(schema_name)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc.data))
    if error is None:
        return
    key = tuple(error.absolute_path)
    raise doc.error(key, _short(error), kind)


def _short(error: Any) -> str:
    msg: str = error.message
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return msg


def schema_errors(doc: Located, schema_name: str) -> list[tuple[Key, str]]:
    """Every error of ``doc`` against ``schemas/<schema_name>``, in file order.

    Each is ``(key, message)``; for a missing required key the key names the
    missing entry itself (``log.location``), whose line is its parent's.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    found: list[tuple[Key, str]] = []
    for error in validator.iter_errors(doc.data):
        key: Key = tuple(error.absolute_path)
        if error.validator == "required":
            missing = [k for k in error.validator_value if repr(k) in error.message]
            if missing:
                key = (*key, missing[0])
        found.append((key, _short(error)))
    found.sort(key=lambda e: (doc.line_of(e[0]) or 0, dotted(e[0])))
    return found
