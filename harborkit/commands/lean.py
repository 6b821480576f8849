"""Start-up: ``--help`` without the two rich modules it never uses.

Typer renders help with ``typer.rich_utils``, which imports ``rich.markdown``
(and through it ``markdown_it``: used only in ``rich_markup_mode="markdown"``,
not ours) and ``rich.traceback`` (and through it ``pygments``, ``rich.pretty``
and ``attr``: used only for pretty exceptions, which harborkit turns off).
Together they were about half of the start-up of ``harborkit --help``.

:func:`install` adds an import hook that runs ``typer.rich_utils`` with
stand-ins for those two modules, so the help reads exactly as before. The
stand-ins exist only while ``typer.rich_utils`` itself is being imported: the
names it binds (``Markdown``, ``Traceback``) import the real module the first
time they are called, and any other importer of ``rich.markdown`` or
``rich.traceback`` gets the real module.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

TARGET = "typer.rich_utils"
#: module -> the names typer.rich_utils imports from it
DEFERRED: dict[str, tuple[str, ...]] = {
    "rich.markdown": ("Markdown",),
    "rich.traceback": ("Traceback",),
}


def _real(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _deferred(module: str, name: str) -> type:
    """A callable class standing for ``module.name``: calling it imports the module."""

    class Deferred:
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            return _real(module, name)(*args, **kwargs)

    Deferred.__name__ = Deferred.__qualname__ = name
    Deferred.__module__ = module
    return Deferred


# The finder and the loader are plain classes (the import system calls them by
# their methods): importlib.abc would import importlib.resources, and with it
# tempfile, shutil, zlib, bz2, lzma and random, for nothing.


class _Loader:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        placed = {}
        for name, attrs in DEFERRED.items():
            if name in sys.modules:  # already loaded by someone: nothing to save
                continue
            stub = types.ModuleType(name)
            for attr in attrs:
                setattr(stub, attr, _deferred(name, attr))
            placed[name] = sys.modules[name] = stub
        try:
            self.inner.exec_module(module)
        finally:
            for name, stub in placed.items():
                if sys.modules.get(name) is stub:
                    del sys.modules[name]
                parent = sys.modules.get(name.rpartition(".")[0])
                if parent is not None and getattr(parent, name.rpartition(".")[2], None) is stub:
                    delattr(parent, name.rpartition(".")[2])


class _Finder:
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
        return spec


_FINDER = _Finder()


def install() -> None:
    """Put the hook first on ``sys.meta_path`` (once; a no-op when typer.rich_utils
    is loaded) and convert plain values without pydantic (see below)."""
    if TARGET not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)  # type: ignore[arg-type]
    _patch_coercion()


# -- value coercion without pydantic ------------------------------------------
#
# Typer (0.2x) converts every command-line value with a pydantic TypeAdapter,
# built the first time a parameter is processed: any command run imported
# pydantic (60 ms and more) to turn "json" into an enum or "/x" into a Path.
# The plain annotations harborkit declares (str, bool, int, float, Path, an
# Enum, list[str]) are converted here with typer's own helpers
# (coerce_cli_path, coerce_cli_choice); anything else, and any value that does
# not convert, goes to typer's own pydantic path, so results and error
# messages are typer's.


class _NotLean(Exception):
    """This value is left to typer's own (pydantic) conversion."""


_PLAIN_NUMBER = {int: r"[0-9]{1,18}", float: r"[0-9]{1,15}(\.[0-9]{1,15})?"}


def _number(annotation: type, value: Any, info: Any) -> Any:
    import re

    if info.clamp:
        raise _NotLean
    if type(value) is annotation:
        out = value
    elif isinstance(value, str) and re.fullmatch(_PLAIN_NUMBER[annotation], value):
        out = annotation(value)
    else:
        raise _NotLean
    if (info.min is not None and out < info.min) or (info.max is not None and out > info.max):
        raise _NotLean  # typer words the error
    return out


def _leaf(descriptor: Any, annotation: Any, value: Any, param: Any, ctx: Any) -> Any:
    from enum import Enum
    from pathlib import Path

    from typer import _param_types as pt

    info = descriptor.parameter_info
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is str and type(value) is str:
        return value
    if annotation in _PLAIN_NUMBER:
        return _number(annotation, value, info)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        try:
            return pt.coerce_cli_choice(
                value, choices=tuple(annotation), case_sensitive=info.case_sensitive, ctx=ctx
            )
        except Exception as e:
            raise _NotLean from e
    if isinstance(annotation, type) and issubclass(annotation, Path):
        kind = info.path_type or annotation
        if not (isinstance(kind, type) and issubclass(kind, Path)):
            raise _NotLean
        try:
            # str -> Path here: typer asks pydantic for exactly this conversion
            path = kind(value) if type(value) is str else value
            return pt.coerce_cli_path(path, info, path_type=kind, param=param, ctx=ctx)
        except Exception as e:
            raise _NotLean from e
    raise _NotLean


def _convert(descriptor: Any, value: Any, param: Any, ctx: Any) -> Any:
    from typing import get_args, get_origin

    if descriptor.file_annotation is not None or descriptor.parameter_info.parser is not None:
        raise _NotLean
    many = param.multiple or param.nargs == -1
    if value is None:
        return () if many else None
    annotation = descriptor.annotation
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if not many or not isinstance(value, (list, tuple)):
            raise _NotLean
        return [_leaf(descriptor, item, v, param, ctx) for v in value]
    if many:
        raise _NotLean
    return _leaf(descriptor, annotation, value, param, ctx)


class _LeanRuntimeParam:
    """Stands in for typer's RuntimeParam of one parameter (its ``coerce``)."""

    def __init__(self, param: Any, build: Any) -> None:
        self.param = param
        self.build = build  # typer's build_runtime_param
        self.full: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return _convert(self.param.type_descriptor, value, param, ctx)
        except _NotLean:
            pass
        if self.full is None:
            self.full = self.build(self.param.type_descriptor)
        return self.full.coerce(value, param=param, ctx=ctx)


def _patch_coercion() -> None:
    from typer import core

    cls = getattr(core, "_TyperParameter", None)
    build = getattr(core, "build_runtime_param", None)
    if cls is None or build is None or getattr(cls, "_harborkit_lean", False):
        return  # another typer: its own conversion stays

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            self._runtime_param = _LeanRuntimeParam(self, build)
        return self._runtime_param

    cls.get_runtime_param = get_runtime_param
    cls._harborkit_lean = True


# -- annotations evaluated once ------------------------------------------------
#
# Every module says ``from __future__ import annotations``, so a command's
# parameters are annotated with strings. To build the command line typer
# evaluates each of them twice (``inspect.signature(eval_str=True)``, then
# ``typing.get_type_hints``, which compiles every string again), for every
# command, at every start, ``--help`` included. :func:`resolve_annotations`
# evaluates them once, in the command's own module, before typer looks: typer
# then reads the same objects it would have evaluated itself.


def resolve_annotations(*apps: Any) -> None:
    """Turn the string annotations of every command (and group callback) of
    ``apps`` and their sub-apps into the objects they name."""
    import inspect

    if not hasattr(inspect, "get_annotations"):  # Python 3.9: typer evaluates them
        return
    todo = list(apps)
    while todo:
        app = todo.pop()
        infos = [*app.registered_commands]
        if app.registered_callback is not None:
            infos.append(app.registered_callback)
        for info in infos:
            if info.callback is not None:
                _resolve(info.callback, inspect)
        todo += [group.typer_instance for group in app.registered_groups]


def _resolve(fn: Any, inspect: Any) -> None:
    chain = [fn]
    while hasattr(chain[-1], "__wrapped__"):
        chain.append(chain[-1].__wrapped__)
    resolved = inspect.get_annotations(chain[-1], eval_str=True)
    for f in chain:
        f.__annotations__ = resolved
