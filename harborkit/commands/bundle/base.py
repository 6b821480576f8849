"""What every ``harborkit bundle`` command module shares: the app, sizes, interrupts.

``core`` (build, verify, load, inspect), ``registry`` (push) and ``trust``
(keygen) register on :data:`bundle_app`; they import from here, from
``options`` and ``helpers``, and never from each other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from harborkit.errors import ExitCode

bundle_app = typer.Typer(
    help="Build, verify, inspect and load air-gap bundles.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help (commands/help.py)
)

if TYPE_CHECKING:  # typing.ParamSpec is Python 3.10's; P is read in annotations only
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
R = TypeVar("R")


def mb(n: int) -> str:
    from harborkit.textsafe import size_text

    return size_text(n)


def interruptible(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command with SIGTERM handled like SIGINT; either prints one line of what was removed.

    ``harborkit: interrupted; removed .b.tar.partial-123`` and exit 130.
    """
    from harborkit.bundle import cleanup

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        cleanup.reset()
        try:
            with cleanup.sigterm_as_interrupt():
                return fn(*args, **kwargs)
        except KeyboardInterrupt:
            typer.echo(f"harborkit: interrupted; {cleanup.summary()}", err=True)
            raise typer.Exit(ExitCode.INTERRUPTED) from None

    return run
