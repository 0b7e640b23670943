"""Riding out a Redis restart while a fit runs (in its pool process, which writes for it).

A fit keeps computing while Redis is away: a progress event that cannot be stored is
dropped (its convergence rows go with the next one), and the writes that end the job are
retried until Redis is back, so that a restart never turns a good fit into a failed job.
"""

from __future__ import annotations

import logging
import time

import redis.exceptions

log = logging.getLogger(__name__)
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# How long a finished fit waits for Redis to store its outcome. Beyond it the worker has
# lost the broker too, and Celery cancels the task and redelivers the message instead.
PATIENCE = 120.0


def retrying(call, *args, patience: float = PATIENCE, **kwargs):
    """`call(*args, **kwargs)`, again after a pause while Redis cannot be reached."""
    deadline = time.monotonic() + patience
    pause = 0.2
    while True:
        try:
            return call(*args, **kwargs)
        except REDIS_DOWN as e:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("Redis not reachable (%s); trying again in %.1f s", e, pause)
            time.sleep(pause)
            pause = min(5.0, pause * 2)


def tolerant(send):
    """`send` that returns False instead of raising while Redis is away."""

    def send_or_drop(*args, **kwargs):
        try:
            return send(*args, **kwargs)
        except REDIS_DOWN:
            return False

    return send_or_drop
