#!/bin/sh
# harborkit collector: gathers in one pass the files and runtime facts that
# harborkit's checks read, and writes one snapshot to stdout.
#
#   sh collect.sh > "$(hostname).hksnap"
#   harborkit check --snapshot "$(hostname).hksnap"
#
# Plain POSIX sh (dash, bash --posix, BusyBox ash, CentOS 7's bash); no Python.
# It only reads: files, /proc, and the commands listed at the end of this file.
#
# Snapshot format (version 2): a first line "HKSNAP 2 <collector version>",
# then records "<type> <name length> <data length>\n<name bytes><data bytes>\n"
# (lengths in bytes: no byte of a name or of the data can end a record), then a
# last line "HKSNAP-END <sha256 of every byte before it>". Record types: T path
# type (f file, d directory, p FIFO, c/b character/block device, s socket,
# o other, n absent, L dangling link), F file content, Z a file larger than the
# limit (not read), E read error, D directory entries (each ended by a NUL
# byte), R/O/X a command's exit code, stdout and stderr, A "<type> <name>": the
# record a batched file of the collector's own holds (a command's output, a
# listing, a /proc copy, a fact: its bytes come with the batch; a Z for it is a
# copy or an output over the limit), I/B a batch: its files (size NUL name NUL
# each) and their bytes, W a program's path (empty: not found), P the process
# table, K a fact.
#
# The work list (at the end) is data, never code: each item is a line
# "<kind> <count>" and <count> argument lines, "p<bytes>" (plain) or
# "o<\NNN octal escapes>" decoded by printf; commands run as argv, never eval.
LC_ALL=C
export LC_ALL
HK_VERSION=@HK_VERSION@
# files larger than this are not read (reported as too large), as harborkit's own
# readers do
HK_MAX=@HK_MAX@
NL='
'
HK_IFS=" 	$NL"
IFS=$HK_IFS
# no pathname expansion of data: globbing is switched on only where it is meant
set -f
# the host's PATH finds the programs asked about (w) and run (c), without its
# empty or relative entries (they name the current folder: an empty PATH made
# ":/usr/local/sbin:..." and a wc there ran); the collector's own tools (wc,
# cat, head, sed, date, sha256sum...) come from the system's folders first
hk_upath=
IFS=:
for d in $PATH; do
    case "$d" in /*) hk_upath="$hk_upath$d:" ;; esac
done
IFS=$HK_IFS
hk_upath="${hk_upath}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
hk_path="/usr/sbin:/usr/bin:/sbin:/bin:$hk_upath"
PATH=$hk_path
export PATH
umask 077
# the time, once: the clock harborkit compares with its own (option "clock"),
# and the facts started, epoch and clock (one date, not four)
hk_now=$(date -u '+%Y-%m-%dT%H:%M:%SZ %s %s.%N' 2>/dev/null)
case "$hk_now" in
*Z\ [0-9]*\ [0-9]*)
    hk_started=${hk_now%% *}
    hk_now=${hk_now#* }
    hk_epoch=${hk_now%% *}
    hk_clock=${hk_now#* }
    ;;
*)
    hk_started=$(date -u +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
    hk_epoch=$(date +%s 2>/dev/null)
    hk_clock=$(date +%s.%N 2>/dev/null)
    ;;
esac
# options: -o FILE writes the snapshot to FILE (complete or not at all) instead
# of stdout; "clock" reports the clock on stderr first (harborkit over SSH
# compares it with its own)
hk_dest=
while [ $# -gt 0 ]; do
    case "$1" in
    clock) printf 'HKCLOCK %s\n' "${hk_clock:-$(date +%s)}" >&2 ;;
    -o) hk_dest=$2; shift ;;
    *) echo "harborkit collector: unknown option $1 (use: sh collect.sh [-o FILE])" >&2; exit 2 ;;
    esac
    shift
done

# (a TMPDIR that is relative or holds a newline is not used: the names of the
# files kept there are listed one a line)
case "${TMPDIR:-/tmp}" in *"$NL"* | [!/]*) hk_tmp=/tmp ;; *) hk_tmp=${TMPDIR:-/tmp} ;; esac
hk_tmpdir=$(mktemp -d "$hk_tmp/hksnap.XXXXXX" 2>/dev/null) || {
    hk_tmpdir="$hk_tmp/hksnap.$$"
    mkdir "$hk_tmpdir" || { echo "harborkit collector: cannot create a temporary folder in $hk_tmp" >&2; exit 3; }
}
trap 'rm -rf "$hk_tmpdir"' 0
trap 'exit 130' 1 2 15
out="$hk_tmpdir/snap"
# set when an append to the snapshot failed (a full file system): a record cut
# short would frame the bytes after it anew, so no snapshot is written then
hk_wfail=
t="$hk_tmpdir/t"
e="$hk_tmpdir/e"
printf 'HKSNAP 2 %s\n' "$HK_VERSION" > "$out"

hk_to=
if timeout 5 true 2>/dev/null; then
    hk_to=$(command -v timeout)
    case "$hk_to" in /*) ;; *) hk_to=timeout ;; esac
fi
# head -c reads no more than the limit (BusyBox and coreutils have it)
hk_head=
printf abc > "$t" 2> /dev/null
if [ "$(head -c 2 -- "$t" 2>/dev/null)" = ab ]; then hk_head=1; fi

# rec TYPE NAME FILE [SIZE]: append a record whose content is FILE's bytes
# (SIZE: FILE's size, when the caller has just counted it: no second wc)
rec() {
    if [ -n "$4" ]; then
        n=$4
    else
        n=$(wc -c < "$3")
        n=$((n + 0))
    fi
    printf '%s %s %s\n%s' "$1" "${#2}" "$n" "$2" >> "$out" 2> /dev/null || hk_wfail=1
    cat -- "$3" >> "$out" 2> /dev/null || hk_wfail=1
    printf '\n' >> "$out" 2> /dev/null || hk_wfail=1
}

# recs TYPE NAME STRING: a record holding STRING (LC_ALL=C: ${#} counts bytes)
recs() {
    printf '%s %s %s\n%s%s\n' "$1" "${#2}" "${#3}" "$2" "$3" >> "$out" 2> /dev/null || hk_wfail=1
}

# recf NAME FILE: FILE holds NAME's content (read with the limit): F, or Z when
# it is larger than the limit (its bytes are not sent)
recf() {
    n=$(wc -c < "$2")
    n=$((n + 0))
    if [ "$n" -gt "$HK_MAX" ]; then recs Z "$1" "$n"; else rec F "$1" "$2" "$n"; fi
}

# kind PATH: sets k to the type letter of PATH
kind() {
    if [ -d "$1" ]; then k=d
    elif [ -f "$1" ]; then k=f
    elif [ -p "$1" ]; then k=p
    elif [ -c "$1" ]; then k=c
    elif [ -b "$1" ]; then k=b
    elif [ -S "$1" ]; then k=s
    elif [ -e "$1" ]; then k=o
    elif [ -L "$1" ]; then k=L
    else k=n
    fi
}

# the sets of paths already handled: "/" then each member followed by "//"
# (a path holding "//" is never taken as a member: it is handled again)
seen=/
hk_dfp=
hk_dirs=/
listed=/
hk_resolved=" "
# the files read at the end in batches: one name a line (a name holding a
# newline is read alone at once), kept in files: a shell variable grown by one
# name at a time is copied whole each time (100,000 names took hours)
hk_files="$hk_tmpdir/files"
hk_sys="$hk_tmpdir/sys"
# the collector's own files (a listing, a copy of a /proc file, a command's
# output, df's answer), each named by an A record: read at the end in batches
# of their own (a host's file that changes while it is read spoils only the
# batch it is in), no wc and cat for each
hk_own="$hk_tmpdir/own"
: > "$hk_files"
: > "$hk_sys"
: > "$hk_own"
hk_n=0
# own FILE TYPE NAME: FILE (one of ours) holds the content of record TYPE NAME
own() {
    recs A "$1" "$2 $3"
    printf '%s\n' "$1" >> "$hk_own"
}
# newtmp: sets o to the name of a new file of ours
newtmp() {
    hk_n=$((hk_n + 1))
    o="$hk_tmpdir/c$hk_n"
}
# a listing or a process table is read with the batch when it is under the
# limit (counted as it is written: LC_ALL=C, ${#} counts bytes), else at once
hk_small=$HK_MAX
# copy FILE: its content now, at most the limit and one byte (files that change
# under us: /proc, /sys; and names the batch index cannot carry)
copy() {
    if [ -n "$hk_head" ]; then
        head -c "$((HK_MAX + 1))" -- "$1" > "$t" 2> "$e"
    else
        cat -- "$1" > "$t" 2> "$e"
    fi
    if [ $? -eq 0 ]; then recf "$1" "$t"; else rec E "$1" "$e"; fi
}

# snap1 FILE: as copy, its bytes read with the collector's own files at the end
# (a copy over the limit is reported as such there: it holds the limit and one)
snap1() {
    newtmp
    if [ -n "$hk_head" ]; then
        head -c "$((HK_MAX + 1))" -- "$1" > "$o" 2> "$e"
    else
        cat -- "$1" > "$o" 2> "$e"
    fi
    if [ $? -eq 0 ]; then own "$o" F "$1"; else rec E "$1" "$e"; fi
}

# path PATH [nocontent]: its type, and its content when it is a regular file.
# Ordinary files are read at the end, in batches of one wc and one cat.
path() {
    case "$1" in
    *//*) ;;
    *)
        handled "$1" && return 0
        seen="$seen$1//"
        ;;
    esac
    entry "$@"
}

# handled PATH: whether PATH was recorded: asked for by name (seen), or a
# regular file of a folder read whole (d: its entries are not added to seen,
# which is searched whole for every path: 100,000 entries took hours)
handled() {
    case "$seen" in *"/$1//"*) return 0 ;; esac
    case "$hk_dirs" in *"/${1%/*}//"*) [ -f "$1" ] && return 0 ;; esac
    return 1
}

# entry PATH [nocontent]: path without adding PATH to seen
entry() {
    kind "$1"
    recs T "$1" "$k"
    [ "$k" = f ] && [ -z "$2" ] || return 0
    case "$1" in
    *"$NL"*) snap1 "$1" ;;
    /proc/sys/*) printf '%s\n' "$1" >> "$hk_sys" ;;
    /proc/* | /sys/*) snap1 "$1" ;;
    *)
        if [ -r "$1" ]; then
            printf '%s\n' "$1" >> "$hk_files"
        else
            recs E "$1" "Permission denied"
        fi
        ;;
    esac
}

# batch FILES...: their sizes (one wc), F/Z records or an index (I: size NUL
# name NUL per file) and the bytes of the files not over the limit (B, one
# cat). A size is taken only from the line of wc's output whose name is
# exactly the file's (the line is read whole: no space trimmed); a file wc
# gives no such line for (unreadable, or a name it shows otherwise) is read
# alone, so no line can lend its size to another file.
batch() {
    [ $# -gt 0 ] || return 0
    wc -c -- "$@" > "$hk_tmpdir/i" 2> /dev/null
    keep=
    keepi=
    total=0
    xn=0
    # (bn, not n: copy and rec set n)
    while IFS= read -r line; do
        line=${line#"${line%%[! ]*}"}
        bn=${line%% *}
        rest=${line#* }
        while [ $# -gt 0 ] && [ "$rest" != "$1" ]; do
            copy "$1"
            shift
        done
        [ $# -gt 0 ] || break
        f=$1
        shift
        case "$bn" in
        '' | *[!0-9]*) copy "$f" ;;
        *)
            if [ "$bn" -gt "$HK_MAX" ]; then
                recs Z "$f" "$bn"
            else
                xn=$((xn + ${#bn} + ${#f} + 2))
                keep="$keep$f$NL"
                keepi="$keepi$bn $f$NL"
                total=$((total + bn))
            fi
            ;;
        esac
    done < "$hk_tmpdir/i"
    for f in "$@"; do copy "$f"; done
    [ -n "$keep" ] || return 0
    IFS=$NL
    set -- $keep
    IFS=$HK_IFS
    # a file that grew since it was counted makes the batch unusable (its files
    # are then missing, never wrong): read no more than the counted bytes and one
    if [ -n "$hk_head" ]; then
        cat -- "$@" 2> /dev/null | head -c "$((total + 1))" > "$t" 2> /dev/null
    else
        cat -- "$@" > "$t" 2> /dev/null
    fi
    # the index (I): "size NUL name NUL" per file, written by the shell itself
    {
        printf 'I 1 %s\n-' "$xn" || hk_wfail=1
        IFS=$NL
        for l in $keepi; do
            printf '%s\0%s\0' "${l%% *}" "${l#* }" || hk_wfail=1
        done
        IFS=$HK_IFS
        printf '\n' || hk_wfail=1
    } >> "$out" 2> /dev/null || hk_wfail=1
    rec B "-" "$t"
}

# batches FILE: the files FILE names (one a line), in batches of 500 (one wc
# and one cat each: an argument list of 100,000 names is too long for exec)
batches() {
    hk_list=$1
    set --
    while IFS= read -r hk_f; do
        set -- "$@" "$hk_f"
        if [ $# -ge 500 ]; then
            batch "$@"
            set --
        fi
    done < "$hk_list"
    batch "$@"
}

# the batched files: sysctl values, then ordinary files and command outputs
read_files() {
    batches "$hk_sys"
    batches "$hk_files"
    batches "$hk_own"
}

# list DIR: its entries, each ended by a NUL byte
list() {
    case "$1" in
    *//*) ;;
    *)
        case "$listed" in *"/$1//"*) return 0 ;; esac
        listed="$listed$1//"
        ;;
    esac
    path "$1"
    [ -d "$1" ] || return 0
    if [ ! -r "$1" ] || [ ! -x "$1" ]; then
        recs E "$1" "Permission denied"
        return 0
    fi
    newtmp
    : > "$o"
    ln=0
    set +f
    for x in "$1"/* "$1"/.*; do
        set -f
        b=${x##*/}
        case "$b" in . | ..) continue ;; esac
        if [ -e "$x" ] || [ -L "$x" ]; then
            printf '%s\0' "$b" >> "$o"
            ln=$((ln + ${#b} + 1))
        fi
    done
    set -f
    # (the length is the bytes the file holds, as for every record)
    if [ "$ln" -le "$hk_small" ]; then own "$o" D "$1"; else rec D "$1" "$o"; fi
}

# walk PREFIX REST: gather what a glob of PREFIX/REST needs
walk() {
    comp=${2%%/*}
    if [ "$comp" = "$2" ]; then rest=; else rest=${2#*/}; fi
    case "$comp" in
    *[*?[]*)
        dir=${1:-/}
        path "$dir"
        [ -d "$dir" ] || return 0
        list "$dir"
        set +f
        IFS=
        for m in "$1"/$comp; do
            set -f
            IFS=$HK_IFS
            [ -e "$m" ] || [ -L "$m" ] || continue
            if [ -z "$rest" ]; then handled "$m" || entry "$m"
            elif [ -d "$m" ]; then
                walk "$m" "$rest"
                comp=${2%%/*}
                rest=${2#*/}
            fi
        done
        set -f
        IFS=$HK_IFS
        ;;
    *)
        if [ -z "$rest" ]; then path "$1/$comp"
        else
            path "$1/$comp"
            [ -d "$1/$comp" ] && walk "$1/$comp" "$rest"
        fi
        ;;
    esac
    return 0
}

# want_glob PATTERN (absolute)
want_glob() {
    walk "" "${1#/}"
}

# want_dir DIR: the folder, its entries and every regular file in it
want_dir() {
    path "$1"
    [ -d "$1" ] || return 0
    list "$1"
    set +f
    for m in "$1"/* "$1"/.*; do
        set -f
        case "${m##*/}" in . | ..) continue ;; esac
        case "$seen" in *"/$m//"*) continue ;; esac
        [ -f "$m" ] && entry "$m"
    done
    set -f
    case "$1" in *//*) ;; *) hk_dirs="$hk_dirs$1//" ;; esac
    return 0
}

# want_cmd KEY ARGV...: rc, stdout and stderr of ARGV (run as it is, no shell
# in between), recorded under KEY (the command line harborkit asks for)
want_cmd() {
    cmd=$1
    shift
    # the program is found on the host's PATH (as w finds it)
    PATH=$hk_upath
    if ! command -v "$1" > /dev/null 2>&1; then
        PATH=$hk_path
        recs O "$cmd" ""
        recs X "$cmd" "$1: command not found"
        recs R "$cmd" 127
        return 0
    fi
    newtmp
    x="$o.x"
    o="$o.o"
    # timeout runs a program; "command" skips this script's functions
    if [ -n "$hk_to" ]; then
        "$hk_to" 20 "$@" > "$o" 2> "$x" < /dev/null
    else
        command "$@" > "$o" 2> "$x" < /dev/null
    fi
    rc=$?
    PATH=$hk_path
    # non-empty outputs are read with the batched files: A names what they are
    if [ -s "$o" ]; then own "$o" O "$cmd"; else recs O "$cmd" ""; fi
    if [ -s "$x" ]; then own "$x" X "$cmd"; else recs X "$cmd" ""; fi
    recs R "$cmd" "$rc"
}

# quote WORD: sets qq to WORD quoted for sh exactly as Python's shlex.quote does
# (the key under which harborkit asks for a command)
quote() {
    case "$1" in
    '') qq="''" ;;
    *[!A-Za-z0-9_@%+=:,./-]*)
        qq=
        r=$1
        while :; do
            case "$r" in
            *\'*)
                qq="$qq${r%%\'*}'\"'\"'"
                r=${r#*\'}
                ;;
            *)
                qq="'$qq$r'"
                break
                ;;
            esac
        done
        ;;
    *) qq=$1 ;;
    esac
}

# want_writable DIR: whether DIR is writable, as "test -w DIR" would say
want_writable() {
    quote "$1"
    if [ -w "$1" ]; then rc=0; else rc=1; fi
    recs O "test -w $qq" ""
    recs X "test -w $qq" ""
    recs R "test -w $qq" "$rc"
}

# want_which PROGRAM: the first executable of that name on PATH
want_which() {
    found=
    IFS=:
    for d in $hk_upath; do
        if [ -f "$d/$1" ] && [ -x "$d/$1" ]; then found="$d/$1"; break; fi
    done
    IFS=$HK_IFS
    recs W "$1" "$found"
}

# the process table: "pid comm" lines
procs_done=
want_procs() {
    [ -n "$procs_done" ] && return 0
    procs_done=1
    : > "$hk_tmpdir/p"
    ln=0
    set +f
    for d in /proc/[0-9]*; do
        set -f
        c=
        IFS= read -r c 2>/dev/null < "$d/comm" || continue
        printf '%s %s\n' "${d#/proc/}" "$c" >> "$hk_tmpdir/p"
        ln=$((ln + ${#d} + ${#c}))
    done
    set -f
    if [ "$ln" -le "$hk_small" ]; then own "$hk_tmpdir/p" P -; else rec P "-" "$hk_tmpdir/p"; fi
}

# want_proc NAME: exe, cmdline and limits of every process called NAME
want_proc() {
    want_procs
    while IFS= read -r hk_p; do
        pid=${hk_p%% *}
        [ "${hk_p#* }" = "$1" ] || continue
        recs K "exe:$pid" "$(readlink "/proc/$pid/exe" 2>/dev/null)"
        path "/proc/$pid/cmdline"
        path "/proc/$pid/limits"
    done < "$hk_tmpdir/p"
}

# want_df PATH: the nearest existing folder, a NUL byte, and df -Pk of it
want_df() {
    case "$1" in /*) ;; *) return 0 ;; esac  # (a relative path has no nearest folder)
    p=$1
    while [ "$p" != / ] && [ ! -e "$p" ]; do
        p=${p%/*}
        [ -z "$p" ] && p=/
    done
    # (several folders often have one nearest folder, /: one df answers them;
    # its output ends with "/" and df's exit status: no newline is lost)
    if [ "$p" != "$hk_dfp" ]; then
        hk_dfv=$(df -Pk -- "$p" 2> "$e"; echo "/$?")
        hk_dfp=$p
        case "${hk_dfv##*/}" in
        0) hk_dfv=${hk_dfv%/*} ;;
        *)
            hk_dfp=
            rec K "df:$1" "$e"
            return 0
            ;;
        esac
    fi
    printf 'K %s %s\n%s%s\0%s\n' "$((${#1} + 3))" "$((${#p} + 1 + ${#hk_dfv}))" "df:$1" "$p" \
        "$hk_dfv" >> "$out" 2> /dev/null || hk_wfail=1
}

# want_harbor HARBOR.YML: the file, and for the folders it names (data_volume,
# log location): their type up to the nearest existing parent, whether that is
# writable, and its free space. The values are data: read line by line, never
# expanded, split or run.
want_harbor() {
    path "$1"
    [ -f "$1" ] || return 0
    # (a file over the limit is not judged: its values are not looked at either)
    n=$(wc -c < "$1" 2> /dev/null)
    [ "$((n + 0))" -le "$HK_MAX" ] || return 0
    sed -n -e 's/^data_volume:[[:space:]]*//p' \
        -e 's/^[[:space:]][[:space:]]*location:[[:space:]]*//p' -- "$1" 2>/dev/null |
        sed -e 's/[[:space:]]*#.*//' -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' \
            -e "s/^'\\(.*\\)'\$/\\1/" > "$hk_tmpdir/y"
    # the first 8 absolute values no longer than a path can be: each costs a df
    # and a walk up to / (100,000 "location:" lines or one of 1,000,000 parts
    # held the collector for hours)
    hk_nv=0
    while read -r v; do
        case "$v" in /*) ;; *) continue ;; esac
        [ "${#v}" -le 4096 ] || continue
        hk_nv=$((hk_nv + 1))
        [ "$hk_nv" -le 8 ] || break
        want_df "$v"
        q=$v
        while :; do
            path "$q" 1
            [ -e "$q" ] && break
            q=${q%/*}
            [ -z "$q" ] && q=/
        done
        want_writable "$q"
    done < "$hk_tmpdir/y"
    return 0
}

# sockets: which process holds which socket inode
want_sockets() {
    set +f
    ls -l /proc/[0-9]*/fd 2>/dev/null | grep -e '^/proc/' -e 'socket:' > "$t"
    set -f
    rec K sockets "$t"
}

# want_host NAME: how the host resolves NAME (a plain host name only): getent
# ahosts NAME, run with the others at the end (hosts_lookup)
want_host() {
    case "$1" in '' | -* | *[!A-Za-z0-9._-]*) return 0 ;; esac
    case "$hk_resolved" in *" $1 "*) return 0 ;; esac
    hk_resolved="$hk_resolved$1 "
}

# hosts_split PREFIX COUNT: splits PREFIX.a, the output of one "getent ahosts"
# given COUNT names that all resolved, into PREFIX.1.o ... PREFIX.COUNT.o, the
# outputs each name's own getent prints: getent prints the canonical name (a
# third field) on the first line of each name's answer only, so each answer
# starts at a line of three fields. False (nothing to take) unless there are
# exactly COUNT answers and the first line starts one.
hosts_split() {
    hk_sp=$1
    hk_sn=$2
    hk_g=0
    while IFS= read -r hk_l; do
        set -- $hk_l
        if [ $# -ge 3 ]; then
            hk_g=$((hk_g + 1))
            [ "$hk_g" -le "$hk_sn" ] || return 1
        elif [ "$hk_g" -eq 0 ]; then
            return 1
        fi
        printf '%s\n' "$hk_l" >> "$hk_sp.$hk_g.o" 2> /dev/null || return 1
    done < "$hk_sp.a"
    [ -z "$hk_l" ] && [ "$hk_g" -eq "$hk_sn" ]
}

# hosts_lookup: "getent ahosts NAME" for every name asked about, recorded as
# want_cmd records it. A fleet asks every host about every other host's name:
# first one getent asks about all of them (one process, not one a name); when
# each name resolved (exit 0, nothing on stderr) and the output splits into
# exactly one answer a name, each name gets its answer. Otherwise (a name that
# does not resolve, an error, a getent that prints otherwise, the deadline)
# the lookups run one by one in one shell under one timeout (one getent each,
# not a timeout and a getent: half the processes); a name whose lookup did not
# end there (the shared deadline passed) is looked up again alone, with its
# own deadline, exactly as before.
hosts_lookup() {
    set -- $hk_resolved
    [ $# -gt 0 ] || return 0
    PATH=$hk_path
    hk_sh=$(command -v sh)
    PATH=$hk_upath
    # (the names are plain: letters, digits, dots, dashes; passed as arguments,
    # never as code)
    hk_many=
    if [ -n "$hk_to" ] && [ $# -gt 1 ] && command -v getent > /dev/null 2>&1; then
        hk_many=1
        newtmp
        hk_hl=$o
        "$hk_to" 10 getent ahosts "$@" > "$hk_hl.a" 2> "$hk_hl.x" < /dev/null
        rc=$?
        # (an answer over the limit is not split line by line: one by one, each
        # answer is held to the limit as any command's output is)
        n=$(wc -c < "$hk_hl.a")
        if [ "$rc" -eq 0 ] && [ ! -s "$hk_hl.x" ] && [ "$((n + 0))" -le "$HK_MAX" ] &&
            hosts_split "$hk_hl" $#; then
            PATH=$hk_path
            i=0
            for n in "$@"; do
                i=$((i + 1))
                cmd="getent ahosts $n"
                own "$hk_hl.$i.o" O "$cmd"
                recs X "$cmd" ""
                recs R "$cmd" 0
            done
            return 0
        fi
    fi
    if [ -n "$hk_many" ] && case "$hk_sh" in /*) true ;; *) false ;; esac; then
        newtmp
        hk_hl=$o
        "$hk_to" 20 "$hk_sh" -c 'd=$1; shift; i=0; for n in "$@"; do i=$((i + 1));
            getent ahosts "$n" > "$d.$i.o" 2> "$d.$i.x" < /dev/null; echo $? > "$d.$i.r"; done' \
            sh "$hk_hl" "$@" > /dev/null 2>&1 < /dev/null
        PATH=$hk_path
        i=0
        for n in "$@"; do
            i=$((i + 1))
            rc=
            [ -s "$hk_hl.$i.r" ] && read -r rc < "$hk_hl.$i.r"
            case "$rc" in
            '' | *[!0-9]*) want_cmd "getent ahosts $n" getent ahosts "$n" ;;
            *)
                cmd="getent ahosts $n"
                if [ -s "$hk_hl.$i.o" ]; then own "$hk_hl.$i.o" O "$cmd"; else recs O "$cmd" ""; fi
                if [ -s "$hk_hl.$i.x" ]; then own "$hk_hl.$i.x" X "$cmd"; else recs X "$cmd" ""; fi
                recs R "$cmd" "$rc"
                ;;
            esac
        done
    else
        PATH=$hk_path
        for n in "$@"; do want_cmd "getent ahosts $n" getent ahosts "$n"; done
    fi
}

recs K started "$hk_started"
recs K epoch "$hk_epoch"
recs K clock "$hk_clock"
# the effective uid (what id -u prints), read by the shell itself from its status
hk_uid=
while read -r hk_k hk_r hk_e hk_rest; do
    case "$hk_k" in Uid:) hk_uid=$hk_e; break ;; esac
done 2> /dev/null < /proc/self/status
case "$hk_uid" in '' | *[!0-9]*) hk_uid=$(id -u 2>/dev/null) ;; esac
recs K uid "$hk_uid"
recs K user "$(id -un 2>/dev/null)"
recs K nproc "$(nproc 2>/dev/null || grep -c '^processor' /proc/cpuinfo 2>/dev/null)"

# the work list: "<kind> <count>", then <count> arguments, each "p" and its
# bytes or "o" and octal escapes that printf decodes (a trailing x keeps a
# trailing newline); the arguments become "$@", never code
while IFS= read -r hk_line; do
    hk_kind=${hk_line%% *}
    hk_c=${hk_line#* }
    case "$hk_c" in '' | *[!0-9]*) continue ;; esac
    set --
    while [ "$hk_c" -gt 0 ] && IFS= read -r hk_a; do
        case "$hk_a" in
        p*) set -- "$@" "${hk_a#p}" ;;
        o*)
            hk_a=$(printf "${hk_a#o}x")
            set -- "$@" "${hk_a%x}"
            ;;
        esac
        hk_c=$((hk_c - 1))
    done
    [ $# -gt 0 ] || continue
    case "$hk_kind" in
    f) path "$1" ;;
    e) path "$1" 1 ;;
    l) list "$1" ;;
    m)
        set +f
        IFS=
        for dd in $1; do
            set -f
            IFS=$HK_IFS
            [ -d "$dd" ] && list "$dd"
        done
        set -f
        IFS=$HK_IFS
        ;;
    g) want_glob "$1" ;;
    d) want_dir "$1" ;;
    c) [ $# -gt 1 ] && want_cmd "$@" ;;
    h)
        n=$1
        [ "$n" = - ] && read -r n < /proc/sys/kernel/hostname
        want_host "$n"
        ;;
    w) want_which "$1" ;;
    p) want_proc "$1" ;;
    s) want_df "$1" ;;
    y) want_harbor "$1" ;;
    H)
        # every name in the hosts file: the names other nodes are known by
        [ -r /etc/hosts ] || continue
        while read -r a names; do
            case "$a" in '' | \#*) continue ;; esac
            for n in $names; do
                case "$n" in \#*) break ;; localhost* | ip6-*) continue ;; esac
                want_host "$n"
            done
        done < /etc/hosts
        ;;
    k) want_sockets ;;
    P) want_procs ;;
    esac
done <<'HK_WANTS_END'
@HK_WANTS@
HK_WANTS_END

hosts_lookup
read_files

# the checksum covers every byte before the last line, the header included
if command -v sha256sum > /dev/null 2>&1; then
    sum=$(sha256sum < "$out") || exit 3
elif command -v openssl > /dev/null 2>&1; then
    sum=$(openssl dgst -sha256 < "$out") || exit 3
    sum=${sum##*= }
else
    echo "harborkit collector: neither sha256sum nor openssl is installed" >&2
    exit 3
fi
printf 'HKSNAP-END %s\n' "${sum%% *}" >> "$out" 2> /dev/null || hk_wfail=1
if [ -n "$hk_wfail" ]; then
    echo "harborkit collector: cannot write the snapshot in $hk_tmpdir (file system full?)" >&2
    exit 3
fi
if [ -n "$hk_dest" ]; then
    # a new file of its own beside FILE (never a file or a link someone left at
    # FILE.part: it was opened as it was, and root wrote through it), renamed
    # over FILE
    if [ -d "$hk_dest" ] || ! hk_part=$(mktemp "$hk_dest.XXXXXX" 2> /dev/null); then
        echo "harborkit collector: cannot write $hk_dest" >&2
        exit 3
    fi
    cat "$out" > "$hk_part" && mv -f "$hk_part" "$hk_dest" || {
        rm -f "$hk_part"
        echo "harborkit collector: cannot write $hk_dest" >&2
        exit 3
    }
else
    cat "$out" || exit 3
fi
