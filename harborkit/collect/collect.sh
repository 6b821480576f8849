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
# Snapshot format (version 1): a first line "HKSNAP 1 <collector version>",
# then records "<type> <length> <name>\n<length bytes>\n", then a last line
# "HKSNAP-END <sha256 of every byte before it>". Record types: T path type
# (f file, d directory, o other, n absent, L dangling link), F file content,
# E read error, D directory entries, R/O/X a command's exit code, stdout and
# stderr, W a program's path (empty: not found), P the process table, K a fact.
LC_ALL=C
export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH
HK_VERSION=@HK_VERSION@
umask 077
# options: -o FILE writes the snapshot to FILE (complete or not at all) instead
# of stdout; "clock" reports the clock on stderr first (harborkit over SSH
# compares it with its own)
hk_dest=
while [ $# -gt 0 ]; do
    case "$1" in
    clock) printf 'HKCLOCK %s\n' "$(date +%s.%N 2>/dev/null || date +%s)" >&2 ;;
    -o) hk_dest=$2; shift ;;
    *) echo "harborkit collector: unknown option $1 (use: sh collect.sh [-o FILE])" >&2; exit 2 ;;
    esac
    shift
done

hk_tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/hksnap.XXXXXX" 2>/dev/null) || {
    hk_tmpdir="${TMPDIR:-/tmp}/hksnap.$$"
    mkdir "$hk_tmpdir" || { echo "harborkit collector: cannot create a temporary folder in ${TMPDIR:-/tmp}" >&2; exit 3; }
}
trap 'rm -rf "$hk_tmpdir"' 0
trap 'exit 130' 1 2 15
out="$hk_tmpdir/snap"
t="$hk_tmpdir/t"
e="$hk_tmpdir/e"
printf 'HKSNAP 1 %s\n' "$HK_VERSION" > "$out"

hk_to=
if timeout 5 true 2>/dev/null; then hk_to="timeout 20"; fi

# rec TYPE NAME FILE: append a record whose content is FILE's bytes
rec() {
    n=$(wc -c < "$3")
    n=$((n + 0))
    printf '%s %s %s\n' "$1" "$n" "$2" >> "$out"
    cat "$3" >> "$out"
    printf '\n' >> "$out"
}

# recs TYPE NAME STRING: a record holding STRING (LC_ALL=C: ${#} counts bytes)
recs() {
    printf '%s %s %s\n%s\n' "$1" "${#3}" "$2" "$3" >> "$out"
}

# kind PATH: sets k to the type letter of PATH
kind() {
    if [ -d "$1" ]; then k=d
    elif [ -f "$1" ]; then k=f
    elif [ -e "$1" ]; then k=o
    elif [ -L "$1" ]; then k=L
    else k=n
    fi
}

seen=" "
hk_resolved=" "
# path PATH [nocontent]: its type, and its content when it is a regular file
path() {
    case "$seen" in *" $1 "*) return 0 ;; esac
    seen="$seen$1 "
    kind "$1"
    recs T "$1" "$k"
    if [ "$k" = f ] && [ -z "$2" ]; then
        if cat "$1" > "$t" 2> "$e"; then
            rec F "$1" "$t"
        else
            rec E "$1" "$e"
        fi
    fi
}

listed=" "
# list DIR: its entries, one per line
list() {
    case "$listed" in *" $1 "*) return 0 ;; esac
    listed="$listed$1 "
    path "$1"
    [ -d "$1" ] || return 0
    if [ ! -r "$1" ] || [ ! -x "$1" ]; then
        recs E "$1" "Permission denied"
        return 0
    fi
    : > "$hk_tmpdir/l"
    for x in "$1"/* "$1"/.*; do
        b=${x##*/}
        case "$b" in .|..) continue ;; esac
        if [ -e "$x" ] || [ -L "$x" ]; then printf '%s\n' "$b" >> "$hk_tmpdir/l"; fi
    done
    rec D "$1" "$hk_tmpdir/l"
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
        for m in "$1"/$comp; do
            [ -e "$m" ] || [ -L "$m" ] || continue
            if [ -z "$rest" ]; then path "$m"
            elif [ -d "$m" ]; then
                walk "$m" "$rest"
                comp=${2%%/*}
                rest=${2#*/}
            fi
        done
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
    for m in "$1"/* "$1"/.*; do
        case "${m##*/}" in .|..) continue ;; esac
        [ -f "$m" ] && path "$m"
    done
    return 0
}

# want_cmd 'shell-quoted argv': rc, stdout and stderr
want_cmd() {
    cmd=$1
    eval "set -- $1"
    if ! command -v "$1" > /dev/null 2>&1; then
        : > "$t"
        rec O "$cmd" "$t"
        recs X "$cmd" "$1: command not found"
        recs R "$cmd" 127
        return 0
    fi
    if $hk_to "$@" > "$t" 2> "$e" < /dev/null; then rc=0; else rc=$?; fi
    rec O "$cmd" "$t"
    rec X "$cmd" "$e"
    recs R "$cmd" "$rc"
}

# want_which PROGRAM: the first executable of that name on PATH
want_which() {
    found=
    oldifs=$IFS
    IFS=:
    for d in $PATH; do
        if [ -f "$d/$1" ] && [ -x "$d/$1" ]; then found="$d/$1"; break; fi
    done
    IFS=$oldifs
    recs W "$1" "$found"
}

# the process table: "pid comm" lines
procs_done=
want_procs() {
    [ -n "$procs_done" ] && return 0
    procs_done=1
    : > "$hk_tmpdir/p"
    for d in /proc/[0-9]*; do
        c=
        read -r c 2>/dev/null < "$d/comm" || continue
        printf '%s %s\n' "${d#/proc/}" "$c" >> "$hk_tmpdir/p"
    done
    rec P "-" "$hk_tmpdir/p"
}

# want_proc NAME: exe, cmdline and limits of every process called NAME
want_proc() {
    want_procs
    while read -r pid c; do
        [ "$c" = "$1" ] || continue
        recs K "exe:$pid" "$(readlink "/proc/$pid/exe" 2>/dev/null)"
        path "/proc/$pid/cmdline"
        path "/proc/$pid/limits"
    done < "$hk_tmpdir/p"
}

# want_df PATH: the nearest existing folder and df -Pk of it
want_df() {
    p=$1
    while [ "$p" != / ] && [ ! -e "$p" ]; do
        p=${p%/*}
        [ -z "$p" ] && p=/
    done
    if df -Pk "$p" > "$t" 2> "$e"; then
        printf '%s\n' "$p" > "$e"
        cat "$t" >> "$e"
        rec K "df:$1" "$e"
    else
        rec K "df:$1" "$e"
    fi
}

# want_harbor HARBOR.YML: the file, and for the folders it names (data_volume,
# log location): their type up to the nearest existing parent, whether that is
# writable, and its free space
want_harbor() {
    path "$1"
    [ -f "$1" ] || return 0
    for v in $(sed -n -e 's/^data_volume:[[:space:]]*//p' \
        -e 's/^[[:space:]][[:space:]]*location:[[:space:]]*//p' "$1" 2>/dev/null |
        sed -e 's/[[:space:]]*#.*//' -e "s/[\"']//g"); do
        case "$v" in /*) ;; *) continue ;; esac
        want_df "$v"
        q=$v
        while :; do
            path "$q" 1
            [ -e "$q" ] && break
            q=${q%/*}
            [ -z "$q" ] && q=/
        done
        want_cmd "test -w $q"
    done
    return 0
}

# sockets: which process holds which socket inode
want_sockets() {
    ls -l /proc/[0-9]*/fd 2>/dev/null | grep -e '^/proc/' -e 'socket:' > "$t"
    rec K sockets "$t"
}

recs K started "$(date -u +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)"
recs K epoch "$(date +%s 2>/dev/null)"
recs K clock "$(date +%s.%N 2>/dev/null)"
recs K uid "$(id -u 2>/dev/null)"
recs K user "$(id -un 2>/dev/null)"
recs K nproc "$(nproc 2>/dev/null || grep -c '^processor' /proc/cpuinfo 2>/dev/null)"

while read -r kind arg; do
    case "$kind" in
    f) path "$arg" ;;
    e) path "$arg" 1 ;;
    l) list "$arg" ;;
    m) for dd in $arg; do [ -d "$dd" ] && list "$dd"; done ;;
    g) want_glob "$arg" ;;
    d) want_dir "$arg" ;;
    c) want_cmd "$arg" ;;
    h)
        n=$arg
        [ "$n" = - ] && read -r n < /proc/sys/kernel/hostname
        case "$n" in ''|*[!A-Za-z0-9._-]*) ;; *)
            case "$hk_resolved" in *" $n "*) ;; *)
                hk_resolved="$hk_resolved$n "
                want_cmd "getent ahosts $n" ;;
            esac ;;
        esac
        ;;
    w) want_which "$arg" ;;
    p) want_proc "$arg" ;;
    s) want_df "$arg" ;;
    y) want_harbor "$arg" ;;
    H)
        # every name in the hosts file: the names other nodes are known by
        [ -r /etc/hosts ] || continue
        while read -r a names; do
            case "$a" in ''|\#*) continue ;; esac
            for n in $names; do
                case "$n" in \#*) break ;; localhost*|ip6-*) continue ;; esac
                case "$n" in *[!A-Za-z0-9._-]*) continue ;; esac
                case "$hk_resolved" in *" $n "*) continue ;; esac
                hk_resolved="$hk_resolved$n "
                want_cmd "getent ahosts $n"
            done
        done < /etc/hosts
        ;;
    k) want_sockets ;;
    P) want_procs ;;
    esac
done <<'HK_WANTS_END'
@HK_WANTS@
HK_WANTS_END

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
printf 'HKSNAP-END %s\n' "${sum%% *}" >> "$out"
if [ -n "$hk_dest" ]; then
    cat "$out" > "$hk_dest.part" && mv -f "$hk_dest.part" "$hk_dest" || {
        rm -f "$hk_dest.part"
        echo "harborkit collector: cannot write $hk_dest" >&2
        exit 3
    }
else
    cat "$out" || exit 3
fi
