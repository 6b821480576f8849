"""Every built-in check over every fixture sysroot, compared in full.

The functional-test pattern of bandit: run all checks over a folder of example
inputs and assert the exact outcome: status, message and every finding with
all its fields (status, subject, message, expected, actual, location). The
expected outcomes live in ``tests/checks/golden/<sysroot>.json``, reviewed like
code; remediation texts are left out on purpose (they are the fix hints'
own tests). After an intended change of a message, rewrite them with
``HK_GOLDEN_UPDATE=1 pytest tests/checks/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from harborkit.checks import BUILTIN_CHECKS
from harborkit.engine.profile import load_profile
from harborkit.engine.registry import LoadedCheck
from harborkit.engine.runner import Selection, run_checks
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, CheckOptions
from harborkit.model.result import Report

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
GOLDEN = Path(__file__).resolve().parent / "golden"
NAMES = sorted(p.name for p in SYSROOTS.iterdir() if p.is_dir())


def _run(name: str, install_dir: str | None) -> Report:
    root = SYSROOTS / name
    prof = load_profile()
    ctx = CheckContext(
        host=SysrootHost(root),
        profile=prof.data,
        options=CheckOptions(install_dir=install_dir),
    )
    return run_checks(
        [LoadedCheck(c, "harborkit") for c in BUILTIN_CHECKS],
        ctx,
        profile_name=prof.name,
        profile_path=prof.path,
        selection=Selection(),
        today=dt.date(2026, 11, 26),
    )


def _shape(report: Report, root: Path) -> dict[str, Any]:
    def clean(text: str | None) -> str | None:
        return None if text is None else text.replace(str(root), "<sysroot>")

    return {
        r.check.id: {
            "status": r.status.value,
            "message": clean(r.message),
            "findings": [
                [
                    f.status.value,
                    clean(f.subject),
                    clean(f.message),
                    clean(f.expected),
                    clean(f.actual),
                    clean(f.location),
                ]
                for f in r.findings
            ],
        }
        for r in report.results
    }


@pytest.mark.parametrize("install_dir", [None, "/opt/harbor"], ids=["no-harbor-yml", "install-dir"])
@pytest.mark.parametrize("name", NAMES)
def test_every_check_on_every_fixture_sysroot(name: str, install_dir: str | None) -> None:
    got = _shape(_run(name, install_dir), SYSROOTS / name)
    path = GOLDEN / f"{name}{'' if install_dir is None else '.install-dir'}.json"
    if os.environ.get("HK_GOLDEN_UPDATE"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(path.read_text())
    assert list(got) == list(want), "the set or order of checks changed"
    for check_id, outcome in want.items():
        assert got[check_id] == outcome, check_id
