"""Job records: creating, reading, listing and deleting a job and what is stored with it.
Creation and deletion keep the owner's usage, which the limits count (quotas.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..shared import jobs
from .batch import Batch, Command, OpGen, Script
from .codec import as_text, compact_json, decode_record, encode_record, flatten, summary_json
from .errors import JobNotFound, TransitionRefused
from .events import decode_events, status_event
from .quotas import NO_LIMITS, RECOUNT_EVERY, Limits, many_refusal, refusal
from .settings import StoreSettings

IDEMPOTENCY_TTL = 24 * 3600
# a filtered page reads the index in chunks this large at least: most jobs may not match
FILTERED_CHUNK = 200


def create(
    settings: StoreSettings,
    record: dict[str, Any],
    payload: bytes,
    idempotency_key: str | None = None,
    limits: Limits = NO_LIMITS,
    message: bytes | None = None,
) -> OpGen[tuple[dict[str, Any], bool]]:
    """Store a new queued job unless one of the owner's `limits` refuses it (QuotaExceeded).
    Returns (record, True), or (the job created earlier with the same `idempotency_key`,
    False): a repeated request is answered whatever the limits say now. `message`: the
    job's Celery message (server_ext/fit_messages.py), pushed onto its queue
    (`record["queue"]`) in the same step, only if the job is created."""
    keys = settings.keys
    owner, job_id = record["owner"], record["id"]
    created = {"status": jobs.QUEUED, "attempt": 0, "created": time.time(), **record}
    event = compact_json(status_event(created, jobs.QUEUED))
    script_keys = [
        keys.job(owner, job_id),
        keys.payload(owner, job_id),
        keys.events(owner, job_id),
        *_owner_keys(keys, owner),
    ]
    if idempotency_key:
        script_keys.append(keys.idempotency(owner, idempotency_key))
    args = [
        job_id,
        created["created"],
        settings.events_maxlen,
        event,
        payload,
        *_limit_args(keys, owner, limits),
        *_message_args(record, message),
        *flatten(encode_record(created)),
    ]
    (reply,) = yield Batch([Script("create", script_keys, args)])
    outcome = as_text(reply[0])
    if outcome == "exists":
        found = yield from get(settings, owner, as_text(reply[1]))
        if found is not None:
            return found, False
        # expired between the script and this read: the script now finds the key free
        return (yield from create(settings, record, payload, idempotency_key, limits, message))
    if outcome != "created":
        raise refusal(limits, reply, len(payload))
    return created, True


def _owner_keys(keys, owner: str) -> list[str]:
    """The owner's keys that creating a job changes, in the order create.lua and
    create_many.lua read them."""
    return [
        keys.owner_events(owner),
        keys.index(owner),
        keys.active(owner),
        keys.submitted(owner),
        keys.job_bytes(owner),
        keys.usage(owner),
    ]


def _message_args(record: dict[str, Any], message: bytes | None) -> list[Any]:
    """The job's queue and message as the create scripts read them ('' and '': none)."""
    return [record["queue"], message] if message is not None else ["", ""]


def _limit_args(keys, owner: str, limits: Limits) -> list[Any]:
    """The owner's limits as create.lua and create_many.lua read them, in their order."""
    return [
        limits.payload_ttl,
        limits.max_active_jobs,
        limits.max_submissions_per_minute,
        limits.max_stored_bytes,
        keys.owner(owner),
        RECOUNT_EVERY,
        IDEMPOTENCY_TTL,
    ]


def create_many(
    settings: StoreSettings,
    owner: str,
    jobs_to_create: list[tuple[dict[str, Any], bytes]],
    idempotency_key: str | None = None,
    limits: Limits = NO_LIMITS,
    messages: list[bytes] | None = None,
) -> OpGen[tuple[list[dict[str, Any]], bool]]:
    """Store the owner's new queued jobs (records and payloads, in order), all or none: one
    script (lua/create_many.lua) checks the owner's `limits` for all of them together
    (QuotaExceeded refuses every one), then writes each as `create` does, `messages[i]`
    onto its queue with the i-th. Returns (records, True), or (the jobs created earlier with
    the same `idempotency_key`, those that still exist, False). One round trip, where
    `create` per job made one each."""
    keys = settings.keys
    now = time.time()
    script_keys = [
        *_owner_keys(keys, owner),
        # a batch's key apart from a single submit's: the two store different things
        keys.idempotency(owner, f"batch:{idempotency_key}")
        if idempotency_key
        else keys.usage(owner),
    ]
    args: list[Any] = [
        len(jobs_to_create),
        now,
        settings.events_maxlen,
        *_limit_args(keys, owner, limits),
        "1" if idempotency_key else "",
    ]
    created_records = []
    for i, (record, payload) in enumerate(jobs_to_create):
        job_id = record["id"]
        # a microsecond apart: the owner's listing (newest first) keeps the request's order
        created = {"status": jobs.QUEUED, "attempt": 0, "created": now + i * 1e-6, **record}
        fields = flatten(encode_record(created))
        script_keys += [keys.job(owner, job_id), keys.payload(owner, job_id)]
        script_keys.append(keys.events(owner, job_id))
        event = compact_json(status_event(created, jobs.QUEUED))
        message = messages[i] if messages is not None else None
        args += [job_id, repr(created["created"]), event, payload]
        args += [*_message_args(record, message), len(fields), *fields]
        created_records.append(created)
    (reply,) = yield Batch([Script("create_many", script_keys, args)])
    outcome = as_text(reply[0])
    if outcome == "exists":
        earlier = [as_text(job_id) for job_id in reply[1:]]
        found = yield from many(settings, owner, earlier)
        return [r for r in found.records if r is not None], False
    if outcome != "created":
        sizes = sum(len(payload) for _, payload in jobs_to_create)
        raise many_refusal(limits, reply, len(jobs_to_create), sizes)
    return created_records, True


def get(settings: StoreSettings, owner: str, job_id: str) -> OpGen[dict[str, Any] | None]:
    """The job's record, or None."""
    (raw,) = yield Batch([("HGETALL", settings.keys.job(owner, job_id))])
    return decode_record(raw) if raw else None


def get_with_result(
    settings: StoreSettings, owner: str, job_id: str, with_result: bool = True
) -> OpGen[tuple[dict[str, Any] | None, bytes | None]]:
    """The job's record (None if none) and, with `with_result`, its result summary as
    stored (JSON bytes; None if none or the record says it has none), in one round trip.
    The summary is read after the record: one that says `has_result` has it (the script
    that ends a job stores both)."""
    keys = settings.keys
    commands: list[Command] = [("HGETALL", keys.job(owner, job_id))]
    if with_result:
        commands.append(("GET", keys.result(owner, job_id)))
    raw, *summary = yield Batch(commands)
    record = decode_record(raw) if raw else None
    if record is None or not record.get("has_result") or not summary:
        return record, None
    return record, summary[0]


def get_after_newest_event(
    settings: StoreSettings, owner: str, job_id: str
) -> OpGen[tuple[str, dict[str, Any] | None]]:
    """The id of the job's newest event ("0" if none), read before its record, and the
    record (None if none), in one round trip: where to follow the job from, and where it
    stands then (no terminal event can slip in between)."""
    keys = settings.keys
    entries, raw = yield Batch(
        [
            ("XREVRANGE", keys.events(owner, job_id), "+", "-", "COUNT", 1),
            ("HGETALL", keys.job(owner, job_id)),
        ]
    )
    since = decode_events(entries)[0]["id"] if entries else "0"
    return since, (decode_record(raw) if raw else None)


def payload(settings: StoreSettings, owner: str, job_id: str) -> OpGen[bytes | None]:
    (raw,) = yield Batch([("GET", settings.keys.payload(owner, job_id))])
    return raw


def result(settings: StoreSettings, owner: str, job_id: str) -> OpGen[dict[str, Any] | None]:
    raw = yield from result_json(settings, owner, job_id)
    return json.loads(raw) if raw else None


def result_json(settings: StoreSettings, owner: str, job_id: str) -> OpGen[bytes | None]:
    """The summary as stored (JSON bytes): what the server passes on without parsing."""
    (raw,) = yield Batch([("GET", settings.keys.result(owner, job_id))])
    return raw


@dataclass
class Many:
    """Several jobs read together (`many`): `since`, the id of the owner's newest event read
    before the records ("0" if none), where to follow them from; `records`, one per id asked,
    None for one that does not exist (another owner's too: keys are per owner); `results`,
    the summaries as stored (JSON bytes) of those whose results were read."""

    since: str
    records: list[dict[str, Any] | None]
    results: dict[str, bytes] = field(default_factory=dict)


def many(
    settings: StoreSettings, owner: str, job_ids: list[str], result_bytes: int = 0
) -> OpGen[Many]:
    """The records of `job_ids` in one round trip and, with `result_bytes`, their result
    summaries in a second: in the order asked, as many as fit in `result_bytes` (at least
    one), so that an answer stays bounded whatever the summaries weigh (a DREAM one is
    hundreds of kB); a caller asks again for the rest."""
    keys = settings.keys
    commands: list[Command] = [("XREVRANGE", keys.owner_events(owner), "+", "-", "COUNT", 1)]
    commands += [("HGETALL", keys.job(owner, job_id)) for job_id in job_ids]
    if result_bytes:
        commands += [("STRLEN", keys.result(owner, job_id)) for job_id in job_ids]
    replies = yield Batch(commands)
    newest, raws = replies[0], replies[1 : 1 + len(job_ids)]
    found = Many(
        decode_events(newest)[0]["id"] if newest else "0",
        [decode_record(raw) if raw else None for raw in raws],
    )
    if not result_bytes:
        return found
    chosen, total = [], 0
    for job_id, size in zip(job_ids, replies[1 + len(job_ids) :], strict=True):
        size = int(size or 0)
        if size and (not chosen or total + size <= result_bytes):
            chosen.append(job_id)
            total += size
        elif size:
            break  # the rest in the order asked: the next request's
    if chosen:
        summaries = yield Batch([("GET", keys.result(owner, job_id)) for job_id in chosen])
        found.results = {j: raw for j, raw in zip(chosen, summaries, strict=True) if raw}
    return found


def session(settings: StoreSettings, owner: str, job_id: str) -> OpGen[bytes | None]:
    (raw,) = yield Batch([("GET", settings.keys.session(owner, job_id))])
    return raw


def session_with_record(
    settings: StoreSettings, owner: str, job_id: str
) -> OpGen[tuple[dict[str, Any] | None, bytes | None]]:
    """The record and what its session key holds, read together (MULTI): the file when the
    record says `ready`; the recipe of a file built on request while it says `deferred` or
    `building`, which a reader must not take for the file (docs/design.md#session-files)."""
    keys = settings.keys
    raw, data = yield Batch(
        [("HGETALL", keys.job(owner, job_id)), ("GET", keys.session(owner, job_id))],
        transaction=True,
    )
    return (decode_record(raw) if raw else None), data


def put_result(
    settings: StoreSettings, owner: str, job_id: str, summary: dict[str, Any], run: str = ""
) -> OpGen[bool]:
    """Store the result summary (counted in the owner's stored bytes, never refused: the
    result is what the fit was for). False if the job is gone, or if `run` (the writing
    run's token) is not the run that holds the job."""
    keys = settings.keys
    script_keys = [
        keys.job(owner, job_id),
        keys.result(owner, job_id),
        keys.job_bytes(owner),
        keys.usage(owner),
    ]
    args = [job_id, summary_json(summary), run]
    (reply,) = yield Batch([Script("result", script_keys, args)])
    return bool(reply)


def list_jobs(
    settings: StoreSettings,
    owner: str,
    status: str | None = None,
    tag: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> OpGen[tuple[list[dict[str, Any]], int | None, int]]:
    """Jobs newest first. Returns (records, next_offset or None, total of the index)."""
    keys = settings.keys
    index = keys.index(owner)
    found: list[dict[str, Any]] = []
    position = offset
    chunk = limit if status is None and tag is None else max(limit, FILTERED_CHUNK)
    total = 0
    while len(found) < limit:
        total, ids = yield Batch(
            [("ZCARD", index), ("ZREVRANGE", index, position, position + chunk - 1)]
        )
        if not ids:
            return found, None, total
        raws = yield Batch([("HGETALL", keys.job(owner, as_text(i))) for i in ids])
        expired = []
        for job_id, raw in zip(ids, raws, strict=True):
            position += 1
            if not raw:  # the record expired (retention): drop it from the index
                expired.append(job_id)
                continue
            record = decode_record(raw)
            if status is not None and record.get("status") != status:
                continue
            if tag is not None and tag not in record.get("tags", ()):
                continue
            found.append(record)
            if len(found) == limit:
                break
        if expired:
            yield Batch([("ZREM", index, *expired)])
            position -= len(expired)
    more = position < total
    return found, (position if more else None), total


def delete(settings: StoreSettings, owner: str, job_id: str) -> OpGen[bool]:
    """Delete an ended job and everything stored with it (its bytes leave the owner's
    usage). Raises JobNotFound, or TransitionRefused for a job still active."""
    keys = settings.keys
    job, payload_key, events, result_key, session_key, checkpoint = keys.job_keys(owner, job_id)
    script_keys = [
        job,
        payload_key,
        events,
        result_key,
        session_key,
        keys.index(owner),
        keys.job_bytes(owner),
        keys.usage(owner),
        checkpoint,
    ]
    (reply,) = yield Batch([Script("delete", script_keys, [job_id])])
    outcome = as_text(reply[0])
    if outcome == "missing":
        raise JobNotFound(job_id)
    if outcome == "active":
        raise TransitionRefused(as_text(reply[1]), "delete")
    return True
