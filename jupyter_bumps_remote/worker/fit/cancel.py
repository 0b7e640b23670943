"""Cooperative cancel: a local flag that bumps' abort_test reads every iteration for free.

A background thread polls the job record (a few times a second, not per iteration) and
sets the flag; signals (the soft time limit) set it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..repeating import Repeating


class CancelWatch:
    def __init__(self, poll: Callable[[], str | None], interval: float):
        """`poll()` returns the reason of a pending cancel request, or None."""
        self._poll = poll
        self._flag = threading.Event()
        self._loop = Repeating(self._check, interval, "cancel-watch")
        self.reason: str | None = None

    def __call__(self) -> bool:
        return self._flag.is_set()

    def set(self, reason: str) -> None:
        if not self._flag.is_set():
            self.reason = reason
            self._flag.set()

    def start(self) -> CancelWatch:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop(wait=False)

    def _check(self) -> bool:
        if self._flag.is_set():
            return False  # set by a signal meanwhile: nothing left to watch for
        reason = self._poll()
        if reason:
            self.set(reason)
            return False
        return True
