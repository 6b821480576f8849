"""``harborkit profile show|init|check``: the built-in profile, site profiles, validation."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from harborkit.engine.profile import load_profile
from harborkit.engine.site import Site, check_profile, site_profile
from harborkit.errors import ExitCode, InputError
from tests.support.cli import run_harborkit

REPO = Path(__file__).resolve().parents[2]
BUILTIN = REPO / "checks" / "harbor-v1.8.0.yaml"
GUIDE = (
    "--node", "server58=192.168.3.58", "--node", "server59=192.168.3.59",
    "--ntp-master", "server58", "--harbor", "192.168.3.60:8888",
)  # fmt: skip


def hk(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_harborkit(args, env=dict(os.environ), cwd=cwd, timeout=120)


def builtin_data() -> dict:
    return yaml.safe_load(BUILTIN.read_text())


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# ------------------------------------------------------------------ show


def test_show_prints_the_packaged_profile_exactly() -> None:
    r = hk("profile", "show")
    assert r.returncode == 0, r.stderr
    assert r.stdout == BUILTIN.read_text()
    assert r.stderr == ""


# ------------------------------------------------------------------ init -> check -> check --profile


def test_init_round_trips_through_profile_check_and_check_profile(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    r = hk("profile", "init", *GUIDE, "--air-gapped", "-o", str(site))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    data = yaml.safe_load(site.read_text())
    # the nodes item format: a list of {name, address}
    assert data["nodes"] == [
        {"name": "server58", "address": "192.168.3.58"},
        {"name": "server59", "address": "192.168.3.59"},
    ]
    assert data["time"]["master"] == "server58"
    assert data["time"]["air_gapped"] is True
    assert data["harbor"]["address"] == "192.168.3.60:8888"
    assert data["name"] == "site"
    # everything else is the built-in profile, value for value
    base = builtin_data()
    for key in ("nodes", "name", "description"):
        base.pop(key), data.pop(key)
    base["time"]["master"], base["time"]["air_gapped"] = "server58", True
    base["harbor"]["address"] = "192.168.3.60:8888"
    assert data == base

    r = hk("profile", "check", str(site))
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{site}: valid profile site (2 nodes)\n", "")

    out = tmp_path / "report.json"
    root = REPO / "tests" / "fixtures" / "sysroots" / "centos7-compliant"
    r = hk("check", "--profile", str(site), "--root", str(root), "-f", "json", "-o", str(out))
    assert r.returncode in (0, 1), r.stderr
    report = json.loads(out.read_text())
    assert report["profile"] == {"name": "site", "path": str(site)}
    text = out.read_text()
    assert "server59" in text and "192.168.3.59" in text  # the site's nodes were judged


def test_init_keeps_every_comment_of_the_builtin_profile_and_explains_the_site_keys() -> None:
    text = site_profile(Site(("server58=192.168.3.58",), "server58", "192.168.3.60:8888"))
    comments = [ln.strip() for ln in BUILTIN.read_text().splitlines() if ln.strip().startswith("#")]
    assert comments and all(c in text for c in comments)
    for key in ("name", "nodes", "time.master", "time.air_gapped", "harbor.address"):
        assert f"#   {key} " in text
    marked = [ln.split(":")[0].strip() for ln in text.splitlines() if ln.endswith("  # site")]
    assert marked == ["name", "description", "nodes", "master", "address"]


def test_init_without_site_values_is_the_builtin_profile_renamed() -> None:
    data = yaml.safe_load(site_profile(Site()))
    base = builtin_data()
    assert data.pop("name") == "site" and data.pop("description").startswith("Site profile from")
    base.pop("name"), base.pop("description")
    assert data == base


def test_the_ntp_master_is_a_node_by_name_in_any_case_or_by_address() -> None:
    nodes = ("server58=192.168.3.58", "server59=192.168.3.59")
    for given, kept in [("SERVER59", "server59"), ("192.168.3.59", "192.168.3.59")]:
        assert yaml.safe_load(site_profile(Site(nodes, given)))["time"]["master"] == kept


def test_init_online_turns_air_gapped_off() -> None:
    assert yaml.safe_load(site_profile(Site(air_gapped=False)))["time"]["air_gapped"] is False


@pytest.mark.parametrize(
    ("nodes", "master", "harbor"),
    [
        (("a=fe80::1", "b=2001:db8::2"), "b", "[2001:db8::10]:8888"),
        (("n1=::1",), "::1", "https://harbor.example.test"),
        (("server58=192.168.3.58",), "192.168.3.58", "http://192.168.3.60:8888/"),
    ],
)
def test_init_takes_ipv4_ipv6_and_urls(nodes: tuple[str, ...], master: str, harbor: str) -> None:
    data = yaml.safe_load(site_profile(Site(nodes, master, harbor)))
    assert data["nodes"] == [
        {"name": n.split("=", 1)[0], "address": n.split("=", 1)[1]} for n in nodes
    ]
    assert (data["time"]["master"], data["harbor"]["address"]) == (master, harbor)


@pytest.mark.parametrize("name", ["true", "null", "yes", "1e3", "0x10", "123", "on", "nan"])
def test_names_yaml_would_read_as_other_types_stay_strings(name: str) -> None:
    """Values are emitted by the YAML dumper: a node named ``true`` stays a string."""
    text = site_profile(Site((f"{name}=10.0.0.1",), name, f"{name}:80", name="site"))
    data = yaml.safe_load(text)
    assert data["nodes"] == [{"name": name, "address": "10.0.0.1"}]
    assert data["time"]["master"] == name
    assert data["harbor"]["address"] == f"{name}:80"
    check_profile_of(text)


def check_profile_of(text: str) -> None:
    from harborkit.engine.site import check_profile_text

    check_profile_text(text, "site.yaml")


# ------------------------------------------------------------------ hostile values


@pytest.mark.parametrize(
    ("site", "message"),
    [
        (
            Site(("a\nevil: 1=10.0.0.1",)),
            "--node 'a\\nevil: 1=10.0.0.1': 'a\\nevil: 1' is not a host name",
        ),
        (
            Site(("a=10.0.0.1\nevil: 1",)),
            "--node 'a=10.0.0.1\\nevil: 1': '10.0.0.1\\nevil: 1' is not an IP address "
            "(nodes resolve to addresses, e.g. 192.168.3.58)",
        ),
        (  # an IPv6 scope id takes any text in Python's ipaddress
            Site(("a=fe80::1%x\nevil: 1",)),
            "--node 'a=fe80::1%x\\nevil: 1': 'fe80::1%x\\nevil: 1' is not an IP address "
            "(nodes resolve to addresses, e.g. 192.168.3.58)",
        ),
        (
            Site(("a={x: 1}",)),
            "--node 'a={x: 1}': '{x: 1}' is not an IP address "
            "(nodes resolve to addresses, e.g. 192.168.3.58)",
        ),
        (Site(("a: b=10.0.0.1",)), "--node 'a: b=10.0.0.1': 'a: b' is not a host name"),
        (Site(("a",)), "--node 'a': expected NAME=ADDRESS, e.g. server58=192.168.3.58"),
        (
            Site(("a=10.0.0.1", "A=10.0.0.2")),
            "--node A: the node is given twice",
        ),
        (
            Site(("a=10.0.0.1",), "a\nevil: 1"),
            "--ntp-master 'a\\nevil: 1': not one of the nodes (a)",
        ),
        (Site((), "a\nevil: 1"), "--ntp-master 'a\\nevil: 1': not a host name or IP address"),
        (Site(("a=10.0.0.1",), "b"), "--ntp-master 'b': not one of the nodes (a)"),
        (Site(harbor="h:80\nevil: 1"), "--harbor 'h:80\\nevil: 1': not a Harbor address"),
        (
            Site(harbor="h:99999"),
            "--harbor 'h:99999': not a Harbor address (http[s]://HOST[:PORT] or HOST[:PORT])",
        ),
        (
            Site(harbor="'x': {y: 1}"),
            "--harbor \"'x': {y: 1}\": not a Harbor address (http[s]://HOST[:PORT] or HOST[:PORT])",
        ),
        (Site(name="a\nevil: 1"), "--name 'a\\nevil: 1': letters, digits, '.', '_' and '-' only"),
        (Site(name="x #"), "--name 'x #': letters, digits, '.', '_' and '-' only"),
    ],
)
def test_hostile_values_are_refused_in_one_line(site: Site, message: str) -> None:
    with pytest.raises(InputError) as e:
        site_profile(site)
    assert e.value.message == message


def test_an_injected_node_name_is_refused_by_the_command_and_writes_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "site.yaml"
    r = hk("profile", "init", "--node", "a\nevil: 1=10.0.0.1", "-o", str(out))
    assert one_line_error(r) == (
        "harborkit: error: --node 'a\\nevil: 1=10.0.0.1': 'a\\nevil: 1' is not a host name"
    )
    assert r.stdout == "" and not out.exists() and list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ profile check


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("nodes: []", "nodes:\n  - {name: a, address: 999.1.1.1}"),
            "{f}:18: nodes[0].address: '999.1.1.1' is not an IP address "
            "(nodes resolve to addresses, e.g. 192.168.3.58)",
        ),
        (
            ("nodes: []", "nodes:\n  - {name: a, adress: 10.0.0.1}"),
            "{f}:18: nodes[0]: 'address' is a required property",
        ),
        (
            ("  version: 1.8.0", "  version: 1.8.0\n  address: 'h:99999'"),
            "{f}:103: harbor.address: 'h:99999' is not a Harbor address "
            "(http[s]://HOST[:PORT] or HOST[:PORT])",
        ),
        (
            ("  air_gapped: true", "  air_gapped: maybe"),
            "{f}:32: time.air_gapped: 'maybe' is not of type 'boolean'",
        ),
    ],
)
def test_profile_check_names_file_line_and_key(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = BUILTIN.read_text()
    assert text.count(edit[0] + "\n") == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(edit[0] + "\n", edit[1] + "\n"))
    with pytest.raises(InputError) as e:
        check_profile(bad)
    assert e.value.message == message.format(f=bad)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (  # Python's "$" matches before a trailing newline: /etc/hosts would get two lines
            ("nodes: []", 'nodes:\n  - {name: "server58\\n", address: 192.168.3.58}'),
            "{f}:18: nodes[0].name: 'server58\\n' holds a control character (U+000A)",
        ),
        (
            ('  master: ""', '  master: "server58\\nserver evil.example iburst"'),
            "{f}:29: time.master: 'server58\\nserver evil.example iburst' is not a host name "
            "or IP address",
        ),
        (
            ("  servers: []", '  servers: [ntp1.site, "ntp2 iburst\\nserver evil"]'),
            "{f}:24: time.servers[1]: 'ntp2 iburst\\nserver evil' is not a host name or IP address",
        ),
        (
            ("  servers: []", '  servers: ["# x"]'),
            "{f}:24: time.servers[0]: '# x' is not a host name or IP address",
        ),
    ],
)
def test_names_written_into_config_lines_are_names_only(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    """fix writes node names into /etc/hosts and NTP servers into ntp.conf/chrony.conf."""
    text = BUILTIN.read_text()
    assert text.count(edit[0] + "\n") == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(edit[0] + "\n", edit[1] + "\n"))
    with pytest.raises(InputError) as e:
        load_profile(bad)  # as check --profile and fix --profile read it
    assert e.value.message == message.format(f=bad)


def test_ntp_servers_and_master_may_be_names_or_addresses(tmp_path: Path) -> None:
    text = BUILTIN.read_text().replace(
        "  servers: []", "  servers: [ntp1.site.example, 10.0.0.1, 'fd00::1', ntp_2]"
    )
    ok = tmp_path / "ok.yaml"
    ok.write_text(text.replace('  master: ""', "  master: 'fd00::1'"))
    assert load_profile(ok).data["time"]["servers"][3] == "ntp_2"


def test_profile_check_command_exit_code_and_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BUILTIN.read_text().replace("  mode: disabled", "  mode: off"))
    r = hk("profile", "check", str(bad))
    assert one_line_error(r) == (
        f"harborkit: error: {bad}:43: selinux.mode: False is not one of "
        "['disabled', 'permissive', 'enforcing']"
    )
    r = hk("profile", "check", str(tmp_path / "missing.yaml"))
    assert one_line_error(r) == f"harborkit: error: {tmp_path / 'missing.yaml'}: no such file"


def test_profile_check_lists_every_schema_mistake_in_file_order(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = BUILTIN.read_text().replace("  mode: disabled", "  mode: off")
    text = text.replace("  air_gapped: true", "  air_gapped: maybe")
    bad.write_text(text.replace("  cpu: {min: 2, preferred: 4}", "  cpu: {min: -2}"))
    r = hk("profile", "check", str(bad))
    assert r.returncode == ExitCode.USAGE and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [
        f"harborkit: error: {bad}:32: time.air_gapped: 'maybe' is not of type 'boolean'",
        f"harborkit: error: {bad}:43: selinux.mode: False is not one of "
        "['disabled', 'permissive', 'enforcing']",
        f"harborkit: error: {bad}:108: hardware.cpu.min: -2 is less than the minimum of 0",
    ]


def test_the_builtin_profile_passes_profile_check() -> None:
    assert check_profile(BUILTIN).name == load_profile().name
