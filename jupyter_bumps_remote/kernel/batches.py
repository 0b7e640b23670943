"""A sweep's submissions in as few requests as fit: POST jobs/batch, up to MAX_JOBS jobs and
the server's max_payload_bytes per request (docs/design.md#a-sweep-in-one-request)."""

from __future__ import annotations

import json
import re

from ..shared.jobs import MAX_IDEMPOTENCY_KEY
from .client import Client, RemoteError

MAX_JOBS = 1000  # the server's MAX_BATCH_JOBS
# what a request adds around its members' JSON, with room to spare
ENVELOPE = 64
_MEMBER = re.compile(r"^jobs\[(\d+)\]")


def submit(
    client: Client, bodies: list[dict], idempotency_key: str | None, wait_for_worker: bool
) -> list[dict]:
    """Each body (as POST jobs takes it) created as a job; the records in the same order."""
    limit = int(client.info().get("max_payload_bytes") or 0)
    encoded = [json.dumps(body, separators=(",", ":")).encode() for body in bodies]
    records: list[dict] = []
    for number, (start, end) in enumerate(chunks([len(e) for e in encoded], limit)):
        tail = b'],"wait_for_worker":true}' if wait_for_worker else b"]}"
        request = b'{"jobs":[' + b",".join(encoded[start:end]) + tail
        try:
            records += client.submit_batch(request, chunk_key(idempotency_key, number))
        except RemoteError as e:
            if e.status in (404, 405) and not records:  # a server without the route
                return one_by_one(client, bodies, idempotency_key, wait_for_worker)
            raise _in_the_sweep(e, start, len(records), len(bodies)) from e
    return records


def chunks(sizes: list[int], limit: int) -> list[tuple[int, int]]:
    """[start, end) ranges of at most MAX_JOBS members whose JSON fits in `limit` bytes (a
    member alone over it goes alone: the server's 413 then says why)."""
    ranges, start, total = [], 0, ENVELOPE
    for i, size in enumerate(sizes):
        if i > start and (i - start >= MAX_JOBS or (limit and total + size + 1 > limit)):
            ranges.append((start, i))
            start, total = i, ENVELOPE
        total += size + 1
    if sizes:
        ranges.append((start, len(sizes)))
    return ranges


def chunk_key(key: str | None, number: int) -> str | None:
    """Each request's Idempotency-Key: the caller's for the first, then numbered."""
    if not key or number == 0:
        return key
    suffix = f"/{number}"
    return key[: MAX_IDEMPOTENCY_KEY - len(suffix)] + suffix


def _in_the_sweep(error: RemoteError, start: int, created: int, total: int) -> RemoteError:
    """The server's refusal, its `jobs[i]` the sweep's index, with what was created."""
    message = _MEMBER.sub(lambda m: f"jobs[{int(m[1]) + start}]", error.message)
    if created:
        message += (
            f" ({created} of the sweep's {total} jobs, sent in earlier requests, were "
            "created: list_jobs(tag=...) finds them)"
        )
    return type(error)(error.status, message)


def one_by_one(
    client: Client, bodies: list[dict], idempotency_key: str | None, wait_for_worker: bool
) -> list[dict]:
    records = []
    for i, body in enumerate(bodies):
        if wait_for_worker:
            body = {**body, "wait_for_worker": True}
        key = f"{idempotency_key[: MAX_IDEMPOTENCY_KEY - 8]}#{i}" if idempotency_key else None
        records.append(client.submit(body, key))
    return records
