"""Turn a validated request into a job record, stored with its Celery message.

Shared by the server extension (async store) and by sync callers (tests, the CLI):
validation and the record are built here once; fit_messages.py makes the message.
"""

from __future__ import annotations

import json
import secrets

from ..shared import jobs, transport, versions
from ..store.codec import DISPATCH_FIELD
from .fit_messages import FitMessages, send_sent_events


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


def shown(record: dict) -> dict:
    """The record as its creator returns it: without the dispatch token (a reader of the
    stored record never sees it either)."""
    record.pop(DISPATCH_FIELD, None)
    return record


def submit(store, celery_app, owner: str, payload, fitter, options=None, **fields) -> dict:
    """Sync submit: validate, then store and queue in one step. Returns the job record."""
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
    message, event = FitMessages(celery_app).message(record)
    created, _ = store.create(record, raw, message=message)
    if event is not None:
        send_sent_events(celery_app, [event])
    return shown(created)
