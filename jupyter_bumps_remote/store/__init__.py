"""The job store in Redis, shared by the server (asyncio) and the worker (sync).

Every operation is written once, as a generator of `Batch`es of Redis commands that is sent
each batch's replies (batch.py): job records (records.py), state changes (transitions.py),
event streams (events.py), the worker registry (workers.py), the sweep for lost jobs
(reconcile.py), the per-owner limits (quotas.py). Two drivers run them (drivers.py):
`JobStore` on a sync `redis.Redis`, `AsyncJobStore` on `redis.asyncio.Redis`, each with
every operation as a typed method (binding.py). State changes are Lua scripts (lua/,
loaded by scripts.py), so a terminal state is final however late or duplicated a message
arrives. Key names: keys.py.
"""

from .batch import Batch, Command, OpGen, Script
from .codec import decode_record, encode_record
from .drivers import AsyncJobStore, JobStore
from .errors import JobNotFound, QuotaExceeded, TransitionRefused
from .events import decode_events, status_event
from .keys import DEFAULT_PREFIX, Keys
from .quotas import NO_LIMITS, Limits
from .records import IDEMPOTENCY_TTL
from .settings import (
    DEFAULT_EVENTS_MAXLEN,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RESULT_TTL,
    StoreSettings,
)
from .transitions import LOST_RUN

__all__ = [
    "DEFAULT_EVENTS_MAXLEN",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_PREFIX",
    "DEFAULT_RESULT_TTL",
    "IDEMPOTENCY_TTL",
    "LOST_RUN",
    "NO_LIMITS",
    "AsyncJobStore",
    "Batch",
    "Command",
    "JobNotFound",
    "JobStore",
    "Keys",
    "Limits",
    "OpGen",
    "QuotaExceeded",
    "Script",
    "StoreSettings",
    "TransitionRefused",
    "decode_events",
    "decode_record",
    "encode_record",
    "status_event",
]
