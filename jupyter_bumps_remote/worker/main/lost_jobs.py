"""Each worker ends the jobs Redis lost, of every owner: `failed`, reason `lost`.

The sweep itself is store/reconcile.py, which a Jupyter server also runs for the owners it
serves. A server fenced to its owner's keys (JupyterHub, hub/redis_users.py) may not read
the queues, kombu's unacked hash or INFO, so under JupyterHub only the workers, which have
full rights, can sweep. Every `reconcile_interval` (WorkerSettings) a worker finds the
owners with active jobs by SCAN, and sweeps them with one Reconciler kept across sweeps (a
job must look orphaned on two of them); at once, and with tombstones for the records that
vanished, when Redis' run_id changed. Several workers sweeping at once end a job once: each
end is a conditional script (docs/design.md#redis-restarts-and-lost-jobs).
"""

from __future__ import annotations

import logging
import time

import redis.exceptions

from ...store import JobStore
from ...store.reconcile import CONFIRM_AFTER, Reconciler, RestartWatch, active_owners
from ..repeating import Repeating

log = logging.getLogger(__name__)
MAX_TICK = 5.0  # how often Redis' run_id is checked at most (one INFO call)


class LostJobsSweep:
    def __init__(self, store: JobStore, interval: float, worker_ttl: float):
        """`worker_ttl`: seconds after its last heartbeat that a worker is lost
        (`WorkerSettings.worker_lost_after`)."""
        self.store = store
        self.interval = interval
        self.reconciler = Reconciler(store.settings, CONFIRM_AFTER, worker_ttl)
        self._restarts = RestartWatch()
        self._data_lost = False
        self._last: float | None = None
        tick = min(interval, MAX_TICK) if interval > 0 else MAX_TICK
        self._loop = Repeating(self.step, tick, "bumps-lost-jobs", at_start=True)

    def start(self) -> LostJobsSweep:
        if self.interval > 0:
            self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop(wait=False)

    def step(self) -> bool:
        """One tick of the loop: note Redis' run_id, sweep if due; False ends the loop."""
        try:
            run_id = self.store.redis.info("server").get("run_id")
        except redis.exceptions.NoPermissionError as e:
            log.warning(
                "bumps-remote worker: no sweep for lost jobs: its Redis user may not run "
                "INFO, SCAN or read the queues (%s). Give the workers' user full rights, or "
                "set BUMPS_REMOTE_RECONCILE_INTERVAL=0",
                e,
            )
            return False  # ends the loop: the rights will not change under it
        # kept until a sweep has run through: Redis may go away again mid-sweep
        if self._restarts.restarted(run_id):
            log.warning("bumps-remote worker: Redis restarted (new run_id); looking for lost jobs")
            self._data_lost = True
        now = time.time()
        due = self._last is None or now - self._last >= self.interval
        if self._data_lost or due or self.reconciler.due(now):
            self._last = now
            self.sweep(self._data_lost)
            self._data_lost = False
        return True

    def sweep(self, data_lost: bool = False) -> list[tuple[str, str]]:
        """One sweep of every owner with active jobs, and of those seen active last time (after
        a restart without persistence their `active` key may be gone with their records)."""
        owners = self.store.run(active_owners(self.store.settings)) | set(self.reconciler.active)
        ended = []
        for owner in sorted(owners):
            for job_id, message in self.store.run(
                self.reconciler.sweep(owner, data_lost=data_lost)
            ):
                log.warning("bumps-remote worker: job %s of %s failed: %s", job_id, owner, message)
                ended.append((job_id, message))
        return ended
