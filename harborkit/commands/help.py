"""``--help`` in plain words: flags without a ``<bool>`` type, arguments as ``BUNDLE``.

Typer's own help writes ``<bool>`` beside every flag and ``{bundle}`` for a
required argument in the usage line, which reads like a template. The root
group (``typer.Typer(cls=HelpGroup)``) turns every command below it, whoever
declared it, into the classes here, so all help reads the same.
"""

from __future__ import annotations

from typing import Any

import typer.core
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def _tidy(params: list[Any]) -> list[Any]:
    for p in params:
        if isinstance(p, TyperOption) and p.is_flag and p.metavar is None:
            p.metavar = ""  # a flag takes no value: show no type
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
