"""``make bench``: run every benchmark in turn and print its figures.

Each entry of :data:`BENCHES` is ``(name, function)``; a function returns a
printable summary. Add new benchmarks (e.g. ``harborkit check``) to the list.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bench_check() -> str:
    """``harborkit --help``, a full ``check`` on this host, judging per snapshot (issue 24)."""
    from bench.check_bench import run

    return "\n".join(f"{label:40} {figure}" for label, figure in run())


def bench_bundle() -> str:
    """The ``harborkit bundle`` build/verify/load comparison."""
    from bench.bundle_bench import report, run_bundle_bench

    return report(run_bundle_bench())


def bench_registry() -> str:
    """Registry build/push (issue 4) against skopeo copy; reuses the bundle bench's layers."""
    from bench.registry_bench import report, run_registry_bench

    return report(run_registry_bench())


def bench_fix() -> str:
    """``harborkit fix`` plan, and apply + re-check, on the guide-as-written sysroot."""
    from bench.fix_bench import run

    return "\n".join(f"{label:42} {figure}" for label, figure in run())


def bench_remote() -> str:
    """check --inventory on 10, 30 and 60 sshd hosts against ansible -m setup (cold), per host."""
    from bench.remote_bench import report, run_remote_bench

    return report(run_remote_bench())


def bench_loadssh() -> str:
    """bundle load --host of a 1.1 GB bundle against tar | ssh docker load (issue 22)."""
    from bench.loadssh_bench import report, run_loadssh_bench

    return report(run_loadssh_bench())


def bench_fixssh() -> str:
    """fix --apply over 30 sshd hosts against ansible-playbook of the same plan (issue 22)."""
    from bench.fixssh_bench import report, run_fixssh_bench

    return report(run_fixssh_bench())


def bench_trust() -> str:
    """Signed + split build against a plain build; verify with and without --key (issue 11)."""
    from bench.trust_bench import report, run_trust_bench

    return report(run_trust_bench())


BENCHES: list[tuple[str, Callable[[], str]]] = [
    ("check", bench_check),
    ("fix", bench_fix),
    ("bundle", bench_bundle),
    ("registry", bench_registry),
    ("remote", bench_remote),
    ("trust", bench_trust),
    ("loadssh", bench_loadssh),
    ("fixssh", bench_fixssh),
]


def main(argv: list[str]) -> int:
    """Run the benchmarks named in ``argv`` (all when empty)."""
    wanted = set(argv)
    failed = 0
    for name, fn in BENCHES:
        if wanted and name not in wanted:
            continue
        t0 = time.perf_counter()
        try:
            print(fn())
        except Exception as e:  # keep going: one broken bench must not hide the others
            failed += 1
            print(f"bench {name}: FAILED: {e}", file=sys.stderr)
        print(f"(bench {name}: {time.perf_counter() - t0:.0f}s)\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
