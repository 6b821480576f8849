"""The POSIX-sh programs ``fix --host`` runs on a host over SSH: the applier,
the rollback and the journal listing. Nothing is installed on the host; it
needs ``sh`` (dash, bash --posix or BusyBox), ``sha256sum``, ``stat``, ``cp``,
``mv``, ``mkdir`` and ``cut``.

Everything from the host is data: file names and contents travel as printf
formats made by :func:`~harborkit.fix.export.printf_format` (printable ASCII,
no quote), other words are quoted with :func:`shlex.quote`. The programs print
their outcome on stdout as ``HK WORD ...`` lines, which :func:`outcome` reads;
what the commands of a plan print goes to stderr.

The journal of a fix on the host, ``/var/lib/harborkit/fix/<id>/`` (0700):

- ``state``: ``applying`` from before the first write until the last one,
  then ``applied``; ``rolled-back`` once restored. A journal left
  ``applying`` (the connection dropped, the applier killed) makes the next
  apply refuse, and ``--rollback`` completes it;
- ``manifest``: one line per file the fix changes, complete before the first
  write: ``N EXISTED SHA256 MODE UID GID PATH`` (PATH a printf format with no
  space; ``0 - - - -`` for a file the fix creates);
- ``orig.N``: the original bytes of file N;
- ``dirs``: each folder the apply made on the way to a file (a printf format
  per line, written before the folder is made); the rollback removes the
  empty ones, deepest first, and names those it keeps;
- ``plan``, ``created``, ``checks``: for ``--list``.

One fix at a time per host: the applier and the rollback hold
``/var/lib/harborkit/fix/.applier.lock``, a symbolic link made atomically
whose text is ``PID START WHAT SINCE`` (START from ``/proc/PID/stat``, so a
reused pid is not taken for the holder), from before their first check to
their end (released on exit, on HUP, INT, PIPE and TERM). Another program
finding it says ``HK locked ...``, or ``HK stale ...`` when that process is
gone; only :func:`render_break_lock` removes a stale one.
"""

from __future__ import annotations

import shlex

from harborkit.fix.export import (
    _PRINTF_CHUNK,
    ExportError,
    _sh_say,
    _sh_word,
    ascii_shown,
    plain_path,
    printf_format,
)
from harborkit.model.change import Command, Plan

#: the journal folder on every host
JOURNAL = "/var/lib/harborkit/fix"

_LIB = r"""set -u
umask 077
HK_J=/var/lib/harborkit/fix
HK_L="$HK_J/.applier.lock"
hk_sha() { sha256sum < "$1" | cut -d ' ' -f 1; }
hk_str() { hk_s="$(printf "$1"; printf x)"; hk_s="${hk_s%x}"; }
hk_die() { printf 'HK failed %s\n' "$1"; exit 0; }
# hk_start PID: when process PID started (field 22 of its stat), - when unknown
hk_start() {
    hk_t=""
    [ -r "/proc/$1/stat" ] && hk_t=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 20)
    printf '%s' "${hk_t:--}"
}
# hk_alive PID START: that very process still runs (a reused pid is not it)
hk_alive() {
    if [ -d /proc/self ]; then [ -d "/proc/$1" ] && [ "$(hk_start "$1")" = "$2" ]
    else kill -0 "$1" 2>/dev/null; fi
}
# hk_holder: hk_o is what the lock says (PID START WHAT SINCE); false when there is none
hk_holder() {
    hk_o=$(readlink "$HK_L" 2>/dev/null) && return 0
    if [ -e "$HK_L" ] || [ -h "$HK_L" ]; then hk_die "$HK_L is in the way: not a lock harborkit made"; fi
    return 1
}
hk_unlock() {
    if [ "$(readlink "$HK_L" 2>/dev/null)" = "$hk_me" ]; then rm -f "$HK_L"; fi
    case " $hk_made " in *" $HK_J "*)  # made by this program: nothing of it stays
        [ "$(ls -A "$HK_J")" = .lock ] && rm -f "$HK_J/.lock";;
    esac
    for hk_p in $hk_made; do rmdir "$hk_p" 2>/dev/null || break; done
}
# hk_local: where flock(1) is, also the lock a harborkit run on the host takes
# (flock on $HK_J/.lock, which holds its pid), held on descriptor 9 until the end
hk_local() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>>"$HK_J/.lock" || hk_die "$HK_J/.lock: cannot open"
    if ! flock -n 9; then
        hk_o=$(head -c 20 "$HK_J/.lock" 2>/dev/null | tr -cd 0-9)
        printf 'HK local %s\n' "${hk_o:-unknown}"; exit 0
    fi
    : > "$HK_J/.lock"; printf '%s\n' $$ >&9
}
# hk_lock WHAT: this program holds the host's lock until it ends (one symbolic
# link made atomically, naming its pid), or it says who does and stops
hk_made=""
hk_lock() {
    hk_me="$$ $(hk_start $$) $1 $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for hk_try in 1 2 3; do
        if ln -sn "$hk_me" "$HK_L" 2>/dev/null; then
            trap hk_unlock EXIT
            trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM
            hk_local
            return 0
        fi
        hk_holder || continue
        set -f; set -- $hk_o; set +f
        if [ $# -ge 4 ] && hk_alive "$1" "$2"; then printf 'HK locked %s\n' "$hk_o"
        else printf 'HK stale %s\n' "$hk_o"; fi
        exit 0
    done
    hk_die "cannot take the lock $HK_L"
}
"""

_APPLY_LIB = r"""hk_changed=""
hk_todo=""
hk_refuse() { printf 'HK refused %s %s\n' "$1" "$2"; exit 0; }
for hk_p in /var /var/lib /var/lib/harborkit "$HK_J"; do
    [ -d "$hk_p" ] && continue
    # another applier may make it between the test and mkdir: then it is there, not ours
    if mkdir -m 755 "$hk_p" 2>/dev/null; then hk_made="$hk_p $hk_made"
    elif [ ! -d "$hk_p" ]; then hk_die "cannot make the journal folder"; fi
done
chmod 700 "$HK_J" || hk_die "cannot make the journal folder"
"""

#: after the lock is held: an apply cut off earlier stops this one
_APPLY_SCAN = r"""for hk_st in "$HK_J"/*/state; do
    [ -f "$hk_st" ] || continue
    case "$(cat "$hk_st")" in applied|rolled-back) ;; *)
        hk_d="${hk_st%/state}"; printf 'HK unfinished %s\n' "${hk_d##*/}"; exit 0;;
    esac
done
"""

_APPLY_FUNCS = r"""# hk_put FILE MODE NEW_SHA CHECKS COPY SHOWN: FILE atomically replaced by COPY
hk_put() {
    d="${1%/*}"; [ -n "$d" ] || d=/
    t="$d/.harborkit-fix.$$"
    rm -f "$t"
    if [ -f "$1" ]; then
        { cp -p "$1" "$t" && cat "$5" > "$t"; } || hk_die "$6: cannot write"
    else
        { cat "$5" > "$t" && chmod "$2" "$t"; } || hk_die "$6: cannot write"
    fi
    [ "$(hk_sha "$t")" = "$3" ] || { rm -f "$t"; hk_die "$6: the written copy is damaged"; }
    mv -f "$t" "$1" || hk_die "$6: cannot rename"
    rm -f "$5"
    printf 'HK changed %s\n' "$6"
    hk_changed="$hk_changed $4"
}
hk_touched() {
    for c in "$@"; do
        case " $hk_changed " in *" $c "*) return 0;; esac
    done
    return 1
}
hk_systemd() { [ -d /run/systemd/system ]; }
"""


def _fmt(path: str) -> str:
    """``path`` as a printf format with no space (one manifest field)."""
    data = plain_path(path).encode("utf-8", "surrogateescape")
    return printf_format(data).replace(" ", "\\040")


def _content(data: bytes, dest: str) -> list[str]:
    if not data:
        return [f": > {dest}\n"]
    out = ["{\n"]
    for line in data.splitlines(keepends=True):
        for i in range(0, len(line), _PRINTF_CHUNK):
            out.append(f"printf '{printf_format(line[i : i + _PRINTF_CHUNK])}'\n")
    return [*out, f"}} > {dest} || hk_die 'cannot write the journal'\n"]


def _checks(ids: tuple[str, ...]) -> str:
    return shlex.quote(ascii_shown(" ".join(ids)))


def _preflight(plan: Plan) -> list[str]:
    """Every file still as planned (or already fixed): else refuse, changing nothing."""
    out = []
    for i, f in enumerate(plan.files):
        p = _fmt(f.path)
        out.append(f"hk_str '{p}'; f{i}=$hk_s\n")
        out.append(
            f'if [ -h "$f{i}" ] || [ -d "$f{i}" ]; then hk_refuse \'{p}\' not-a-file\n'
            f'elif [ -f "$f{i}" ] && [ "$(hk_sha "$f{i}")" = {f.new_sha256} ]; then :\n'
        )
        if not f.owned and f.old_sha256 is None:
            out.append(f"elif [ -e \"$f{i}\" ]; then hk_refuse '{p}' exists\n")
        elif not f.owned:
            out.append(
                f'elif [ ! -f "$f{i}" ] || [ "$(hk_sha "$f{i}")" != {f.old_sha256} ]; then '
                f"hk_refuse '{p}' changed\n"
            )
        out.append(f'else hk_todo="$hk_todo {i}"; fi\n')
    return out


def _docker_guard(plan: Plan, restart_docker: bool) -> str:
    if restart_docker or not any(c.restarts_docker for c in plan.commands):
        return ""
    return (
        "if hk_systemd && command -v docker >/dev/null 2>&1 "
        '&& [ -n "$(docker ps -q 2>/dev/null)" ]; then '
        "printf 'HK docker\\n'; exit 0; fi\n"
    )


def _command(n: int, c: Command, file_checks: set[str]) -> str:
    """Run ``c`` (only when its files changed, if it has files; ``systemctl``
    only under systemd); one that ran is recorded in the journal's ``commands``
    with what rollback cannot undo."""
    setup: list[str] = []
    words = [_sh_word(a, setup, f"hk_a{n}_{k}") for k, a in enumerate(c.argv)]
    cond = "hk_systemd" if c.argv[0] == "systemctl" else f"command -v {words[0]} >/dev/null 2>&1"
    if set(c.check_ids) & file_checks:
        checks = " ".join(shlex.quote(ascii_shown(i)) for i in c.check_ids)
        cond = f"hk_touched {checks} && {cond}"
    said = c.shell + (f" ({c.irreversible})" if c.irreversible else "")
    record = f"printf '%s\\n' {shlex.quote(ascii_shown(said))} >> \"$D/commands\""
    return "".join(setup) + (
        f"if {cond}; then {record}; {' '.join(words)} 9>&-; else {_sh_say('not run: ' + c.shell)}; fi\n"
    )


def _folders(path: str) -> list[str]:
    """Make the missing folders on the way to ``path`` (0755, as ``mkdir -p``
    as root would), each recorded in the journal's ``dirs`` before it is made:
    the rollback removes them when empty."""
    parts = plain_path(path).split("/")[1:-1]
    out = []
    for n in range(1, len(parts) + 1):
        p = _fmt("/" + "/".join(parts[:n]))
        out.append(
            f"  hk_str '{p}'; [ -d \"$hk_s\" ] || {{ printf '%s\\n' '{p}' >> \"$D/dirs\" "
            f"&& mkdir -m 755 \"$hk_s\"; }} || hk_die '{p}: cannot make this folder'\n"
        )
    return out


def render_applier(
    plan: Plan, *, journal_id: str, plan_id: str, created: str, restart_docker: bool = False
) -> str:
    """The applier of ``plan``: refuses (changing nothing) unless every file
    holds the planned bytes; journals the originals; writes each file
    atomically keeping mode and owner; runs a command only when its files
    changed (one that restarts docker while containers run only when allowed)."""
    if not journal_id.replace("-", "").isalnum():
        raise ExportError(f"{ascii_shown(journal_id)}: not a journal id")
    out = [_LIB, _APPLY_LIB, f"hk_lock {shlex.quote(plan_id)}\n", _APPLY_SCAN, _APPLY_FUNCS]
    out += [*_preflight(plan), _docker_guard(plan, restart_docker)]
    if not plan.commands:
        out.append("[ -n \"$hk_todo\" ] || { printf 'HK nothing\\n'; exit 0; }\n")
    out.append(
        f'D="$HK_J"/{shlex.quote(journal_id)}\n'
        'mkdir -m 700 "$D" || hk_die "cannot make the journal"\n'
        'printf applying > "$D/state"\n'
        f"printf '%s\\n' {shlex.quote(plan_id)} > \"$D/plan\"\n"
        f"printf '%s\\n' {shlex.quote(created)} > \"$D/created\"\n"
        f"printf '%s\\n' {_checks(plan.check_ids)} > \"$D/checks\"\n"
        ': > "$D/manifest.tmp"\n'
    )
    for i, f in enumerate(plan.files):  # the originals and the manifest first
        p = _fmt(f.path)
        out.append(
            f'case " $hk_todo " in *" {i} "*)\n'
            f'  if [ -f "$f{i}" ]; then cp "$f{i}" "$D/orig.{i}" || hk_die copy\n'
            f'    printf \'%s 1 %s %s %s\\n\' {i} "$(hk_sha "$D/orig.{i}")" '
            f'"$(stat -c \'%a %u %g\' "$f{i}")" \'{p}\' >> "$D/manifest.tmp"\n'
            f"  else printf '%s 0 - - - - %s\\n' {i} '{p}' >> \"$D/manifest.tmp\"; fi;;\n"
            "esac\n"
        )
    out.append('mv -f "$D/manifest.tmp" "$D/manifest" || hk_die manifest\n')
    for i, f in enumerate(plan.files):
        out.append(f'case " $hk_todo " in *" {i} "*)\n')
        out.extend(_folders(f.path))
        out.extend(_content(f.new, f'"$D/new.{i}"'))
        out.append(
            f'  hk_put "$f{i}" {f.mode:04o} {f.new_sha256} {_checks(f.check_ids)} '
            f"\"$D/new.{i}\" '{_fmt(f.path)}';;\nesac\n"
        )
    out.append('printf applied > "$D/state"\n')
    if plan.commands:
        file_checks = {c for f in plan.files for c in f.check_ids}
        out.append("{\n")
        out.extend(_command(n, c, file_checks) for n, c in enumerate(plan.commands))
        out.append("} >&2\n")
    out.append(f"printf 'HK applied %s\\n' {shlex.quote(journal_id)}\n")
    return "".join(out)


def render_rollback(journal_id: str | None) -> str:
    """Restore the files of journal ``journal_id`` (default: the newest not
    rolled back) byte for byte with their mode and owner; remove the files
    the fix created. Completes an apply that was cut off."""
    pick = (
        f'D="$HK_J"/{shlex.quote(journal_id)}\n'
        "[ -f \"$D/state\" ] || { printf 'HK nojournal\\n'; exit 0; }\n"
        if journal_id is not None
        else 'D=""\nfor hk_d in "$HK_J"/*/; do [ -f "$hk_d/state" ] || continue\n'
        '  [ "$(cat "$hk_d/state")" = rolled-back ] || D="${hk_d%/}"; done\n'
        "[ -n \"$D\" ] || { printf 'HK nojournal\\n'; exit 0; }\n"
    )
    return (
        _LIB
        + "[ -d \"$HK_J\" ] || { printf 'HK nojournal\\n'; exit 0; }\nhk_lock rollback\n"
        + pick
        + r"""hk_id="${D##*/}"
[ "$(cat "$D/state")" = rolled-back ] && { printf 'HK already %s\n' "$hk_id"; exit 0; }
[ -f "$D/manifest" ] || mv -f "$D/manifest.tmp" "$D/manifest" 2>/dev/null || : > "$D/manifest"
while read -r n ex sha mode uid gid p; do
    hk_str "$p"; f="$hk_s"
    # copies an applier or rollback killed mid-write left (the lock keeps others away)
    rm -f "${f%/*}"/.harborkit-fix.* "${f%/*}"/.harborkit-rb.*
    if [ "$ex" = 1 ]; then
        t="${f%/*}/.harborkit-rb.$$"; rm -f "$t"
        { cp "$D/orig.$n" "$t" && chown "$uid:$gid" "$t" && chmod "$mode" "$t"; } || hk_die "$p"
        [ "$(hk_sha "$t")" = "$sha" ] || { rm -f "$t"; hk_die "$p: the saved copy is damaged"; }
        mv -f "$t" "$f" || hk_die "$p"
        printf 'HK restored %s\n' "$p"
    elif [ "$ex" = 0 ]; then
        rm -f "$f" || hk_die "$p"
        printf 'HK removed %s\n' "$p"
    fi
done < "$D/manifest"
if [ -f "$D/dirs" ]; then  # the folders the fix made, deepest first
    LC_ALL=C sort -r "$D/dirs" > "$D/dirs.rb" || hk_die "$D/dirs: cannot read"
    while read -r p; do
        hk_str "$p"
        if [ -d "$hk_s" ] && [ ! -h "$hk_s" ]; then
            if rmdir "$hk_s" 2>/dev/null; then printf 'HK rmdir %s\n' "$p"
            else printf 'HK keptdir %s\n' "$p"; fi
        fi
    done < "$D/dirs.rb"
    rm -f "$D/dirs.rb"
fi
if [ -f "$D/commands" ]; then
    while read -r c; do printf 'HK cannotundo %s\n' "$c"; done < "$D/commands"
fi
printf rolled-back > "$D/state"
printf 'HK rolledback %s\n' "$hk_id"
"""
    )


LIST = (
    _LIB
    + r"""for hk_d in "$HK_J"/*/; do
    [ -f "$hk_d/state" ] || continue
    n=0; [ -f "$hk_d/manifest" ] && n=$(wc -l < "$hk_d/manifest")
    printf 'HK journal %s %s %s %s %s\n' "$(basename "$hk_d")" "$(cat "$hk_d/state")" \
        "$(head -n 1 "$hk_d/created" 2>/dev/null)" $n "$(head -n 1 "$hk_d/checks" 2>/dev/null)"
done
if hk_holder; then
    set -f; set -- $hk_o; set +f
    if [ $# -ge 4 ] && hk_alive "$1" "$2"; then printf 'HK locked %s\n' "$hk_o"
    else printf 'HK stale %s\n' "$hk_o"; fi
fi
printf 'HK listed\n'
"""
)


def render_break_lock(pid: int) -> str:
    """Remove the host's lock when it is held by ``pid`` and that process is
    gone (a stale lock, named by the refusal that found it)."""
    return (
        _LIB
        + f"hk_want={int(pid)}\n"
        + r"""hk_holder || { printf 'HK nolock\n'; exit 0; }
set -f; set -- $hk_o; set +f
[ "$1" = "$hk_want" ] || { printf 'HK otherlock %s\n' "$hk_o"; exit 0; }
if [ $# -ge 4 ] && hk_alive "$1" "$2"; then printf 'HK locked %s\n' "$hk_o"; exit 0; fi
[ "$(readlink "$HK_L")" = "$hk_o" ] && rm -f "$HK_L" || hk_die "cannot remove $HK_L"
printf 'HK unlocked %s\n' "$hk_o"
"""
    )


def outcome(data: bytes) -> list[list[str]]:
    """The ``HK WORD ...`` lines a program printed, each split in words."""
    text = data[: 1 << 20].decode("utf-8", "replace")
    return [line.split(" ")[1:] for line in text.splitlines() if line.startswith("HK ")][:10000]
