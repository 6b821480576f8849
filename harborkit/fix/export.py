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

import shlex

from harborkit.errors import ExitCode, HarborkitError
from harborkit.model.change import Command, FileChange, Plan


class ExportError(HarborkitError):
    """The plan holds something the chosen format cannot carry exactly (exit 12)."""

    exit_code = ExitCode.FIX_REFUSED


# -- shared -----------------------------------------------------------------


def ascii_shown(text: str) -> str:
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


def plain_path(path: str) -> str:
    """``path`` when it is absolute with no empty, ``.`` or ``..`` part (a plan
    holds no other; one that does is refused rather than written out)."""
    parts = path.split("/")
    if parts[0] != "" or any(p in ("", ".", "..") for p in parts[1:]) or "\x00" in path:
        raise ExportError(
            f"{ascii_shown(path)}: not a plain absolute path; the plan is not exported"
        )
    return path


def folders_on_the_way(paths: list[str]) -> list[str]:
    """Every folder on the way to each path, and the path: none may be a link in a sysroot."""
    out: dict[str, None] = {}
    for path in paths:
        parts = path.split("/")
        for n in range(2, len(parts) + 1):
            out.setdefault("/".join(parts[:n]), None)
    return list(out)


def split_path(path: str) -> tuple[str, str]:
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
    return f"printf '%s\\n' {shlex.quote(ascii_shown(text))}"


def render_sh(plan: Plan, *, host: str, profile: str, plan_id: str) -> str:
    out = [
        _SH_HEAD.format(
            host=ascii_shown(host), profile=ascii_shown(profile), plan_id=ascii_shown(plan_id)
        )
    ]
    file_checks: set[str] = set()
    for i, f in enumerate(plan.files):
        plain_path(f.path)
        file_checks.update(f.check_ids)
        copy = f'"$hk_tmp/{i}"'
        out.append(f"\n# {ascii_shown(', '.join(f.check_ids))}: {ascii_shown(f.reason)}\n")
        out.append(f"# {ascii_shown(f.path)}: {len(f.new)} bytes, sha256 {f.new_sha256}\n")
        if f.new:
            out.append("{\n")
            out.extend(_printf_lines(f.new))
            out.append(f"}} > {copy}\n")
        else:
            out.append(f": > {copy}\n")
        folder, name = split_path(f.path)
        args = (
            f"'{printf_format(_path_bytes(folder))}'",
            f"'{printf_format(_path_bytes(name))}'",
            shlex.quote(f"{f.mode:04o}"),
            shlex.quote(f.new_sha256),
            shlex.quote(f.old_sha256 or "-"),
            "1" if f.owned else "0",
            shlex.quote(ascii_shown(" ".join(f.check_ids))),
            copy,
            shlex.quote(ascii_shown(f.path)),
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
        checks = " ".join(shlex.quote(ascii_shown(i)) for i in c.check_ids)
        cond = f"hk_touched {checks} && {cond}"
    return "".join(f"    {s}" for s in setup) + (
        f"    if {cond}; then {' '.join(words)}; "
        f"else {_sh_say('not run: ' + c.shell)}; fi  # {ascii_shown(c.reason)}\n"
    )


__all__ = ["ExportError", "FileChange", "printf_format", "render_sh"]
