"""A worker that stops (SIGTERM, the end of its --lifetime) drains: it takes no more jobs,
its running fits send a last checkpoint, their jobs go back on their queue at once, and it
exits within `drain_seconds` (docs/cluster.md#drain-and-checkpoints).

Celery's warm shutdown already stops taking messages and waits for the running tasks; this
module, in the worker's main process, tells each pool process to drain (SIGUSR2: its
runner asks its fit for the checkpoint, gives the job back in the store and rejects the
message with requeue, worker/pool/runner.py), and keeps the deadline: pool processes still
busy near it are killed, and the worker exits. A job left so comes back as a lost run's
does (store/lost_runs.py), from its last periodic checkpoint.

Slurm (at the walltime, on scancel) sends SIGTERM to every process of the job at once:
this process drains on it as on any other SIGTERM, and the others leave it to this drain
(the pool processes wait for it: worker/pool/sigterm.py; the fit launcher and the fits
ignore it), so the drain is the same (docs/cluster.md#drain-and-checkpoints).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)
DRAIN_SIGNAL = signal.SIGUSR2  # the pool processes' (worker/pool/runner.py)


class Drain:
    def __init__(self, drain_seconds: float):
        self.drain_seconds = drain_seconds
        self.controller = None  # Celery's WorkController, once the worker is ready
        self.started: float | None = None

    def start(self) -> None:
        """Called in the main process when the warm shutdown begins (in its signal handler:
        it only sends signals and starts a timer)."""
        if self.started is not None:
            return
        self.started = time.monotonic()
        for pid in self.pool_pids():
            try:
                os.kill(pid, DRAIN_SIGNAL)
            except ProcessLookupError:
                pass
        # the pool processes are done well before (their fits get half the time); past
        # this, what still runs is killed and the worker exits before its deadline
        last = max(self.drain_seconds - 1.0, self.drain_seconds * 0.8)
        timer = threading.Timer(last, self._give_up)
        timer.daemon, timer.name = True, "bumps-drain-deadline"
        timer.start()

    def pool_pids(self) -> list[int]:
        pool = getattr(self.controller, "pool", None)
        try:
            return [p.pid for p in pool._pool._pool]  # pyright: ignore[reportOptionalMemberAccess]
        except AttributeError:  # not the prefork pool, or not started
            return []

    def _give_up(self) -> None:
        pids = self.pool_pids()
        log.warning(
            "drain: %g s are up; killing pool processes %s and exiting", self.drain_seconds, pids
        )
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)  # their fits die with them (PDEATHSIG)
            except ProcessLookupError:
                pass
        os._exit(1)
