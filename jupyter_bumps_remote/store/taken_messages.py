"""Fit messages that a pool process takes off its queue itself, without Celery's delivery
(worker/pool/backlog.py): what its queue gives next, the take (with the job's start, one
script: transitions.start_run), and the end of the take, as Celery's ack or reject ends a
delivery.

A taken message lives where a delivered one does, in kombu's unacked hash and its index,
under its delivery tag: a worker that dies while running it leaves it to the sweep for lost
runs (lost_runs.py) and to kombu's restore, as it leaves a delivered one.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .batch import Batch, OpGen, Script
from .lost_runs import KOMBU_UNACKED, KOMBU_UNACKED_INDEX, redelivered
from .settings import StoreSettings


@dataclass(frozen=True)
class TakenMessage:
    """A fit task's message at the head of `queue`, read by `read`."""

    queue: str
    raw: bytes  # as the queue holds it: the take compares it byte for byte
    tag: str  # kombu's delivery tag
    exchange: str
    routing_key: str
    headers: dict[str, Any]
    body: Any  # Celery's protocol 2 body: [args, kwargs, embed]

    def unacked_entry(self) -> str:
        """What kombu writes in its unacked hash for a delivery of this message."""
        return json.dumps([json.loads(self.raw), self.exchange, self.routing_key])

    def take_keys_and_args(self) -> tuple[list[str], list[Any]]:
        """start.lua's KEYS and ARGV past a delivery's own (see there)."""
        keys = [self.queue, KOMBU_UNACKED, KOMBU_UNACKED_INDEX]
        return keys, [self.raw, self.tag, self.unacked_entry(), time.time()]


def read(queue: str, raw: bytes) -> TakenMessage | None:
    """The message `raw` of `queue` as the take needs it; None if it is not a Celery message
    of protocol 2 with a JSON body (what kombu's Redis transport delivers is then left to
    it: Celery refuses or runs it as it would have)."""
    try:
        message = json.loads(raw)
        properties = message["properties"]
        if message.get("content-type") != "application/json":
            return None
        if properties.get("body_encoding") != "base64" or properties.get("priority"):
            return None
        body = json.loads(base64.b64decode(message["body"], validate=True))
        info = properties.get("delivery_info") or {}
        tag = properties["delivery_tag"]
        headers = message["headers"]
        if not isinstance(tag, str) or not tag or not isinstance(headers, dict):
            return None
        exchange, routing_key = str(info.get("exchange") or ""), str(info.get("routing_key") or "")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return TakenMessage(queue, raw, tag, exchange, routing_key, headers, body)


def next_message(
    settings: StoreSettings, queue: str, others: Sequence[str] = ()
) -> OpGen[bytes | None]:
    """The message `queue` gives its next consumer (kombu pops the list's right end); None
    if it is empty, or if any of the `others` queues holds a message: a worker's consumer
    takes from its queues in turn, and a take must not keep theirs waiting (a session
    build's, another environment's fits)."""
    replies = yield Batch([("LINDEX", queue, -1), *(("LLEN", other) for other in others)])
    return None if any(replies[1:]) else replies[0]


def ack_taken(settings: StoreSettings, tag: str) -> OpGen[None]:
    """The taken message's run is over: out of kombu's unacked hash (Celery's ack)."""
    yield Batch(
        [("HDEL", KOMBU_UNACKED, tag), ("ZREM", KOMBU_UNACKED_INDEX, tag)], transaction=True
    )


def give_back(settings: StoreSettings, taken: TakenMessage) -> OpGen[bool]:
    """The taken message back at the head of its queue, flagged redelivered as kombu's
    restore flags it (a drain; lua/give_back.lua); False if it was no longer unacked."""
    keys = [KOMBU_UNACKED, KOMBU_UNACKED_INDEX, taken.queue]
    again = json.dumps(redelivered(json.loads(taken.raw)))
    (reply,) = yield Batch([Script("give_back", keys, [taken.tag, again])])
    return bool(reply)
