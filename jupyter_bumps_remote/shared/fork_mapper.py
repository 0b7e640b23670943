"""Population evaluation in forked processes that already hold the problem.

bumps' MPMapper sends a Manager proxy with every point, and each pool process reconnects
to the manager to read it: for a fast model, parallel=2 was barely faster than serial
(docs/design.md#figures-behind-the-code). Forking the pool after the
problem is built means only points and values cross process boundaries, one chunk per
process per generation. Results are in input order, so fits are identical to serial ones.
"""

from __future__ import annotations

import math
import multiprocessing
from typing import Any

from .machine import usable_cpus

_problem: Any = None  # the problem, inherited by the forked pool processes


def _evaluate(point):
    return _problem.nllf(point)


def pool_size(processes: int) -> int:
    """0 means every CPU this process may run on (as bumps' own `parallel=0`); more than
    those CPUs is capped at them: a fit cannot take a worker's other slots, and more
    processes than CPUs only slow each generation down."""
    cpus = usable_cpus()
    return min(processes, cpus) if processes > 0 else cpus


class ForkPoolMapper:
    def __init__(self, problem, processes: int):
        global _problem
        _problem = problem
        self.processes = pool_size(processes)
        self.pool = multiprocessing.get_context("fork").Pool(self.processes)

    def __call__(self, points):
        chunk = max(1, math.ceil(len(points) / self.processes))
        return self.pool.map(_evaluate, points, chunksize=chunk)

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()
