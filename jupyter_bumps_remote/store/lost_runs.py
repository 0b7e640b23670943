"""Runs whose worker died: their message goes back on its queue within a worker's lifetime.

kombu keeps a delivered message in its `unacked` hash until the worker acks it, and puts it
back on its queue only after the visibility timeout (12 h by default, above the longest
fit): it cannot tell a dead worker from a slow one. The job store can. A running job's
record names its worker (start.lua), whose advertisement `worker:{name}` expires a worker
lifetime after its last heartbeat (`WorkerSettings.worker_lost_after`), and its run holds a
lease renewed every second (docs/workers.md#one-run-at-a-time). A sweep reads the unacked
hash and puts back on its queue the message of a `running` job whose lease has lapsed and
  - whose worker's advertisement is gone (the worker died, or lost Redis for that long), or
  - whose lease stayed lapsed for a worker lifetime although its worker still beats (the
    run was cut short without its message being acked: a broker outage cancels it).
A lapsed lease must be seen on two sweeps `confirm_after` apart (a keeper takes its lease
back within a second after a Redis blip). The move itself, the checks made again then the
message out of the unacked hash onto the head of its queue, is one Lua script
(lua/requeue_lost.lua): two sweepers requeue a message once, and a run that took its lease
back meanwhile keeps its job. The delivery that follows takes the job over as its next
attempt (start.lua), which no delivery does while a live lease says a run holds it: a job
never runs twice at once.

Written as a generator of store batches (batch.py), run by the server's sweep loop
(server_ext/reconciling.py) and by every worker at each heartbeat (worker/main/heartbeat.py).
"""

from __future__ import annotations

import base64
import bisect
import json
import time
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from ..shared import jobs
from ..shared.task_names import FIT_TASK
from .batch import Batch, OpGen, Script
from .codec import as_text
from .settings import StoreSettings

# kombu's Redis transport: delivered, not yet acked messages (tag -> [message, exchange,
# routing key]) and their delivery times; a priority above 0 has a queue of its own
KOMBU_UNACKED = "unacked"
KOMBU_UNACKED_INDEX = "unacked_index"
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
KOMBU_SEP = "\x06\x16"
WORKER_GONE = "gone"  # its advertisement expired
LEASE_LAPSED = "lease lapsed"  # it still beats, but its run holds no lease


@dataclass(frozen=True)
class Delivery:
    """A fit task's message in kombu's unacked hash."""

    tag: str
    raw: bytes
    message: dict[str, Any]
    exchange: str
    routing_key: str
    job_id: str
    owner: str


@dataclass(frozen=True)
class Requeued:
    owner: str
    job_id: str
    worker: str
    why: str  # WORKER_GONE or LEASE_LAPSED
    attempt: int

    def describe(self) -> str:
        """For the logs of the process that requeued it."""
        cause = "stopped beating" if self.why == WORKER_GONE else "no longer runs it"
        return (
            f"job {self.job_id} of {self.owner} is queued again: its worker {self.worker} "
            f"{cause} (attempt {self.attempt} cut short)"
        )


class LostRuns:
    """What one sweeper remembers between sweeps: since when each lease looked lapsed."""

    def __init__(self, settings: StoreSettings, lost_after: float, confirm_after: float):
        self.settings = settings
        self.lost_after = lost_after
        self.confirm_after = confirm_after
        self.lapsed: dict[str, float] = {}  # delivery tag -> first sweep that saw no lease

    def due(self, now: float) -> bool:
        """A lapsed lease's confirmation time has come (the worker's advertisement aside,
        which the next sweep reads)."""
        return any(now - since >= self.confirm_after for since in self.lapsed.values())

    def sweep(
        self, owners: Container[str] | None = None, now: float | None = None
    ) -> OpGen[list[Requeued]]:
        """Requeue the lost runs of these owners (None: every owner); returns them."""
        now = time.time() if now is None else now
        keys = self.settings.keys
        (unacked,) = yield Batch([("HGETALL", KOMBU_UNACKED)])
        deliveries = [
            d
            for d in (_delivery(tag, raw) for tag, raw in (unacked or {}).items())
            if d is not None and (owners is None or d.owner in owners)
        ]
        if not deliveries:
            self.lapsed.clear()
            return []
        replies = yield Batch(
            [
                command
                for d in deliveries
                for command in (
                    ("HMGET", keys.job(d.owner, d.job_id), "status", "worker", "attempt", "queue"),
                    ("EXISTS", keys.lease(d.owner, d.job_id)),
                )
            ]
        )
        unleased = []
        for d, (fields, leased) in zip(deliveries, _pairs(replies), strict=True):
            status, worker, attempt, queue = (as_text(v) if v is not None else None for v in fields)
            if status == jobs.RUNNING and not leased:
                unleased.append((d, worker or "", int(attempt or 0), queue))
        # a lease renewed again, or a message acked meanwhile: forgotten
        self.lapsed = {d.tag: self.lapsed.get(d.tag, now) for d, *_ in unleased}
        confirmed = [u for u in unleased if now - self.lapsed[u[0].tag] >= self.confirm_after]
        if not confirmed:
            return []
        names = sorted({worker for _, worker, _, _ in confirmed})
        found = yield Batch([("EXISTS", keys.worker(name)) for name in names])
        alive = {name for name, n in zip(names, found, strict=True) if n}
        requeued = []
        for d, worker, attempt, queue in confirmed:
            gone = worker not in alive
            if not gone and now - self.lapsed[d.tag] < self.lost_after:
                continue
            (moved,) = yield Batch([self._requeue(d, worker, queue, gone)])
            if moved:
                del self.lapsed[d.tag]
                why = WORKER_GONE if gone else LEASE_LAPSED
                requeued.append(Requeued(d.owner, d.job_id, worker, why, attempt))
        return requeued

    def _requeue(self, d: Delivery, worker: str, queue: str | None, gone: bool) -> Script:
        keys = self.settings.keys
        return Script(
            "requeue_lost",
            [
                KOMBU_UNACKED,
                KOMBU_UNACKED_INDEX,
                _queue_key(d, queue),
                keys.job(d.owner, d.job_id),
                keys.lease(d.owner, d.job_id),
                keys.worker(worker),
            ],
            [d.tag, d.raw, json.dumps(redelivered(d.message)), worker, "1" if gone else "0"],
        )


def _pairs(replies: list[Any]) -> list[tuple[Any, Any]]:
    return list(zip(replies[0::2], replies[1::2], strict=True))


def _delivery(tag: Any, raw: Any) -> Delivery | None:
    """The fit task's message behind an unacked entry; None for anything else."""
    try:
        message, exchange, routing_key = json.loads(raw)
        headers = message.get("headers") or {}
        if headers.get("task") != FIT_TASK:
            return None
        # Celery's message protocol 2: body = [args, kwargs, embed], args = [job id, owner]
        args = json.loads(base64.b64decode(message["body"]))[0]
        job_id, owner = str(args[0]), str(args[1])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    raw = raw if isinstance(raw, bytes) else str(raw).encode()
    return Delivery(as_text(tag), raw, message, exchange, routing_key, job_id, owner)


def _queue_key(d: Delivery, record_queue: str | None) -> str:
    """The list kombu would restore the message to: Celery sends through the default
    exchange, whose queue is the routing key; the record's queue otherwise (where the
    server sent it). A priority above 0 has its own list, as kombu names it."""
    queue = d.routing_key if d.routing_key and not d.exchange else record_queue or d.routing_key
    try:
        priority = min(max(int((d.message.get("properties") or {}).get("priority") or 0), 0), 9)
    except (TypeError, ValueError):
        priority = 0
    step = KOMBU_PRIORITY_STEPS[bisect.bisect(KOMBU_PRIORITY_STEPS, priority) - 1]
    return f"{queue}{KOMBU_SEP}{step}" if step else queue


def redelivered(message: dict[str, Any]) -> dict[str, Any]:
    """The message as kombu restores it: flagged redelivered."""
    out = json.loads(json.dumps(message))
    out.setdefault("headers", {})["redelivered"] = True
    out.setdefault("properties", {}).setdefault("delivery_info", {})["redelivered"] = True
    return out
