"""Each pool process keeps a fit process forked and warmed up ahead of its next job
(worker/spare.py): the job runs in it, a new one follows, and a spare that died while idle
costs nothing but its warm-up."""

from __future__ import annotations

import os
import signal
import time

from jupyter_bumps_remote.shared import jobs

from ..support.fit_processes import fits_of, pool_processes
from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM, wait_for_progress
from ..support.waiting import wait_gone


def the_spare(worker, timeout: float = 30) -> tuple[int, int]:
    """(pool process, its spare fit process) of a one-process worker, once the spare is up."""
    deadline = time.monotonic() + timeout
    while True:
        pools = pool_processes(worker.process.pid)
        spares = [s for pool in pools for s in fits_of(pool)]
        if len(pools) == 1 and len(spares) == 1:
            return pools[0], spares[0]
        assert time.monotonic() < deadline, f"pool processes {pools}, fit processes {spares}"
        time.sleep(0.02)


def test_a_job_runs_in_the_spare_readied_before_it_and_a_new_spare_follows(stack_factory):
    stack = stack_factory()
    worker = stack.worker()
    pool, spare = the_spare(worker)
    job = stack.remote.submit(gaussian_problem(), "dream", LONG_DREAM, seed=3)
    wait_for_progress(stack.remote, job["id"])
    assert fits_of(pool) == [spare]  # the fit runs in the spare: no fork at delivery
    stack.remote.store.request_cancel(stack.remote.owner, job["id"])
    assert stack.remote.wait(job["id"])["status"] == jobs.CANCELLED
    wait_gone([spare], timeout=10)
    assert the_spare(worker)[1] != spare  # a fresh one for the next job


def test_a_spare_killed_while_idle_is_replaced_and_the_job_runs(stack_factory):
    stack = stack_factory()
    worker = stack.worker()
    _, spare = the_spare(worker)
    os.kill(spare, signal.SIGKILL)
    wait_gone([spare], timeout=10)
    job = stack.remote.submit(gaussian_problem(), "lm", seed=4)
    record = stack.remote.wait(job["id"])
    assert record["status"] == jobs.SUCCEEDED and record["attempt"] == 1, record
    assert stack.remote.session(job["id"])  # the session file follows the status
    assert the_spare(worker)[1] != spare
