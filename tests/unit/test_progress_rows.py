"""A progress event's convergence rows (worker/fit/progress.py): the same chisq values as
scaling each row on its own, non-finite ones as null, in one call to the problem's chisq
per event (bumps computes a scipy quantile at each call: row by row it cost a long DREAM
fit 3.6% of its CPU time); a long fit's events further apart, up to a second."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jupyter_bumps_remote.worker.fit.progress import ProgressMonitor
from tests.support.problems import gaussian_problem


class Rows:
    def __init__(self, quantiles: list):
        self.quantiles = quantiles


class CountingProblem:
    """A problem's chisq, counting its calls."""

    def __init__(self):
        self.problem = gaussian_problem()
        self.calls = 0

    def chisq(self, nllf):
        self.calls += 1
        return self.problem.chisq(nllf=nllf)


def emitted(problem, quantiles: list) -> dict:
    sent: list[dict] = []
    monitor = ProgressMonitor(problem, Rows(quantiles), 100, send=sent.append)
    monitor.best_value = 2.5
    monitor.emit(final=False)
    return json.loads(json.dumps(sent[0]))


def one_by_one(problem, quantiles: list) -> list[list]:
    return [
        [float(v) if np.isfinite(v) else None for v in problem.chisq(nllf=np.asarray(row))]
        for row in quantiles
    ]


def test_rows_are_the_chisq_of_each_row_in_one_call():
    rng = np.random.default_rng(1)
    quantiles = [tuple(rng.uniform(0, 100, 6)) for _ in range(50)]
    problem = CountingProblem()
    sent = emitted(problem, quantiles)
    assert sent["rows"] == one_by_one(problem.problem, quantiles)
    assert problem.calls <= 2  # the best value's and the rows'


def test_non_finite_values_are_null():
    quantiles = [(1.0, np.inf, np.nan, 3.0, 4.0, 5.0), (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)]
    problem = gaussian_problem()
    rows = emitted(problem, quantiles)["rows"]
    assert rows == one_by_one(problem, quantiles)
    assert rows[0][1] is None and rows[0][2] is None


def test_rows_of_different_lengths_are_scaled_one_by_one():
    quantiles = [(1.0,), (2.0, 3.0)]
    problem = gaussian_problem()
    assert emitted(problem, quantiles)["rows"] == one_by_one(problem, quantiles)


def test_no_new_rows():
    assert emitted(gaussian_problem(), [])["rows"] == []


def test_a_long_fits_events_grow_apart_up_to_a_second():
    monitor = ProgressMonitor(gaussian_problem(), Rows([]), 100, send=lambda data: None)
    start = monitor.started
    assert monitor.gap(start + 0.5) == pytest.approx(0.1)  # the configured interval, early on
    assert monitor.gap(start + 4.0) == pytest.approx(0.4)  # a tenth of the time run
    assert monitor.gap(start + 3600) == 1.0  # never more than a second apart
    slow = ProgressMonitor(gaussian_problem(), Rows([]), 100, send=lambda data: None, interval=2)
    assert slow.gap(slow.started + 3600) == 2  # nor closer than the configured interval


def test_the_first_event_waits_a_tenth_of_a_second_or_the_interval():
    sent: list[dict] = []
    monitor = ProgressMonitor(gaussian_problem(), Rows([]), 100, send=sent.append)
    assert due(monitor) == pytest.approx(0.1)
    history = History()
    history.step, history.value, history.point = [1], [3.0], [np.array([1.0, 0.0, 1.0])]
    # (times moved by hand, so that no pause of a loaded machine decides the test)
    monitor.started += 60
    monitor.last_sent += 60
    monitor(history)
    assert sent == []  # not yet due: a fit that ends sooner sends its final event alone
    monitor.started -= 60.1
    monitor.last_sent -= 60.1
    monitor(history)
    assert [event["step"] for event in sent] == [1]
    brisk = ProgressMonitor(gaussian_problem(), Rows([]), 100, send=sent.append, interval=0.02)
    assert due(brisk) == pytest.approx(0.02)
    slow = ProgressMonitor(gaussian_problem(), Rows([]), 100, send=sent.append, interval=2)
    assert due(slow) == pytest.approx(0.1)


def due(monitor: ProgressMonitor) -> float:
    """Seconds after its start when the monitor sends its first event."""
    return monitor.last_sent + monitor.gap(monitor.started) - monitor.started


class History:
    step: list
    value: list
    point: list
