"""Bytes on a queue that are no kombu message are dropped with a warning, not the worker's
end. kombu's Redis transport raised on them out of the worker's event loop (Celery: an
"Unrecoverable error", the worker stops), and under JupyterHub any user may push onto the
queues (hub/redis_users.py): one LPUSH of junk per worker stopped them all
(tests/hub/test_fence_probes.py, docs/design.md#forged-and-dropped-messages). Messages on
the fanout channels (Celery's events, which gossip reads, and remote control) the same:
Celery's gossip raised on an event that was not a dict, when users could still publish
worker events.

Celery takes this transport for redis:// and rediss:// brokers (celery_app.py): kombu's own,
with a check of each popped message before kombu reads it."""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base

log = logging.getLogger(__name__)


class JunkMessage(Exception):
    """A popped item that is not a message kombu's Redis transport sends."""


def is_envelope(payload: Any) -> bool:
    """The shape of what kombu's Redis transport pushes: a JSON object with the body as a
    string, and properties holding the delivery tag and info."""
    if not isinstance(payload, dict) or not isinstance(payload.get("body"), str):
        return False
    properties = payload.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("delivery_tag"), str):
        return False
    return isinstance(properties.get("delivery_info", {}), dict) and isinstance(
        payload.get("headers", {}), dict
    )


class Message(base.Message):
    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any):
        if not is_envelope(payload):
            raise JunkMessage("not a kombu message")
        try:  # a body encoding it does not decode, for one
            super().__init__(payload, channel=channel, **kwargs)
        except Exception as e:
            raise JunkMessage(f"{type(e).__name__}: {e}") from e


class Channel(kombu_redis.Channel):
    Message = Message

    def _brpop_read(self, **options: Any) -> Any:
        # the item is off its queue by now (BRPOP): dropping it is all there is to do
        try:
            return super()._brpop_read(**options)
        except (JunkMessage, ValueError) as e:  # ValueError: not JSON, not UTF-8
            log.warning("dropped an item of a queue that is no message of a server: %s", e)
            return True

    def _deliver_fanout_message(self, message: Any, exchange: str) -> bool:
        # Celery's events and remote control (fanout): an event a handler cannot take
        # (gossip reads `payload['hostname']` of whatever came) is dropped, not the worker
        try:
            return super()._deliver_fanout_message(message, exchange)
        except Exception as e:
            log.warning("dropped a message on %s that the worker cannot take: %r", exchange, e)
            return False


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
