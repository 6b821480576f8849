"""Profiles and waivers are data: bad files get file:line:key errors.

Profiles and waivers files, exactly: defaults, node addresses with their
line, --node specs, and waivers' dates and errors."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from harborkit.engine.profile import Profile, load_profile, with_nodes
from harborkit.engine.waivers import Waiver, load_waivers
from harborkit.errors import ExitCode, InputError
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


HEAD = "apiVersion: harborkit/v1\nkind: Profile\nname: site\n"


def _write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_select_and_skip_defaults(tmp_path: Path) -> None:
    prof = load_profile(_write(tmp_path, HEAD))
    assert (prof.name, prof.path, prof.select, prof.skip) == (
        "site",
        str(tmp_path / "p.yaml"),
        ("all",),
        (),
    )
    assert prof.doc.path == str(tmp_path / "p.yaml")
    prof = load_profile(_write(tmp_path, HEAD + "select: [kernel, limits]\nskip: [sysctl]\n"))
    assert (prof.select, prof.skip) == (("kernel", "limits"), ("sysctl",))


def test_default_profile_is_loaded_without_a_path() -> None:
    prof = load_profile()
    assert (prof.name, prof.path) == ("harbor-v1.8.0", str(default_profile()))
    assert load_profile(None).data == prof.data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "{p}:1: a profile is a mapping of settings"),
        ("just text\n", "{p}:1: a profile is a mapping of settings"),
        (
            HEAD
            + "nodes:\n  - {name: a, address: 10.0.0.1}\n  - name: b\n    address: b.example\n",
            "{p}:7: nodes[1].address: 'b.example' is not an IP address "
            "(nodes resolve to addresses, e.g. 192.168.3.58)",
        ),
        (
            HEAD + "nodes:\n  - {name: a, address: 10.0.0.300}\n",
            "{p}:5: nodes[0].address: '10.0.0.300' is not an IP address "
            "(nodes resolve to addresses, e.g. 192.168.3.58)",
        ),
    ],
    ids=["list", "scalar", "second-node-name-not-address", "bad-ipv4"],
)
def test_bad_profile_is_one_line_usage_error(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as e:
        load_profile(p)
    assert (e.value.exit_code, e.value.message) == (ExitCode.USAGE, message.format(p=p))


def test_profile_nodes_of_both_families_load(tmp_path: Path) -> None:
    text = HEAD + "nodes:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 'fd00::1'}\n"
    prof = load_profile(_write(tmp_path, text))
    assert prof.data["nodes"] == [
        {"name": "a", "address": "10.0.0.1"},
        {"name": "b", "address": "fd00::1"},
    ]
    assert load_profile(_write(tmp_path, HEAD + "nodes: []\n")).data["nodes"] == []


@pytest.mark.parametrize(
    "spec",
    ["a=10.0.0.1", "A9=10.0.0.1", "node-1.example=fd00::2", "x.y-z9=192.168.3.58"],
)
def test_with_nodes_accepts_host_names(spec: str) -> None:
    name, _, address = spec.partition("=")
    prof = Profile("p", "p.yaml", {"name": "p"}, load_profile().doc)
    extended = with_nodes(prof, [spec])
    assert extended.data == {"name": "p", "nodes": [{"name": name, "address": address}]}
    assert prof.data == {"name": "p"}
    assert (extended.name, extended.path, extended.doc) == ("p", "p.yaml", prof.doc)


@pytest.mark.parametrize("name", ["-a", "a-", ".a", "a.", "a_b", "a b", "n\u00e9", "a/b", "\uff41"])
def test_with_nodes_refuses_what_is_not_a_host_name(name: str) -> None:
    spec = f"{name}=10.0.0.1"
    with pytest.raises(InputError) as e:
        with_nodes(load_profile(), [spec])
    assert e.value.message == f"--node {spec!r}: {name!r} is not a host name"


def test_waiver_expiry_boundary() -> None:
    w = Waiver("a", "r", dt.date(2027, 3, 31), "w:1")
    assert [w.expired(dt.date(2027, 3, d)) for d in (30, 31)] == [False, False]
    assert w.expired(dt.date(2027, 4, 1)) is True
    assert Waiver("a", "r", None, "w:1").expired(dt.date(1, 1, 1)) is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "{p}:1: (top level): ['a'] is not of type 'object'"),
        ("waivers:\n  - 3\n", "{p}:2: waivers[0]: 3 is not of type 'object'"),
        (
            "waivers:\n  - {id: a, reason: r}\n  - {id: b, reason: r, expires: '2027-13-01'}\n",
            "{p}:3: waivers[1].expires: not a YYYY-MM-DD date",
        ),
        (
            "waivers:\n  - {id: a, reason: r, expires: 2027-03-31 10:00:00}\n",
            "{p}:2: waivers[0].expires: '2027-03-31 10:00:00' does not match "
            "'^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'",
        ),
        (
            "waivers:\n  - {id: a, reason: r, expires: 20270331}\n",
            "{p}:2: waivers[0].expires: 20270331 is not of type 'string'",
        ),
    ],
    ids=["top-level-list", "item-not-mapping", "second-item-bad-date", "datetime", "number"],
)
def test_bad_waivers(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, text, "w.yaml")
    with pytest.raises(InputError) as e:
        load_waivers(p)
    assert e.value.message == message.format(p=p)


def test_waivers_path_may_be_a_string(tmp_path: Path) -> None:
    p = _write(tmp_path, "waivers: []\n", "w.yaml")
    assert load_waivers(str(p)) == []


def test_explicit_timestamp_dates_are_read_as_dates(tmp_path: Path) -> None:
    # YAML 1.1 dates are plain strings to harborkit; an explicit !!timestamp is a date
    p = _write(
        tmp_path,
        "waivers:\n"
        "  - {id: a, reason: r, expires: !!timestamp 2027-03-31}\n"
        "  - {id: b, reason: r, expires: '2027-04-01'}\n",
        "w.yaml",
    )
    assert load_waivers(p) == [
        Waiver("a", "r", dt.date(2027, 3, 31), f"{p}:2"),
        Waiver("b", "r", dt.date(2027, 4, 1), f"{p}:3"),
    ]
    p = _write(
        tmp_path, "waivers:\n  - {id: a, reason: r, expires: !!timestamp 2027-03-31 10:00:00}\n"
    )
    with pytest.raises(InputError) as e:
        load_waivers(p)
    assert e.value.message == (
        f"{p}:2: waivers[0].expires: '2027-03-31T10:00:00' does not match "
        "'^[0-9]{4}-[0-9]{2}-[0-9]{2}$'"
    )


def test_waivers_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        load_waivers(tmp_path)
    assert e.value.message == f"{tmp_path}: is a directory, not a waivers file"
    with pytest.raises(InputError) as e:
        load_profile(tmp_path)
    assert e.value.message == f"{tmp_path}: is a directory, not a profile"


def test_with_nodes_on_a_profile_without_nodes_keeps_its_document() -> None:
    base = load_profile()
    prof = Profile("p", "p.yaml", {"name": "p", "select": ["all"]}, base.doc)
    extended = with_nodes(prof, ["a=10.0.0.1", "b=10.0.0.2"])
    assert extended == Profile(
        "p",
        "p.yaml",
        {
            "name": "p",
            "select": ["all"],
            "nodes": [{"name": "a", "address": "10.0.0.1"}, {"name": "b", "address": "10.0.0.2"}],
        },
        base.doc,
    )
    with_existing = Profile(
        "p", "p.yaml", {"nodes": [{"name": "z", "address": "10.0.0.9"}]}, base.doc
    )
    assert with_nodes(with_existing, ["a=10.0.0.1"]).data["nodes"] == [
        {"name": "z", "address": "10.0.0.9"},
        {"name": "a", "address": "10.0.0.1"},
    ]
