"""Every YAML/JSON input fails in one line: profiles, waivers, bundle manifests
(exit 2, file:line) and harbor.yml / daemon.json on the audited host (a fail
finding with file:line). Never a traceback, never unbounded time or memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from harborkit.checks.daemon_json import DaemonJsonCheck
from harborkit.checks.harbor_config import HarborConfigCheck
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.errors import ExitCode, InputError
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, CheckOptions, Status
from harborkit.yamlfile import JsonRefused, parse_json, parse_yaml
from tests.test_cli import hk


def _bomb(levels: int) -> str:
    """Billion laughs: 9**levels values from a few hundred bytes."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


#: (name, text, the error after "harborkit: error: FILE")
YAML_CASES = [
    ("syntax", "name: x\nsysctl: [\n", ":3:1: invalid YAML: did not find expected node content"),
    (
        "control-char",
        "name: x\ndescription: a\x01b\n",
        ":2:15: invalid YAML: control character U+0001 is not allowed in YAML",
    ),
    ("nul", "name: x\x00\n", ":1:8: invalid YAML: control character U+0000 is not allowed in YAML"),
    (
        "explicit-bad-date",
        "name: !!timestamp 2027-02-30\n",
        ":1:7: invalid YAML: invalid date '2027-02-30': day is out of range for month",
    ),
    (
        "huge-int",
        "name: x\nhardware:\n  cpu_min: " + "9" * 5000 + "\n",
        ":3:12: invalid YAML: integer of 5000 digits is too large",
    ),
    (
        "lone-surrogate",
        'name: "\\ud800"\n',
        ":1:10: invalid YAML: found invalid Unicode character escape code",
    ),
    (
        "duplicate-key",
        "name: x\nname: y\n",
        ":2:1: invalid YAML: duplicate key 'name' (first on line 1)",
    ),
    (
        "alias-bomb",
        _bomb(9),
        ":6:5: invalid YAML: more than 100000 values (each use of an alias counts): "
        "too large for an input file",
    ),
    ("recursive-alias", "a: &a [*a]\n", ":1:4: invalid YAML: an alias refers to its own anchor"),
    (
        "deep-nesting",
        "a: " + "[" * 5000 + "]" * 5000 + "\n",
        ":1:1003: invalid YAML: exceeded maximum nesting depth",
    ),
    ("megabytes", "# " + "x" * (5 << 20) + "\n", ": larger than 4 MiB: not a profile"),
]


def _limit_memory() -> None:
    # 1 GiB of address space: an alias bomb expanded would need far more
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _hk_bounded(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harborkit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )


@pytest.mark.parametrize(("name", "text", "error"), YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_hostile_profile_is_one_line_exit_2(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    p = tmp_path / f"{name}.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    r = _hk_bounded("check", "--root", str(tmp_path), "--profile", str(p))
    assert r.returncode == ExitCode.USAGE
    assert r.stderr == f"harborkit: error: {p}{error}\n"
    assert r.stdout == ""


def test_non_utf8_profile(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yaml"
    p.write_bytes(b"name: caf\xe9\n")
    r = hk("check", "--root", str(tmp_path), "--profile", str(p))
    assert (r.returncode, r.stderr) == (2, f"harborkit: error: {p}: not UTF-8 text (byte 9)\n")


def test_profile_that_is_a_directory(tmp_path: Path) -> None:
    r = hk("check", "--root", str(tmp_path), "--profile", str(tmp_path))
    assert (r.returncode, r.stderr) == (
        2,
        f"harborkit: error: {tmp_path}: is a directory, not a profile\n",
    )


def test_megabyte_scale_profile_is_judged_in_bounded_time(tmp_path: Path) -> None:
    # 1.4 MB of plain YAML, under the size limit: refused for its size in values
    p = tmp_path / "big.yaml"
    p.write_text("name: x\nitems:\n" + "".join(f"  - k{i}: v{i}\n" for i in range(60000)))
    r = _hk_bounded("check", "--root", str(tmp_path), "--profile", str(p))
    assert r.returncode == 2
    assert r.stderr == (
        f"harborkit: error: {p}:3:3: invalid YAML: more than 100000 values "
        "(each use of an alias counts): too large for an input file\n"
    )


@pytest.mark.parametrize(
    ("expires", "error"),
    [
        ("2027-02-30", ":4: waivers[0].expires: not a YYYY-MM-DD date"),
        ("2027-13-01", ":4: waivers[0].expires: not a YYYY-MM-DD date"),
        (
            "99999-01-01",
            ":4: waivers[0].expires: '99999-01-01' does not match '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'",
        ),
    ],
)
def test_waiver_with_invalid_date(tmp_path: Path, expires: str, error: str) -> None:
    w = tmp_path / "waivers.yaml"
    w.write_text(f"waivers:\n  - id: selinux.mode\n    reason: lab\n    expires: {expires}\n")
    r = hk("check", "--root", str(tmp_path), "--waivers", str(w))
    assert r.returncode == 2
    assert r.stderr == f"harborkit: error: {w}{error}\n"


def test_waiver_with_a_real_date_still_works(tmp_path: Path) -> None:
    w = tmp_path / "waivers.yaml"
    w.write_text("waivers:\n  - id: selinux.mode\n    reason: lab\n    expires: 2999-01-31\n")
    r = hk("check", "--root", str(tmp_path), "--waivers", str(w), "--only", "selinux", "-f", "json")
    assert r.returncode == 0, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert res["waiver"]["expires"] == "2999-01-31"


def test_waivers_duplicate_key(tmp_path: Path) -> None:
    w = tmp_path / "waivers.yaml"
    w.write_text("waivers:\n  - id: selinux.mode\n    id: hardware.cpu\n    reason: lab\n")
    r = hk("check", "--root", str(tmp_path), "--waivers", str(w))
    assert (r.returncode, r.stderr) == (
        2,
        f"harborkit: error: {w}:3:5: invalid YAML: duplicate key 'id' (first on line 2)\n",
    )


@pytest.mark.parametrize(
    ("name", "text", "error"), YAML_CASES[:8], ids=[c[0] for c in YAML_CASES[:8]]
)
def test_hostile_bundle_manifest_is_one_line_exit_2(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    m = tmp_path / f"{name}.yaml"
    m.write_text(text, encoding="utf-8", errors="surrogatepass")
    out = tmp_path / "out.tar"
    r = _hk_bounded("bundle", "build", "-m", str(m), "-o", str(out))
    assert r.returncode == ExitCode.USAGE
    assert r.stderr == f"harborkit: error: {m}{error}\n"
    assert list(tmp_path.iterdir()) == [m]  # nothing written


# --- files on the audited host: a fail finding with file:line ---------------


def _ctx(root: Path, **options: str) -> CheckContext:
    return CheckContext(
        SysrootHost(root),
        load_profile().data,
        CheckOptions(harbor_config=options.get("harbor_config")),
    )


@pytest.mark.parametrize(
    ("name", "text", "error"), YAML_CASES[:10], ids=[c[0] for c in YAML_CASES[:10]]
)
def test_hostile_harbor_yml_is_a_fail_finding(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    (tmp_path / "opt/harbor").mkdir(parents=True)
    (tmp_path / "opt/harbor/harbor.yml").write_text(text, encoding="utf-8", errors="surrogatepass")
    out = run_check(HarborConfigCheck, _ctx(tmp_path, harbor_config="/opt/harbor/harbor.yml"))
    path = "/opt/harbor/harbor.yml"
    assert out.status is Status.FAIL
    assert out.message == f"{path}{error}"
    line_col = error.split(": ", 1)[0]
    assert [(f.status, f.location) for f in out.findings] == [(Status.FAIL, f"{path}{line_col}")]


DAEMON_JSON_CASES = [
    ('{"debug": true,\n "debug": false}\n', 'line 2 column 2: duplicate key "debug"', "2:2"),
    (
        '{"max-concurrent-downloads": ' + "9" * 5000 + "}",
        "line 1 column 30: integer of 5000 digits is out of range",
        "1:30",
    ),
    (
        '{"max-concurrent-downloads": 1e999}',
        "line 1 column 30: number 1e999 is out of range",
        "1:30",
    ),
    ('{"debug": NaN}', "line 1 column 11: NaN is not a JSON value", "1:11"),
    (
        '{"data-root": "\\udc00"}',
        "line 1 column 16: lone surrogate escape: not a Unicode character",
        "1:16",
    ),
    ("[" * 100000 + "]" * 100000, "line 1 column 1: nested too deeply", "1:1"),
]


@pytest.mark.parametrize(("text", "message", "where"), DAEMON_JSON_CASES)
def test_hostile_daemon_json_is_a_fail_finding(
    tmp_path: Path, text: str, message: str, where: str
) -> None:
    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text(text)
    out = run_check(DaemonJsonCheck, _ctx(tmp_path))
    assert out.status is Status.FAIL
    first = out.findings[0]
    assert (first.status, first.message, first.location) == (
        Status.FAIL,
        message,
        f"/etc/docker/daemon.json:{where}",
    )


def test_parsers_directly() -> None:
    with pytest.raises(InputError) as e:
        parse_yaml(_bomb(12), "bomb.yaml")  # 9**12 values if expanded
    assert e.value.message.startswith("bomb.yaml:")
    with pytest.raises(JsonRefused):
        parse_json('{"a": 1, "a": 1}')
    # an emoji written as a surrogate pair is a character, not a lone surrogate
    assert parse_json('{"s": "\\ud83d\\ude00"}') == {"s": "\U0001f600"}
    # YAML 1.2: no implicit dates; the reader decides what a date is
    assert parse_yaml("d: 2027-03-31\n", "x").data == {"d": "2027-03-31"}
