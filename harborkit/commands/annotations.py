"""Typer on Python 3.9: give it the command signatures with their annotations evaluated.

Every module has ``from __future__ import annotations``, so annotations are strings.
On 3.10+ typer reads them with ``inspect.signature(eval_str=True)``; on 3.9 the last
typer (0.23) reads ``inspect.signature`` as is and falls back to ``get_type_hints``,
which drops ``Annotated`` and with it every ``typer.Option("--name", "-n")``: the
options would lose their names. :func:`resolve` sets each callback's
``__signature__`` (which ``inspect.signature`` returns first) to one whose
parameter annotations are evaluated, ``Annotated`` kept.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

import typer


def resolve(app: typer.Typer) -> None:
    """Evaluated parameter annotations for every callback of ``app`` and its groups."""
    callbacks: list[Any] = [c.callback for c in app.registered_commands]
    if app.registered_callback is not None:
        callbacks.append(app.registered_callback.callback)
    for group in app.registered_groups:
        callbacks.append(group.callback)
        if group.typer_instance is not None:
            resolve(group.typer_instance)
    for fn in callbacks:
        if inspect.isfunction(fn):  # not typer's DefaultPlaceholder of a group without one
            _resolve(fn)


def _resolve(fn: Any) -> None:
    sig = inspect.signature(fn)
    src = inspect.unwrap(fn)
    # parameters only: a return annotation is never typer's business
    wanted = {k: v for k, v in getattr(src, "__annotations__", {}).items() if k != "return"}
    shim = types.SimpleNamespace(__annotations__=wanted, __globals__=src.__globals__)
    hints = typing.get_type_hints(shim, include_extras=True)
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()
    ]
    fn.__signature__ = sig.replace(parameters=params)
