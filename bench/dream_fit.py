"""Measure: a long DREAM fit sent away against the same fit in the kernel.

Interleaved triples, so that the machine's drifting load hits every side alike: the fit sent
with `submit(...).result()`, the same fit here, and the same fit in a fresh fork of this
process (the floor: a fit in a process of its own, as the worker isolates each job, pays
copy-on-write page faults wherever it runs).
"""

from __future__ import annotations

import json
import os
import time

import services
from report import Row, p, spread, timed

TITLE = "long DREAM fit"
METHOD = (
    "the same gaussian, `dream` with `steps` = 1000 (3 s or more; 30 with `--quick`), "
    "12 interleaved triples (2 with `--quick`): `submit(...).result()`, `local_fit` here, "
    "`local_fit` in a fresh `os.fork()` of this process; a 5-step fit on each side first. "
    "The ratio is of the p50s; pair by pair its p50 and p95 show the spread."
)
DREAM_TARGET = 1.03


def measure(base, quick: bool) -> list[Row]:
    from jupyter_bumps_remote.shared.fitting import local_fit
    from tests.support.problems import gaussian_problem

    steps, n = (30, 2) if quick else (1000, 12)
    seed = services.SEED

    def send_away(steps: int = steps) -> dict:
        t0 = time.perf_counter()
        result = base.remote.submit(gaussian_problem(), "dream", seed=seed, steps=steps).result(600)
        return {"total": time.perf_counter() - t0, "fit": result.to_dict()["elapsed"]}

    def here(steps: int = steps) -> float:
        return timed(local_fit, gaussian_problem(), "dream", seed, steps=steps)

    def forked() -> float:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child times its own fit and dies without cleanup
            try:
                os.write(write_end, json.dumps(here()).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            elapsed = json.loads(pipe.read())
        os.waitpid(pid, 0)
        return elapsed

    send_away(5), here(5)  # dream's code warm on both sides
    ours, local, fork = [], [], []
    for _ in range(n):
        ours.append(send_away())
        local.append(here())
        fork.append(forked())
    total = [r["total"] for r in ours]
    pairs = [r / lo for r, lo in zip(total, local, strict=True)]
    ratio, floor = p(total) / p(local), p(fork) / p(local)
    worker_fit = p([r["fit"] for r in ours])

    def sec(seconds: float) -> str:
        return f"{seconds:.2f} s"

    return [
        Row(
            f"DREAM fit, steps={steps} ({p(local):.1f} s here): remote / local",
            f"{ratio:.3f}× (pair by pair p50 {p(pairs):.3f}×, p95 {p(pairs, 95):.3f}×, n={n})",
            f"≤ {DREAM_TARGET}×",
            ratio <= DREAM_TARGET,
            f"floor: the same fit in a fresh fork here {floor:.3f}×; the fit itself took "
            f"{sec(worker_fit)} on the worker (p50) against {sec(p(local))} here",
        ),
        Row("&nbsp;&nbsp;`submit(...).result()`", spread(total, sec)),
        Row(
            "&nbsp;&nbsp;`local_fit` here / in a fresh fork",
            f"{sec(p(local))} / {sec(p(fork))} (p50)",
        ),
    ]
