"""Cancel requests reach a running fit from here: the pool process polls the job record (a
few times a second, not per iteration) and tells the fit process down its pipe, where a
local flag that bumps' abort_test reads is set (fit/cancel.py)."""

from __future__ import annotations

from collections.abc import Callable

from .ticker import Every, ticker


class CancelPoll:
    def __init__(
        self, poll: Callable[[], str | None], interval: float, cancel: Callable[[str], None]
    ):
        """`poll()` returns the reason of a pending cancel request, or None; `cancel(reason)`
        passes it on."""
        self._poll, self._cancel = poll, cancel
        self._interval = interval
        self._loop: Every | None = None

    def start(self) -> CancelPoll:
        # on the pool process's ticker thread, not one of its own (ticker.py)
        self._loop = ticker().every(self._interval, self._check)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop(wait=False)

    def _check(self) -> bool:
        reason = self._poll()
        if reason:
            self._cancel(reason)
            return False
        return True
