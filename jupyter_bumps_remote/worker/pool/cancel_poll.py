"""Cancel requests reach a running fit from here: the pool process polls the job record (a
few times a second, not per iteration) and tells the fit process down its pipe, where a
local flag that bumps' abort_test reads is set (fit/cancel.py)."""

from __future__ import annotations

from collections.abc import Callable

from ..repeating import Repeating


class CancelPoll:
    def __init__(
        self, poll: Callable[[], str | None], interval: float, cancel: Callable[[str], None]
    ):
        """`poll()` returns the reason of a pending cancel request, or None; `cancel(reason)`
        passes it on."""
        self._poll, self._cancel = poll, cancel
        self._loop = Repeating(self._check, interval, "bumps-cancel-poll")

    def start(self) -> CancelPoll:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop(wait=False)

    def _check(self) -> bool:
        reason = self._poll()
        if reason:
            self._cancel(reason)
            return False
        return True
