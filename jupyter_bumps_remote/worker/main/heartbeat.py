"""Workers advertise themselves in Redis: environment, fitters, queues, capacity.

The server lists them (`GET workers`) and tells a job waiting for an environment that no
live worker has why it waits. An entry expires `HEARTBEATS_TO_LOSE` beats after its worker
stops beating: the worker is then lost, and the sweeps queue its running fits again. Each
worker is one of those sweepers: at every beat it requeues the runs of workers that died
(store/lost_runs.py), so a dead worker's fit comes back even where no Jupyter server
watches its owner (docs/design.md#workers-that-die).
"""

from __future__ import annotations

import logging
import os
import socket
import time

from ...shared import versions
from ...shared.settings import HEARTBEATS_TO_LOSE, WorkerSettings
from ...store.lost_runs import LostRuns
from ..repeating import Repeating

log = logging.getLogger(__name__)
# A lapsed lease must be seen at two beats in a row: after a Redis blip a run's keeper takes
# its lease back within a second, well before the next beat.
CONFIRM_AFTER = 1.0


def worker_info(
    settings: WorkerSettings, name: str, concurrency: int, queues: list[str] | None = None
) -> dict:
    """What the worker advertises; `queues`: those it consumes (default: those it would)."""
    from .fit_launcher import offered_fitters

    env = versions.served_environment()
    return {
        "name": name,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        # Python, bumps, numpy and the model libraries that import here
        "environment": env,
        "environment_key": versions.environment_key(env),
        # one queue per combination of its model libraries, then their session builds'
        # queues (versions.consumed_queues)
        "queues": queues or versions.consumed_queues(settings.queue_prefix, env),
        # its fit launcher's (fit_launcher.py): this process does not import bumps.fitters
        "fitters": offered_fitters(),
        "concurrency": concurrency,
        "started": time.time(),
    }


class Heartbeat:
    def __init__(self, store, info: dict, interval: float):
        self.store = store
        self.info = info
        self.interval = interval
        self.lost_after = HEARTBEATS_TO_LOSE * interval
        self.lost_runs = LostRuns(store.settings, self.lost_after, CONFIRM_AFTER)
        self._loop = Repeating(self._beat, interval, "bumps-heartbeat", at_start=True)

    def start(self) -> Heartbeat:
        self._loop.start()
        return self

    def _beat(self) -> None:
        self.store.beat(self.info["name"], {**self.info, "seen": time.time()}, ttl=self.lost_after)
        self.requeue_lost_runs()

    def requeue_lost_runs(self) -> None:
        for run in self.store.run(self.lost_runs.sweep()):
            log.warning("bumps-remote: %s", run.describe())

    def stop(self) -> None:
        self._loop.stop(wait=False)
        try:
            self.store.forget_worker(self.info["name"])
        except Exception:  # noqa: BLE001 - the entry expires by itself
            pass
