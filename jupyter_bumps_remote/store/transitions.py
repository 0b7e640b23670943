"""A job's life after creation: start, lease, progress, cancel, finish. Each state change is
one Lua script (lua/), so a terminal state is final however late or duplicated a message
arrives."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ..shared import jobs
from .batch import Batch, OpGen, Script
from .codec import as_text, compact_json, decode_record, encode_record, flatten, summary_json
from .errors import JobNotFound, TransitionRefused
from .events import status_event
from .quotas import RECOUNT_EVERY, session_refused
from .records import get
from .settings import StoreSettings
from .taken_messages import TakenMessage

# the cancel reason of a fit whose record is gone or ended under it: nothing left to record
LOST_RUN = "lost"
PAYLOAD_EXPIRED = (
    "its problem expired while it waited in the queue: no worker took it within "
    "c.BumpsRemote.payload_ttl. Submit the problem again (it cannot be retried: the "
    "problem is gone)"
)


def transition_keys(settings: StoreSettings, owner: str, job_id: str) -> list[str]:
    """KEYS of the state-change scripts: job hash, job events, owner events, payload,
    result, session, the owner's usage (bytes, usage, active: quotas.py), which a job
    that ends changes, and the fit's checkpoint, which expires with the record."""
    keys = settings.keys
    job, payload, events, result, session, checkpoint = keys.job_keys(owner, job_id)
    return [
        job,
        events,
        keys.owner_events(owner),
        payload,
        result,
        session,
        keys.job_bytes(owner),
        keys.usage(owner),
        keys.active(owner),
        checkpoint,
    ]


# What start.lua replaces in the status events it writes by the record's field, as JSON
NAMED = {field: f"@@record.{field}@@" for field in ("name", "fitter", "reason")}
NAMED_RECORD = {"name": NAMED["name"], "fitter": NAMED["fitter"]}


def start(
    settings: StoreSettings,
    owner: str,
    job_id: str,
    worker: str,
    max_attempts: int,
    lease: str = "",
    lease_seconds: float = 0,
    dispatch: str = "",
) -> OpGen[tuple[str, dict[str, Any] | None]]:
    """`start_run` without the payload (see there)."""
    outcome, record, _ = yield from start_run(
        settings, owner, job_id, worker, max_attempts, lease, lease_seconds, dispatch, False
    )
    return outcome, record


def start_run(
    settings: StoreSettings,
    owner: str,
    job_id: str,
    worker: str,
    max_attempts: int,
    lease: str = "",
    lease_seconds: float = 0,
    dispatch: str = "",
    with_payload: bool = True,
    take: TakenMessage | None = None,
) -> OpGen[tuple[str, dict[str, Any] | None, bytes | None]]:
    """Mark a delivered job running and give its lease to token `lease` (none if
    `lease_seconds` is 0). `dispatch`: the token its message carries, which must be the
    record's (dispatch.new_job). Returns (outcome, record) where outcome is one of 'started',
    'missing', 'terminal' (nothing to do), 'forged' (the message's token is not the job's:
    nothing done), 'exhausted' (failed now), 'leased' (a live
    execution holds the job: this delivery is a copy), 'cancelled' (a cancel asked
    while its execution was lost: cancelled now) or 'expired' (its payload expired while it
    was queued: failed now, saying so), the record read in the same script after it, and
    with `with_payload` the job's payload if it started: one round trip. Its status events
    name the job as its record does: the script puts the record's name, fitter (and a
    cancel's reason) where the events built here hold `NAMED` marks. `take`: the job's
    message, at the head of its queue, taken off it in the same script (taken_messages.py);
    'gone' (nothing done) if it is no longer there."""
    record = dict(NAMED_RECORD, id=job_id)
    now = time.time()
    event = compact_json(status_event(record, jobs.RUNNING, worker=worker))
    lost = {
        "type": "WorkerLost",
        "message": f"worker lost {max_attempts} times while running this job; not retried",
        "traceback": "",
    }
    failed = compact_json(status_event(record, jobs.FAILED, error=lost))
    expired = {"type": "PayloadExpired", "message": PAYLOAD_EXPIRED, "traceback": ""}
    expired_event = compact_json(status_event(record, jobs.FAILED, error=expired))
    cancelled = compact_json(status_event(record, jobs.CANCELLED, reason=NAMED["reason"]))
    keys = [*transition_keys(settings, owner, job_id), settings.keys.lease(owner, job_id)]
    args = [
        worker,
        now,
        max_attempts,
        settings.events_maxlen,
        event,
        failed,
        compact_json(lost),
        settings.result_ttl,
        lease,
        int(lease_seconds * 1000),
        cancelled,
        compact_json(expired),
        expired_event,
        dispatch,
        "1" if with_payload else "",
    ]
    if take is not None:
        take_keys, take_args = take.take_keys_and_args()
        keys, args = keys + take_keys, args + take_args
    (reply,) = yield Batch([Script("start", keys, args)])
    outcome = as_text(reply[0])
    fields = reply[2] if len(reply) > 2 else None
    after = decode_record(dict(zip(fields[::2], fields[1::2], strict=True))) if fields else None
    payload = reply[3] if len(reply) > 3 else None
    return outcome, after, payload


def keep_lease(
    settings: StoreSettings, owner: str, job_id: str, token: str, seconds: float
) -> OpGen[bool]:
    """Renew the lease of the execution `token`; False if another execution holds it."""
    key = settings.keys.lease(owner, job_id)
    (reply,) = yield Batch([Script("lease", [key], [token, int(seconds * 1000), ""])])
    return bool(reply)


def release_lease(settings: StoreSettings, owner: str, job_id: str, token: str) -> OpGen[None]:
    key = settings.keys.lease(owner, job_id)
    yield Batch([Script("lease", [key], [token, 0, "release"])])


def lease_left(settings: StoreSettings, owner: str, job_id: str) -> OpGen[float | None]:
    """Seconds before the job's lease lapses unless renewed; None if there is none."""
    (ms,) = yield Batch([("PTTL", settings.keys.lease(owner, job_id))])
    return ms / 1000 if ms >= 0 else None


def finish(
    settings: StoreSettings,
    owner: str,
    job_id: str,
    status: str,
    error: dict[str, Any] | None = None,
    reason: str | None = None,
    partial: bool = False,
    summary: dict[str, Any] | None = None,
    session_follows: bool = False,
    run: str = "",
    record: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    last_progress: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> OpGen[bool]:
    """Move a job to a terminal state unless it already is in one. Returns True if moved.
    `run`: the token of the run that writes; refused if another run has taken the job over.

    `session_follows`: the fit process writes the session file right after this (see
    `put_session`), so the result is readable before that slower HDF5 write is done.

    A fit's end in one round trip: `record`, the job's record as its run started (its
    status event names the job: it is not read again); `result`, the summary to store first
    (as `put_result`); `last_progress`, the fit's last progress event (data, summary), stored
    after it (as `progress`); all in one script (lua/end_run.lua)."""
    assert status in jobs.TERMINAL
    if record is None:
        record = yield from get(settings, owner, job_id)
        if record is None:
            return False
    fields: dict[str, Any] = {
        "finished": time.time(),
        "error": error,
        "reason": reason,
        "partial": partial,
        "has_result": summary is not None,
    }
    if session_follows:
        fields["session"] = "writing"
    chisq = summary.get("chisq") if summary else None
    event = status_event(record, status, error=error, reason=reason, chisq=chisq)
    if result is None and last_progress is None:
        return (yield from transition(settings, owner, job_id, status, fields, event, run=run))
    data, progress_summary = last_progress or ({}, {})
    args = [
        status,
        ",".join(sorted(jobs.ACTIVE)),
        settings.events_maxlen,
        compact_json(event),
        settings.result_ttl,
        run,
        job_id,
        "" if result is None else summary_json(result),
        "" if last_progress is None else compact_json(data),
        compact_json({"job": job_id, **progress_summary}),
        *flatten(encode_record(fields)),
    ]
    keys = transition_keys(settings, owner, job_id)
    (reply,) = yield Batch([Script("end_run", keys, args)])
    return bool(reply[0])


def transition(
    settings: StoreSettings,
    owner: str,
    job_id: str,
    status: str,
    fields: dict[str, Any],
    event: dict[str, Any],
    allowed: Iterable[str] = jobs.ACTIVE,
    run: str = "",
) -> OpGen[bool]:
    """Move the job to `status` with `fields`, only from a status in `allowed`; True if it
    moved. An ended job expires `result_ttl` seconds later. `run`: the token of the run
    that writes (none: the server's or a sweep's change); a run that another has taken the
    job from changes nothing (lua/include/fence.lua)."""
    args = [
        status,
        ",".join(sorted(allowed)),
        settings.events_maxlen,
        compact_json(event),
        settings.result_ttl if status in jobs.TERMINAL else 0,
        run,
        *flatten(encode_record(fields)),
    ]
    (reply,) = yield Batch([Script("transition", transition_keys(settings, owner, job_id), args)])
    return bool(reply[0])


def request_cancel(
    settings: StoreSettings, owner: str, job_id: str, reason: str = "cancelled by user"
) -> OpGen[str]:
    """Cancel: a queued job ends now; a running one is flagged for its fit to stop.
    Returns the status after the request; raises TransitionRefused if finished."""
    record = yield from get(settings, owner, job_id)
    if record is None:
        raise JobNotFound(job_id)
    (reply,) = yield Batch([_cancel_script(settings, owner, job_id, record, reason)])
    ok, status = bool(reply[0]), as_text(reply[1])
    if not ok:
        raise TransitionRefused(status, "cancel")
    return status


def request_cancel_many(
    settings: StoreSettings, owner: str, job_ids: list[str], reason: str = "cancelled by user"
) -> OpGen[list[str]]:
    """request_cancel for each of the owner's jobs `job_ids` (a sweep's), in two round trips
    whatever their number: the records, then one script each. A job that had ended stays as
    it was (its script refuses). Returns the ids that are not the owner's jobs."""
    raws = yield Batch([("HGETALL", settings.keys.job(owner, job_id)) for job_id in job_ids])
    found = {job_id: decode_record(raw) for job_id, raw in zip(job_ids, raws, strict=True) if raw}
    if found:
        yield Batch([_cancel_script(settings, owner, i, r, reason) for i, r in found.items()])
    return [job_id for job_id in job_ids if job_id not in found]


def _cancel_script(
    settings: StoreSettings, owner: str, job_id: str, record: dict, reason: str
) -> Script:
    now = time.time()
    cancelled = compact_json(status_event(record, jobs.CANCELLED, reason=reason))
    requested = compact_json({"job": job_id, "reason": reason, "time": now})
    args = [settings.events_maxlen, cancelled, requested, reason, now, settings.result_ttl]
    return Script("cancel", transition_keys(settings, owner, job_id), args)


def progress(
    settings: StoreSettings,
    owner: str,
    job_id: str,
    data: dict[str, Any],
    summary: dict[str, Any],
    run: str = "",
) -> OpGen[str | None]:
    """Record progress of a running job: full `data` on the job stream, the compact
    `summary` on the job record and the owner stream. Ignored once the job is not running,
    or when written by a `run` that another run has taken the job from."""
    keys = transition_keys(settings, owner, job_id)[:3]
    summary_json = compact_json({"job": job_id, **summary})
    args = [settings.events_maxlen, compact_json(data), summary_json, run]
    (reply,) = yield Batch([Script("progress", keys, args)])
    return as_text(reply) if reply else None


def holds_job(settings: StoreSettings, owner: str, job_id: str, run: str) -> OpGen[bool]:
    """Whether `run` is the run that holds the job (the last to start it), whose writes the
    store takes (lua/include/fence.lua)."""
    (value,) = yield Batch([("HGET", settings.keys.job(owner, job_id), "run")])
    return value is not None and as_text(value) == run


def cancel_reason(settings: StoreSettings, owner: str, job_id: str) -> OpGen[str | None]:
    """The reason of a pending cancel request, or None. A running fit whose record is
    gone or already ended (Redis lost it: see reconcile.py) gets `LOST_RUN`."""
    key = settings.keys.job(owner, job_id)
    ((status, requested, reason),) = yield Batch(
        [("HMGET", key, "status", "cancel_requested", "reason")]
    )
    if as_text(status) != jobs.RUNNING:
        return LOST_RUN
    return (as_text(reason) or "cancelled") if as_text(requested) == "1" else None


def put_session(
    settings: StoreSettings,
    owner: str,
    job_id: str,
    data: bytes | None,
    error: str = "",
    run: str = "",
    deferred: bool = False,
    build: str = "",
) -> OpGen[bool]:
    """Store the session file (or why there is none) of a job whose status says
    `session: writing`. A file that would take the owner over their stored-bytes limit
    (quotas.py) is not stored: the record says `session: failed` and why. Returns False if
    the job is gone, or the write was refused.

    `deferred`: `data` is the recipe a worker builds the file from on request
    (`claim_build`), stored in its place (`session: deferred`). `build`: the token of the
    build that writes, refused unless that build holds the job's session."""
    keys = settings.keys
    script_keys = [
        keys.job(owner, job_id),
        keys.session(owner, job_id),
        keys.job_bytes(owner),
        keys.usage(owner),
    ]
    if data is None:
        state: list[Any] = ["failed", error]
    else:
        state = ["deferred" if deferred else "ready", data]
    args = [*state, job_id, keys.owner(owner), time.time(), RECOUNT_EVERY, run, build]
    (reply,) = yield Batch([Script("session", script_keys, args)])
    if isinstance(reply, list):  # over the limit: nothing was stored
        assert data is not None
        stored, limit = int(reply[0]), int(reply[1])
        why = session_refused(len(data), stored, limit)
        (reply,) = yield Batch([Script("session", script_keys, ["failed", why, *args[2:]])])
    return bool(reply)


def claim_build(
    settings: StoreSettings, owner: str, job_id: str, token: str, stale_seconds: float
) -> OpGen[str]:
    """A request for the session file of a `deferred` job: 'build' if it is now `building`
    under `token` (the caller sends the build message), else the state found ('building',
    'ready', 'failed', 'writing', 'none', 'missing'). A build older than `stale_seconds` is
    taken over (lua/session_build.lua)."""
    key = settings.keys.job(owner, job_id)
    args = [time.time(), stale_seconds, token, ""]
    (reply,) = yield Batch([Script("session_build", [key], args)])
    return as_text(reply[0])


def release_build(settings: StoreSettings, owner: str, job_id: str, token: str) -> OpGen[str]:
    """Give back the build claimed under `token` that could not be sent (the broker away):
    the job is `deferred` again for the next request, unless another build holds it."""
    key = settings.keys.job(owner, job_id)
    (reply,) = yield Batch([Script("session_build", [key], [time.time(), 0, token, "release"])])
    return as_text(reply[0])


def build_token(settings: StoreSettings, owner: str, job_id: str) -> OpGen[str | None]:
    """The token of the build that holds the job's session now (None: no build runs)."""
    key = settings.keys.job(owner, job_id)
    ((state, token),) = yield Batch([("HMGET", key, "session", "build_token")])
    return as_text(token) if as_text(state) == "building" and token else None
