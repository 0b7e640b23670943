"""Job records: creating, reading, listing and deleting a job and what is stored with it."""

from __future__ import annotations

import json
import time
from typing import Any

from ..shared import jobs
from .batch import Batch, OpGen
from .codec import as_text, compact_json, decode_record, encode_record, flatten
from .errors import JobNotFound, TransitionRefused
from .events import status_event, xadd
from .settings import StoreSettings

IDEMPOTENCY_TTL = 24 * 3600
# a filtered page reads the index in chunks this large at least: most jobs may not match
FILTERED_CHUNK = 200


def create(
    settings: StoreSettings,
    record: dict[str, Any],
    payload: bytes,
    idempotency_key: str | None = None,
) -> OpGen[tuple[dict[str, Any], bool]]:
    """Store a new queued job. Returns (record, True), or (the job created earlier with the
    same `idempotency_key`, False)."""
    keys = settings.keys
    owner, job_id = record["owner"], record["id"]
    if idempotency_key:
        idem = keys.idempotency(owner, idempotency_key)
        (taken,) = yield Batch([("SET", idem, job_id, "NX", "EX", IDEMPOTENCY_TTL)])
        if not taken:
            (existing,) = yield Batch([("GET", idem)])
            found = yield from get(settings, owner, as_text(existing))
            if found is not None:
                return found, False
    created = {"status": jobs.QUEUED, "attempt": 0, "created": time.time(), **record}
    event = compact_json(status_event(created, jobs.QUEUED))
    yield Batch(
        [
            ("HSET", keys.job(owner, job_id), *flatten(encode_record(created))),
            ("SET", keys.payload(owner, job_id), payload),
            ("ZADD", keys.index(owner), created["created"], job_id),
            xadd(settings, keys.events(owner, job_id), "status", event),
            xadd(settings, keys.owner_events(owner), "status", event),
        ],
        transaction=True,
    )
    return created, True


def get(settings: StoreSettings, owner: str, job_id: str) -> OpGen[dict[str, Any] | None]:
    """The job's record, or None."""
    (raw,) = yield Batch([("HGETALL", settings.keys.job(owner, job_id))])
    return decode_record(raw) if raw else None


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


def session(settings: StoreSettings, owner: str, job_id: str) -> OpGen[bytes | None]:
    (raw,) = yield Batch([("GET", settings.keys.session(owner, job_id))])
    return raw


def put_result(
    settings: StoreSettings, owner: str, job_id: str, summary: dict[str, Any]
) -> OpGen[None]:
    yield Batch([("SET", settings.keys.result(owner, job_id), compact_json(summary))])


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
    """Delete a finished job and everything stored with it."""
    record = yield from get(settings, owner, job_id)
    if record is None:
        raise JobNotFound(job_id)
    if record["status"] not in jobs.TERMINAL:
        raise TransitionRefused(record["status"], "delete")
    keys = settings.keys
    yield Batch(
        [("DEL", *keys.job_keys(owner, job_id)), ("ZREM", keys.index(owner), job_id)],
        transaction=True,
    )
    return True
