"""Event streams: the status events written with each change, and reading them back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from .batch import Batch, OpGen, Script
from .codec import as_text, compact_json
from .settings import StoreSettings


def status_event(record: dict[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    """What a listener needs to redraw a job row without fetching the record."""
    event = {
        "job": record.get("id"),
        "status": status,
        "name": record.get("name"),
        "fitter": record.get("fitter"),
        "time": time.time(),
    }
    event.update({k: v for k, v in extra.items() if v is not None})
    return event


def decode_events(entries: Iterable[Any] | None) -> list[dict[str, Any]]:
    """XRANGE/XREAD entries to [{id, type, data}]."""
    events = []
    for event_id, fields in entries or ():
        fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
        events.append(
            {
                "id": as_text(event_id),
                "type": as_text(fields.get("type")),
                "data": json.loads(fields.get("data") or "{}"),
            }
        )
    return events


def xadd(settings: StoreSettings, stream: str, kind: str, data: str) -> tuple[Any, ...]:
    """The command appending one event to a capped stream."""
    return ("XADD", stream, "MAXLEN", "~", settings.events_maxlen, "*", "type", kind, "data", data)


def output(
    settings: StoreSettings,
    owner: str,
    job_id: str,
    events: list[dict[str, Any]],
    run: str = "",
) -> OpGen[int]:
    """Append `output` events (a fit's stdout and stderr: stream, text, seq) to the job's
    stream, not the owner's, in one round trip. Ignored once the job is not running, so
    that none follows its terminal event. Returns how many were added."""
    keys = [settings.keys.job(owner, job_id), settings.keys.events(owner, job_id)]
    args = [settings.events_maxlen, run, *(compact_json(event) for event in events)]
    (reply,) = yield Batch([Script("output", keys, args)])
    return int(reply or 0)


def events(
    settings: StoreSettings, owner: str, job_id: str | None, since: str = "0", count: int = 1000
) -> OpGen[list[dict[str, Any]]]:
    """Events after `since` (exclusive), oldest first; job stream or owner stream."""
    keys = settings.keys
    stream = keys.events(owner, job_id) if job_id else keys.owner_events(owner)
    (entries,) = yield Batch(
        [("XRANGE", stream, f"({since}" if since != "0" else "-", "+", "COUNT", count)]
    )
    return decode_events(entries)


def wait_events(
    settings: StoreSettings, streams: dict[str, str], block_ms: int, count: int = 1000
) -> OpGen[dict[str, list[dict[str, Any]]]]:
    """Block until any stream has entries after its id; returns {stream: [events]}."""
    args = ["XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", *streams, *streams.values()]
    (reply,) = yield Batch([tuple(args)])
    out = {}
    for stream, entries in _stream_items(reply):
        out[as_text(stream)] = decode_events(entries)
    return out


def _stream_items(reply: Any) -> list[tuple[Any, Any]]:
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return list(reply.items())
    return [(stream, entries) for stream, entries in reply]
