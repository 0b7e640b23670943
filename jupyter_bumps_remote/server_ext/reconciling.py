"""The server's sweeps for lost jobs, as one asyncio task whose ticks run in a thread.

It sweeps the owners this server has served (a sweep needs no user to be looking, but only
someone who looks cares). For jobs Redis lost (store/reconcile.py): every `interval`
seconds, at once when Redis restarted (its `run_id` changed: the data may be gone), and
when a suspect's confirmation is due. For runs whose worker died (store/lost_runs.py), at
every tick: their messages go back on their queue a worker's lifetime after its last beat.

A sweep reads and decodes every job of its owners and every message on their queues: tens
of milliseconds per thousand jobs, which on the IOLoop stalled every request and WebSocket
at each sweep (docs/design.md#a-sweeps-work-off-the-ioloop). So each tick runs in a thread,
on a sync store; the IOLoop only schedules it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.exceptions

from ..store import JobStore
from ..store.lost_runs import LostRuns, Requeued
from ..store.reconcile import CONFIRM_AFTER, Reconciler, RestartWatch
from .redis_errors import REDIS_ERRORS

log = logging.getLogger(__name__)
MAX_TICK = 5.0  # how often Redis' run_id is checked at most (one INFO call)


class ReconcileLoop:
    def __init__(self, store: JobStore, interval: float, worker_ttl: float):
        """`worker_ttl`: seconds after its last heartbeat that a worker is lost
        (`WorkerSettings.worker_lost_after`)."""
        self.store = store
        self.interval = interval
        self.reconciler = Reconciler(store.settings, CONFIRM_AFTER, worker_ttl)
        self.lost_runs = LostRuns(store.settings, worker_ttl, CONFIRM_AFTER)
        self.owners: set[str] = set()
        self._restarts = RestartWatch()
        self._due = False
        self._data_lost = False
        self._last = time.time()
        self._task: asyncio.Task | None = None
        # a thread of its own: a tick that waits out a Redis that does not answer holds it,
        # not the threads that serve the users' sweeps (off_loop.py)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="bumps-sweep")

    def watch(self, owner: str) -> None:
        """Sweep this owner's jobs from now on (the first time, at the next tick)."""
        if owner not in self.owners:
            self.owners.add(owner)
            self._due = True

    def remember(self, record: dict) -> None:
        """A job just created, known to the sweeps before they see it in Redis; nothing
        while no sweeps run (`reconcile_interval` 0, or a fenced server's, which stopped):
        no one would ever take it."""
        if self._task is not None and not self._task.done():
            self.reconciler.remember(record)

    def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # a tick under way ends on its own (the client's socket timeout bounds it)
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def _in_thread(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def _run(self) -> None:
        tick = min(self.interval, MAX_TICK)
        while True:
            try:
                await self._in_thread(self.tick)
            except redis.exceptions.NoPermissionError as e:
                # A server fenced to its owner's keys (JupyterHub, hub/redis_users.py) may
                # not read Redis' INFO, the queues or kombu's 'unacked' hash, which hold
                # every owner's messages: it leaves the sweeps to the workers, which requeue
                # dead workers' runs at every heartbeat (store/lost_runs.py) and end the
                # jobs Redis lost of every owner (worker/main/lost_jobs.py)
                log.warning(
                    "bumps-remote: no sweep for lost jobs from this server: its Redis user "
                    "may not read the job queues or kombu's 'unacked' hash (%s). Under "
                    "JupyterHub's fenced users that is as meant (the workers requeue the runs "
                    "of dead workers and end the jobs Redis lost); otherwise grant it read "
                    "access to them, or set c.BumpsRemote.reconcile_interval = 0",
                    e,
                )
                return
            # after NoPermissionError, which REDIS_ERRORS also holds (503 for requests)
            except REDIS_ERRORS:
                pass  # Redis is away: the next tick sees its new run_id when it is back
            except Exception:  # noqa: BLE001 - a bug here must not end the loop
                log.exception("bumps-remote: sweep for lost jobs failed")
            # a dead run seen: look again when its confirmation is due, not a whole tick later
            await asyncio.sleep(min(tick, CONFIRM_AFTER) if self.lost_runs.lapsed else tick)

    def tick(self) -> None:
        """One tick's sweeps, as they are due (blocking: in a thread, one tick at a time)."""
        # kept until a sweep has run through: Redis may go away again mid-sweep
        self._data_lost = self._redis_restarted() or self._data_lost
        self.requeue_lost_runs()
        now = time.time()
        due = self._due or now - self._last >= self.interval or self.reconciler.due(now)
        if self._data_lost or due:
            # before the owners are read: one watched meanwhile makes the next tick due
            self._due, self._last = False, now
            self.sweep(data_lost=self._data_lost)
            self._data_lost = False

    def _redis_restarted(self) -> bool:
        run_id = self.store.redis.info("server").get("run_id")
        restarted = self._restarts.restarted(run_id)
        if restarted:
            log.warning("bumps-remote: Redis restarted (new run_id); looking for lost jobs")
        return restarted

    def requeue_lost_runs(self) -> list[Requeued]:
        owners = frozenset(self.owners)  # watch() adds to it on the IOLoop meanwhile
        if not owners:
            return []
        requeued = self.store.run(self.lost_runs.sweep(owners))
        for run in requeued:
            log.warning("bumps-remote: %s", run.describe())
        return requeued

    def sweep(self, data_lost: bool = False) -> list[tuple[str, str]]:
        ended = []
        for owner in sorted(frozenset(self.owners)):
            for job_id, message in self.store.run(
                self.reconciler.sweep(owner, data_lost=data_lost)
            ):
                log.warning("bumps-remote: job %s of %s failed: %s", job_id, owner, message)
                ended.append((job_id, message))
        return ended
