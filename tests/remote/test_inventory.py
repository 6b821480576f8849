"""Ansible inventories: parsing (INI, YAML, ansible-inventory), --limit, and a
whole inventory audited over SSH with one host down."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harborkit.errors import ExitCode, InputError
from harborkit.host.inventory import select
from harborkit.host.inventory_static import parse_ini, parse_yaml
from harborkit.host.ssh import UNREACHABLE_EXIT, SshTarget
from tests.remote.conftest import Lab, hk, verdicts
from tests.support.sshhost import ADMIN

INI = """\
# the guide's cluster
2001:db8::5
[harbor]
server58 ansible_host=10.0.0.58
server59 ansible_host=10.0.0.59 ansible_port=2222

[workers]
node[01:03].lan ansible_user=ops

[cluster:children]
harbor
workers

[harbor:vars]
ansible_user=root
ansible_become=yes

[all:vars]
ansible_user=admin
"""


def test_ini_inventory_groups_and_vars() -> None:
    inv = parse_ini(INI, "hosts.ini")
    assert list(inv.hosts) == [
        "2001:db8::5",
        "server58",
        "server59",
        "node01.lan",
        "node02.lan",
        "node03.lan",
    ]
    assert inv.groups["ungrouped"] == {"2001:db8::5"}
    assert inv.groups["cluster"] == {
        "server58",
        "server59",
        "node01.lan",
        "node02.lan",
        "node03.lan",
    }
    t = select(inv, "server59")
    assert t == [SshTarget("10.0.0.59", "root", 2222, "server59", True)]
    assert select(inv, "node02.lan")[0].user == "ops"
    assert select(inv, "2001:db8::5")[0].user == "admin"


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("harbor", ["server58", "server59"]),
        ("cluster:!workers", ["server58", "server59"]),
        ("node0*", ["node01.lan", "node02.lan", "node03.lan"]),
        ("cluster,&harbor", ["server58", "server59"]),
        ("~server5[8]", ["server58"]),
        ("!harbor", ["2001:db8::5", "node01.lan", "node02.lan", "node03.lan"]),
    ],
)
def test_limit_patterns(pattern: str, names: list[str]) -> None:
    inv = parse_ini(INI, "hosts.ini")
    assert [t.name for t in select(inv, pattern)] == names


def test_limit_unknown_name() -> None:
    inv = parse_ini(INI, "hosts.ini")
    with pytest.raises(InputError) as e:
        select(inv, "harbor,server99")
    assert e.value.message == "--limit harbor,server99: server99 is no host or group of hosts.ini"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[harbor]\nserver58 ansible_host\n",
            "hosts.ini:2: expected key=value host variable assignment, got 'ansible_host'",
        ),
        ("[harbor\nserver58\n", "hosts.ini:1: bad section header '[harbor'"),
        (
            "[harbor:weird]\n",
            "hosts.ini:1: [harbor:weird]: the section kind must be vars or children",
        ),
        ("[x:vars]\nnovalue\n", "hosts.ini:2: expected key=value in [x:vars], got 'novalue'"),
    ],
)
def test_ini_syntax_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse_ini(text, "hosts.ini")
    assert e.value.message == message


def test_yaml_inventory() -> None:
    text = """\
all:
  vars: {ansible_user: admin}
  children:
    harbor:
      hosts:
        server58: {ansible_host: 10.0.0.58}
        server59:
      vars: {ansible_become: true}
"""
    inv = parse_yaml(text, "hosts.yml")
    assert [t.name for t in select(inv, "harbor")] == ["server58", "server59"]
    assert select(inv, "server58")[0] == SshTarget("10.0.0.58", "admin", None, "server58", True)


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(InputError) as e:
        parse_yaml("all:\n  hosts:\n    server58: {ansible_host: [\n", "hosts.yml")
    assert e.value.message.startswith("hosts.yml:4: ")


def test_cli_inventory_syntax_error(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.ini"
    inv.write_text("[harbor]\nserver58 ansible_host=127.0.0.1\nserver59 oops\n")
    r = hk("check", "--inventory", str(inv))
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.strip() == (
        f"harborkit: error: {inv}:3: expected key=value host variable assignment, got 'oops'"
    )


def test_cli_limit_unknown_host(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.ini"
    inv.write_text("[harbor]\nserver58 ansible_host=127.0.0.1\n")
    r = hk("check", "--inventory", str(inv), "--limit", "server99")
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.strip() == (
        f"harborkit: error: --limit server99: server99 is no host or group of {inv}"
    )


def test_cli_limit_needs_inventory() -> None:
    r = hk("check", "--limit", "server58")
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.strip() == "harborkit: error: --limit needs --inventory"


def write_lab_inventory(lab: Lab, path: Path) -> Path:
    path.write_text(
        "[harbor]\n"
        f"server58 ansible_host={lab.guide.address}\n"
        f"server59 ansible_host={lab.compliant.address}\n"
        "[workers]\n"
        f"harbor01 ansible_host={lab.sudo.address} ansible_user={ADMIN} ansible_become=true\n"
        f"server61 ansible_host={lab.down_address}\n"
    )
    return path


def test_inventory_audit_with_a_host_down(lab: Lab, tmp_path: Path) -> None:
    inv = write_lab_inventory(lab, tmp_path / "hosts.ini")
    r = hk(
        "check",
        "-i",
        str(inv),
        "--install-dir",
        "/opt/harbor",
        "-f",
        "json",
        "--connect-timeout",
        "5",
        config=lab.client.config,
    )
    assert r.returncode == UNREACHABLE_EXIT, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"harborkit: error: server61: connection to {lab.down_address} refused (no sshd listening?)"
    )
    v = verdicts(r.stdout)
    assert v["server61"] == {"host.reachable": "error"}
    assert v["server58"]["limits.pam"] == "fail"
    assert v["server59"]["limits.pam"] == "pass"
    assert v["harbor01"]["sysctl.persisted"] in ("pass", "fail")
    # the cross-node checks ran over the three reachable hosts
    assert v["cluster"]["cluster.hostnames"] == "pass"


def test_inventory_limit_picks_hosts(lab: Lab, tmp_path: Path) -> None:
    inv = write_lab_inventory(lab, tmp_path / "hosts.ini")
    r = hk(
        "check",
        "-i",
        str(inv),
        "--limit",
        "harbor",
        "--only",
        "limits.pam",
        "-f",
        "json",
        config=lab.client.config,
    )
    assert r.returncode == ExitCode.FAILED, r.stderr
    assert set(verdicts(r.stdout)) == {"server58", "server59", "cluster"}


def test_group_vars_through_ansible_inventory(lab: Lab, tmp_path: Path) -> None:
    # host_vars/ is read by ansible-inventory only: without it server58 has no address
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "server58.yml").write_text(f"ansible_host: {lab.guide.address}\n")
    inv = tmp_path / "hosts.ini"
    inv.write_text("[harbor]\nserver58\n")
    r = hk("check", "-i", str(inv), "--only", "limits.pam", "-f", "json", config=lab.client.config)
    assert r.returncode == ExitCode.FAILED, r.stderr
    assert verdicts(r.stdout)["server58"]["limits.pam"] == "fail"


# ---- bounds (issue 18, class 6; the hostile cases through the CLI are in
# test_hostile_inventory.py)
def test_host_ranges_up_to_the_cap() -> None:
    """10,000 hosts is the cap: reached exactly it passes, one more is refused;
    the same hosts listed in several groups count once."""
    inv = parse_ini("[a]\nsrv[00000:09999]\n[b]\nsrv[00000:09999]\n", "hosts.ini")
    assert len(inv.hosts) == 10_000
    assert inv.groups["a"] == inv.groups["b"] == set(inv.hosts)
    with pytest.raises(InputError) as e:
        parse_ini("[a]\nsrv[00000:09999]\nlast\n", "hosts.ini")
    assert e.value.message == "hosts.ini:3: more than 10000 hosts in all"
    with pytest.raises(InputError) as e:
        parse_ini("[a]\nsrv[0:10000]\n", "hosts.ini")
    assert e.value.message == "hosts.ini:2: host range '[0:10000]' expands to more than 10000 hosts"


def test_host_range_steps_and_letters() -> None:
    inv = parse_ini("[a]\nsrv[01:09:4]\nx[a:e:2]y\n", "hosts.ini")
    assert list(inv.hosts) == ["srv01", "srv05", "srv09", "xay", "xcy", "xey"]


def test_yaml_host_ranges_and_order() -> None:
    text = "all:\n  hosts:\n    a[1:2]:\n  children:\n    g:\n      hosts:\n        b:\n    h:\n      hosts:\n        c:\n"
    inv = parse_yaml(text, "hosts.yml")
    assert list(inv.hosts) == ["a1", "a2", "b", "c"]
    assert inv.groups["g"] == {"b"} and inv.groups["all"] == {"a1", "a2", "b", "c"}


def test_group_vars_by_depth_then_name() -> None:
    """Deeper groups win over shallower ones, the host's own vars over all (as Ansible)."""
    text = (
        "[top:children]\nmid\n[mid:children]\nleaf\n[leaf]\nsrv\nother ansible_user=own\n"
        "[top:vars]\nansible_user=top\nansible_port=1\n[mid:vars]\nansible_user=mid\n"
        "[all:vars]\nansible_user=all\nansible_port=2\n"
    )
    inv = parse_ini(text, "hosts.ini")
    assert inv.hosts["srv"] == {"ansible_user": "mid", "ansible_port": 1}
    assert inv.hosts["other"]["ansible_user"] == "own"
    assert inv.where("srv", "ansible_user") == "hosts.ini:12"
    assert inv.groups["top"] == {"srv", "other"}


def test_a_diamond_of_groups_is_not_a_cycle() -> None:
    text = "[a:children]\nb\nc\n[b:children]\nd\n[c:children]\nd\n[d]\nsrv\n"
    inv = parse_ini(text, "hosts.ini")
    assert inv.groups["a"] == {"srv"}


def test_limit_regex_matches_groups_and_hosts() -> None:
    inv = parse_ini(INI, "hosts.ini")
    assert [t.name for t in select(inv, "~^work")] == ["node01.lan", "node02.lan", "node03.lan"]
    assert [t.name for t in select(inv, "~^server5[89]$:!server58")] == ["server59"]


def test_which_reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ansible-inventory on PATH or beside this Python is used; without it (or with
    HARBORKIT_ANSIBLE_INVENTORY=none) the built-in reader is."""
    from harborkit.host import inventory

    monkeypatch.delenv("HARBORKIT_ANSIBLE_INVENTORY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    assert inventory._ansible_inventory() is None
    tool = tmp_path / "ansible-inventory"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert inventory._ansible_inventory() == str(tool)
    monkeypatch.setenv("HARBORKIT_ANSIBLE_INVENTORY", "none")
    assert inventory._ansible_inventory() is None
    monkeypatch.setenv("HARBORKIT_ANSIBLE_INVENTORY", "/opt/ansible/bin/ansible-inventory")
    assert inventory._ansible_inventory() == "/opt/ansible/bin/ansible-inventory"


@pytest.mark.parametrize(
    ("stderr", "rc", "message"),
    [
        ("[WARNING]: Failed to parse inventory with 'ini' plugin: bad \x1b[31m thing\nmore\n", 1,
         "ansible-inventory (ini plugin): bad [31m thing"),
        ("ERROR! boom\n", 1, "ansible-inventory: boom"),
        ("[ERROR]: Completely failed: x\n", 1, "ansible-inventory: Completely failed: x"),
        ("", -9, "ansible-inventory was killed by signal 9 (out of memory?)"),
        ("Traceback\nMemoryError\n", 1, "ansible-inventory failed: ran out of memory (more than 150 MiB)"),
        ("", 3, "ansible-inventory failed: exit status 3"),
    ],
)  # fmt: skip
def test_ansible_inventory_failure_is_one_clean_line(stderr: str, rc: int, message: str) -> None:
    from harborkit.host.inventory_ansible import _ansible_error

    assert _ansible_error(stderr, rc) == message


def test_host_range_with_a_port() -> None:
    """``srv[1:2]:2222`` is two hosts on port 2222 (the range's ':' is no IPv6 address)."""
    inv = parse_ini("[g]\nsrv[1:2]:2222\n2001:db8::5\n", "hosts.ini")
    assert {h: dict(v) for h, v in inv.hosts.items()} == {
        "srv1": {"ansible_port": 2222},
        "srv2": {"ansible_port": 2222},
        "2001:db8::5": {},
    }
    assert select(inv, "srv2")[0].port == 2222
