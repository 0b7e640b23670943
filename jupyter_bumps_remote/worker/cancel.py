"""Cooperative cancel: a local flag that bumps' abort_test reads every iteration for free.

A background thread polls the job record (a few times a second, not per iteration) and
sets the flag; signals (the soft time limit) set it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class CancelWatch:
    def __init__(self, poll: Callable[[], str | None], interval: float):
        """`poll()` returns the reason of a pending cancel request, or None."""
        self._poll = poll
        self._interval = interval
        self._flag = threading.Event()
        self._stopped = threading.Event()
        self.reason: str | None = None

    def __call__(self) -> bool:
        return self._flag.is_set()

    def set(self, reason: str) -> None:
        if not self._flag.is_set():
            self.reason = reason
            self._flag.set()

    def start(self) -> CancelWatch:
        threading.Thread(target=self._watch, name="cancel-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(self._interval) and not self._flag.is_set():
            try:
                reason = self._poll()
            except Exception:  # noqa: BLE001 - Redis blip: keep fitting, ask again next time
                continue
            if reason:
                self.set(reason)
