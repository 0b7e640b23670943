"""`bumps-remote worker --lifetime SECONDS`: the worker stops by itself after that long.

The worker sends its own process SIGTERM, on which it drains: Celery's warm shutdown takes
no more messages, the running fits send a last checkpoint, their jobs go back on their queue
and the worker exits within `--drain-seconds` (worker/main/drain.py). Under Slurm the
lifetime is a few minutes short of the walltime (docs/cluster.md), so the worker goes before
Slurm kills it, and the next worker resumes its fits.
Minimal on purpose: a SIGTERM from Slurm and the end of the lifetime take the same path, so
whatever the worker learns to do on SIGTERM, it does at the end of its lifetime too.

The lifetime counts from the command's start, as the walltime does; the signal waits for
the worker to be ready, since before that Celery has not yet taken SIGTERM over and it
would kill the process outright.
"""

from __future__ import annotations

import os
import signal
import threading
import time


def stop_after(seconds: float) -> None:
    """Arm the stop: `seconds` from now, or as soon as the worker is ready if later."""
    from celery.signals import worker_ready

    deadline = time.monotonic() + seconds

    @worker_ready.connect(weak=False)
    def _arm(**_) -> None:
        timer = threading.Timer(
            max(0.0, deadline - time.monotonic()), os.kill, (os.getpid(), signal.SIGTERM)
        )
        timer.daemon = True  # never keeps the process alive
        timer.name = "bumps-lifetime"
        timer.start()
