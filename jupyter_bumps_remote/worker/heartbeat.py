"""Workers advertise themselves in Redis: environment, fitters, queue, capacity.

The server lists them (`GET workers`) and tells a job waiting for an environment that no
live worker has why it waits. An entry expires a few beats after its worker stops beating.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from .. import transport
from .settings import WorkerSettings


def worker_info(settings: WorkerSettings, name: str, concurrency: int) -> dict:
    from .. import jobs

    env = transport.environment()
    return {
        "name": name,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "environment": env,
        "environment_key": transport.environment_key(env),
        "queue": transport.queue_name(settings.queue_prefix, env),
        "fitters": sorted(jobs.fitters()),
        "concurrency": concurrency,
        "started": time.time(),
    }


class Heartbeat:
    def __init__(self, store, info: dict, interval: float):
        self.store = store
        self.info = info
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bumps-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.store.beat(
                    self.info["name"], {**self.info, "seen": time.time()}, ttl=3 * self.interval
                )
            except Exception:  # noqa: BLE001 - Redis away: beat again when it is back
                pass
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        try:
            self.store.forget_worker(self.info["name"])
        except Exception:  # noqa: BLE001 - the entry expires by itself
            pass
