"""Workers advertise themselves in Redis: environment, fitters, queues, capacity.

The server lists them (`GET workers`) and tells a job waiting for an environment that no
live worker has why it waits. An entry expires a few beats after its worker stops beating.
"""

from __future__ import annotations

import os
import socket
import time

from ...shared import versions
from ...shared.settings import WorkerSettings
from ..repeating import Repeating


def worker_info(
    settings: WorkerSettings, name: str, concurrency: int, queues: list[str] | None = None
) -> dict:
    """What the worker advertises; `queues`: those it consumes (default: those it would)."""
    from ...shared import jobs

    env = versions.served_environment()
    return {
        "name": name,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        # Python, bumps, numpy and the model libraries that import here
        "environment": env,
        "environment_key": versions.environment_key(env),
        # one queue per combination of its model libraries (versions.worker_queues)
        "queues": queues or versions.worker_queues(settings.queue_prefix, env),
        "fitters": sorted(jobs.fitters()),
        "concurrency": concurrency,
        "started": time.time(),
    }


class Heartbeat:
    def __init__(self, store, info: dict, interval: float):
        self.store = store
        self.info = info
        self.interval = interval
        self._loop = Repeating(self._beat, interval, "bumps-heartbeat", at_start=True)

    def start(self) -> Heartbeat:
        self._loop.start()
        return self

    def _beat(self) -> None:
        self.store.beat(
            self.info["name"], {**self.info, "seen": time.time()}, ttl=3 * self.interval
        )

    def stop(self) -> None:
        self._loop.stop(wait=False)
        try:
            self.store.forget_worker(self.info["name"])
        except Exception:  # noqa: BLE001 - the entry expires by itself
            pass
