"""How every benchmark prints a figure: the measured value beside its target."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

_results: list[tuple[str, bool]] = []


def figure(name: str, value: float, unit: str, target: str, met: bool) -> None:
    """Print one measured figure with its target and whether it was met."""
    mark = "ok  " if met else "MISS"
    print(f"  [{mark}] {name:<58} {value:>14,.1f} {unit:<10} target {target}", flush=True)
    _results.append((name, met))


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def results() -> list[tuple[str, bool]]:
    return list(_results)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) of samples, nearest-rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def time_each(fn: Callable[[], object], n: int) -> list[float]:
    """Seconds taken by each of n calls of fn."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)
