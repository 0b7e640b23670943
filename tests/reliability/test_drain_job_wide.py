"""docs/reliability.md#26-a-stopped-worker-drains, as Slurm stops a worker (its walltime,
scancel): SIGTERM to every process of the worker at once (main, pool, fit launcher, fit),
not only to its main process. The worker drains all the same: its fit's last checkpoint,
the job back on its queue as the same attempt, and another worker resumes it from that
checkpoint to as many steps as the fit left alone (docs/cluster.md#drain-and-checkpoints).

A fit that evaluates its population in parallel (`parallel=2`) drains the same way: Slurm's
SIGTERM reaches its evaluators too (shared/fork_mapper.py), and the fit still ends its
generation and sends its last checkpoint.

And the signals a pool process gets from elsewhere still end it: a worker's main process
SIGKILLed takes its pool processes and their fits with it."""

from __future__ import annotations

import os
import signal
import time

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.worker.pool.sigterm import GRACE_SECONDS

from ..support.checkpoints import check_resumed, stored, wait_for_checkpoint
from ..support.fit_processes import children, fits_of, pool_processes
from ..support.job_executions import task_returns
from ..support.problems import gaussian_problem
from ..support.waiting import wait_gone, wait_until
from .conftest import session_pids

SETTINGS = {
    "heartbeat_interval": 1.0,
    "checkpoint_interval": 0.3,
    "time_limit": 600,
    "soft_time_limit": 590,
    "visibility_timeout": 3600,  # not what brings a job back
}
DRAIN_SECONDS = 8.0
# a DREAM fit of ~6 s on an idle CPU: 3 parameters, 30 chains, 2 ms per model call
FITTER, OPTIONS = "dream", {"steps": 100, "burn": 0}
SLOW = {"model": "slow_gaussian", "DELAY": 0.002}


def test_26_a_sigterm_to_every_process_of_a_worker_drains_its_fit(stack_factory):
    stack = stack_factory(**SETTINGS, drain_seconds=DRAIN_SECONDS)
    remote = stack.remote
    first = stack.worker()
    job = remote.submit(gaussian_problem(**SLOW), FITTER, OPTIONS, seed=1)
    wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    (pool,) = pool_processes(first.process.pid)
    (fit,) = fits_of(pool)
    everyone = session_pids(first.process.pid)
    assert {first.process.pid, pool, fit} <= set(everyone), everyone
    stopped = time.monotonic()
    for pid in everyone:  # as Slurm does: each process of the job, at once
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        requeued = wait_until(
            lambda: [e for e in remote.events(job["id"]) if e["type"] == "requeued"],
            timeout=DRAIN_SECONDS,
            what="the requeued event",
        )
    except AssertionError as e:
        raise AssertionError(f"{e}\n{first.log.read_text()[-4000:]}") from None
    first.process.wait(DRAIN_SECONDS * 2)
    exited = time.monotonic() - stopped
    print(f"\nSIGTERM to {len(everyone)} processes -> worker exited {exited:.2f} s")
    assert exited < DRAIN_SECONDS, exited
    assert requeued[0]["data"]["reason"] == "drained"
    wait_gone(everyone, timeout=10)  # (the launcher and spare go with the main process)
    last = stored(stack.store, remote.owner, job["id"])
    assert last is not None
    record = stack.store.get(remote.owner, job["id"])
    assert record["status"] == jobs.RUNNING and record["attempt"] == 0, record
    assert int(record["drained"]) == 1
    assert task_returns(first) == []  # rejected with requeue: not a lost run
    second = stack.worker()
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert record["attempt"] == 1, record  # the drained attempt does not count
    check_resumed(remote, job["id"], last, FITTER, OPTIONS)
    wait_until(lambda: task_returns(second) == ["done"], timeout=30, what="the task's return")


def test_a_sigterm_to_every_process_drains_a_parallel_fit(stack_factory):
    stack = stack_factory(**SETTINGS, drain_seconds=DRAIN_SECONDS)
    remote = stack.remote
    first = stack.worker()
    job = remote.submit(gaussian_problem(**SLOW), FITTER, OPTIONS | {"parallel": 2}, seed=1)
    wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    (pool,) = pool_processes(first.process.pid)
    (fit,) = fits_of(pool)
    assert len(children(fit)) == 2, "the fit's two evaluators"
    everyone = session_pids(first.process.pid)
    stopped = time.monotonic()
    for pid in everyone:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    requeued = wait_until(
        lambda: [e for e in remote.events(job["id"]) if e["type"] == "requeued"],
        timeout=DRAIN_SECONDS,
        what="the requeued event",
    )
    first.process.wait(DRAIN_SECONDS * 2)
    exited = time.monotonic() - stopped
    print(f"\nSIGTERM to {len(everyone)} processes -> worker exited {exited:.2f} s")
    assert exited < DRAIN_SECONDS, exited
    assert requeued[0]["data"]["reason"] == "drained"
    # the fit ended its generation and sent its last checkpoint: it was not killed at half
    # the drain time, its evaluators dead of the SIGTERM and the generation never ending
    assert "sent no checkpoint in time" not in first.log.read_text()
    assert stored(stack.store, remote.owner, job["id"]) is not None
    record = stack.store.get(remote.owner, job["id"])
    assert record["status"] == jobs.RUNNING and int(record["drained"]) == 1, record


def test_a_pool_process_whose_main_process_is_killed_ends_with_its_fit(stack_factory):
    """The pool process no longer dies of SIGTERM at once; Celery's parent-death signal
    (SIGKILL) still ends it, and its fit dies with it."""
    stack = stack_factory(**SETTINGS)
    worker = stack.worker()
    job = stack.remote.submit(gaussian_problem(**SLOW), FITTER, OPTIONS, seed=1)
    wait_for_checkpoint(stack.store, stack.remote.owner, job["id"])
    (pool,) = pool_processes(worker.process.pid)
    (fit,) = fits_of(pool)
    os.kill(pool, signal.SIGTERM)  # deferred: it waits for a drain that never comes
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait(10)
    # by the parent-death signal, not at the end of the SIGTERM's grace
    wait_gone([pool, fit], timeout=GRACE_SECONDS - 1)
