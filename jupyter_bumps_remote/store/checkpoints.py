"""A running fit's checkpoints, and a draining worker giving its job back.

A fit process sends its fitter's state (DREAM, DE) every `checkpoint_interval` seconds; its
pool process stores the bytes as they came, for its own job, under the job's lease
(lua/checkpoint.lua). They are the fit's pickle: nothing outside the fit process of the
same job ever unpickles them (docs/design.md#checkpoints-and-drain). A redelivered job's
next run hands them to its fit, which resumes from them.
"""

from __future__ import annotations

import time
from typing import Any

from .batch import Batch, OpGen, Script
from .codec import compact_json
from .settings import StoreSettings


def put_checkpoint(
    settings: StoreSettings, owner: str, job_id: str, token: str, data: bytes
) -> OpGen[bool]:
    """Store the checkpoint of the run `token`; False if the job is not that run's."""
    keys = settings.keys
    script_keys = [
        keys.job(owner, job_id),
        keys.checkpoint(owner, job_id),
        keys.lease(owner, job_id),
        keys.job_bytes(owner),
        keys.usage(owner),
    ]
    (reply,) = yield Batch([Script("checkpoint", script_keys, [token, data, time.time()])])
    return bool(reply)


def checkpoint(settings: StoreSettings, owner: str, job_id: str) -> OpGen[bytes | None]:
    """The job's last checkpoint, as its fit sent it; None if it has none."""
    (raw,) = yield Batch([("GET", settings.keys.checkpoint(owner, job_id))])
    return raw


def drained(
    settings: StoreSettings, owner: str, job_id: str, token: str, event: dict[str, Any]
) -> OpGen[bool]:
    """The run `token` gives its job back (lua/drain.lua); False if it no longer held it."""
    keys = settings.keys
    script_keys = [keys.job(owner, job_id), keys.events(owner, job_id), keys.lease(owner, job_id)]
    args = [token, settings.events_maxlen, compact_json(event)]
    (reply,) = yield Batch([Script("drain", script_keys, args)])
    return bool(reply)
