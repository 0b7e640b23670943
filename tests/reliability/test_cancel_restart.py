"""A cancel request survives a worker restart (docs/reliability.md#6-cancel).

A cancel is written into the job record, not sent to a worker: whichever worker gets the
job's message next, now or after a restart, reads it there and does not run the fit.
"""

from __future__ import annotations

from jupyter_bumps_remote.shared import jobs

from ..support.job_executions import statuses, task_returns
from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM, wait_for_progress
from ..support.waiting import wait_gone, wait_until
from .conftest import kill_worker_main

FAST = {"time_limit": 3, "soft_time_limit": 2, "visibility_timeout": 4}
# the soft limit counts from the task's start: the fit must still be running after its first
# progress, the cancel request and the worker's kill, which take seconds on a loaded machine
KILLABLE = {"time_limit": 6, "soft_time_limit": 5, "visibility_timeout": 7}


def test_6_a_job_cancelled_while_no_worker_runs_never_starts(stack_factory):
    stack = stack_factory(**FAST)
    remote = stack.remote
    job = remote.submit(gaussian_problem(), "dream", LONG_DREAM, seed=6)
    assert stack.celery_backlog() == {"queued": 1, "unacked": 0}
    assert remote.store.request_cancel(remote.owner, job["id"]) == jobs.CANCELLED

    worker = stack.worker()
    # one slot, messages in order: once this job is done, the cancelled one was dealt with
    after = remote.submit(gaussian_problem(), "lm")
    assert remote.wait(after["id"], timeout=30)["status"] == jobs.SUCCEEDED
    record = remote.store.get(remote.owner, job["id"])
    assert record["status"] == jobs.CANCELLED and record["attempt"] == 0, record
    assert [s for s, _ in statuses(remote, job["id"])] == ["queued", "cancelled"]
    assert remote.events(job["id"])[-1]["type"] == "status"  # no progress: no fit ran
    assert remote.store.result(remote.owner, job["id"]) is None
    wait_until(lambda: len(task_returns(worker)) == 2, 10, "both tasks answered")
    assert task_returns(worker) == ["terminal", "done"]
    assert stack.drained() == {"queued": 0, "unacked": 0}


def test_6_a_cancel_the_killed_worker_never_saw_ends_the_job_on_the_next_worker(stack_factory):
    stack = stack_factory(**KILLABLE)
    # this worker's fit looks at the record only every 60 s: it cannot see the cancel
    # before its worker dies, as when the kill comes right after the request
    deaf = stack.worker(extra_env={"BUMPS_REMOTE_CANCEL_POLL_INTERVAL": "60"})
    remote = stack.remote
    job = remote.submit(gaussian_problem(), "dream", LONG_DREAM, seed=6)
    wait_for_progress(remote, job["id"])
    assert remote.store.request_cancel(remote.owner, job["id"]) == jobs.RUNNING
    wait_gone(kill_worker_main(deaf), timeout=5)
    assert remote.store.get(remote.owner, job["id"])["status"] == jobs.RUNNING

    fresh = stack.worker()
    # redelivered after the visibility timeout: the cancel is honoured, the fit not rerun
    record = remote.wait(job["id"], timeout=KILLABLE["visibility_timeout"] + 30)
    assert record["status"] == jobs.CANCELLED, record
    assert record["reason"] == "cancelled by user", record
    assert record["attempt"] == 1, record  # the second delivery did not run
    assert [s for s, _ in statuses(remote, job["id"])] == ["queued", "running", "cancelled"]
    wait_until(lambda: task_returns(fresh), 10, "the fresh worker's answer")
    assert task_returns(fresh) == ["cancelled"]
    assert stack.drained() == {"queued": 0, "unacked": 0}
