"""A tiny built-in fit run through a job's steps, to warm up a spare fit process."""

from __future__ import annotations

import json
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


# The tiny problem's payload, encoded once by the process the spares fork from (the fit
# launcher's warm-up, worker/fit/warm.py) and only decoded in a spare, as a job's fit process
# only decodes. Encoding in the spare (bumps.serialize's pack, most of it, and the check that
# the copy decodes to the same problem) wrote to, and so copied, ~6.5 MB of the launcher's
# pages that no job writes: each idle spare held that much more, and the launcher kept its
# own copy of the pages both spares had copied.
_payload: bytes | None = None


def tiny_payload() -> bytes:
    """The tiny problem's payload as a job's arrives: JSON bytes."""
    global _payload
    if _payload is None:
        _payload = json.dumps(transport.encode(tiny_problem())).encode()
    return _payload


def rehearse(job_waiting=lambda: False, session: bool = True) -> None:
    """Each step warms what a job's same step uses; stop as soon as a job is waiting, which
    then goes first (warming up further would only delay it). `session=False` leaves out
    the session file: it comes after a job's status, off the path to its result, and at
    tens of ms it is the one step a waiting job could not cut short."""
    from ...shared.bumps_compat import convergence_monitor

    problem = transport.decode(tiny_payload())
    if job_waiting():
        return
    outcome = run_fit(problem, "lm", {}, 0, convergence=convergence_monitor(problem))
    if job_waiting():
        return
    summarize(problem, outcome.result, seed=0, options={}, partial=False, elapsed=0.0)
    if session and not job_waiting():
        session_bytes(problem, outcome.result)
