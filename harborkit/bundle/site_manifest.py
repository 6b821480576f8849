"""Site bundle manifests: the built-in manifest with local files' sha256 and size pinned.

:func:`site_manifest` returns the text of ``bundles/harbor-v1.8.0.yaml`` (every
comment kept) where each file named by ``--file NAME=PATH`` has the sha256 and
the size of that local file instead of the upstream pin. Values are written by
the YAML dumper, and the result is parsed back, validated like ``bundle build
--manifest`` reads it and compared with the values meant.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harborkit.bundle.errors import DownloadError, ManifestError
from harborkit.bundle.manifest import manifest_from_dict
from harborkit.bundle.tools import stream_file
from harborkit.errors import InputError
from harborkit.resources import default_manifest
from harborkit.yamlfile import Key, Located, parse_yaml, read_input

_KEY_LINE = re.compile(r"^(?P<indent>[ -]*)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")

HEADER = """\
# harborkit site bundle manifest, made by `harborkit bundle manifest init`
# from the manifest below (the built-in one unless --manifest). Every value is
# as there, except
# the files given with --file NAME=PATH (marked "# site"): their sha256 and
# size are those of the local file, so `bundle build --manifest FILE` carries
# that file and no other. Build with the same copy:
#   harborkit bundle build --manifest FILE --file NAME=PATH -o BUNDLE
"""


def builtin_text() -> str:
    """The built-in bundle manifest exactly as packaged."""
    return read_input(default_manifest(), "bundle manifest")


class _NoLine(Exception):
    """The base text has no one-line ``key: value`` to edit (flow style ...)."""


def pin(name: str, path: str) -> tuple[int, str]:
    """(size, sha256) of a local file, read bounded like a build reads it."""
    if "://" in path:
        raise InputError(f"--file {name}={path}: give a local file to pin, not a URL")
    try:
        return stream_file(path, f"file {name}", lambda _chunk: None, None)
    except DownloadError as e:
        raise InputError(e.message) from e


def _flow(key: str, value: Any) -> str:
    text = yaml.safe_dump({key: value}, default_flow_style=True, width=1 << 16)
    one = text.strip()[1:-1]  # "{key: value}" without its braces
    if "\n" in one:
        raise InputError(f"bundle manifest init: {value!r} does not fit one line; refused")
    return one


def _set(lines: list[str], doc: Located, key: Key, line_key: Key, value: Any, note: str) -> None:
    """Line of ``line_key`` becomes ``key: value`` (keeping its indentation and any "- ")."""
    line = doc.lines.get(line_key)
    m = _KEY_LINE.match(lines[line - 1]) if line else None
    if line is None or m is None or m.group("key") != line_key[-1]:
        raise _NoLine(line_key)
    try:  # the line holds exactly this value (not a part of a flow mapping)
        same = yaml.safe_load(m.group("rest")) == _get(doc.data, line_key)
    except yaml.YAMLError:
        same = False
    if not same:
        raise _NoLine(line_key)
    indent = m.group("indent")
    lines[line - 1] = f"{indent}{_flow(str(key[-1]), value)}  # site: {note}"


def _add_after(lines: list[str], doc: Located, after: Key, key: str, value: Any) -> None:
    line = doc.lines[after]
    m = _KEY_LINE.match(lines[line - 1].split("\n")[0])
    indent = " " * len(m.group("indent")) if m else "    "
    lines[line - 1] += f"\n{indent}{_flow(key, value)}"


def site_manifest(files: Mapping[str, str], base: Path | None = None) -> str:
    """The site manifest's text: ``base`` (default: the built-in manifest) with
    ``files`` ({name: local path}) pinned; :class:`InputError` if bad."""
    source = base or default_manifest()
    try:
        text = read_input(source, "bundle manifest")
        doc = parse_yaml(text, str(source))
    except InputError as e:
        raise ManifestError(e.message) from e
    manifest_from_dict(doc.data, source, doc)
    if not files:
        raise InputError("bundle manifest init: give at least one --file NAME=PATH")
    entries = doc.data.get("files") or []
    index = {str(f["name"]): i for i, f in enumerate(entries)}
    meant = copy.deepcopy(doc.data)
    lines = text.splitlines()
    edited = True
    for name, path in files.items():
        if name not in index:
            known = ", ".join(sorted(index)) or "none"
            raise InputError(f"--file {name}: {source} has no file of that name ({known})")
        size, digest = pin(name, path)
        i = index[name]
        entry: dict[str, Any] = meant["files"][i]
        old = "sha256" if "sha256" in entry else "sha256_url"
        entry.pop("sha256_url", None)
        entry["sha256"], entry["size"] = digest, size
        try:
            _set(lines, doc, ("files", i, "sha256"), ("files", i, old), digest, f"pinned {name}")
            _add_after(lines, doc, ("files", i, old), "size", size)
        except _NoLine:
            edited = False
    edits = ["\n".join(lines) + "\n"] if edited else []
    for body in [*edits, yaml.safe_dump(meant, sort_keys=False)]:  # comments kept if it can be
        out = HEADER + body
        try:
            got = parse_yaml(out, "site manifest")
        except InputError:
            continue
        if got.data == meant:
            manifest_from_dict(got.data, source, got)
            return out
    raise InputError("bundle manifest init: a value would change more than its key; refused")


def _get(data: Any, key: Key) -> Any:
    for part in key:
        data = data[part]
    return data
