"""A step repeated on a daemon thread: heartbeats, lease renewals, cancel polls.

Each of them talks to Redis now and then while the process does its real work, and must
outlive a Redis blip: an exception in a step is dropped and the next beat tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Repeating:
    def __init__(
        self, step: Callable[[], bool | None], interval: float, name: str, at_start: bool = False
    ):
        """`step()` runs every `interval` seconds (first at once if `at_start`) until
        `stop()`, or until it returns False."""
        self._step = step
        self._interval = interval
        self._at_start = at_start
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Repeating:
        self._thread.start()
        return self

    def stop(self, wait: bool = True) -> None:
        self._stopped.set()
        if wait and self._thread.ident is not None:
            self._thread.join()

    def _run(self) -> None:
        if not self._at_start and self._stopped.wait(self._interval):
            return
        while True:
            try:
                if self._step() is False:
                    return
            except Exception:  # noqa: BLE001, S110 - Redis away: the next beat tries again
                pass
            if self._stopped.wait(self._interval):
                return
