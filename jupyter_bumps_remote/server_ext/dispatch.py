"""Turn a validated request into a stored job and a queued Celery message.

Shared by the server extension (async store, send in an executor) and by sync callers
(tests, the CLI): validation and the record are built here once.
"""

from __future__ import annotations

import json
import secrets

from ..shared import jobs, transport, versions
from ..shared.task_names import FIT_TASK
from ..store.codec import DISPATCH_FIELD


def new_job(
    owner: str,
    payload: dict | bytes | str,
    fitter: object,
    options: object = None,
    *,
    seed: object = None,
    name: object = None,
    tags: object = None,
    queue_prefix: str,
    max_attempts: int,
) -> tuple[dict, bytes]:
    """Validate a request; return the job record and the payload bytes to store.

    Raises JobInputError naming the field. The problem inside the payload is not decoded.
    """
    fitter_info = jobs.validate_fitter(fitter)
    clean_options = jobs.validate_options(fitter_info.id, options)
    try:
        envelope = transport.read_envelope(payload)
    except transport.PayloadError as e:
        raise jobs.JobInputError("payload", str(e)) from e
    raw = payload if isinstance(payload, bytes) else _to_bytes(payload)
    record = {
        "id": jobs.new_job_id(),
        "owner": owner,
        "name": jobs.validate_name(name, default=f"{fitter_info.id} fit"),
        "tags": jobs.validate_tags(tags),
        "fitter": fitter_info.id,
        "options": clean_options,
        "seed": jobs.validate_seed(seed),
        "environment": envelope["environment"],
        # which encoding carried the problem (docs/transport.md): read, never decoded, here
        "encoding": envelope["encoding"],
        "parameters": envelope.get("parameters") or [],
        "queue": versions.queue_name(queue_prefix, envelope["environment"]),
        "max_attempts": max_attempts,
        "payload_size": len(raw),
        # stored, never shown (store/codec.py); its message carries it, and a worker runs
        # no message without it (store/lua/start.lua): a user who may push onto the queues
        # cannot forge a message for another's job (docs/design.md#forged-and-dropped-messages)
        DISPATCH_FIELD: secrets.token_urlsafe(16),
    }
    return record, raw


def _to_bytes(payload: dict | str) -> bytes:
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":")).encode()


def enqueue(celery_app, record: dict, producer=None) -> None:
    """Queue the job's fit on the workers of its environment (blocking: use an executor).
    `record`: as new_job made it, with its dispatch token.

    Through kombu's anonymous exchange ("") with nothing declared: the message goes straight
    onto the queue named by its routing key (one LPUSH). A server whose Redis user may only
    push onto the queues (hub/redis_users.py) then needs none of kombu's bindings, which a
    user must never write (one could copy every message to a queue it reads)."""
    celery_app.send_task(
        FIT_TASK,
        args=[record["id"], record["owner"], record[DISPATCH_FIELD]],
        # what Celery's events (Flower) show of the arguments: not the token
        argsrepr=repr([record["id"], record["owner"]]),
        queue=record["queue"],
        exchange="",
        routing_key=record["queue"],
        declare=[],
        task_id=record["id"],
        producer=producer,
    )


def enqueue_many(celery_app, records: list[dict]) -> None:
    """Queue each job's fit as `enqueue` does, over one broker connection taken once
    (blocking: use an executor)."""
    with celery_app.producer_or_acquire() as producer:
        for record in records:
            enqueue(celery_app, record, producer)


def shown(record: dict) -> dict:
    """The record as its creator returns it: without the dispatch token (a reader of the
    stored record never sees it either)."""
    record.pop(DISPATCH_FIELD, None)
    return record


def submit(store, celery_app, owner: str, payload, fitter, options=None, **fields) -> dict:
    """Sync submit: validate, store, queue. Returns the job record."""
    settings = celery_app.conf.bumps_remote
    record, raw = new_job(
        owner,
        payload,
        fitter,
        options,
        queue_prefix=settings.queue_prefix,
        max_attempts=settings.max_attempts,
        **fields,
    )
    created, _ = store.create(record, raw)
    enqueue(celery_app, created)
    return shown(created)
