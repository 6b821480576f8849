"""The plan as an Ansible playbook (see :mod:`harborkit.fix.export` for the rules).

The playbook is YAML data written by a YAML emitter (never a template of
strings), read back and compared before it is returned; every value from the
host is tagged ``!unsafe`` so that Ansible never renders it as Jinja2, and a
file whose bytes are not UTF-8 travels base64-encoded.
"""

from __future__ import annotations

import base64
import shlex
from typing import Any

import yaml

from harborkit.fix.export import (
    ExportError,
    ascii_shown,
    folders_on_the_way,
    plain_path,
    split_path,
)
from harborkit.model.change import Command, FileChange, Plan
from harborkit.textsafe import terminal_line

# -- ansible ----------------------------------------------------------------


class Unsafe(str):
    """A string from the host: emitted as ``!unsafe``, never rendered as Jinja2."""

    __slots__ = ()


class _Block(Unsafe):
    """A file's content: a literal block where the emitter can write one exactly."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # every value written out where it is used

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # list items indented under their key


def _represent_unsafe(dumper: yaml.SafeDumper, data: Unsafe) -> yaml.ScalarNode:
    # never plain, so never read as another type; a name on one line in double
    # quotes; a file's content as a literal block where the emitter can write it
    # exactly, else double quotes (the emitter falls back by itself)
    style = "|" if isinstance(data, _Block) and "\n" in data else '"'
    return dumper.represent_scalar("!unsafe", str(data), style=style)


_Dumper.add_multi_representer(Unsafe, _represent_unsafe)


class _Loader(yaml.SafeLoader):
    pass


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Unsafe:
    assert isinstance(node, yaml.ScalarNode)
    return Unsafe(loader.construct_scalar(node))


_Loader.add_constructor("!unsafe", _construct_unsafe)


def _same(a: Any, b: Any) -> bool:
    """Equal, and tagged ``!unsafe`` in the same places."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, str):
        return isinstance(b, str) and isinstance(a, Unsafe) == isinstance(b, Unsafe) and a == b
    return type(a) is type(b) and a == b


_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


def _b64(data: bytes) -> str:
    # base64 has no character Jinja2 or YAML reads; b64decode gives back
    # the exact bytes (undecodable ones surrogate-escaped, written as they were)
    return "{{ '" + base64.b64encode(data).decode("ascii") + "' | b64decode }}"


def _tagged(text: str, kind: type[Unsafe] = Unsafe) -> Unsafe | str:
    """``text`` tagged ``!unsafe`` where that keeps it a string.

    ansible-core 2.19 types a ``!unsafe`` scalar as if it were written plain,
    quotes or not: ``!unsafe "017"`` is the number 15, ``"yes"`` True, ``""``
    and ``"~"`` null, ``"2001-01-01"`` a date, and ``"*"``, ``"&"``, ``"!"``,
    ``"="``, ``"<<"`` stop the playbook from loading. Such a value is written
    as a quoted YAML string without the tag: none of them holds a character
    Jinja2 reads (checked: anything else travels base64-encoded)."""
    if _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR:
        return kind(text)
    if any(ch in text for ch in "{}%#"):  # pragma: no cover - no YAML type matches these
        return _b64(text.encode("utf-8", "surrogateescape"))
    return text


def _u(text: str) -> Unsafe | str:
    """A value from the host for Ansible: tagged ``!unsafe``; a name that is
    not UTF-8 cannot be a module argument, so it is refused."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ExportError(
            f"{ascii_shown(text)}: not UTF-8 text; an Ansible playbook cannot carry it "
            "(use --format sh or --apply)"
        ) from None
    return _tagged(text)


def _name(text: str) -> Unsafe | str:
    """A task name: shown by ansible-playbook on a terminal, so escapes shown."""
    return _tagged(terminal_line(text))


def _content(new: bytes) -> _Block | Unsafe | str:
    try:
        text = new.decode("utf-8")
    except UnicodeDecodeError:
        return _b64(new)
    return _tagged(text, _Block)


def render_ansible(plan: Plan, *, host: str, profile: str, plan_id: str) -> str:
    """A playbook of ansible.builtin modules; ``--check --diff`` shows the
    changes without making them. Variables: ``hk_root`` (a sysroot),
    ``hk_restart_docker`` (allow a restart while containers run)."""
    play_vars: dict[str, Any] = {"hk_root": "", "hk_restart_docker": False}
    tasks: list[dict[str, Any]] = [
        {
            "name": "is systemd the init",
            "ansible.builtin.stat": {"path": "/run/systemd/system"},
            "register": "hk_systemd",
        }
    ]
    tasks += _way_tasks(plan, play_vars)
    reg_of: dict[str, list[str]] = {}
    for i, f in enumerate(plan.files):
        tasks += _file_tasks(i, f, play_vars)
        for c in f.check_ids:
            reg_of.setdefault(c, []).append(f"hk_file_{i}")
    if any(c.restarts_docker for c in plan.commands):
        tasks += [
            {
                "name": "running containers",
                "ansible.builtin.command": {"argv": ["docker", "ps", "-q"]},
                "register": "hk_containers",
                "changed_when": False,
                "failed_when": False,
                "check_mode": False,
                "when": 'hk_root == "" and hk_systemd.stat.exists',
            },
            {
                "name": "refuse a docker restart while containers run",
                "ansible.builtin.assert": {
                    "that": "hk_restart_docker | bool or (hk_containers.stdout | default('')) == ''",
                    "fail_msg": "the plan restarts docker while containers run; "
                    "set hk_restart_docker=true",
                },
                "when": 'hk_root == "" and hk_systemd.stat.exists',
            },
        ]
    for n, cmd in enumerate(plan.commands):
        tasks += _command_tasks(n, cmd, reg_of)
    for m in plan.manual:
        tasks.append(
            {
                "name": _name("manual step (" + ", ".join(m.check_ids) + ")"),
                "ansible.builtin.debug": {"msg": _name(m.reason)},
            }
        )
    play = [
        {
            "name": "harborkit fix",
            "hosts": "all",
            "gather_facts": False,
            "vars": play_vars,
            "tasks": tasks,
        }
    ]
    return _dump(play, host=host, profile=profile, plan_id=plan_id)


def _way_tasks(plan: Plan, play_vars: dict[str, Any]) -> list[dict[str, Any]]:
    """Refuse, in a sysroot, a symbolic link on the way to a planned file."""
    ways = folders_on_the_way([plain_path(f.path) for f in plan.files])
    if not ways:
        return []
    # for a sysroot, nothing is written through a symbolic link inside it
    play_vars["hk_ways"] = [_u(w) for w in ways]
    return [
        {
            "name": "the folders on the way to the planned files, in hk_root",
            "ansible.builtin.stat": {
                "path": "{{ hk_root }}{{ hk_ways[item] }}",
                "get_checksum": False,
            },
            "loop": f"{{{{ range({len(ways)}) | list }}}}",
            "register": "hk_ways_seen",
            "when": 'hk_root != ""',
        },
        {
            "name": "refuse a symbolic link in hk_root on the way to a planned file",
            "ansible.builtin.assert": {
                "that": [
                    "hk_ways_seen.results | selectattr('stat', 'defined') "
                    "| map(attribute='stat') | selectattr('islnk', 'defined') "
                    "| selectattr('islnk') | list | length == 0"
                ],
                "fail_msg": "a symbolic link in hk_root is on the way to a planned file",
                "quiet": True,
            },
            "when": 'hk_root != ""',
        },
    ]


def _file_tasks(i: int, f: FileChange, play_vars: dict[str, Any]) -> list[dict[str, Any]]:
    """The tasks writing planned file ``i`` (registered as ``hk_file_<i>``)."""
    tasks: list[dict[str, Any]] = []
    checks = ", ".join(f.check_ids)
    var = f"hk_file_{i}"
    folder, _ = split_path(f.path)
    play_vars[f"hk_path_{i}"] = _u(f.path)
    dest = f"{{{{ hk_root }}}}{{{{ hk_path_{i} }}}}"
    if not f.owned:
        same = (
            f"{var}_was.stat.checksum in ['{f.old_sha256}', '{f.new_sha256}']"
            if f.old is not None
            else f"{var}_was.stat.checksum == '{f.new_sha256}'"
        )
        tasks += [
            {
                "name": _name(f"{checks}: {f.path} as planned from"),
                "ansible.builtin.stat": {"path": dest, "checksum_algorithm": "sha256"},
                "register": f"{var}_was",
            },
            {
                "name": _name(
                    f"{checks}: refuse {f.path} where it differs from the planned original"
                ),
                "ansible.builtin.assert": {
                    "that": [f"not {var}_was.stat.exists or {same}"],
                    "fail_msg": _name(f"{f.path} differs from the planned original"),
                    "quiet": True,
                },
            },
        ]
    if f.old is None:
        play_vars[f"hk_dir_{i}"] = _u(folder)
        tasks.append(
            {
                "name": _name(f"{checks}: the folder of {f.path}"),
                "ansible.builtin.file": {
                    "path": f"{{{{ hk_root }}}}{{{{ hk_dir_{i} }}}}",
                    "state": "directory",
                    "mode": "0755",
                },
            }
        )
    copy: dict[str, Any] = {"dest": dest, "content": _content(f.new)}
    if f.old is None:
        copy["mode"] = f"{f.mode:04o}"
    tasks.append(
        {
            "name": _name(f"{checks}: {f.reason}"),
            "ansible.builtin.copy": copy,
            "register": var,
        }
    )
    return tasks


def _command_tasks(n: int, cmd: Command, reg_of: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The tasks of planned command ``n``: run on a live host, once its files changed."""
    tasks: list[dict[str, Any]] = []
    regs = sorted({v for i in cmd.check_ids for v in reg_of.get(i, [])})
    when = ['hk_root == ""']
    if cmd.argv[0] == "systemctl":
        when.append("hk_systemd.stat.exists")
    else:
        tasks.append(
            {
                "name": _name(f"is {cmd.argv[0]} installed"),
                "ansible.builtin.command": _command_args(
                    ["sh", "-c", _u("command -v " + shlex.quote(cmd.argv[0]))]
                ),
                "register": f"hk_has_{n}",
                "changed_when": False,
                "failed_when": False,
                "check_mode": False,
                "when": 'hk_root == ""',
            }
        )
        when.append(f"hk_has_{n}.rc == 0")
    if regs:
        when.append("(" + " or ".join(f"{r} is changed" for r in regs) + ")")
    task: dict[str, Any] = {"name": _name(f"{', '.join(cmd.check_ids)}: {cmd.reason}")}
    task.update(_ansible_command(cmd))
    task["when"] = " and ".join(when)
    tasks.append(task)
    return tasks


def _dump(play: list[dict[str, Any]], *, host: str, profile: str, plan_id: str) -> str:
    """The playbook's text, read back and compared with ``play``."""
    body = yaml.dump(
        play,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=False,  # the playbook is ASCII: no raw control or bidi character
        width=1 << 30,
    )
    back = yaml.load(body, Loader=_Loader)  # our SafeLoader plus !unsafe
    if not _same(play, back):  # pragma: no cover - a PyYAML defect would land here
        raise ExportError("the playbook does not read back as the plan (a YAML emitter defect)")
    head = (
        f"# harborkit fix for {ascii_shown(host)} (profile {ascii_shown(profile)}), plan {ascii_shown(plan_id)}.\n"
        "# Generated from the same plan as 'harborkit fix --apply'. Values from the host\n"
        "# are tagged !unsafe: Ansible never renders them as templates.\n"
    )
    return head + body


def _ansible_command(c: Command) -> dict[str, Any]:
    a = c.argv
    if a[0] == "systemctl" and len(a) == 2 and a[1] == "daemon-reload":
        return {"ansible.builtin.systemd_service": {"daemon_reload": True}}
    if a[0] == "systemctl" and len(a) == 3 and a[1] in ("stop", "restart"):
        state = {"stop": "stopped", "restart": "restarted"}[a[1]]
        return {"ansible.builtin.systemd_service": {"name": _u(a[2]), "state": state}}
    if a[0] == "systemctl" and len(a) == 3 and a[1] in ("enable", "disable"):
        return {"ansible.builtin.systemd_service": {"name": _u(a[2]), "enabled": a[1] == "enable"}}
    return {"ansible.builtin.command": _command_args([_u(x) for x in a])}


def _command_args(argv: list[Any]) -> dict[str, Any]:
    """``ansible.builtin.command`` arguments running ``argv`` as given: the module
    expands ``~`` and ``$VAR`` in each word unless told not to (ansible-core
    2.16+; an older one refuses the task rather than run other words)."""
    args: dict[str, Any] = {"argv": argv}
    if any("$" in str(w) or "~" in str(w) for w in argv):
        args["expand_argument_vars"] = False
    return args
