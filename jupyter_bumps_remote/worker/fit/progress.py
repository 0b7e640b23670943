"""A bumps Monitor that sends throttled progress events of one fit to its pool process.

bumps calls monitors every iteration (milliseconds apart on small problems), so events are sent at
most every `interval` seconds; each carries the convergence rows since the previous one,
so a listener rebuilds the whole convergence plot from the events alone (the pool process
keeps the rows of an event it could not store for the next one).

A long fit's events grow further apart, to a tenth of the time it has run, up to a second
(`gap`): each event costs the stack about 1.5 ms of CPU (this process, the pool process's
relay, Redis, the server's event hub), 40 of them 1.5% of a 4 s DREAM fit, while a
progress bar moves as well at 10 updates over any stretch of the fit.

An event's rows are scaled to chisq in one call: bumps' `FitProblem.chisq` computes its
scale (`nllf_scale`, a scipy `chi2.ppf`) at every call, about 100 µs, and a long DREAM fit
sends some 50 rows an event: called row by row it cost 3.6% of the fit's CPU time.
"""

from __future__ import annotations

import math
import time

import numpy as np

# a long fit's events: at most one per this fraction of its elapsed time, up to LONGEST_GAP
ELAPSED_FRACTION = 0.1
LONGEST_GAP = 1.0  # s
# The first event waits this long (or the interval, if shorter): the pool process holds any
# event of a run's first this-long until then anyway, to store a tiny fit's with its end
# (worker/pool/relay.py PROGRESS_HOLD, this same value). Sent at the first step, it cost
# each tiny fit a frame, a wake-up of the pool process and its parse, for nothing seen sooner.
FIRST_EVENT_AFTER = 0.1  # s


class ProgressMonitor:
    def __init__(self, problem, convergence, max_steps: int, send, interval: float = 0.1):
        """`convergence` is the run's ConvergenceMonitor (rows in nllf, one per step);
        `send(data)` sends one event."""
        self.problem = problem
        self.convergence = convergence
        self.max_steps = max_steps
        self.send = send
        self.interval = interval
        self.started = time.monotonic()
        # as if one was sent just so long ago that the first is due FIRST_EVENT_AFTER on
        self.last_sent = self.started - interval + min(interval, FIRST_EVENT_AFTER)
        self.rows_sent = 0
        self.step = 0
        self.best_value = np.inf
        self.best_point = None
        self.resumed_from: int | None = None  # the step of the checkpoint it resumed from

    def config_history(self, history):
        history.requires(step=1, point=1, value=1)

    def __call__(self, history):
        self.step = int(history.step[0])
        value = float(history.value[0])
        if value < self.best_value:
            self.best_value = value
            self.best_point = history.point[0]
        now = time.monotonic()
        if now - self.last_sent >= self.gap(now):
            self.last_sent = now
            self.emit(final=False, now=now)

    def gap(self, now: float) -> float:
        """Seconds from one event to the next: `interval`, or a tenth of the time the fit
        has run, up to LONGEST_GAP (never less than `interval`)."""
        return max(self.interval, min((now - self.started) * ELAPSED_FRACTION, LONGEST_GAP))

    def emit(self, final: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        rows = self.convergence.quantiles[self.rows_sent :]
        chisq = _finite(self.problem.chisq(nllf=self.best_value))
        data = {
            "step": self.step,
            "max_steps": self.max_steps,
            "chisq": chisq,
            "x": _floats(self.best_point) if self.best_point is not None else None,
            "elapsed": now - self.started,
            "final": final,
            "rows": self._scaled(rows),
        }
        if self.resumed_from is not None:
            data["resumed_from"] = self.resumed_from
        self.send(data)
        self.rows_sent += len(rows)

    def _scaled(self, rows: list) -> list[list]:
        """The rows (nllf) as chisq, each a list of floats (None for a non-finite one)."""
        if not rows:
            return []
        try:
            table = np.asarray(rows, dtype=float)
        except ValueError:  # rows of different lengths (not from one run's monitor)
            table = None
        if table is None or table.ndim != 2:
            return [_floats(self.problem.chisq(nllf=np.asarray(row))) for row in rows]
        # chisq is nllf times one scale: the same floats as row by row, in one call
        scaled = np.asarray(self.problem.chisq(nllf=table), dtype=float)
        if np.isfinite(scaled).all():
            return scaled.tolist()
        return [_floats(row) for row in scaled]


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _floats(values) -> list:
    return [v if math.isfinite(v) else None for v in np.atleast_1d(values).astype(float).tolist()]
