"""Figures and the table every measure reports into.

A measure returns `Row`s: what was measured, the figure, the target (empty for a figure
shown beside another for comparison), the verdict, and the cause or the floor that explains
a miss. `table()` makes the markdown that run.py prints and writes to docs/benchmarks.md.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np


@dataclass
class Row:
    measure: str
    figure: str
    target: str = ""
    met: bool | None = None  # None: no target, a figure for comparison
    cause: str = ""

    def cells(self) -> list[str]:
        verdict = "" if self.met is None else "met" if self.met else "**missed**"
        return [self.measure, self.figure, self.target, verdict, self.cause]


def p(values, q: float = 50) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mb(nbytes: float) -> str:
    return f"{nbytes / (1024 * 1024):.1f} MB"


def spread(values, unit=ms) -> str:
    """p50 (p95) of a series: the figure and how much it moves."""
    return f"{unit(p(values))} (p95 {unit(p(values, 95))}, n={len(values)})"


def median_interval(values, level: float = 0.9) -> tuple[float, float]:
    """A distribution-free `level` confidence interval of the median of `values`: the order
    statistics the binomial law puts around it (no assumption on the noise's shape, which on
    a shared machine has a long upper tail). With too few values, the extremes."""
    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    # the largest k with P(Binomial(n, 1/2) < k) <= (1 - level) / 2
    k, below = 0, 0.0
    while k < n // 2:
        below_next = below + math.comb(n, k) / 2**n
        if below_next > (1 - level) / 2:
            break
        below, k = below_next, k + 1
    k = max(k, 1)
    return ordered[k - 1], ordered[n - k]


def timed(call, *args, **kwargs) -> float:
    """Seconds that `call(*args, **kwargs)` took."""
    t0 = time.perf_counter()
    call(*args, **kwargs)
    return time.perf_counter() - t0


def alternate(*runs: Callable[[], Any], n: int, warmup: int = 2) -> list[list[Any]]:
    """Call each of `runs` in turn, `warmup` + `n` times, so that drift in the machine's load
    hits every side alike; returns each one's `n` measured results."""
    out: list[list[Any]] = [[] for _ in runs]
    for i in range(warmup + n):
        for series, run in zip(out, runs, strict=True):
            value = run()
            if i >= warmup:
                series.append(value)
    return out


def table(rows: list[Row]) -> str:
    lines = [
        "| Measure | Figure | Target | Verdict | Cause, floor |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def machine() -> dict:
    def run(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": run("git", "rev-parse", "--short", "HEAD") or "?",
        "cpus": f"{os.cpu_count()} × {cpu}",
        "python": platform.python_version(),
        "versions": ", ".join(
            f"{n} {_version(n)}" for n in ("bumps", "numpy", "celery", "redis", "jupyter_server")
        ),
        "redis_server": run("redis-server", "--version").split(" v=")[-1].split()[0],
    }
