"""Slurm jobs paired with the workers they run, and the work waiting for them, from Redis.

A worker that a Slurm job runs carries the job's id in its Celery name (slurm_script), and
advertises itself in Redis (`worker:{name}`, worker/main/heartbeat.py): the pair is made by
name. The fits waiting are the length of the environment's Celery queues (kombu's Redis
transport keeps a queue as lists, one per priority step); the fits a worker holds, running
or reserved, come from Celery's remote control (`inspect`), which each worker's main process
answers even while its fits run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from .slurm_client import SlurmJob
from .slurm_script import slurm_job_of

INSPECT_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class WorkerJob:
    """One Slurm job and the worker it runs (None: not started, or not yet advertised)."""

    job: SlurmJob
    worker: dict[str, Any] | None = None

    @property
    def name(self) -> str | None:
        return self.worker["name"] if self.worker else None

    @property
    def concurrency(self) -> int | None:
        value = self.worker.get("concurrency") if self.worker else None
        return value if isinstance(value, int) else None


def pair(jobs: Iterable[SlurmJob], workers: Iterable[dict], job_name: str) -> list[WorkerJob]:
    """Each Slurm job with the live worker named after it."""
    by_job: dict[str, dict] = {}
    for worker in workers:
        job_id = slurm_job_of(str(worker.get("name", "")), job_name)
        if job_id is not None:
            by_job[job_id] = worker
    return [WorkerJob(job, by_job.get(job.id)) for job in jobs]


def strays(jobs: Iterable[SlurmJob], workers: Iterable[dict], job_name: str) -> list[dict]:
    """Live workers named as this command names them whose Slurm job is not in the queue
    (another user's, or one whose advertisement has not expired yet)."""
    ids = {job.id for job in jobs}
    return [
        w
        for w in workers
        if (job_id := slurm_job_of(str(w.get("name", "")), job_name)) is not None
        and job_id not in ids
    ]


def queue_depth(client, queues: Iterable[str]) -> int:
    """Messages waiting in `queues`, every priority step's list counted, as kombu stores them."""
    from kombu.transport.redis import Channel

    names = [queue for queue in queues]
    lists = [
        f"{queue}{Channel.sep}{step}" if step else queue
        for queue in names
        for step in Channel.priority_steps
    ]
    if not lists:
        return 0
    with client.pipeline(transaction=False) as pipe:
        for name in lists:
            pipe.llen(name)
        return sum(int(n) for n in pipe.execute())


def held_fits(app, names: list[str], timeout: float = INSPECT_TIMEOUT) -> dict[str, int]:
    """Fits each named worker is running or has reserved; a worker that did not answer
    within `timeout` is left out (its load is unknown)."""
    if not names:
        return {}
    inspect = app.control.inspect(destination=names, timeout=timeout)
    held: dict[str, int] = {}
    for replies in (inspect.active() or {}, inspect.reserved() or {}):
        for name, tasks in replies.items():
            held[name] = held.get(name, 0) + len(tasks or [])
    return held
