"""A running job's lease: proof, renewed every second or so, that its execution is alive.

kombu redelivers a message it has not seen acked within the visibility timeout, whether
or not a worker is still running it (a message reserved behind a long fit, a sweep racing
an ack, limits mis-set). A delivery that finds the job `running` under a live lease is such
a copy: it is acked without running (docs/reliability.md#4-a-fit-never-runs-twice-at-once).
A delivery that finds the lease lapsed takes the job over: its execution died (worker
killed, pool process lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ...store import transitions
from ...store.batch import OpGen
from ...store.taken_messages import TakenMessage
from .ticker import Every, ticker

log = logging.getLogger(__name__)


def claim(
    store,
    owner: str,
    job_id: str,
    worker: str,
    token: str,
    max_attempts: int,
    seconds: float,
    dispatch: str = "",
    take: TakenMessage | None = None,
) -> tuple[str, dict | None, bytes | None]:
    """`store.start_run` with the lease: (outcome, record, payload). A lease found alive is
    watched past its expiry: if it is still there, its holder renewed it and is alive
    ('duplicate'); if it lapsed, its holder is gone and this delivery runs the job.
    `dispatch`: the message's token. `take`: the message, taken off its queue by the
    first start ('gone': another consumer took it first; store/taken_messages.py)."""
    args = (owner, job_id, worker, max_attempts, token, seconds, dispatch)
    outcome, record, payload = store.start_run(*args, take=take)
    if outcome != "leased":
        return outcome, record, payload
    left = store.lease_left(owner, job_id)
    time.sleep((left or 0) + 0.05)
    outcome, record, payload = store.start_run(*args)
    return ("duplicate" if outcome == "leased" else outcome), record, payload


class LeaseKeeper:
    """Renews the lease from the process that waits for the fit; if another execution has
    taken the job over (this one looked dead: Redis away longer than the lease), calls
    `on_lost` so that this fit stops and records nothing."""

    def __init__(
        self,
        store,
        owner: str,
        job_id: str,
        token: str,
        seconds: float,
        on_lost: Callable[[], None],
    ):
        self.store, self.owner, self.job_id, self.token = store, owner, job_id, token
        self.seconds = seconds
        self.on_lost = on_lost
        self.lost = False
        self.released = False  # given up with the run's last write (stop_for_release)
        self._loop: Every | None = None

    def start(self) -> LeaseKeeper:
        # on the pool process's ticker thread, not one of its own (ticker.py)
        self._loop = ticker().every(self.seconds / 3, self._renew)
        return self

    def _renew(self) -> bool:
        if self.lost:  # on_lost raised last time: it was told once, that is enough
            return False
        if self.store.keep_lease(self.owner, self.job_id, self.token, self.seconds):
            return True
        log.warning("job %s was taken over by another execution; stopping", self.job_id)
        self.lost = True
        self.on_lost()
        return False

    def stop(self) -> None:
        """No renewal after this returns."""
        if self._loop is not None:
            self._loop.stop()

    def stop_for_release(self) -> Callable[[], OpGen[None]] | None:
        """Before the run's last write (its session file): stop renewing, and return what
        makes the operation that gives the lease up, sent in the same round trip (None if
        another execution took the job over)."""
        self.stop()
        if self.lost:
            return None
        self.released = True
        settings, owner, job_id, token = self.store.settings, self.owner, self.job_id, self.token
        return lambda: transitions.release_lease(settings, owner, job_id, token)

    def release(self) -> None:
        """Give the lease up once the job's end is recorded: a later delivery (there should
        be none) then finds the job terminal rather than waiting for the lease to lapse."""
        if not self.lost and not self.released:
            try:
                self.store.release_lease(self.owner, self.job_id, self.token)
            except Exception:  # noqa: BLE001 - it lapses by itself
                pass
