"""The parallel=N evaluators (shared/fork_mapper.py): values in order, a model's error
raised in the fit, a dead evaluator named rather than waited for, SIGTERM left to the fit
process (Slurm sends it to every process of its job), and nothing left after close()."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from jupyter_bumps_remote.shared.fork_mapper import EvaluatorDied, ForkPoolMapper, pool_size

from ..support.waiting import alive

POINTS = [[float(i), float(i) / 2] for i in range(23)]  # not a multiple of the chunks


class _Problem:
    def nllf(self, point):
        if point[0] < 0:
            raise ValueError(f"no negative A: {point[0]}")
        return point[0] * 3 + point[1]


@pytest.fixture
def mapper():
    mapper = ForkPoolMapper(_Problem(), 2)
    yield mapper
    mapper.close()


def test_values_come_back_in_order_as_a_serial_map_gives_them(mapper):
    serial = [_Problem().nllf(p) for p in POINTS]
    assert mapper(POINTS) == serial
    assert mapper(POINTS[:1]) == serial[:1]  # fewer points than evaluators
    assert mapper(iter(POINTS)) == serial  # any iterable, as Pool.map took
    assert mapper(np.array(POINTS)) == serial  # a population, as DREAM passes it


def test_a_model_error_is_raised_in_the_fit_and_the_next_call_still_works(mapper):
    with pytest.raises(ValueError, match="no negative A: -1.0"):
        mapper([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    assert mapper([[1.0, 0.0], [2.0, 0.0]]) == [3.0, 6.0]


def test_the_evaluators_ignore_sigterm_and_answer_after_it(mapper):
    for pid in mapper.pids:
        os.kill(pid, signal.SIGTERM)
    assert mapper(POINTS) == [_Problem().nllf(p) for p in POINTS]
    assert all(alive(pid) for pid in mapper.pids)


def test_an_evaluator_killed_fails_the_call_with_its_signal(mapper):
    os.kill(mapper.pids[1], signal.SIGKILL)
    with pytest.raises(EvaluatorDied, match="killed by signal 9"):
        mapper(POINTS)


def test_close_leaves_no_evaluator():
    mapper = ForkPoolMapper(_Problem(), 2)
    pids = mapper.pids
    assert len(pids) == pool_size(2)
    mapper.close()
    assert not any(alive(pid) for pid in pids)
    with pytest.raises(ChildProcessError):
        os.waitpid(pids[0], os.WNOHANG)  # reaped
