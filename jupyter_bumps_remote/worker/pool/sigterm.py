"""A pool process leaves SIGTERM to its worker's main process.

Slurm (at the walltime, on scancel) sends SIGTERM to every process of a job at once. The
worker's main process drains on it (worker/main/drain.py): it sends each pool process the
drain's SIGUSR2, whose fit sends a last checkpoint and whose job goes back on its queue. A
pool process that died of the same SIGTERM, as billiard's handler has it do, would leave
its job to come back as a lost run instead: from its last periodic checkpoint, as a
counted attempt.

So a pool process, from its first job on, waits before it acts on SIGTERM: if the drain
comes within GRACE_SECONDS, the SIGTERM is moot (the drain ends the fit, and the pool
closing ends the process). If it does not, billiard's handler runs as if the signal came
then, so that Celery's own SIGTERMs still end the process, that much later: a cold
shutdown's cancel and the pool's terminate (the hard time limit follows its SIGTERM with a
SIGKILL 0.1 s later anyway).

A pool process does not drain on SIGTERM by itself (tried, and taken back): a SIGTERM
without a drain of the worker (Celery's cancel on a lost broker connection) left it
draining for good, handing back every later job.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

# The main process starts the drain in its own SIGTERM handler: milliseconds after the
# signal, a second or two on a machine loaded tenfold
GRACE_SECONDS = 5.0


class _Deferral:
    def __init__(self) -> None:
        self.previous: Any = signal.SIG_DFL  # billiard's handler: runs once the grace is over
        self.draining: Callable[[], bool] = lambda: False
        self.timer: threading.Timer | None = None
        self.over = False


_deferral = _Deferral()


def defer_sigterm(draining: Callable[[], bool]) -> None:
    """From now on, SIGTERM in this pool process waits for the worker's drain (`draining()`
    says whether it has come). Called at the start of each job, in the main thread, which
    runs the prefork pool's tasks; the pool process's initializer is too early (billiard
    sets its own SIGTERM handler after it)."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers are the main thread's (not the prefork pool)
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm:
        return
    _deferral.previous = signal.SIG_DFL if current is None else current
    _deferral.draining = draining
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _deferral.draining():
        return  # the drain ends the fit, and the pool's close this process
    if _deferral.over:
        _pass_on(signum, frame)
    elif _deferral.timer is None:
        timer = threading.Timer(GRACE_SECONDS, _grace_over)
        timer.daemon, timer.name = True, "bumps-sigterm-grace"
        _deferral.timer = timer
        timer.start()


def _grace_over() -> None:
    if _deferral.draining():
        return
    _deferral.over = True
    os.kill(os.getpid(), signal.SIGTERM)  # handled in the main thread: _pass_on


def _pass_on(signum: int, frame: FrameType | None) -> None:
    """What SIGTERM did before: billiard's handler (exit, its job lost to the worker)."""
    previous = _deferral.previous
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        os.kill(os.getpid(), signum)
