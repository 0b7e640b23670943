"""Watching a dead worker's job come back: when its message is on a queue again, and which
worker's advertisement (hence pid) a job's record names."""

from __future__ import annotations

import json
import time

import redis

from jupyter_bumps_remote.shared import versions
from jupyter_bumps_remote.store import Keys

POLL = 0.05  # s between two looks: the measured time is this precise


def queued_ids(client: redis.Redis, queue_prefix: str) -> set[str]:
    """Task ids in this environment's job queues."""
    queues = versions.worker_queues(queue_prefix, versions.environment())
    pipeline = client.pipeline(transaction=True)
    for queue in queues:
        pipeline.lrange(queue, 0, -1)
    return {json.loads(m)["headers"]["id"] for found in pipeline.execute() for m in found}


def wait_for_requeue(
    client: redis.Redis, prefix: str, queue_prefix: str, owner: str, job_id: str, timeout: float
) -> float:
    """time.time() when the job's message was seen back on its queue, or its next attempt
    started (a free worker takes a requeued message within milliseconds)."""
    record = Keys(prefix).job(owner, job_id)
    deadline = time.monotonic() + timeout
    while True:
        now = time.time()
        if (
            job_id in queued_ids(client, queue_prefix)
            or int(client.hget(record, "attempt") or 0) > 1
        ):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not queued again within {timeout} s")
        time.sleep(POLL)


def advertised_pid(client: redis.Redis, prefix: str, name: str) -> int:
    """The pid of the worker `name`'s main process, from its advertisement."""
    raw = client.get(Keys(prefix).worker(name))
    assert raw is not None, f"worker {name} is not advertised"
    return int(json.loads(raw)["pid"])
