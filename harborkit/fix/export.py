"""The plan as a standalone POSIX shell script or an Ansible playbook.

Both are rendered from the same :class:`~harborkit.model.change.Plan` that
``--apply`` uses, never from a list of their own. Files harborkit owns (its
drop-ins) are written whole; any other file is replaced only where it still
holds the content the plan was made from (or already holds the new one), so a
script made on one host refuses, file by file, on a host whose file differs.
Commands run only where systemd is the init; a script run twice changes
nothing the second time.

Everything in a plan that came from the host (its name, file names, the bytes
kept in a file, a reason quoting a file) is data, never code:

- the script is printable ASCII only: file contents and names are written by
  ``printf`` from octal escapes (no here-document, so no line of a file can end
  one), other words are quoted with :func:`shlex.quote`, comments and messages
  show every other character escaped; the script checks the sha256 of every
  file it wrote before it puts it in place;
- the playbook is YAML data written by a YAML emitter (never a template of
  strings), read back and compared before it is returned; every value from the
  host is tagged ``!unsafe`` so that Ansible never renders it as Jinja2, and a
  file whose bytes are not UTF-8 travels base64-encoded.
"""

from __future__ import annotations

import base64
import shlex
from typing import Any

import yaml

from harborkit.errors import ExitCode, HarborkitError
from harborkit.model.change import Command, FileChange, Plan
from harborkit.textsafe import terminal_line


class ExportError(HarborkitError):
    """The plan holds something the chosen format cannot carry exactly (exit 12)."""

    exit_code = ExitCode.FIX_REFUSED


# -- shared -----------------------------------------------------------------


def _ascii(text: str) -> str:
    """``text`` with every character but printable ASCII shown as an escape
    (for a comment or a message: one line, nothing a terminal interprets)."""
    out = []
    for ch in text:
        c = ord(ch)
        if 0x20 <= c <= 0x7E:
            out.append(ch)
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif c < 0x100:
            out.append(f"\\x{c:02x}")
        elif c < 0x10000:
            out.append(f"\\u{c:04x}")
        else:
            out.append(f"\\U{c:08x}")
    return "".join(out)


def _path_bytes(path: str) -> bytes:
    # a name read from the host that is not UTF-8 arrives surrogate-escaped
    return path.encode("utf-8", "surrogateescape")


def _plain(path: str) -> str:
    """``path`` when it is absolute with no empty, ``.`` or ``..`` part (a plan
    holds no other; one that does is refused rather than written out)."""
    parts = path.split("/")
    if parts[0] != "" or any(p in ("", ".", "..") for p in parts[1:]) or "\x00" in path:
        raise ExportError(f"{_ascii(path)}: not a plain absolute path; the plan is not exported")
    return path


def _ways(paths: list[str]) -> list[str]:
    """Every folder on the way to each path, and the path: none may be a link in a sysroot."""
    out: dict[str, None] = {}
    for path in paths:
        parts = path.split("/")
        for n in range(2, len(parts) + 1):
            out.setdefault("/".join(parts[:n]), None)
    return list(out)


def _split(path: str) -> tuple[str, str]:
    folder, _, name = path.rpartition("/")
    return folder, name


# -- sh ---------------------------------------------------------------------

_SH_HEAD = r"""#!/bin/sh
# harborkit fix for {host} (profile {profile}), plan {plan_id}.
# Generated from the same plan as 'harborkit fix --apply'. Idempotent: a second
# run changes nothing. HK_ROOT=/path applies it to a sysroot (no commands run);
# HK_RESTART_DOCKER=1 allows a docker restart while containers run.
# File contents and names are written by printf from octal escapes (\ooo); the
# sha256 of every file is checked before it is put in place.
set -eu
HK_ROOT="${{HK_ROOT:-}}"
hk_changed=""
hk_refused=0
hk_tmp="${{TMPDIR:-/tmp}}/harborkit-fix.$$"
(umask 077 && mkdir "$hk_tmp")
trap 'rm -rf "$hk_tmp"' EXIT
trap 'exit 130' HUP INT TERM

hk_sha() {{ sha256sum < "$1" | cut -d ' ' -f 1; }}

# hk_str FORMAT: hk_s is the text printf makes of FORMAT (a trailing newline kept)
hk_str() {{ hk_s="$(printf "$1"; printf x)"; hk_s="${{hk_s%x}}"; }}

# hk_inside PATH: no part of PATH below HK_ROOT is a symbolic link (so nothing
# written for a sysroot lands outside it)
hk_inside() {{
    p="$HK_ROOT"; r="${{1#/}}"
    while [ -n "$r" ]; do
        case "$r" in */*) c="${{r%%/*}}"; r="${{r#*/}}";; *) c="$r"; r="";; esac
        p="$p/$c"
        if [ -h "$p" ]; then return 1; fi
    done
    return 0
}}

# hk_put FOLDER NAME MODE NEW_SHA OLD_SHA|- OWNED CHECKS COPY LABEL
# FOLDER and NAME are printf formats; LABEL is the name for messages
hk_put() {{
    hk_str "$1"; hk_d="$hk_s"; d="$HK_ROOT$hk_s"
    hk_str "$2"; f="$d/$hk_s"; t="$d/.harborkit-fix.$$"  # short: any NAME_MAX name fits
    if [ -n "$HK_ROOT" ] && ! hk_inside "$hk_d/$hk_s"; then
        rm -f "$8"; printf 'refused: %s: a symbolic link in HK_ROOT is on its way\n' "$9" >&2
        hk_refused=1; return 0
    fi
    if [ -d "$f" ]; then
        rm -f "$8"; printf 'refused: %s is a folder here\n' "$9" >&2
        hk_refused=1; return 0
    fi
    if [ -f "$f" ] && [ "$(hk_sha "$f")" = "$4" ]; then
        rm -f "$8"; printf 'unchanged: %s\n' "$9"; return 0
    fi
    if [ "$(hk_sha "$8")" != "$4" ]; then
        rm -f "$8"; printf 'harborkit: error: %s: the script'"'"'s copy is damaged\n' "$9" >&2; exit 1
    fi
    if [ "$6" = 0 ]; then
        if [ "$5" = - ] && {{ [ -e "$f" ] || [ -h "$f" ]; }}; then
            rm -f "$8"; printf 'refused: %s exists here but not on the planned host\n' "$9" >&2
            hk_refused=1; return 0
        fi
        if [ "$5" != - ] && {{ [ ! -f "$f" ] || [ "$(hk_sha "$f")" != "$5" ]; }}; then
            rm -f "$8"; printf 'refused: %s differs from the planned original\n' "$9" >&2
            hk_refused=1; return 0
        fi
    fi
    mkdir -p "$d/"
    rm -f "$t"
    if [ -f "$f" ]; then cp -p "$f" "$t"; cat "$8" > "$t"; else cp "$8" "$t"; chmod "$3" "$t"; fi
    mv -f "$t" "$f"
    rm -f "$8"
    printf 'changed: %s\n' "$9"
    hk_changed="$hk_changed $7"
}}

# hk_touched CHECK...: true when a file of one of the checks changed in this run
hk_touched() {{
    for c in "$@"; do
        case " $hk_changed " in *" $c "*) return 0;; esac
    done
    return 1
}}

hk_systemd() {{ [ -z "$HK_ROOT" ] && [ -d /run/systemd/system ]; }}
"""

#: bytes of a file per printf line, at most (a line of the file ends one too)
_PRINTF_CHUNK = 512


def _fmt_byte(b: int) -> str:
    if b == 0x0A:
        return "\\n"
    if b == 0x09:
        return "\\t"
    if b == 0x5C:
        return "\\\\"
    if b == 0x25:
        return "%%"
    if b == 0x27 or not 0x20 <= b <= 0x7E:
        return f"\\{b:03o}"
    return chr(b)


def printf_format(data: bytes) -> str:
    """A printf FORMAT, printable ASCII with no ``'``, that prints ``data``
    exactly (octal escapes for every byte that is not printable ASCII)."""
    text = "".join(_fmt_byte(b) for b in data)
    if text.startswith("-"):  # never read as an option
        text = "\\055" + text[1:]
    return text


def _printf_lines(data: bytes) -> list[str]:
    """``printf`` commands writing ``data``: one per line of it (long lines in parts)."""
    out = []
    for line in data.splitlines(keepends=True):  # bytes: split at \n, \r and \r\n only
        for i in range(0, len(line), _PRINTF_CHUNK):
            out.append(f"printf '{printf_format(line[i : i + _PRINTF_CHUNK])}'\n")
    return out


def _sh_word(value: str, setup: list[str], var: str) -> str:
    """``value`` as one sh word: quoted when it is printable ASCII, else made
    by printf into ``$var`` (a line added to ``setup``)."""
    if value.isascii() and value.isprintable():
        return shlex.quote(value)
    setup.append(f"hk_str '{printf_format(_path_bytes(value))}'; {var}=$hk_s\n")
    return f'"${var}"'


def _sh_say(text: str) -> str:
    """A printf command printing ``text`` as one line (escapes shown)."""
    return f"printf '%s\\n' {shlex.quote(_ascii(text))}"


def render_sh(plan: Plan, *, host: str, profile: str, plan_id: str) -> str:
    out = [_SH_HEAD.format(host=_ascii(host), profile=_ascii(profile), plan_id=_ascii(plan_id))]
    file_checks: set[str] = set()
    for i, f in enumerate(plan.files):
        _plain(f.path)
        file_checks.update(f.check_ids)
        copy = f'"$hk_tmp/{i}"'
        out.append(f"\n# {_ascii(', '.join(f.check_ids))}: {_ascii(f.reason)}\n")
        out.append(f"# {_ascii(f.path)}: {len(f.new)} bytes, sha256 {f.new_sha256}\n")
        if f.new:
            out.append("{\n")
            out.extend(_printf_lines(f.new))
            out.append(f"}} > {copy}\n")
        else:
            out.append(f": > {copy}\n")
        folder, name = _split(f.path)
        args = (
            f"'{printf_format(_path_bytes(folder))}'",
            f"'{printf_format(_path_bytes(name))}'",
            shlex.quote(f"{f.mode:04o}"),
            shlex.quote(f.new_sha256),
            shlex.quote(f.old_sha256 or "-"),
            "1" if f.owned else "0",
            shlex.quote(_ascii(" ".join(f.check_ids))),
            copy,
            shlex.quote(_ascii(f.path)),
        )
        out.append("hk_put " + " ".join(args) + "\n")
    if plan.commands:
        out.append("\n# commands (only where systemd is the init, never for HK_ROOT)\n")
        out.append('if [ -z "$HK_ROOT" ]; then\n')
        if any(c.restarts_docker for c in plan.commands):
            out.append(
                '    if hk_systemd && [ "${HK_RESTART_DOCKER:-0}" != 1 ] '
                "&& command -v docker >/dev/null 2>&1 "
                '&& [ -n "$(docker ps -q 2>/dev/null)" ]; then\n'
                '        echo "harborkit: error: the plan restarts docker while containers run: '
                'set HK_RESTART_DOCKER=1 to allow it" >&2; exit 12\n    fi\n'
            )
        for n, c in enumerate(plan.commands):
            out.append(_sh_command(n, c, file_checks))
        out.append(
            "else\n"
            "    printf 'not run for HK_ROOT=%s (a sysroot): the commands\\n' \"$HK_ROOT\"\n"
            "fi\n"
        )
    for m in plan.manual:
        said = "manual step (" + ", ".join(m.check_ids) + "): " + m.reason
        out.append(_sh_say(said) + "\n")
    out.append('\n[ "$hk_refused" = 0 ] || exit 1\n')
    text = "".join(out)
    assert all(ch == "\n" or " " <= ch <= "~" for ch in text), "the script is printable ASCII"
    return text


def _sh_command(n: int, c: Command, file_checks: set[str]) -> str:
    setup: list[str] = []
    words = [_sh_word(a, setup, f"hk_a{n}_{k}") for k, a in enumerate(c.argv)]
    needs_systemd = c.argv[0] == "systemctl"
    cond = "hk_systemd" if needs_systemd else f"command -v {words[0]} >/dev/null 2>&1"
    if set(c.check_ids) & file_checks:
        checks = " ".join(shlex.quote(_ascii(i)) for i in c.check_ids)
        cond = f"hk_touched {checks} && {cond}"
    return "".join(f"    {s}" for s in setup) + (
        f"    if {cond}; then {' '.join(words)}; "
        f"else {_sh_say('not run: ' + c.shell)}; fi  # {_ascii(c.reason)}\n"
    )


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
            f"{_ascii(text)}: not UTF-8 text; an Ansible playbook cannot carry it "
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
    ways = _ways([_plain(f.path) for f in plan.files])
    if ways:
        # for a sysroot, nothing is written through a symbolic link inside it
        play_vars["hk_ways"] = [_u(w) for w in ways]
        tasks += [
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
    reg_of: dict[str, list[str]] = {}
    for i, f in enumerate(plan.files):
        checks = ", ".join(f.check_ids)
        var = f"hk_file_{i}"
        folder, _ = _split(f.path)
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
        for c in f.check_ids:
            reg_of.setdefault(c, []).append(var)
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
    body = yaml.dump(
        play,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=False,  # the playbook is ASCII: no raw control or bidi character
        width=1 << 30,
    )
    back = yaml.load(body, Loader=_Loader)  # noqa: S506 - our SafeLoader plus !unsafe
    if not _same(play, back):  # pragma: no cover - a PyYAML defect would land here
        raise ExportError("the playbook does not read back as the plan (a YAML emitter defect)")
    head = (
        f"# harborkit fix for {_ascii(host)} (profile {_ascii(profile)}), plan {_ascii(plan_id)}.\n"
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


__all__ = ["ExportError", "FileChange", "printf_format", "render_ansible", "render_sh"]
