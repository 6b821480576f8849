"""``--help`` in plain words: plain text (no rich), flags without a ``<bool>`` type,
arguments as ``BUNDLE``, an option's value as a word (``HOST``, ``FILE``,
``NAME=ADDRESS``), not ``<list[str]>``, and a long option list in sections.

Help is click's plain layout, as git, docker and kubectl print theirs: the same
text in a terminal and in a CI log, and no rich (nor its markdown renderer)
imported to show it: every ``typer.Typer`` of harborkit says
``rich_markup_mode=None``. Typer's own help writes ``<bool>`` beside every flag,
the Python type of every other value (``<list[str]>``, ``<path>``) and
``{bundle}`` for a required argument in the usage line, which reads like a
template. The root group (``typer.Typer(cls=HelpGroup)``) turns every command
below it, whoever declared it, into the classes here, so all help reads the
same. An option declared with ``rich_help_panel="Other machines"`` is listed
under that heading (typer keeps the attribute without rich): options, then one
section per panel in the order they first appear.
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
    "--journal-dir": "DIR",
    "--prefix": "DIR",
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
    """An argument whose help row names it as the usage line does (``BUNDLE``),
    without its Python type."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def get_help_record(self, ctx: Any) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        return _argument_name(self), record[1]


def _argument_name(p: TyperArgument) -> str:
    return (p.metavar or p.name or "ARG").upper() + ("..." if p.nargs != 1 else "")


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
            name = _argument_name(p)
            pieces.append(name if p.required else f"[{name}]")
        else:
            pieces.extend(p.get_usage_pieces(ctx))
    return pieces


def _sections(cmd: TyperCommand, ctx: Any, formatter: Any) -> None:
    """Arguments, options, then the options of each panel under its heading."""
    args: list[tuple[str, str]] = []
    panels: dict[str, list[tuple[str, str]]] = {"Options": []}
    for p in cmd.get_params(ctx):
        record = p.get_help_record(ctx)
        if record is None:
            continue
        if isinstance(p, TyperArgument):
            args.append(record)
        else:
            panels.setdefault(getattr(p, "rich_help_panel", None) or "Options", []).append(record)
    # one first column for every section (click sizes it per list): the widest
    # name up to 30 characters; a longer one has its help on the next line
    names = [r[0] for r in args] + [r[0] for rows in panels.values() for r in rows]
    width = max((len(n) for n in names if len(n) <= 30), default=0)
    if args:
        with formatter.section("Arguments"):
            formatter.write_dl([(n.ljust(width), h) for n, h in args], col_max=width)
    for title, rows in panels.items():
        if rows:
            with formatter.section(title):
                formatter.write_dl([(n.ljust(width), h) for n, h in rows], col_max=width)


class HelpCommand(TyperCommand):
    """A command whose help shows no ``<bool>``, names arguments in capitals and
    lists its options in sections."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self, ctx)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _sections(self, ctx, formatter)


class HelpGroup(TyperGroup):
    """A group like :class:`HelpCommand`; adopts every command and group below it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _adopt(self)

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*_usage(self, ctx), self.subcommand_metavar]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command with its first sentence, wrapped (click cuts it at the
        terminal's width with "...")."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _adopt(group: TyperGroup) -> None:
    for cmd in group.commands.values():
        # Same layout, more precise help: re-classing is safe for these exact types.
        if type(cmd) is typer.core.TyperGroup:
            cmd.__class__ = HelpGroup
            _adopt(cmd)
        elif type(cmd) is typer.core.TyperCommand:
            cmd.__class__ = HelpCommand
