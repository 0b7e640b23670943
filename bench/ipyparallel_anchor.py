"""Anchor: the same tiny fit sent with ipyparallel instead of bumps-remote.

An ipcontroller and one engine on 127.0.0.1 (bench/services.py: IPyCluster), then
`view.apply_sync(noop)` round trips and `view.apply_sync(local_fit, problem, "lm", seed)`
(the fit that a remote job runs, with its problem pickled by value, as from a notebook),
alternating with `local_fit` in this process. The [perf] target: a remote fit end to end
is faster than ipyparallel's round trip plus the local fit.

`python bench/ipyparallel_anchor.py [--quick]` runs it alone and prints the figures.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import services  # noqa: E402

SEED = 20240601


@dataclass(frozen=True)
class IppPlan:
    noop_runs: int
    fit_runs: int
    warmup: int


IPP_FULL = IppPlan(noop_runs=300, fit_runs=100, warmup=5)
IPP_QUICK = IppPlan(noop_runs=50, fit_runs=15, warmup=3)


def noop(value=None):
    """Runs on the engine (imported there from bench/, on its PYTHONPATH)."""
    return value


def measure(plan: IppPlan) -> dict:
    """Start the cluster, time the round trips and fits, stop it (also on error)."""
    import warnings

    from jupyter_bumps_remote.fitting import local_fit
    from tests.support.problems import gaussian_problem

    warnings.filterwarnings("ignore", message="Did not converge")
    with services.ipyparallel_cluster() as cluster:
        view = cluster.client[0]
        noops = []
        for i in range(plan.warmup + plan.noop_runs):
            t0 = time.perf_counter()
            value = view.apply_sync(noop, i)
            elapsed = time.perf_counter() - t0
            if value != i:
                raise RuntimeError(f"ipyparallel noop returned {value!r}, expected {i}")
            if i >= plan.warmup:
                noops.append(elapsed)
        fits, locals_, xs = [], [], []
        for i in range(plan.warmup + plan.fit_runs):
            problem = gaussian_problem()
            t0 = time.perf_counter()
            result = view.apply_sync(local_fit, problem, "lm", SEED)
            t1 = time.perf_counter()
            mine = local_fit(gaussian_problem(), "lm", SEED)
            t2 = time.perf_counter()
            if i >= plan.warmup:
                fits.append(t1 - t0)
                locals_.append(t2 - t1)
                xs.append(list(result.x) == list(mine.x))
    return {"noop": noops, "fit": fits, "local": locals_, "identical": all(xs)}


def figures(raw: dict) -> dict:
    import numpy as np

    def p50_p95(values):
        return [float(np.percentile(values, 50)), float(np.percentile(values, 95))]

    return {
        "noop": p50_p95(raw["noop"]),
        "fit": p50_p95(raw["fit"]),
        "local": p50_p95(raw["local"]),
        "noop_runs": len(raw["noop"]),
        "fit_runs": len(raw["fit"]),
        "identical": raw["identical"],
    }


def main(argv: list[str]) -> int:
    import json

    services.stop_on_sigterm()
    plan = IPP_QUICK if "--quick" in argv else IPP_FULL
    print(json.dumps(figures(measure(plan)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
