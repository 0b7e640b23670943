"""The dispatch token of a stored job, for tests that play a worker's part: a worker runs
a job only for the message that carries it (store/lua/start.lua)."""

from __future__ import annotations

from typing import Any

from jupyter_bumps_remote.store.codec import DISPATCH_FIELD, as_text


def token_of(store: Any, owner: str, job_id: str) -> str:
    """The token the job's message carries ('' for a job made without one); `store`: a
    sync JobStore."""
    raw = store.redis.hget(store.keys.job(owner, job_id), DISPATCH_FIELD)
    return as_text(raw) if raw is not None else ""
