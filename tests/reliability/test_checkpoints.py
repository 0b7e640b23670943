"""docs/reliability.md#25-a-cut-short-fit-resumes-from-its-checkpoint and
#26-a-stopped-worker-drains: a DREAM fit checkpoints its chains into Redis (every 0.3 s
here, 60 s by default); a job whose worker is SIGKILLed, or stopped with SIGTERM, resumes
on another worker from its last checkpoint and ends after as many steps as the same fit
left alone, its chains continuing the checkpoint's."""

from __future__ import annotations

import os
import signal
import time

from jupyter_bumps_remote.shared import jobs

from ..support.checkpoints import (
    chains,
    continues,
    resumed_at,
    steps_left_alone,
    stored,
    wait_for_checkpoint,
)
from ..support.job_executions import task_returns
from ..support.problems import gaussian_problem
from ..support.waiting import wait_until
from .conftest import kill_worker_main

HEARTBEAT = 1.0  # a worker is lost 3 s after its last beat
SETTINGS = {
    "heartbeat_interval": HEARTBEAT,
    "checkpoint_interval": 0.3,
    "time_limit": 600,
    "soft_time_limit": 590,
    "visibility_timeout": 3600,  # not what brings a job back
}
DRAIN_SECONDS = 8.0
# a DREAM fit of ~6 s on an idle CPU: 3 parameters, 30 chains, 2 ms per model call
FITTER, OPTIONS = "dream", {"steps": 100, "burn": 0}
SLOW = {"model": "slow_gaussian", "DELAY": 0.002}


def test_25_a_killed_workers_dream_fit_resumes_from_its_checkpoint(stack_factory):
    stack = stack_factory(**SETTINGS)
    remote = stack.remote
    first = stack.worker()
    job = remote.submit(gaussian_problem(**SLOW), FITTER, OPTIONS, seed=1)
    saved = wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    kill_worker_main(first)
    # what the killed run left: its last checkpoint (nothing writes it any more)
    last = stored(stack.store, remote.owner, job["id"])
    assert last is not None and last["step"] >= saved["step"]
    second = stack.worker()
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert record["attempt"] == 2, record
    check_resumed(stack, job["id"], last)
    wait_until(lambda: task_returns(second) == ["done"], timeout=30, what="the task's return")


def test_26_a_worker_stopped_mid_fit_drains_and_another_resumes_the_job(stack_factory):
    stack = stack_factory(**SETTINGS, drain_seconds=DRAIN_SECONDS)
    remote = stack.remote
    first = stack.worker()
    job = remote.submit(gaussian_problem(**SLOW), FITTER, OPTIONS, seed=1)
    wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    stopped = time.monotonic()
    os.kill(first.process.pid, signal.SIGTERM)
    # the job is back on its queue at once, given back by its run: not a lost run
    requeued = wait_until(
        lambda: [e for e in remote.events(job["id"]) if e["type"] == "requeued"],
        timeout=DRAIN_SECONDS,
        what="the requeued event",
    )
    back = wait_until(
        lambda: stack.celery_backlog()["queued"] == 1 and time.monotonic(),
        timeout=DRAIN_SECONDS,
        what="the job's message on its queue",
    )
    first.process.wait(DRAIN_SECONDS * 2)
    exited = time.monotonic()
    print(
        f"\nSIGTERM -> requeued {back - stopped:.2f} s, worker exited {exited - stopped:.2f} s "
        f"(drain_seconds {DRAIN_SECONDS:g})"
    )
    assert exited - stopped < DRAIN_SECONDS, exited - stopped
    assert requeued[0]["data"]["reason"] == "drained"
    last = stored(stack.store, remote.owner, job["id"])
    assert last is not None
    record = stack.store.get(remote.owner, job["id"])
    assert record["status"] == jobs.RUNNING and record["attempt"] == 0
    assert int(record["drained"]) == 1
    assert task_returns(first) == []  # rejected with requeue, not returned
    second = stack.worker()
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert record["attempt"] == 1, record  # the drained attempt does not count
    check_resumed(stack, job["id"], last)
    wait_until(lambda: task_returns(second) == ["done"], timeout=30, what="the task's return")


def check_resumed(stack, job_id: str, last: dict) -> None:
    """The job resumed from `last`, ended after as many steps as the fit left alone, and its
    chains begin with the checkpoint's."""
    remote = stack.remote
    assert resumed_at(remote.events(job_id)) == {last["step"]}
    result = stack.store.result(remote.owner, job_id)
    assert result is not None
    final = stored(stack.store, remote.owner, job_id)  # the fit's end
    assert final is not None
    assert final["step"] == steps_left_alone(FITTER, OPTIONS)
    assert continues(chains(last), chains(final))
