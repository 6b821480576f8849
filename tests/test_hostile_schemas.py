"""A string that a schema's ``pattern`` guards takes no control character.

python-jsonschema runs ``pattern`` with Python's ``re.search``, where ``$`` also
matches before a trailing newline: ``"server58\\n"`` passed ``^[a-z0-9-]+$``, and
``^https?://`` or ``^/`` let any control character through after the prefix. The
values these patterns guard are written into files, commands, tar member names,
HTTP paths and reports, so harborkit's one validator (harborkit.yamlfile) refuses a
control character in any of them.

The tests find every place a pattern applies in a sample document of each schema
(a validator whose ``pattern`` always fails, run over the sample) and put ``\\n``,
``\\r`` and NUL in each one: a pattern added to a schema later is covered too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harborkit.bundle.manifest import load_manifest
from harborkit.engine.profile import load_profile
from harborkit.engine.waivers import load_waivers
from harborkit.errors import HarborkitError
from harborkit.resources import default_manifest, default_profile, load_schema
from harborkit.yamlfile import first_schema_error, load_yaml
from tests.support.bundles import bundle_members, crafted_images, file_record, installer_tgz

HERE = Path(__file__).resolve().parent
DIGEST = "sha256:" + "0" * 64
HEAD = "apiVersion: harborkit/v1\nkind: Profile\nname: site\n"
BAD = ("\n", "\r", "\x00", "\x1b", "\x7f")


def _profile() -> Any:
    data = load_yaml(default_profile()).data
    data["nodes"] = [{"name": "server58", "address": "192.168.3.58"}]
    return data


def _manifest() -> Any:
    data = load_yaml(default_manifest()).data
    tool = {"name": "tool", "url": "https://example.invalid/tool", "install_path": "/opt/tool"}
    data["files"] = [
        {**tool, "sha256": "0" * 64, "mode": "0755"},
        {**tool, "sha256_url": "https://example.invalid/tool.sha256", "mode": "755"},
    ]
    return data


def _metadata() -> Any:
    _, meta = bundle_members(crafted_images(), installer_tgz())
    meta["files"] = [file_record("tool", b"#!/bin/sh\n")]
    return meta


SAMPLES = {
    "profile.schema.json": _profile,
    "bundle-manifest.schema.json": _manifest,
    "bundle-metadata.schema.json": _metadata,
    "waivers.schema.json": lambda: {
        "waivers": [{"id": "a.b", "reason": "r", "expires": "2027-01-01"}]
    },
    "bundle-source-manifests.schema.json": lambda: {
        "version": 1,
        "registry": "127.0.0.1:5000",
        "images": [
            {
                "reference": "goharbor/harbor-core:v1.8.0",
                "repository": "goharbor/harbor-core",
                "manifest": {"digest": DIGEST, "media_type": "m"},
                "index": {"digest": DIGEST, "media_type": "i"},
            }
        ],
    },
    "harbor-v1.8.0.schema.json": lambda: yaml.safe_load(
        (HERE / "fixtures/sysroots/debian12/opt/harbor/harbor.yml").read_text()
    ),
}
#: at least these are pattern-guarded in the samples (the finder below finds them)
EXPECTED = {
    "profile.schema.json": {"nodes/0/name"},
    "bundle-manifest.schema.json": {
        "harbor_version",
        "images/0",
        "installer/name",
        "installer/url",
        "files/0/name",
        "files/0/url",
        "files/0/install_path",
        "files/0/mode",
        "files/1/sha256_url",
    },
    "bundle-metadata.schema.json": {
        "created",
        "images/0/image_id",
        "layers/0/digest",
        "installer/name",
        "files/0/install_path",
        "files/0/name",
    },
    "waivers.schema.json": {"waivers/0/id", "waivers/0/expires"},
    "bundle-source-manifests.schema.json": {"images/0/manifest/digest", "images/0/index/digest"},
    "harbor-v1.8.0.schema.json": {"data_volume"},
}


def _flat(errors: Any) -> Iterator[Any]:
    for e in errors:
        yield e
        yield from _flat(e.context or ())


def pattern_sites(schema_name: str, data: Any) -> list[tuple[Any, ...]]:
    """Every place in ``data`` holding a string that a ``pattern`` of the schema judges."""

    def always(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string"):
            yield jsonschema.ValidationError("PATTERN")

    base = jsonschema.Draft202012Validator
    finder = jsonschema.validators.extend(base, {"pattern": always})(load_schema(schema_name))
    sites = {
        tuple(e.absolute_path)
        for e in _flat(finder.iter_errors(data))
        if e.message == "PATTERN" and e.validator == "pattern"
    }
    # (a pattern over property names is judged at the object: tests below put the keys)
    return sorted((k for k in sites if isinstance(_at(data, k), str)), key=str)


def _at(data: Any, key: tuple[Any, ...]) -> Any:
    for k in key:
        data = data[k]
    return data


def _put(data: Any, key: tuple[Any, ...], value: Any) -> Any:
    data = copy.deepcopy(data)
    _at(data, key[:-1])[key[-1]] = value
    return data


@pytest.mark.parametrize("schema_name", sorted(SAMPLES))
def test_samples_are_valid_and_their_guarded_keys_are_found(schema_name: str) -> None:
    data = SAMPLES[schema_name]()
    assert first_schema_error(data, schema_name) is None
    found = {"/".join(map(str, k)) for k in pattern_sites(schema_name, data)}
    assert EXPECTED[schema_name] <= found, EXPECTED[schema_name] - found


@pytest.mark.parametrize("bad", BAD, ids=repr)
@pytest.mark.parametrize("schema_name", sorted(SAMPLES))
def test_every_guarded_key_refuses_a_control_character(schema_name: str, bad: str) -> None:
    data = SAMPLES[schema_name]()
    sites = pattern_sites(schema_name, data)
    assert sites
    for key in sites:
        value = _at(data, key) + bad
        error = first_schema_error(_put(data, key, value), schema_name)
        where = "/".join(map(str, key))
        assert _names(error, where, value), (error, where)
        # at the start and in the middle too
        for value in (bad + _at(data, key), _at(data, key)[:1] + bad + _at(data, key)[1:]):
            error = first_schema_error(_put(data, key, value), schema_name)
            assert _names(error, where, value), (error, where)


def _names(error: tuple[str, str] | None, where: str, value: str) -> bool:
    """The error names the key and the character (or, where the key is one branch of a
    ``oneOf``, names the key holding it as matching no branch)."""
    if error is None:
        return False
    if error[1].endswith("is not valid under any of the given schemas"):
        return error[0] == where or where.startswith(error[0] + "/")
    return error == (where, f"{value!r} holds a control character (U+{ord(_control(value)):04X})")


def _control(value: str) -> str:
    return next(c for c in value if c in BAD)


def test_the_message_names_the_character() -> None:
    data = _put(SAMPLES["waivers.schema.json"](), ("waivers", 0, "expires"), "2027-01-01\n")
    assert first_schema_error(data, "waivers.schema.json") == (
        "waivers/0/expires",
        "'2027-01-01\\n' holds a control character (U+000A)",
    )


# --------------------------------------------------------------------------- the files


@pytest.mark.parametrize("bad", ["\\n", "\\r", "\\0", "\\t"])
def test_profile_file_node_name(tmp_path: Path, bad: str) -> None:
    p = tmp_path / "site.yaml"
    p.write_text(f'{HEAD}nodes:\n  - name: "server58{bad}"\n    address: 192.168.3.58\n')
    with pytest.raises(HarborkitError) as e:
        load_profile(p)
    shown = repr(yaml.safe_load(f'"server58{bad}"'))
    assert e.value.exit_code == 2
    assert e.value.message.startswith(f"{p}:5: nodes[0].name: {shown} ")


@pytest.mark.parametrize("bad", ["\\n", "\\r", "\\0"])
def test_profile_file_sysctl_key(tmp_path: Path, bad: str) -> None:
    p = tmp_path / "site.yaml"
    p.write_text(f'{HEAD}sysctl:\n  "net.ipv4.ip_forward{bad}": {{eq: 1}}\n')
    with pytest.raises(HarborkitError) as e:
        load_profile(p)
    char = yaml.safe_load(f'"{bad}"')
    assert e.value.exit_code == 2
    assert e.value.message == (
        f"{p}:4: sysctl: {'net.ipv4.ip_forward' + char!r} holds a control character "
        f"(U+{ord(char):04X})"
    )


@pytest.mark.parametrize("bad", ["\\n", "\\r", "\\0"])
def test_waivers_file_expires(tmp_path: Path, bad: str) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(f'waivers:\n  - id: a.b\n    reason: r\n    expires: "2027-01-01{bad}"\n')
    with pytest.raises(HarborkitError) as e:
        load_waivers(p)
    char = yaml.safe_load(f'"{bad}"')
    assert (e.value.exit_code, e.value.message) == (
        2,
        f"{p}:4: waivers[0].expires: {'2027-01-01' + char!r} holds a control character "
        f"(U+{ord(char):04X})",
    )


@pytest.mark.parametrize("bad", ["\\n", "\\r", "\\0", "\\e[31m"])
def test_waivers_file_id(tmp_path: Path, bad: str) -> None:
    """A waiver's id is printed in a note when it names no check: a newline in it
    forged a line of the table."""
    p = tmp_path / "w.yaml"
    p.write_text(f'waivers:\n  - id: "sysctl.runtime{bad}FORGED"\n    reason: r\n')
    with pytest.raises(HarborkitError) as e:
        load_waivers(p)
    value = yaml.safe_load(f'"sysctl.runtime{bad}FORGED"')
    assert (e.value.exit_code, e.value.message) == (
        2,
        f"{p}:2: waivers[0].id: {value!r} holds a control character (U+{ord(_control(value)):04X})",
    )


def test_waivers_file_id_with_a_space_is_no_check_id(tmp_path: Path) -> None:
    p = tmp_path / "w.yaml"
    p.write_text('waivers:\n  - id: "sysctl runtime"\n    reason: r\n')
    with pytest.raises(HarborkitError) as e:
        load_waivers(p)
    assert (e.value.exit_code, e.value.message) == (
        2,
        f"{p}:2: waivers[0].id: 'sysctl runtime' does not match '^[^\\\\x00-\\\\x20\\\\x7f]+$'",
    )


@pytest.mark.parametrize("bad", ["\\n", "\\r", "\\0"])
@pytest.mark.parametrize("key", ["name", "install_path", "url"])
def test_manifest_file_entries(tmp_path: Path, bad: str, key: str) -> None:
    data = _manifest()
    value = data["files"][1][key]
    lines = yaml.safe_dump(data, sort_keys=False).splitlines()
    line = max(i for i, t in enumerate(lines) if t.endswith(f"{key}: {value}"))
    lines[line] = lines[line].replace(f"{key}: {value}", f'{key}: "{value}{bad}"')
    p = tmp_path / "m.yaml"
    p.write_text("\n".join(lines) + "\n")
    char = yaml.safe_load(f'"{bad}"')
    with pytest.raises(HarborkitError) as e:
        load_manifest(p)
    assert e.value.message == (
        f"{p}:{line + 1}: files[1].{key}: {value + char!r} holds a control character "
        f"(U+{ord(char):04X})"
    )


def test_metadata_member_names_the_key() -> None:
    from harborkit.bundle.format import metadata_from_json

    meta = _metadata()
    meta["files"][0]["install_path"] = "/usr/local/bin/tool\n"
    with pytest.raises(HarborkitError) as e:
        metadata_from_json(json.dumps(meta).encode())
    assert "files/0/install_path" in e.value.message
    assert "holds a control character (U+000A)" in e.value.message
    assert "\n" not in e.value.message
