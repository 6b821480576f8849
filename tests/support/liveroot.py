"""A live host whose state the test builds: a private mount and pid namespace.

Live checks (time daemons running or enabled, systemd as init or not, free
space under /data) must not judge whatever this machine happens to have. A
:class:`LiveRoot` runs a command as a *live* host inside ``unshare --mount
--pid``: a fresh root where every top-level folder of this machine is a
copy-on-write overlay (so the test can add and delete files without touching
the machine), the host name and network are private (loopback only), ``/run`` and ``/tmp`` are empty, ``/proc`` shows only the
processes the test started, and ``/data`` exists only if the test mounts it.
The new root itself is a 300 GiB tmpfs, so free space there is known too.
Everything vanishes with the namespace. Needs root (as the private dockerd does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.cli import MAIN, PRELUDE, REPO, merge_hits

#: top-level folders bound as they are (kernel file systems)
_BIND = ("dev", "sys")
#: top-level folders that start empty
_FRESH = ("run", "tmp", "proc", "data")

_SCRIPT = r"""
set -eu
W=$1; R=$W/root
mkdir -p "$R"
mount -t tmpfs -o mode=0755,size=300g hk-root "$R"
for e in /*; do
  n=${e#/}
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$R/$n"; continue; fi
  [ -d "$e" ] || continue
  case " $FRESH " in *" $n "*) continue;; esac
  mkdir "$R/$n"
  case " $BIND " in
    *" $n "*) mount --rbind "$e" "$R/$n";;
    *) mkdir -p "$W/up/$n" "$W/wk/$n"
       mount -t overlay "hk-$n" -o "lowerdir=$e,upperdir=$W/up/$n,workdir=$W/wk/$n" "$R/$n";;
  esac
done
mkdir -p "$R/run" "$R/tmp" "$R/proc"
mount -t tmpfs hk-run "$R/run"
mount -t tmpfs hk-tmp "$R/tmp"
mount -t proc proc "$R/proc"
if [ -n "$HOSTNAME_SET" ]; then echo "$HOSTNAME_SET" > /proc/sys/kernel/hostname; fi
ip link set lo up 2>/dev/null || true
for t in $TMPFS; do mount -t tmpfs hk-tmpfs "$R$t"; done
if [ -n "$DATA_SIZE" ]; then mkdir -p "$R/data"; mount -t tmpfs -o "size=$DATA_SIZE" hk-data "$R/data"; fi
while IFS= read -r p; do [ -z "$p" ] || rm -rf "$R$p"; done < "$W/remove"
cp -a "$W/files/." "$R/"
mkdir -p "$R/hk-out"; mount --bind "$W/out" "$R/hk-out"
# the checkout and the interpreter, where they lie under a folder that starts empty
while IFS= read -r k; do [ -z "$k" ] || { mkdir -p "$R$k"; mount --rbind "$k" "$R$k"; }; done < "$W/keep"
while IFS= read -r d; do [ -z "$d" ] || chroot "$R" $d >/dev/null 2>&1 & done < "$W/daemons"
shift
exec chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LC_ALL=C.UTF-8 NO_COLOR=1 HOME=/root MUTANT_UNDER_TEST="$MUTANT" HK_MUTMUT_HITS=/hk-out/hits "$@"
"""


def _kept_paths() -> list[str]:
    """The checkout and the interpreter's folders that lie under a folder the live
    root starts empty (a clone under ``/tmp``): bound in as they are, so that
    harborkit runs there from wherever the checkout is."""
    wanted = {REPO, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    out = []
    for path in sorted({Path(os.path.realpath(p)) for p in wanted}):
        parts = path.parts
        if len(parts) > 1 and parts[1] in _FRESH and "\n" not in str(path):
            out.append(str(path))
    return out


@dataclass
class LiveRoot:
    """The state of the private live host.

    ``files``: path -> text (``None`` text: an empty folder). ``remove``:
    paths hidden from this machine (files or folders). ``symlinks``: path ->
    target. ``daemons``: paths of stand-in daemon binaries (a copy of
    ``sleep``) started before the command, so the process list shows them by
    name. ``data_size``: mount an empty tmpfs of that size (``100g``) at /data;
    ``None``: no /data at all. ``tmpfs``: existing folders hidden under an
    empty tmpfs (``/sys/fs``, so that the test decides what SELinux says).
    ``hostname``: the host's name (a private UTS namespace). The network is a
    private namespace too: only loopback, no listeners but the test's.
    """

    files: dict[str, str | None] = field(default_factory=dict)
    remove: Sequence[str] = ()
    symlinks: dict[str, str] = field(default_factory=dict)
    daemons: Sequence[str] = ()
    data_size: str | None = None
    tmpfs: Sequence[str] = ()
    hostname: str = "harbor01"

    def run(self, argv: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` (an absolute program path) in the private live host."""
        if os.geteuid() != 0:
            raise AssertionError("a private live root needs root (unshare, mount)")
        work = Path(tempfile.mkdtemp(prefix="hk-live-", dir="/tmp"))
        try:
            files = work / "files"
            files.mkdir()
            (work / "out").mkdir()
            for path, text in self.files.items():
                p = files / path.lstrip("/")
                if text is None:
                    p.mkdir(parents=True, exist_ok=True)
                    continue
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text)
            for path, target in self.symlinks.items():
                p = files / path.lstrip("/")
                p.parent.mkdir(parents=True, exist_ok=True)
                p.symlink_to(target)
            sleep = shutil.which("sleep") or "/bin/sleep"
            for d in self.daemons:
                p = files / d.lstrip("/")
                p.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(sleep, p)
            (work / "remove").write_text("".join(f"{p}\n" for p in self.remove))
            (work / "daemons").write_text("".join(f"{d} 600\n" for d in self.daemons))
            (work / "keep").write_text("".join(f"{k}\n" for k in _kept_paths()))
            env = {
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "FRESH": " ".join(_FRESH),
                "BIND": " ".join(_BIND),
                "DATA_SIZE": self.data_size or "",
                "TMPFS": " ".join(self.tmpfs),
                "HOSTNAME_SET": self.hostname,
                # a mutation run marks the mutant under test in the environment
                "MUTANT": os.environ.get("MUTANT_UNDER_TEST", ""),
            }
            r = subprocess.run(
                ["unshare", "--mount", "--pid", "--uts", "--net", "--fork", "--propagation", "private", "sh", "-c",
                 _SCRIPT, "liveroot", str(work), *argv],
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
            )  # fmt: skip
            merge_hits(work / "out" / "hits")
            return r
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def harborkit(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``harborkit ARGS`` (this interpreter, this checkout) in the live host."""
        return self.run([sys.executable, "-c", PRELUDE + MAIN, *args])
