"""Run the benchmarks: ``python -m bench [--quick] [names...]``.

Every ``bench/bench_<name>.py`` module's ``main()`` runs, or only the named ones (``ledger``
or ``bench_ledger``). ``--quick`` (or ``ARREARS_BENCH_QUICK=1``) divides the entry counts by
ten. Figures are information: the exit status is 0 whether their targets are met or not, and
non-zero only when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sqlite3
import sys
import time
import traceback
from pathlib import Path

from bench import report

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _header(names: list[str], quick: bool) -> None:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} cores" + (f" ({usable} usable)" if usable is not None else "")
    print("arrears benchmarks", flush=True)
    print(f"  machine  {cores}, {_cpu_model()}, {platform.system()} {platform.release()}")
    print(f"  python   {platform.python_implementation()} {platform.python_version()}")
    print(f"  sqlite   {sqlite3.sqlite_version}")
    print(f"  sizes    {'quick (entry counts / 10)' if quick else 'full'}")
    print(f"  running  {', '.join(names)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks.")
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (of: {', '.join(available())})"
    )
    parser.add_argument("--quick", action="store_true", help="entry counts / 10")
    args = parser.parse_args(argv)

    known = available()
    names = [n.removeprefix("bench_") for n in args.names] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(known)})")
    if args.quick:
        os.environ["ARREARS_BENCH_QUICK"] = "1"
    quick = os.environ.get("ARREARS_BENCH_QUICK", "") not in ("", "0")

    _header(names, quick)
    failed: list[str] = []
    started = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"bench.bench_{name}").main()
        except KeyboardInterrupt:
            raise
        except BaseException:
            traceback.print_exc()
            print(f"  benchmark {name} failed", flush=True)
            failed.append(name)
        print(f"  ({name}: {time.perf_counter() - t0:.1f} s)", flush=True)

    results = report.results()
    met = sum(1 for _, ok in results if ok)
    print(f"\nall benchmarks: {time.perf_counter() - started:.0f} s")
    print(f"{len(results)} figures, {met} met, {len(results) - met} missed", flush=True)
    for name, ok in results:
        if not ok:
            print(f"  missed: {name}")
    if failed:
        print(f"benchmarks that could not run: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
