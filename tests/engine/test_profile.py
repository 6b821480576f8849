"""Profiles and waivers are data: bad files get file:line:key errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harborkit.engine.profile import load_profile, with_nodes
from harborkit.engine.waivers import load_waivers
from harborkit.errors import InputError
from harborkit.resources import default_profile
from harborkit.yamlfile import json_error_position, parse_yaml


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_default_profile_holds_the_guides_baseline() -> None:
    prof = load_profile()
    assert prof.name == "harbor-v1.8.0"
    assert prof.path == str(default_profile())
    assert len(prof.data["sysctl"]) == 27
    assert prof.data["sysctl"]["kernel.sem"] == {
        "op": "ge",
        "value": [250, 32000, 100, 128],
        "note": "semmsl semmns semopm semmni, each a minimum",
    }
    assert prof.data["docker"]["min_version"] == "17.06.0"
    assert prof.data["compose"]["min_version"] == "1.18.0"
    assert prof.data["ports"]["default"] == [80, 443, 4443]
    assert prof.data["nodes"] == []


def test_schema_error_names_file_line_and_key(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "p.yaml",
        """\
        apiVersion: harborkit/v1
        kind: Profile
        name: site
        sysctl:
          fs.file-max: {op: ge, value: 6815744}
          vm.swappiness: {op: greater, value: 10}
        """,
    )
    with pytest.raises(InputError) as e:
        load_profile(p)
    assert str(e.value).startswith(f"{p}:6: sysctl.vm.swappiness.op: 'greater' is not one of")


def test_unknown_key_is_reported_with_its_line(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "p.yaml",
        """\
        apiVersion: harborkit/v1
        kind: Profile
        name: site
        hardware:
          cpu: {min: 2, prefered: 4}
        """,
    )
    with pytest.raises(InputError) as e:
        load_profile(p)
    assert str(e.value) == (
        f"{p}:5: hardware.cpu: Additional properties are not allowed ('prefered' was unexpected)"
    )


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "apiVersion: harborkit/v1\nkind: [Profile\nname: x\n")
    with pytest.raises(InputError) as e:
        load_profile(p)
    assert str(e.value).startswith(f"{p}:3:5: invalid YAML:")


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.yaml: no such file$"):
        load_profile(tmp_path / "nope.yaml")


def test_nodes_from_command_line() -> None:
    prof = with_nodes(load_profile(), ["server58=192.168.3.58", "server59=192.168.3.59"])
    assert prof.data["nodes"] == [
        {"name": "server58", "address": "192.168.3.58"},
        {"name": "server59", "address": "192.168.3.59"},
    ]
    with pytest.raises(InputError, match=r"^--node 'server58': expected NAME=ADDRESS"):
        with_nodes(prof, ["server58"])


def test_waivers_file(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "w.yaml",
        """\
        waivers:
          - id: sysctl.runtime
            reason: platform team owns kernel tuning
            expires: 2027-03-31
          - id: firewall.ufw
            reason: ufw is managed centrally
        """,
    )
    ws = load_waivers(p)
    assert [(w.id, str(w.expires), w.location) for w in ws] == [
        ("sysctl.runtime", "2027-03-31", f"{p}:2"),
        ("firewall.ufw", "None", f"{p}:5"),
    ]


def test_waiver_without_reason_is_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "w.yaml", "waivers:\n  - id: x\n    expires: 2027-01-01\n")
    with pytest.raises(InputError) as e:
        load_waivers(p)
    assert str(e.value) == f"{p}:2: waivers[0]: 'reason' is a required property"


def test_json_error_position_names_curly_quotes() -> None:
    import json

    text = "{\n  \u201cinsecure-registries\u201d: []\n}\n"
    with pytest.raises(json.JSONDecodeError) as e:
        json.loads(text)
    assert json_error_position(text, e.value) == (
        "2:3: Expecting property name enclosed in double quotes "
        "(typographic quote '\u201c' U+201C; JSON needs a plain \")"
    )


def test_positions_of_nested_keys() -> None:
    doc = parse_yaml("a:\n  b:\n    - x\n    - y: 1\n", "f.yaml")
    assert doc.line_of(("a", "b", 1, "y")) == 4
    assert doc.line_of(("a", "b", 0)) == 3
    assert doc.where(("a", "zzz")) == "f.yaml:1"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(".nan", "nan"), (".NaN", "nan"), (".inf", "inf"), ("-.inf", "-inf"), ("+.Inf", "inf")],
)
@pytest.mark.parametrize(
    ("where", "key", "line"),
    [
        ("time:\n  max_offset_seconds: {v}\n", "time.max_offset_seconds", 5),
        ("hardware:\n  cpu: {{min: {v}}}\n", "hardware.cpu.min", 5),
        (
            "hardware:\n  memory_gib:\n    min: 4\n    preferred: {v}\n",
            "hardware.memory_gib.preferred",
            7,
        ),
    ],
)
def test_nan_and_inf_fail_the_profile_schema(
    tmp_path: Path, value: str, shown: str, where: str, key: str, line: int
) -> None:
    head = "apiVersion: harborkit/v1\nkind: Profile\nname: t\n"
    p = write(tmp_path, "p.yaml", head + where.format(v=value))
    with pytest.raises(InputError) as e:
        load_profile(p)
    assert e.value.message == f"{p}:{line}: {key}: {shown} is not a finite number"


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_profile_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    import os

    if kind == "fifo":
        p = tmp_path / "p.yaml"
        os.mkfifo(p)  # nobody writes: opening it must not hang
    else:
        p = Path("/dev/zero")
    with pytest.raises(InputError) as e:
        load_profile(p)
    assert e.value.message == f"{p}: not a regular file, not a profile"
