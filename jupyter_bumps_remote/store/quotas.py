"""Per-owner limits: active jobs, stored bytes, submissions a minute, and what they count.

The server sets them (`c.BumpsRemote.max_active_jobs`, …; 0: no limit) and the script that
creates a job checks them (lua/create.lua): the checks and the creation are one atomic step,
so two concurrent submissions can never both take the last slot. The counts are kept by
every script that changes them (lua/include/usage.lua), whatever the limits, so that a limit
set later counts what is already there:

- active jobs: queued and running, the set `u:{owner}:active` (added by the creation,
  removed by each script that ends a job);
- stored bytes: per job, its payload, result summary and session file (their lengths) and,
  once the job ended, its event stream (as Redis' MEMORY USAGE reports it). Not counted: the
  record itself (about a kB), a running job's events, the owner's event stream (capped by
  events_maxlen). Each job's bytes are in `u:{owner}:bytes`, their sum in `u:{owner}:usage`:
  a check costs O(1) and a delete takes away exactly what the job added. Expiry (result_ttl,
  payload_ttl) removes keys without running a script, so the sum can only be too high; when
  it refuses a write, the script first recounts (drops the jobs whose record expired), at
  most once every RECOUNT_EVERY seconds because a recount reads every job of the owner;
- submissions: creations in the last 60 s, a sliding window (`u:{owner}:submitted`).

A session file is checked when the worker stores it (`put_session`): one that would take
the owner over their stored bytes is not stored, the job's `session` says why, and its result
stays. The worker reads the limit from the owner's usage hash, where the owner's server
writes it at each submission, so workers need no setting of their own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from .batch import Batch, OpGen
from .codec import as_text
from .errors import QuotaExceeded
from .settings import StoreSettings

# seconds between two recounts of an owner's stored bytes (see above)
RECOUNT_EVERY = 10
# Retry-After of the limits that no clock frees: a job ends, or the user deletes some.
ACTIVE_RETRY_AFTER = 30
BYTES_RETRY_AFTER = 60
SETTING = "c.BumpsRemote.{}"


@dataclass(frozen=True)
class Limits:
    """One owner's limits, named as the server's settings; 0: no limit. `payload_ttl`:
    seconds a queued job's payload is kept (0: until the job ends)."""

    max_active_jobs: int = 0
    max_stored_bytes: int = 0
    max_submissions_per_minute: int = 0
    payload_ttl: int = 0


NO_LIMITS = Limits()


def refusal(limits: Limits, reply: list[Any], size: int) -> QuotaExceeded:
    """The create script's refusal ({'rate', count, wait}, {'active', count} or {'bytes',
    stored}) as an exception whose message names the limit and its setting."""
    kind = as_text(reply[0])
    if kind == "rate":
        wait = max(1, math.ceil(float(as_text(reply[2]))))
        name = "max_submissions_per_minute"
        message = (
            f"{limits.max_submissions_per_minute} submissions a minute is the limit "
            f"({SETTING.format(name)}); the next one is possible in {wait} s"
        )
        return QuotaExceeded(name, message, wait)
    if kind == "active":
        name = "max_active_jobs"
        message = (
            f"{limits.max_active_jobs} active jobs (queued or running) is the limit "
            f"({SETTING.format(name)}); wait for one to end or cancel one"
        )
        return QuotaExceeded(name, message, ACTIVE_RETRY_AFTER)
    name = "max_stored_bytes"
    stored = int(reply[1])
    message = (
        f"{over_bytes('this job', size, stored, limits.max_stored_bytes)}; delete jobs you "
        "no longer need (their problems, results and session files count)"
    )
    return QuotaExceeded(name, message, BYTES_RETRY_AFTER)


def many_refusal(limits: Limits, reply: list[Any], count: int, size: int) -> QuotaExceeded:
    """The refusal of `count` jobs submitted together (lua/create_many.lua: all or none),
    naming the limit, what it counts now and the request's share of it."""
    kind = as_text(reply[0])
    what = (
        f"{count} jobs submitted together (none was created)"
        if count > 1
        else "the 1 job submitted (not created)"
    )
    if kind == "rate":
        name, limit = "max_submissions_per_minute", limits.max_submissions_per_minute
        wait = float(as_text(reply[2]))
        if wait < 0:
            message = (
                f"{what} are more than the limit of {limit} submissions a minute "
                f"({SETTING.format(name)}): send at most {limit} a minute"
            )
            return QuotaExceeded(name, message, 60)
        wait = max(1, math.ceil(wait))
        message = (
            f"{what} and the {int(reply[1])} of the last minute exceed the limit of {limit} "
            f"submissions a minute ({SETTING.format(name)}); they fit in {wait} s"
        )
        return QuotaExceeded(name, message, wait)
    if kind == "active":
        name, limit = "max_active_jobs", limits.max_active_jobs
        message = (
            f"{what} and your {int(reply[1])} active jobs (queued or running) exceed the "
            f"limit of {limit} ({SETTING.format(name)}); "
            + (
                f"send at most {limit} at once"
                if count > limit
                else "wait for some to end, cancel some, or send fewer"
            )
        )
        return QuotaExceeded(name, message, ACTIVE_RETRY_AFTER)
    name = "max_stored_bytes"
    message = (
        f"{over_bytes(what, size, int(reply[1]), limits.max_stored_bytes)}; delete jobs you "
        "no longer need (their problems, results and session files count)"
    )
    return QuotaExceeded(name, message, BYTES_RETRY_AFTER)


def over_bytes(what: str, size: int, stored: int, limit: int) -> str:
    left = max(0, limit - stored)
    return (
        f"{what} ({size_text(size)}) does not fit in your stored data's limit: "
        f"{size_text(left)} left of {size_text(limit)} ({SETTING.format('max_stored_bytes')})"
    )


def session_refused(size: int, stored: int, limit: int) -> str:
    """Why a session file was not stored (the record's `session_error`)."""
    return (
        f"{over_bytes('the session file', size, stored, limit)}; the result is kept. Delete "
        "jobs you no longer need, then retry the fit for a session file"
    )


def size_text(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def usage(settings: StoreSettings, owner: str) -> OpGen[dict[str, int]]:
    """What the owner's limits count now: active jobs, stored bytes (as last counted: a
    job that expired since the last recount is still in it), submissions in the last 60 s."""
    keys = settings.keys
    active, stored, submitted = yield Batch(
        [
            ("SCARD", keys.active(owner)),
            ("HGET", keys.usage(owner), "stored"),
            ("ZCOUNT", keys.submitted(owner), f"({time.time() - 60}", "+inf"),
        ]
    )
    return {
        "active_jobs": int(active),
        "stored_bytes": int(stored or 0),
        "submissions_last_minute": int(submitted),
    }
