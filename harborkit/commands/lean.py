"""Start-up: typer without pydantic, and each annotation evaluated once.

Help and usage errors are plain text (every ``typer.Typer`` says
``rich_markup_mode=None``, :mod:`harborkit.commands.help`), so typer imports
no rich for them. Two more costs of typer at every start are cut here:
:func:`install` converts the plain values of the command line without
pydantic, :func:`resolve_annotations` evaluates the commands' annotations once.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Convert plain command-line values without pydantic (see below); idempotent."""
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
