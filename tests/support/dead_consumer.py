"""A consumer that takes one message off a queue and dies before acking it, as a worker
SIGKILLed mid-fit leaves it: in kombu's unacked hash, where only the visibility timeout
(or a sweep for lost runs) gets it back on its queue."""

from __future__ import annotations

import subprocess
import sys

from .services import REPO

TAKE_AND_DIE = """
import os, sys
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.worker import make_app

app = make_app(WorkerSettings.from_env({}, redis_url=sys.argv[1]))
message = app.connection_for_read().default_channel.basic_get(sys.argv[2], no_ack=False)
print(message.delivery_tag if message is not None else "", flush=True)
os._exit(0)  # no ack, and no restore at shutdown: kombu's channel is never closed
"""


def take_and_die(redis_url: str, queue: str) -> str:
    """The delivery tag of the message taken ('' if the queue was empty)."""
    done = subprocess.run(
        [sys.executable, "-c", TAKE_AND_DIE, redis_url, queue],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=True,
    )
    return done.stdout.strip()
