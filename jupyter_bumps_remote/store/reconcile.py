"""Jobs that Redis no longer backs end `failed` with reason `lost`, never `queued` forever.

A Redis restarted without persistence (or restored from an older snapshot) can leave:
  - a `queued` record whose Celery message is gone: no worker will ever run it;
  - a `running` record whose worker has stopped (its heartbeat key `worker:{name}` is gone)
    with no message left for kombu to redeliver;
  - no record at all for a job that was queued or running: readers would get a bare 404.

A sweep, per owner, compares the owner's active records with the task ids in the job queues
and in kombu's unacked hash (the task id is the job id). A job must look orphaned on two
sweeps `confirm_after` seconds apart (kombu moves a message between the queue and the
unacked hash in two steps),
and a running one at least one heartbeat lifetime apart (after a restart the worker keys
come back with the next beat). Records that vanished are replaced by a small `failed` record
("tombstone") only when the caller saw Redis restart: an active record has no expiry and
cannot be deleted, so after a restart its absence means the data was lost.

Written as generators of store batches (see batch.py), so both the sync and the asyncio
store run it: `store.run(reconciler.sweep(owner))`. Two sweepers run it: the Jupyter server
for the owners it serves (server_ext/reconciling.py), and every worker for every owner with
active jobs (worker/main/lost_jobs.py), which a server fenced to its owner's keys cannot do
(it may not read the queues). Sweepers may overlap: each end is a conditional script (from
the status seen; a tombstone only where no record is), so a job ends once.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..shared import jobs
from .batch import Batch, OpGen, Script
from .codec import as_text, compact_json, decode_record, encode_record, flatten
from .events import status_event
from .keys import glob_escape
from .settings import StoreSettings
from .transitions import transition

LOST = "lost"
RETRY = "Retry it: job.retry() in the notebook, or Retry in the sidebar"
QUEUE_GONE = (
    "lost: its queue message is gone, so no worker will run it (Redis restarted without "
    "persistence, or lost data?). " + RETRY
)
WORKER_GONE = (
    "lost: its worker {worker} stopped and no queue message is left to run it again (Redis "
    "restarted without persistence, or lost data?). " + RETRY
)
RECORD_GONE = (
    "lost: Redis lost this job's record and problem while it was {status} (restarted without "
    "persistence?). Submit the problem again (submit(problem, ...) or %bumps_remote): "
    "job.retry() cannot, the problem is gone with it"
)
# kombu's Redis transport: delivered, not yet acked messages; priority queues beside the
# bare queue name for its default priority steps
KOMBU_UNACKED = "unacked"
KOMBU_PRIORITY_QUEUES = tuple(f"\x06\x16{p}" for p in (3, 6, 9))
REMEMBERED = (
    "status",
    "queue",
    "worker",
    "name",
    "fitter",
    "created",
    "tags",
    "options",
    "seed",
    "attempt",
    "max_attempts",
)
CHUNK = 500
# A job must look orphaned this long before it is ended: far above the milliseconds a
# message spends between kombu's queue and its unacked hash, or a record before its send.
CONFIRM_AFTER = 2.0
SCAN_COUNT = 1000


@dataclass
class Suspect:
    since: float
    status: str


class Reconciler:
    """What one process remembers between sweeps: the active jobs it saw and the suspects."""

    def __init__(self, settings: StoreSettings, confirm_after: float, worker_ttl: float):
        self.settings = settings
        self.confirm_after = confirm_after
        self.worker_ttl = worker_ttl
        self.active: dict[str, dict[str, dict]] = {}
        self.suspects: dict[tuple[str, str], Suspect] = {}
        # remembered jobs on their way into `active`: a server remembers on its IOLoop while
        # its sweep runs in a thread, and a deque's append and popleft are thread-safe
        self._remembered: deque[tuple[str, str, dict]] = deque()

    def remember(self, record: dict) -> None:
        """A job this process just created: known before the next sweep sees it (safe to
        call from any thread)."""
        fields = {k: record[k] for k in REMEMBERED if record.get(k) is not None}
        self._remembered.append((record["owner"], record["id"], fields))

    def _take_remembered(self) -> None:
        while self._remembered:
            owner, job_id, fields = self._remembered.popleft()
            self.active.setdefault(owner, {})[job_id] = fields

    def due(self, now: float) -> bool:
        """A suspect's confirmation time has come."""
        return any(now - s.since >= self._wait(s.status) for s in self.suspects.values())

    def _wait(self, status: str) -> float:
        if status == jobs.QUEUED:
            return self.confirm_after
        return max(self.confirm_after, self.worker_ttl)

    def sweep(
        self, owner: str, data_lost: bool = False, now: float | None = None
    ) -> OpGen[list[tuple[str, str]]]:
        """End the owner's orphaned jobs; returns [(job id, message)] of those it ended."""
        now = time.time() if now is None else now
        keys = self.settings.keys
        self._take_remembered()
        (ids,) = yield Batch([("ZRANGE", keys.index(owner), 0, -1)])
        ids = [as_text(i) for i in ids]
        records: dict[str, dict] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            replies = yield Batch([("HMGET", keys.job(owner, i), *REMEMBERED) for i in chunk])
            for job_id, values in zip(chunk, replies, strict=True):
                raw = {k: v for k, v in zip(REMEMBERED, values, strict=True) if v is not None}
                if raw:
                    records[job_id] = decode_record(raw)
        ended = []
        if data_lost:
            for job_id, seen in self.active.get(owner, {}).items():
                if job_id not in records and (yield from self._tombstone(owner, job_id, seen)):
                    ended.append((job_id, RECORD_GONE.format(status=seen["status"])))
        active = {i: r for i, r in records.items() if r.get("status") in jobs.ACTIVE}
        if active:
            self.active[owner] = active
        else:  # nothing to remember: a sweeper of every owner would keep them all forever
            self.active.pop(owner, None)
        for key in [k for k in self.suspects if k[0] == owner and k[1] not in active]:
            del self.suspects[key]
        if not active:
            return ended
        in_broker = yield from self._broker_ids({r.get("queue") for r in active.values()})
        names = sorted({r.get("worker", "") for r in active.values()} - {""})
        alive = set()
        if names:
            found = yield Batch([("EXISTS", keys.worker(name)) for name in names])
            alive = {name for name, n in zip(names, found, strict=True) if n}
        for job_id, record in active.items():
            key, status = (owner, job_id), record["status"]
            orphan = job_id not in in_broker and (
                status == jobs.QUEUED or record.get("worker") not in alive
            )
            suspect = self.suspects.get(key)
            if not orphan:
                self.suspects.pop(key, None)
            elif suspect is None or suspect.status != status:
                self.suspects[key] = Suspect(now, status)
            elif now - suspect.since >= self._wait(status):
                del self.suspects[key]
                message = (
                    QUEUE_GONE
                    if status == jobs.QUEUED
                    else WORKER_GONE.format(worker=record.get("worker") or "?")
                )
                if (yield from self._mark_lost(owner, job_id, record, message)):
                    ended.append((job_id, message))
        return ended

    def _broker_ids(self, queues: set[str | None]) -> OpGen[set[str | None]]:
        """Task ids of every message in these queues or delivered and not yet acked. A
        session build's message, in the unacked hash, has a task id that is no job's
        (server_ext/session_builds.task_id): it neither stands for a job nor hides one."""
        names = [
            q + suffix
            for q in sorted(q for q in queues if q)
            for suffix in ("", *KOMBU_PRIORITY_QUEUES)
        ]
        replies = yield Batch(
            [("LRANGE", name, 0, -1) for name in names] + [("HVALS", KOMBU_UNACKED)],
            transaction=True,  # one snapshot of the queues and the unacked hash
        )
        ids = set()
        for raw in (m for reply in replies[:-1] for m in reply):
            ids.add(_task_id(json.loads(raw)))
        for raw in replies[-1]:
            ids.add(_task_id(json.loads(raw)[0]))  # [message, exchange, routing key]
        return ids

    def _mark_lost(
        self, owner: str, job_id: str, record: dict[str, Any], message: str
    ) -> OpGen[bool]:
        error = {"type": "JobLost", "message": message, "traceback": ""}
        fields = {"finished": time.time(), "error": error, "reason": LOST}
        event = status_event({**record, "id": job_id}, jobs.FAILED, error=error, reason=LOST)
        # only from the state seen: a job that started or ended meanwhile is left alone
        allowed = (record["status"],)
        return (
            yield from transition(self.settings, owner, job_id, jobs.FAILED, fields, event, allowed)
        )

    def _tombstone(self, owner: str, job_id: str, seen: dict[str, Any]) -> OpGen[bool]:
        keys = self.settings.keys
        message = RECORD_GONE.format(status=seen["status"])
        error = {"type": "JobLost", "message": message, "traceback": ""}
        record = {
            **seen,
            "id": job_id,
            "owner": owner,
            "status": jobs.FAILED,
            "reason": LOST,
            "error": error,
            "finished": time.time(),
        }
        event = status_event(record, jobs.FAILED, error=error, reason=LOST)
        (done,) = yield Batch(
            [
                Script(
                    "tombstone",
                    [
                        keys.job(owner, job_id),
                        keys.events(owner, job_id),
                        keys.owner_events(owner),
                        keys.index(owner),
                    ],
                    [
                        self.settings.events_maxlen,
                        compact_json(event),
                        seen.get("created") or time.time(),
                        self.settings.result_ttl,
                        job_id,
                        *flatten(encode_record(record)),
                    ],
                )
            ]
        )
        return bool(done)


class RestartWatch:
    """Tells a Redis restart by its INFO `run_id`: after one, records may be gone."""

    def __init__(self) -> None:
        self.run_id: str | None = None

    def restarted(self, run_id: str | None) -> bool:
        """Whether `run_id` (just read) differs from the one seen before; the first is not."""
        changed = self.run_id is not None and run_id != self.run_id
        self.run_id = run_id
        return changed


def active_owners(settings: StoreSettings) -> OpGen[set[str]]:
    """Owners with queued or running jobs, from their `active` keys by SCAN: only for a
    Redis user that may list every key (a worker), never for one fenced to its owner."""
    keys = settings.keys
    # {prefix}u:{owner}:active: the owner's part is what lies between head and tail
    head = keys.owner("")[:-1]
    tail = keys.active("")[len(head) :]
    pattern = glob_escape(head) + "*" + glob_escape(tail)
    owners: set[str] = set()
    cursor: Any = 0
    while True:
        ((cursor, found),) = yield Batch([("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)])
        for key in map(as_text, found):
            quoted = key[len(head) : -len(tail)]
            if ":" not in quoted:  # a quoted owner holds no ':' (keys.py)
                owners.add(unquote(quoted))
        if int(cursor) == 0:
            return owners


def _task_id(message: dict[str, Any]) -> str | None:
    return (message.get("headers") or {}).get("id")
