"""The plan as a standalone POSIX shell script or an Ansible playbook.

Both are rendered from the same :class:`~harborkit.fix.plan.Plan` that
``--apply`` uses, never from a list of their own. Files harborkit owns (its
drop-ins) are written whole; any other file is replaced only where it still
holds the content the plan was made from (or already holds the new one), so a
script made on one host refuses, file by file, on a host whose file differs.
Commands run only where systemd is the init; a script run twice changes
nothing the second time.
"""

from __future__ import annotations

import shlex

from harborkit.fix.plan import Command, FileChange, Plan

_EOF = "HARBORKIT_EOF"

_SH_HEAD = r"""#!/bin/sh
# harborkit fix for {host} (profile {profile}), plan {plan_id}.
# Generated from the same plan as 'harborkit fix --apply'. Idempotent: a second
# run changes nothing. HK_ROOT=/path applies it to a sysroot (no commands run);
# HK_RESTART_DOCKER=1 allows a docker restart while containers run.
set -eu
HK_ROOT="${{HK_ROOT:-}}"
hk_changed=""
hk_refused=0

hk_sha() {{ sha256sum "$1" | cut -d ' ' -f 1; }}

# hk_put PATH MODE NEW_SHA OLD_SHA|- OWNED CHECKS TMP
hk_put() {{
    f="$HK_ROOT$1"
    if [ -f "$f" ] && [ "$(hk_sha "$f")" = "$3" ]; then
        rm -f "$7"; echo "unchanged: $1"; return 0
    fi
    if [ "$(hk_sha "$7")" != "$3" ]; then
        rm -f "$7"; echo "harborkit: error: $1: the script's copy is damaged" >&2; exit 1
    fi
    if [ "$5" = 0 ]; then
        if [ "$4" = - ] && [ -e "$f" ]; then
            rm -f "$7"; echo "refused: $1 exists here but not on the planned host" >&2
            hk_refused=1; return 0
        fi
        if [ "$4" != - ] && {{ [ ! -f "$f" ] || [ "$(hk_sha "$f")" != "$4" ]; }}; then
            rm -f "$7"; echo "refused: $1 differs from the planned original" >&2
            hk_refused=1; return 0
        fi
    fi
    mkdir -p "$(dirname "$f")"
    t="$(dirname "$f")/.$(basename "$f").harborkit.$$"
    if [ -f "$f" ]; then cp -p "$f" "$t"; cat "$7" > "$t"; else cp "$7" "$t"; chmod "$2" "$t"; fi
    mv -f "$t" "$f"
    rm -f "$7"
    echo "changed: $1"
    hk_changed="$hk_changed $6"
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


def _tmpfile(i: int) -> str:
    return f'"${{TMPDIR:-/tmp}}/harborkit-fix.$$.{i}"'


def render_sh(plan: Plan, *, host: str, profile: str, plan_id: str) -> str:
    out = [_SH_HEAD.format(host=host, profile=profile, plan_id=plan_id)]
    file_checks: set[str] = set()
    for i, f in enumerate(plan.files):
        text = f.new.decode("utf-8")
        if not text.endswith("\n") or f"\n{_EOF}\n" in f"\n{text}":
            raise ValueError(f"{f.path}: content cannot be written by a here-document")
        file_checks.update(f.check_ids)
        tmp = _tmpfile(i)
        out.append(f"\n# {', '.join(f.check_ids)}: {f.reason}\n")
        out.append(f"cat > {tmp} <<'{_EOF}'\n{text}{_EOF}\n")
        out.append(
            "hk_put "
            + " ".join(
                shlex.quote(a)
                for a in (
                    f.path,
                    f"{f.mode:04o}",
                    f.new_sha256,
                    f.old_sha256 or "-",
                    "1" if f.owned else "0",
                    " ".join(f.check_ids),
                )
            )
            + f" {tmp}\n"
        )
    if plan.commands:
        out.append("\n# commands (only where systemd is the init, never for HK_ROOT)\n")
        out.append('if [ -z "$HK_ROOT" ]; then\n')
        if any(c.restarts_docker for c in plan.commands):
            out.append(
                '    if [ "${HK_RESTART_DOCKER:-0}" != 1 ] && command -v docker >/dev/null 2>&1 '
                '&& [ -n "$(docker ps -q 2>/dev/null)" ]; then\n'
                '        echo "harborkit: error: the plan restarts docker while containers run: '
                'set HK_RESTART_DOCKER=1 to allow it" >&2; exit 12\n    fi\n'
            )
        for c in plan.commands:
            out.append(_sh_command(c, file_checks))
        out.append('else\n    echo "not run for HK_ROOT=$HK_ROOT (a sysroot): the commands"\nfi\n')
    for m in plan.manual:
        said = "manual step (" + ", ".join(m.check_ids) + "): " + m.reason
        out.append(f"echo {shlex.quote(said)}\n")
    out.append('\n[ "$hk_refused" = 0 ] || exit 1\n')
    return "".join(out)


def _sh_command(c: Command, file_checks: set[str]) -> str:
    needs_systemd = c.argv[0] == "systemctl"
    cond = "hk_systemd" if needs_systemd else f"command -v {shlex.quote(c.argv[0])} >/dev/null 2>&1"
    if set(c.check_ids) & file_checks:
        cond = f"hk_touched {' '.join(shlex.quote(i) for i in c.check_ids)} && {cond}"
    return (
        f"    if {cond}; then {c.shell}; "
        f"else echo {shlex.quote('not run: ' + c.shell)}; fi  # {c.reason}\n"
    )


def _yaml_str(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def render_ansible(plan: Plan, *, host: str, profile: str, plan_id: str) -> str:
    """A playbook of ansible.builtin modules; ``--check --diff`` shows the
    changes without making them. Variables: ``hk_root`` (a sysroot),
    ``hk_restart_docker`` (allow a restart while containers run)."""
    lines = [
        f"# harborkit fix for {host} (profile {profile}), plan {plan_id}.",
        "# Generated from the same plan as 'harborkit fix --apply'.",
        "- name: harborkit fix",
        "  hosts: all",
        "  gather_facts: false",
        "  vars:",
        '    hk_root: ""',
        "    hk_restart_docker: false",
        "  tasks:",
        "    - name: is systemd the init",
        "      ansible.builtin.stat:",
        "        path: /run/systemd/system",
        "      register: hk_systemd",
    ]
    reg_of: dict[str, list[str]] = {}
    for i, f in enumerate(plan.files):
        checks = ", ".join(f.check_ids)
        var = f"hk_file_{i}"
        dest = "{{ hk_root }}" + f.path
        if not f.owned:
            lines += [
                f"    - name: {_yaml_str(f'{checks}: {f.path} as planned from')}",
                "      ansible.builtin.stat:",
                f"        path: {_yaml_str(dest)}",
                "        checksum_algorithm: sha256",
                f"      register: {var}_was",
                f"    - name: {_yaml_str(f'{checks}: refuse {f.path} where it differs from the planned original')}",
                "      ansible.builtin.assert:",
                "        that:",
                (
                    f"          - not {var}_was.stat.exists or {var}_was.stat.checksum in "
                    f"[{_yaml_str(f.old_sha256 or '')}, {_yaml_str(f.new_sha256)}]"
                    if f.old is not None
                    else f"          - not {var}_was.stat.exists or {var}_was.stat.checksum == "
                    f"{_yaml_str(f.new_sha256)}"
                ),
                f"        fail_msg: {_yaml_str(f'{f.path} differs from the planned original')}",
                "        quiet: true",
            ]
        if f.old is None:
            parent = "{{ hk_root }}" + f.path.rsplit("/", 1)[0]
            lines += [
                f"    - name: {_yaml_str(f'{checks}: the folder of {f.path}')}",
                "      ansible.builtin.file:",
                f"        path: {_yaml_str(parent)}",
                "        state: directory",
                '        mode: "0755"',
            ]
        lines += [
            f"    - name: {_yaml_str(f'{checks}: {f.reason}')}",
            "      ansible.builtin.copy:",
            f"        dest: {_yaml_str(dest)}",
            f"        content: {_yaml_str(f.new.decode('utf-8'))}",
        ]
        if f.old is None:
            lines.append(f"        mode: {_yaml_str(f'{f.mode:04o}')}")
        lines.append(f"      register: {var}")
        for c in f.check_ids:
            reg_of.setdefault(c, []).append(var)
    if any(c.restarts_docker for c in plan.commands):
        lines += [
            "    - name: running containers",
            "      ansible.builtin.command:",
            "        argv: [docker, ps, -q]",
            "      register: hk_containers",
            "      changed_when: false",
            "      failed_when: false",
            "      check_mode: false",
            '      when: hk_root == "" and hk_systemd.stat.exists',
            "    - name: refuse a docker restart while containers run",
            "      ansible.builtin.assert:",
            "        that: hk_restart_docker | bool or (hk_containers.stdout | default('')) == ''",
            "        fail_msg: the plan restarts docker while containers run; set hk_restart_docker=true",
            '      when: hk_root == "" and hk_systemd.stat.exists',
        ]
    for n, cmd in enumerate(plan.commands):
        regs = sorted({v for i in cmd.check_ids for v in reg_of.get(i, [])})
        when = ['hk_root == ""']
        if cmd.argv[0] == "systemctl":
            when.append("hk_systemd.stat.exists")
        else:
            lines += [
                f"    - name: {_yaml_str(f'is {cmd.argv[0]} installed')}",
                "      ansible.builtin.command:",
                f"        argv: [sh, -c, {_yaml_str('command -v ' + shlex.quote(cmd.argv[0]))}]",
                f"      register: hk_has_{n}",
                "      changed_when: false",
                "      failed_when: false",
                "      check_mode: false",
                '      when: hk_root == ""',
            ]
            when.append(f"hk_has_{n}.rc == 0")
        if regs:
            when.append("(" + " or ".join(f"{r} is changed" for r in regs) + ")")
        name = _yaml_str(f"{', '.join(cmd.check_ids)}: {cmd.reason}")
        lines += [
            f"    - name: {name}",
            *(_ansible_command(cmd)),
            f"      when: {' and '.join(when)}",
        ]
    for m in plan.manual:
        lines += [
            f"    - name: {_yaml_str('manual step (' + ', '.join(m.check_ids) + ')')}",
            "      ansible.builtin.debug:",
            f"        msg: {_yaml_str(m.reason)}",
        ]
    return "\n".join(lines) + "\n"


def _ansible_command(c: Command) -> list[str]:
    a = c.argv
    if a[0] == "systemctl" and len(a) == 2 and a[1] == "daemon-reload":
        return ["      ansible.builtin.systemd_service:", "        daemon_reload: true"]
    if a[0] == "systemctl" and len(a) == 3 and a[1] in ("stop", "restart"):
        state = {"stop": "stopped", "restart": "restarted"}[a[1]]
        return [
            "      ansible.builtin.systemd_service:",
            f"        name: {_yaml_str(a[2])}",
            f"        state: {state}",
        ]
    if a[0] == "systemctl" and len(a) == 3 and a[1] in ("enable", "disable"):
        return [
            "      ansible.builtin.systemd_service:",
            f"        name: {_yaml_str(a[2])}",
            f"        enabled: {'true' if a[1] == 'enable' else 'false'}",
        ]
    return [
        "      ansible.builtin.command:",
        f"        argv: [{', '.join(_yaml_str(x) for x in a)}]",
    ]


__all__ = ["FileChange", "render_ansible", "render_sh"]
