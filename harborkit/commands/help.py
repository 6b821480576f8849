"""``--help`` in plain words: flags without a ``<bool>`` type, arguments as ``BUNDLE``,
an option's value as a word (``HOST``, ``FILE``, ``NAME=ADDRESS``), not ``<list[str]>``.

Typer's own help writes ``<bool>`` beside every flag, the Python type of every
other value (``<list[str]>``, ``<path>``) and ``{bundle}`` for a required
argument in the usage line, which reads like a template. The root
group (``typer.Typer(cls=HelpGroup)``) turns every command below it, whoever
declared it, into the classes here, so all help reads the same.
"""

from __future__ import annotations

from typing import Any

import typer.core
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

#: what an option's value is, by its long name (else by its type, else its name)
_METAVARS = {
    "--host": "HOST",
    "--node": "NAME=ADDRESS",
    "--only": "IDS",
    "--skip": "IDS",
    "--harbor": "ADDRESS",
    "--harbor-config": "PATH",
    "--install-dir": "DIR",
    "--root": "DIR",
    "--limit": "PATTERN",
    "--file": "NAME=PATH",
    "--replication-target": "URL",
    "--ca": "FILE",
    "--snapshot": "FILE|DIR",
    "--inventory": "FILE",
    "--ssh-config": "FILE",
    "--smoke": "PROJECT",
    "--phase": "pre|post|all",
    "--harbor-user": "USER",
    "--replication-user": "USER",
}


def _metavar(p: TyperOption) -> str | None:
    """A word for the value of an option that declares none (typer would show
    its Python type: ``<list[str]>``), or None for a choice (shown as its choices)."""
    longs = [o for o in p.opts if o.startswith("--")]
    name = longs[0] if longs else (p.name or "value")
    if name in _METAVARS:
        return _METAVARS[name]
    import enum
    import typing
    from pathlib import Path

    kind = getattr(getattr(p, "type_descriptor", None), "annotation", None)
    kind = (typing.get_args(kind) or (kind,))[0]  # list[X]: X
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return None  # its choices are shown
    if kind is Path:
        return "FILE"
    if kind is int:
        return "N"
    if kind is float:
        return "SECONDS" if "timeout" in name else "NUMBER"
    return name.lstrip("-").replace("-", "_").upper()


class _Argument(TyperArgument):
    """An argument whose help row names it (``BUNDLE``) without its Python type."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _tidy(params: list[Any]) -> list[Any]:
    for p in params:
        if type(p) is TyperArgument:
            p.__class__ = _Argument  # same layout: re-classing is safe for this exact type
        if not isinstance(p, TyperOption) or p.metavar is not None:
            continue
        if p.is_flag:
            p.metavar = ""  # a flag takes no value: show no type
        else:
            p.metavar = _metavar(p)
    return params


def _usage(cmd: TyperCommand | TyperGroup, ctx: Any) -> list[str]:
    pieces = [cmd.options_metavar] if cmd.options_metavar else []
    for p in cmd.get_params(ctx):
        if isinstance(p, TyperArgument):
            name = (p.metavar or p.name or "ARG").upper()
            name = name if p.required else f"[{name}]"
            pieces.append(name + ("..." if p.nargs != 1 else ""))
        else:
            pieces.extend(p.get_usage_pieces(ctx))
    return pieces


class HelpCommand(TyperCommand):
    """A command whose help shows no ``<bool>`` and names arguments in capitals."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self, ctx)


class HelpGroup(TyperGroup):
    """A group like :class:`HelpCommand`; adopts every command and group below it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _adopt(self)

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*_usage(self, ctx), self.subcommand_metavar]


def _adopt(group: TyperGroup) -> None:
    for cmd in group.commands.values():
        # Same layout, more precise help: re-classing is safe for these exact types.
        if type(cmd) is typer.core.TyperGroup:
            cmd.__class__ = HelpGroup
            _adopt(cmd)
        elif type(cmd) is typer.core.TyperCommand:
            cmd.__class__ = HelpCommand
