"""Documents checked against harborkit's JSON Schemas (``schemas/``), with no YAML
parser: ``bundle verify`` checks the JSON members of a bundle through here, and
:mod:`harborkit.yamlfile` (files with lines to name) uses the same validator."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from harborkit.resources import load_schema


def first_schema_error(data: Any, schema_name: str) -> tuple[str, str] | None:
    """The first error (in document order) of ``data`` against ``schemas/<schema_name>``,
    as ``("a/0/b", message)``, or ``None``. For documents with no lines to name
    (JSON members inside a bundle); files on disk go through :func:`harborkit.yamlfile.validate`."""
    validator = validator_of(schema_name)
    errors = sorted(
        validator.iter_errors(data),
        key=lambda e: [(isinstance(p, str), p) for p in e.absolute_path],
    )
    if not errors:
        return None
    e = errors[0]
    return "/".join(str(p) for p in e.absolute_path) or "(top)", e.message


#: C0 and C1 controls and DEL: no value a schema's ``pattern`` guards holds one
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def validator_of(schema_name: str) -> Any:
    """A Draft 2020-12 validator of ``schemas/<schema_name>`` whose ``pattern`` means
    what the schema says (ECMA-262): Python's ``re.search`` lets ``$`` match before a
    trailing newline, so ``"server58\\n"`` passed ``^[a-z0-9-]+$``. A string that a
    pattern guards (a name, a path, a URL, a digest: harborkit writes them into
    files, commands, tar member names, HTTP paths and reports) takes no control
    character at all, a trailing newline included."""
    return _strict_class()(load_schema(schema_name))


@functools.lru_cache(maxsize=1)
def _strict_class() -> Any:
    import jsonschema

    base = jsonschema.Draft202012Validator
    pattern = base.VALIDATORS["pattern"]

    def strict_pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string"):
            bad = _CONTROL.search(instance)
            if bad is not None:
                yield jsonschema.ValidationError(
                    f"{instance!r} holds a control character (U+{ord(bad.group()):04X})"
                )
                return
        yield from pattern(validator, patrn, instance, schema)

    return jsonschema.validators.extend(base, {"pattern": strict_pattern})


def short_message(error: Any) -> str:
    msg: str = error.message
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return msg
