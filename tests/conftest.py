"""Suite-wide test selection: the ``daemon`` marker.

A test that starts a private dockerd or registry (itself or through any
fixture it uses) is marked ``daemon`` here, so that ``-m "not daemon"``
selects the fast tests (the set ``make mutation`` runs for every mutant)
without every test file having to remember a decorator.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.dockerd import Daemon, SpareDaemons, wait_for_background_stops
from tests.support.parallel import (
    GROUPS_ENV,
    assign_groups,
    compile_harborkit,
    make_scheduler,
    write_groups,
)

#: calls that start a daemon; a test or fixture whose source names one needs daemons
_STARTERS = ("start_dockerd(", "start_registry(", "dockerd_with_limits(", "SpareDaemons(")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "daemon: starts a private dockerd or registry (set automatically; "
        "deselect with -m 'not daemon' for the fast tests)",
    )
    config.addinivalue_line(
        "markers",
        "mutation: a daemon test that make mutation runs too (one daemon per pytest run, "
        "a few seconds: -m 'not daemon or mutation')",
    )
    if not config.pluginmanager.hasplugin("xdist"):  # tests/test_parallel.py sets it
        config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's --dist loadgroup")
    # pytest keeps each test module's assert-rewritten code in __pycache__ unless
    # bytecode writing is off, as this machine's PYTHONDONTWRITEBYTECODE turns it:
    # then every worker rewrote all of tests/ on every run (7 s of CPU each, 2 s
    # from the cache). Only this process is concerned, not the commands it runs.
    sys.dont_write_bytecode = False
    if not hasattr(config, "workerinput"):  # once per run: not again in each xdist worker
        compile_harborkit()
        if config.getoption("dist", "no") == "loadgroup":  # the workers write the groups here
            os.environ[GROUPS_ENV] = os.path.join(
                tempfile.mkdtemp(prefix="hk-xdist-"), "groups.json"
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and GROUPS_ENV in os.environ:
        shutil.rmtree(os.path.dirname(os.environ.pop(GROUPS_ENV)), ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadgroup with the groups of tests/support/parallel.py."""
    if config.getoption("dist", "no") == "loadgroup" and GROUPS_ENV in os.environ:
        return make_scheduler(config, log)
    return None


@functools.cache
def _starts_daemon(func: Callable[..., Any]) -> bool:
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return False
    return any(s in source for s in _STARTERS)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        assign_groups(items)  # see tests/support/parallel.py
        if hasattr(config, "workerinput") and GROUPS_ENV in os.environ:
            write_groups(items, os.environ[GROUPS_ENV])
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        funcs: list[Callable[..., Any]] = [item.function]
        for defs in item._fixtureinfo.name2fixturedefs.values():
            funcs += [d.func for d in defs]
        if any(_starts_daemon(f) for f in funcs):
            item.add_marker(pytest.mark.daemon)


@pytest.fixture(scope="session")
def spare_daemons() -> Iterator[SpareDaemons]:
    """New private dockerds, one started ahead (see SpareDaemons): for tests that
    each need an empty daemon of their own (``fresh_daemon``, ``spare_daemons.fresh()``)."""
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    spares = SpareDaemons()
    try:
        yield spares
    finally:
        spares.close()


@pytest.fixture
def fresh_daemon(spare_daemons: SpareDaemons) -> Iterator[Daemon]:
    """A new, empty private dockerd of this test's own."""
    with spare_daemons.fresh() as daemon:
        yield daemon


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Daemons of fixtures stop in the background (start_dockerd(stop_in_background=
    True)): the session ends when every one of them is gone."""
    wait_for_background_stops()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under CI (``CI`` set, as ``.ci/run`` is run) a skip is a failure: make test
    installs every tool and daemon the tests need, so a test that skips there
    proves nothing and means an install step is missing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped under CI, where make test provides everything: {report.longrepr}"
        )
