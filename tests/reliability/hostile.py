"""Problems whose model code misbehaves on the worker (it travels by value, as a notebook's)."""

from __future__ import annotations

from ..support.problems import GAUSSIAN_SOURCE, gaussian_data, user_module

HOSTILE_SOURCE = (
    GAUSSIAN_SOURCE
    + """
import os
import signal

def hostile_gaussian(x, A, mu, sigma):
    # after AFTER evaluations (the kernel's preflight stays below), misbehave
    CALLS[0] += 1
    if CALLS[0] > AFTER:
        if HOW == "kill worker":  # take the whole worker down: it leads its process group
            os.kill(os.getpgrp(), signal.SIGKILL)
        elif HOW == "allocate":
            blob = bytearray(100 * 1024**3)  # 100 GB
            blob[-1] = 1
        elif HOW == "spin":
            while True:
                pass
        elif HOW == "hang":  # blocked in one call: the cooperative stop can't reach it
            time.sleep(3600)
    return gaussian(x, A, mu, sigma)

AFTER = 3
HOW = ""
"""
)


def hostile_problem(how: str, after: int = 3):
    from bumps.names import Curve, FitProblem

    module = user_module(HOSTILE_SOURCE, name="hostile_notebook_code")
    vars(module).update(HOW=how, AFTER=after)
    x, y, dy = gaussian_data()
    curve = Curve(module.hostile_gaussian, x, y, dy, A=0.8, mu=0.0, sigma=1.0)
    curve.A.range(0, 3)
    curve.mu.range(-2, 2)
    curve.sigma.range(0.1, 5)
    return FitProblem(curve)
