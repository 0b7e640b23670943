"""Measure: the same DREAM fits on a worker of 1 process, then of 2.

A `jupyter server` of its own routes to a queue prefix that only this measure's workers
serve; the floor is the same fits in plain forks of this process, all in one and then half
in each of two at once: what the machine's CPUs give this work with no worker at all.
"""

from __future__ import annotations

import os
import time

import services
from report import Row

TITLE = "scale-out"
METHOD = (
    "12 gaussian `dream` fits of 50 steps (about a second each; 4 of 30 steps with "
    "`--quick`) sent at once with `submit_many` to a fresh worker of 1 process, then to one "
    "of 2; the speed-up is the ratio of the wall times. Floor: the same fits in 1, then 2 "
    "plain forks of this process."
)
SCALE_TARGET = 1.8
PREFIX = "bench-scale."


def measure(base, quick: bool) -> list[Row]:
    from jupyter_bumps_remote.shared.fitting import local_fit
    from tests.support.problems import gaussian_problem

    n, steps = (4, 30) if quick else (12, 50)
    seed, remote = services.SEED, base.remote

    def sweep(count: int, fit_steps: int) -> float:
        t0 = time.perf_counter()
        group = remote.submit_many(
            [gaussian_problem() for _ in range(count)], "dream", seed=seed, steps=fit_steps
        )
        failed = [r for r in group.results(1800) if isinstance(r, Exception)]
        if failed:
            raise RuntimeError(f"{len(failed)} scale-out fits failed: {failed[0]}")
        return time.perf_counter() - t0

    wall = {}
    args = [f"--BumpsRemote.queue_prefix={PREFIX}"]
    try:
        with services.jupyter_server(base.redis.url, args=args) as server:
            remote.connect(server.url, server.token)
            for processes in (1, 2):
                with services.worker(base.redis.url, processes, queue_prefix=PREFIX):
                    sweep(processes, 5)  # every process has run dream once
                    wall[processes] = sweep(n, steps)
    finally:
        remote.connect(base.server.url, base.server.token)

    def in_forks(counts: list[int]) -> float:
        t0 = time.perf_counter()
        pids = []
        for count in counts:
            pid = os.fork()
            if pid == 0:
                try:
                    for _ in range(count):
                        local_fit(gaussian_problem(), "dream", seed, steps=steps)
                finally:
                    os._exit(0)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        return time.perf_counter() - t0

    in_forks([1])
    plain = in_forks([n]) / in_forks([n // 2, n - n // 2])
    speedup = wall[1] / wall[2]
    return [
        Row(
            f"scale-out: {n} DREAM fits at once, worker of 1 → 2 processes",
            f"{wall[1]:.1f} s → {wall[2]:.1f} s = {speedup:.2f}×",
            f"≥ {SCALE_TARGET}×",
            speedup >= SCALE_TARGET,
            f"floor: the same fits in 1 → 2 plain forks here {plain:.2f}×",
        ),
    ]
