"""The one audit path: a :class:`Session` (the installed checks, the profile,
the selection, the waivers and the check options) and :func:`run`, which
audits one host with it.

``check`` (one host, a sysroot), ``fix`` (its plan and its re-check) and the
fleet (:func:`harborkit.engine.cluster.run_fleet`, each host of an SSH,
snapshot or several-sysroot run, and the snapshot priming of
:mod:`harborkit.engine.fleet`) all run checks through :func:`run`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from harborkit.engine.plugins import LoadedCheck, PluginFailure
from harborkit.engine.profile import Profile
from harborkit.engine.runner import Selection, run_checks
from harborkit.engine.waivers import Waiver
from harborkit.host.interface import Host
from harborkit.model.check import CheckContext, CheckOptions
from harborkit.model.result import Report


@dataclass(frozen=True)
class Session:
    """Everything needed to run the selected checks on a host."""

    loaded: tuple[LoadedCheck, ...]
    failures: tuple[PluginFailure, ...]
    profile: Profile
    selection: Selection
    root: str | None
    options: CheckOptions
    waivers: tuple[Waiver, ...] = ()
    #: ids of checks run elsewhere (the cross-node checks) that a waiver may name
    also_known: tuple[str, ...] = ()

    def host(self) -> Host:
        """The audited host: the sysroot ``root``, else this machine."""
        from harborkit.host import LocalHost, SysrootHost

        return SysrootHost(self.root) if self.root else LocalHost()

    def context(
        self, host: Host | None = None, options: CheckOptions | None = None
    ) -> CheckContext:
        """A fresh context (nothing remembered from an earlier run)."""
        return CheckContext(
            host=host if host is not None else self.host(),
            profile=self.profile.data,
            options=self.options if options is None else options,
        )

    def run(self, waivers: Sequence[Waiver] | None = None, *, only: Sequence[str] = ()) -> Report:
        """:func:`run` on this session's host."""
        return run(self, waivers=waivers, only=only)


def run(
    session: Session,
    ctx: CheckContext | None = None,
    *,
    waivers: Sequence[Waiver] | None = None,
    only: Sequence[str] = (),
    today: dt.date | None = None,
) -> Report:
    """Run the session's selection on one host (``ctx``: a fresh context of the
    session's host when None), narrowed to the check ids ``only`` when given;
    ``waivers`` replace the session's own when given."""
    selection = session.selection
    if only:
        selection = replace(selection, only=tuple(only))
    return run_checks(
        session.loaded,
        ctx if ctx is not None else session.context(),
        profile_name=session.profile.name,
        profile_path=session.profile.path,
        selection=selection,
        waivers=session.waivers if waivers is None else waivers,
        plugin_failures=session.failures,
        today=today,
        also_known=session.also_known,
    )


__all__ = ["Session", "run"]
