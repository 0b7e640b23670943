"""A tiny built-in fit run through a job's steps, to warm up a spare fit process."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...shared import transport
from ...shared.fitting import run_fit
from .results import session_bytes, summarize


def line(x, a, b):
    return a * x + b


def tiny_problem() -> Any:
    """A straight line through 20 points, with two fitted parameters."""
    from bumps.curve import Curve
    from bumps.fitproblem import FitProblem

    x = np.linspace(0, 1, 20)
    model = Curve(line, x, 2 * x + 1, 0.1 * np.ones_like(x), a=1.0, b=0.0)
    model.a.range(-10, 10)
    model.b.range(-10, 10)
    # bumps' annotation of FitProblem's models omits Curve, which it accepts
    return FitProblem(model)  # pyright: ignore[reportArgumentType]


def rehearse(job_waiting=lambda: False, session: bool = True) -> None:
    """Each step warms what a job's same step uses; stop as soon as a job is waiting, which
    then goes first (warming up further would only delay it). `session=False` leaves out
    the session file: it comes after a job's status, off the path to its result, and at
    tens of ms it is the one step a waiting job could not cut short."""
    from ...shared.bumps_compat import convergence_monitor

    problem = transport.decode(transport.encode(tiny_problem()))
    if job_waiting():
        return
    outcome = run_fit(problem, "lm", {}, 0, convergence=convergence_monitor(problem))
    if job_waiting():
        return
    summarize(problem, outcome.result, seed=0, options={}, partial=False, elapsed=0.0)
    if session and not job_waiting():
        session_bytes(problem, outcome.result)
