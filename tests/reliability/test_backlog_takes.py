"""A pool process takes its owner's next queued fit off the queue itself (worker/pool/
backlog.py): the queue's order is kept, another owner's message ends the take, and a taken
job keeps every guarantee of a delivered one: a drain gives it back to the head of its
queue, a killed worker's taken job is requeued by the sweep for lost runs and completes on
another worker (docs/design.md#a-sweeps-jobs-in-fewer-fit-processes)."""

from __future__ import annotations

import json
import os
import re
import signal
import uuid

from jupyter_bumps_remote.shared import jobs

from ..conftest import Remote
from ..support.checkpoints import wait_for_checkpoint
from ..support.job_executions import task_returns
from ..support.problems import gaussian_problem
from ..support.waiting import wait_until
from .conftest import kill_worker_main

SETTINGS = {
    "heartbeat_interval": 1.0,  # a worker is lost 3 s after its last beat
    "checkpoint_interval": 0.3,
    "time_limit": 600,
    "soft_time_limit": 590,
    "visibility_timeout": 3600,  # not what brings a job back
}
DRAIN_SECONDS = 8.0
# a DREAM fit of ~6 s on an idle CPU (3 parameters, 30 chains, 2 ms per model call)
LONG_FIT = ("dream", {"steps": 100, "burn": 0})
SLOW = {"model": "slow_gaussian", "DELAY": 0.002}


def taken(worker) -> list[tuple[str, str]]:
    """(job id, outcome) of each job the worker's pool processes took off a queue."""
    return re.findall(r"job (\w+) of \S+, taken off queue \S+: (\w+)", worker.log.read_text())


def received(worker) -> list[str]:
    """The job ids of the fit messages Celery delivered to the worker."""
    return re.findall(r"Task bumps_remote\.fit\[(\w+)\] received", worker.log.read_text())


def test_a_backlog_runs_in_queue_order_taken_by_its_pool_process(stack_factory):
    stack = stack_factory(**SETTINGS)
    alice = stack.remote
    bob = Remote(stack.store, stack.app, f"bob-{uuid.uuid4().hex[:8]}")
    # queued before the worker starts: one process, so each runs after the one before
    order = [alice, alice, alice, bob, alice, alice]
    submitted = [(who, who.submit(gaussian_problem(), "lm")) for who in order]
    worker = stack.worker(concurrency=1)
    records = [who.wait(job["id"], timeout=120) for who, job in submitted]
    assert all(r["status"] == jobs.SUCCEEDED for r in records), records
    # the queue's order, whoever ran each
    started = [r["started"] for r in records]
    assert started == sorted(started), started
    ids = [job["id"] for _, job in submitted]
    # alice's second and third, and her last, taken after her job before; bob's message
    # ended the take: Celery delivered it, and her next after it
    wait_until(lambda: len(taken(worker)) == 3, timeout=30, what="the takes' log lines")
    assert taken(worker) == [(ids[i], "done") for i in (1, 2, 5)]
    assert received(worker) == [ids[i] for i in (0, 3, 4)]
    assert stack.drained() == {"queued": 0, "unacked": 0}  # each message acked


def test_a_drained_taken_job_goes_back_to_the_head_of_its_queue(stack_factory):
    stack = stack_factory(**SETTINGS, drain_seconds=DRAIN_SECONDS)
    remote = stack.remote
    bob = Remote(stack.store, stack.app, f"bob-{uuid.uuid4().hex[:8]}")
    first = remote.submit(gaussian_problem(), "lm")
    job = remote.submit(gaussian_problem(**SLOW), *LONG_FIT, seed=1)
    worker = stack.worker(concurrency=1)
    wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    later = bob.submit(gaussian_problem(), "lm")  # queued behind it
    os.kill(worker.process.pid, signal.SIGTERM)
    assert worker.process.wait(DRAIN_SECONDS * 2) == 0
    requeued = [e for e in remote.events(job["id"]) if e["type"] == "requeued"]
    assert [e["data"]["reason"] for e in requeued] == ["drained"]
    assert taken(worker) == [(job["id"], "given")]  # given back, not ended
    assert received(worker) == [first["id"]]  # the taken one never went through Celery
    assert task_returns(worker) == ["done"]  # the first job's task
    assert stack.celery_backlog() == {"queued": 2, "unacked": 0}
    record = stack.store.get(remote.owner, job["id"])
    assert record["status"] == jobs.RUNNING and int(record["drained"]) == 1
    second = stack.worker(concurrency=1)
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert record["attempt"] == 1, record  # the drained attempt does not count
    # first in line again: resumed before the job queued behind it
    assert received(second)[0] == job["id"]
    assert bob.wait(later["id"], timeout=60)["started"] > record["started"]
    assert stack.drained() == {"queued": 0, "unacked": 0}


def test_a_killed_workers_taken_job_is_requeued_and_completes_on_another(stack_factory):
    stack = stack_factory(**SETTINGS)
    remote = stack.remote
    first = remote.submit(gaussian_problem(), "lm")
    job = remote.submit(gaussian_problem(**SLOW), *LONG_FIT, seed=1)
    dead = stack.worker(concurrency=1)
    wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    assert received(dead) == [first["id"]]  # taken, not delivered
    # kept in kombu's unacked hash while it runs, as a delivered message is; the task's own
    # job's message acked before the take
    (entry,) = stack.redis.client().hvals("unacked")
    assert json.loads(entry)[0]["headers"]["id"] == job["id"]
    assert stack.celery_backlog() == {"queued": 0, "unacked": 1}
    kill_worker_main(dead)
    survivor = stack.worker(concurrency=1)  # its heartbeat sweeps for lost runs
    record = remote.wait(job["id"], timeout=180)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert record["attempt"] == 2, record
    assert received(survivor) == [job["id"]]
    assert stack.drained() == {"queued": 0, "unacked": 0}


def test_with_takes_off_every_job_is_a_celery_delivery(stack_factory):
    stack = stack_factory(**SETTINGS, take_backlog=0)
    ids = [stack.remote.submit(gaussian_problem(), "lm")["id"] for _ in range(4)]
    worker = stack.worker(concurrency=1)
    records = [stack.remote.wait(job_id, timeout=120) for job_id in ids]
    assert all(r["status"] == jobs.SUCCEEDED for r in records), records
    wait_until(lambda: len(task_returns(worker)) == 4, timeout=30, what="the tasks' returns")
    assert received(worker) == ids and taken(worker) == []
