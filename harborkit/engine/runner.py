"""Running a selection of checks on one host and collecting a report."""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from harborkit import __version__
from harborkit.engine.plugins import LoadedCheck, PluginFailure
from harborkit.engine.waivers import Waiver
from harborkit.errors import InputError
from harborkit.host.interface import NotAvailable, UnreadableFile
from harborkit.model.check import (
    Check,
    CheckContext,
    Finding,
    Outcome,
    Severity,
    SkipCheck,
    Status,
    in_phase,
)
from harborkit.model.result import CheckInfo, CheckResult, Report, WaiverUse

if TYPE_CHECKING:
    from harborkit.model.change import Change

PLUGIN_GROUP = "plugins"


def plugin_id(failure: PluginFailure) -> str:
    """The id under which a plugin that failed to load is reported."""
    return f"plugin:{failure.source}"


@dataclass(frozen=True)
class Selection:
    """Which checks run: profile select/skip, then --only/--skip."""

    select: tuple[str, ...] = ("all",)
    skip: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    cli_skip: tuple[str, ...] = ()
    #: ``pre`` (before the install), ``post`` (the running Harbor) or ``all``
    phase: str = "pre"

    def picks(self, cls: type[Check]) -> bool:
        return self.picks_name(cls.id, cls.group)

    def picks_name(self, check_id: str, group: str) -> bool:
        def hit(names: Iterable[str]) -> bool:
            return any(n in ("all", check_id, group) for n in names)

        if (
            not in_phase(group, self.phase)
            or not hit(self.select)
            or hit(self.skip)
            or hit(self.cli_skip)
        ):
            return False
        return not self.only or hit(self.only)

    def validate_names(
        self, checks: Sequence[type[Check]], failures: Sequence[PluginFailure] = ()
    ) -> None:
        """An --only/--skip name that matches nothing is a typo: say so."""
        known = {"all"} | {c.id for c in checks} | {c.group for c in checks}
        if failures:
            known |= {PLUGIN_GROUP} | {plugin_id(f) for f in failures}
        for opt, names in (("--only", self.only), ("--skip", self.cli_skip)):
            for n in names:
                if n not in known:
                    raise InputError(
                        f"{opt} {n}: no check or group of that name (see 'harborkit check --list')"
                    )


def _order(checks: list[type[Check]]) -> list[type[Check]]:
    """Declared order, but every check after the checks it requires."""
    by_id = {c.id: c for c in checks}
    done: list[type[Check]] = []
    placed: set[str] = set()

    def place(c: type[Check], stack: tuple[str, ...]) -> None:
        if c.id in placed or c.id in stack:
            return
        for r in c.requires:
            if r in by_id:
                place(by_id[r], (*stack, c.id))
        placed.add(c.id)
        done.append(c)

    for c in checks:
        place(c, ())
    return done


def run_check(cls: type[Check], ctx: CheckContext) -> Outcome:
    """Run one check on ``ctx`` exactly as a run does, guarded (a skip, a missing
    fact, an unreadable file or a crash become an outcome); no waivers, no plan.
    The public entry point for callers and tests that need one check's outcome."""
    return guarded(lambda: cls().run(ctx))


def guarded(run: Callable[[], Outcome]) -> Outcome:
    """The outcome of one check's ``run``: a skip, a missing fact or an unreadable
    file become skip/fail outcomes, anything else it raises an ``error`` (one
    broken check never stops the run). Single-host and cross-node runs share it."""
    try:
        outcome = run()
        if not isinstance(outcome, Outcome):
            raise TypeError(f"run() returned {type(outcome).__name__}, not Outcome")
        return outcome
    except SkipCheck as e:
        return Outcome(Status.SKIP, str(e))
    except NotAvailable as e:
        return Outcome(Status.SKIP, e.reason)
    except UnreadableFile as e:
        finding = Finding(Status.FAIL, "file", e.reason, location=e.path)
        return Outcome(Status.FAIL, str(e), (finding,))
    except Exception as e:
        # a caught exception's traceback holds this frame at least: never empty
        last = traceback.extract_tb(e.__traceback__)[-1]
        where = f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
        return Outcome(Status.ERROR, f"check raised {type(e).__name__}: {e}{where}")


def _plan_one(cls: type[Check], ctx: CheckContext, outcome: Outcome) -> tuple[Change, ...] | None:
    """The check's planned changes; None when it has no planner or it broke."""
    if not cls.plans() or outcome.status not in (Status.FAIL, Status.WARN):
        return None
    try:
        return tuple(cls().plan(ctx, outcome))
    except Exception:
        return None


def _remediation(cls: type[Check], outcome: Outcome, changes: tuple[Change, ...] | None) -> str:
    """Speak about this host: the planned changes, or nothing where nothing is wrong."""
    if changes:
        from harborkit.model.change import hint

        return hint(changes)
    if cls.plans() and outcome.status not in (Status.FAIL, Status.WARN, Status.ERROR):
        return ""
    return cls.remediation


def _apply_waiver(result: CheckResult, waivers: Sequence[Waiver], today: dt.date) -> CheckResult:
    matching = [w for w in waivers if w.id == result.check.id]
    if not matching:
        return result
    w = matching[0]
    use = WaiverUse(
        w.reason, w.expires.isoformat() if w.expires else None, w.expired(today), w.location
    )
    if use.expired:
        return replace(result, waiver=use)
    if result.status in (Status.FAIL, Status.WARN):
        return replace(result, status=Status.WAIVED, original_status=result.status, waiver=use)
    return replace(result, waiver=use)


def plugin_results(failures: Sequence[PluginFailure], selection: Selection) -> list[CheckResult]:
    """Each plugin that failed to load, as one ``error`` result (when selected)."""
    results = []
    for pf in failures:
        if not selection.picks_name(plugin_id(pf), PLUGIN_GROUP):
            continue
        info = CheckInfo(
            plugin_id(pf),
            f"load checks from {pf.entry_point}",
            PLUGIN_GROUP,
            Severity.HIGH,
            "fix or uninstall the plugin",
            pf.source,
        )
        results.append(CheckResult(info, Status.ERROR, pf.error, (), 0.0))
    return results


def run_checks(
    loaded: Sequence[LoadedCheck],
    ctx: CheckContext,
    *,
    profile_name: str,
    profile_path: str,
    selection: Selection,
    waivers: Sequence[Waiver] = (),
    plugin_failures: Sequence[PluginFailure] = (),
    today: dt.date | None = None,
    also_known: Iterable[str] = (),
) -> Report:
    """Run the selected checks in dependency order and build the report.

    ``also_known``: ids of checks run elsewhere (the cross-node checks of a
    cluster run) that a waiver may name without being "no installed check"."""
    today = today or dt.date.today()
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    source = {lc.cls.id: lc.source for lc in loaded}
    chosen = _order([lc.cls for lc in loaded if selection.picks(lc.cls)])
    results: list[CheckResult] = []
    status_of: dict[str, Status] = {}

    results += plugin_results(plugin_failures, selection)
    for cls in chosen:
        info = CheckInfo.of(cls, source[cls.id])
        blocked = [
            r for r in cls.requires if status_of.get(r) in (Status.FAIL, Status.ERROR, Status.SKIP)
        ]
        t = time.perf_counter()
        if blocked:
            r = blocked[0]
            outcome = Outcome(
                Status.SKIP, f"requires {r}, which did not pass ({status_of[r].value})"
            )
        else:
            outcome = run_check(cls, ctx)
        changes = _plan_one(cls, ctx, outcome)
        info = replace(info, remediation=_remediation(cls, outcome, changes))
        result = CheckResult(
            info,
            outcome.status,
            outcome.message,
            outcome.findings,
            time.perf_counter() - t,
            changes=changes or (),
        )
        result = _apply_waiver(result, waivers, today)
        status_of[cls.id] = result.status
        results.append(result)

    notes = []
    known_elsewhere = set(also_known)
    for w in waivers:
        if w.expired(today):
            notes.append(
                f"waiver for {w.id} expired on {w.expires} ({w.location}); it no longer applies"
            )
        if w.id not in source and w.id not in known_elsewhere:
            notes.append(f"waiver for {w.id} ({w.location}) names no installed check")
    return Report(
        host=ctx.host.name,
        live=ctx.host.live,
        profile=profile_name,
        profile_path=profile_path,
        harborkit_version=__version__,
        started=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        duration=time.perf_counter() - t0,
        results=tuple(results),
        notes=tuple(notes),
    )
