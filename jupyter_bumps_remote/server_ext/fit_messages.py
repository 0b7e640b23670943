"""A fit's Celery message, made without sending it, for the script that creates its job.

The job's record and its message are stored by one Lua script (store/lua/create.lua,
create_many.lua): no record is ever left without its message (a broker that failed between
the two used to leave one, failed as `QueueUnavailable`), and the submit waits for no
executor thread and no second round trip (docs/design.md#a-job-and-its-message-in-one-step).

The message is Celery's own: `send_task` with the arguments a send always had, published
through a kombu channel that hands the message back instead of sending it. Kombu's Redis
transport shares that channel's publishing (kombu's virtual transport: `basic_publish`
fills in the delivery tag and info, the body's encoding) and then pushes the message's JSON
onto the list its queue names (`Channel._put`, with no priority: no message of ours has
one), which is what the script does with these bytes.
"""

from __future__ import annotations

import json
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer
from kombu.transport import memory
from kombu.utils.json import dumps

from ..shared.task_names import FIT_TASK
from ..store.codec import DISPATCH_FIELD


class _KeptChannel(memory.Channel):
    """Publishes into `kept` instead of any queue: (exchange, routing key, message)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kept: list[tuple[str, str, dict]] = []

    def basic_publish(self, message: dict, exchange: str, routing_key: str, **kwargs: Any):
        self._inplace_augment_message(message, exchange, routing_key)
        self.kept.append((exchange, routing_key, message))


class _KeepingTransport(memory.Transport):
    Channel = _KeptChannel


class FitMessages:
    """Makes the messages of one Celery app's fits. Not thread-safe: one per thread (the
    server's IOLoop has one)."""

    def __init__(self, celery_app: Any):
        self.app = celery_app
        self._connection = Connection(transport=_KeepingTransport)
        self._channel: _KeptChannel = self._connection.default_channel  # type: ignore[assignment]
        self._producer = Producer(self._channel, auto_declare=False)
        # task-sent, when the app sends it, made through this dispatcher into the channel
        # too: the app's own holds a lock while it publishes over the network (a session
        # build's send, in an executor thread), which the IOLoop must never wait for
        self._events = celery_app.events.Dispatcher(connection=self._connection, enabled=False)

    def message(self, record: dict) -> tuple[bytes, dict | None]:
        """The JSON bytes to push onto the job's queue (`record["queue"]`), and the fields
        of Celery's `task-sent` event when the app sends them (`task_events`), else None.
        `record`: as dispatch.new_job made it, with its dispatch token."""
        self._channel.kept.clear()
        self.app.send_task(
            FIT_TASK,
            args=[record["id"], record["owner"], record[DISPATCH_FIELD]],
            # what Celery's events (Flower) show of the arguments: not the token
            argsrepr=repr([record["id"], record["owner"]]),
            queue=record["queue"],
            # kombu's anonymous exchange: straight onto the queue its routing key names,
            # with nothing declared (docs/design.md#users-fenced-from-one-another-jupyterhub)
            exchange="",
            routing_key=record["queue"],
            declare=[],
            task_id=record["id"],
            producer=self._producer,
            event_dispatcher=self._events,
        )
        kept, self._channel.kept = self._channel.kept, []
        fits = [m for exchange, key, m in kept if exchange == "" and key == record["queue"]]
        if len(fits) != 1 or fits[0]["properties"].get("priority"):
            raise RuntimeError(f"Celery made {len(kept)} messages of a fit, not one unprioritized")
        events = [m for exchange, _, m in kept if exchange != ""]
        return dumps(fits[0]).encode(), (self._event_fields(events[0]) if events else None)

    def _event_fields(self, message: dict) -> dict:
        """The `task-sent` event's own fields, as EventDispatcher.send takes them (it adds
        the sender's host name, clock and time again when it sends)."""
        encoding = message["properties"].get("body_encoding")
        fields = json.loads(self._channel.decode_body(message["body"], encoding))
        for added in ("type", "hostname", "timestamp", "utcoffset", "pid", "clock"):
            fields.pop(added, None)
        return fields


def send_sent_events(celery_app: Any, events: list[dict]) -> None:
    """Celery's `task-sent` of fits whose messages a create script queued, each `fields` as
    `FitMessages.message` gave them (blocking: use an executor). For Flower, which learns a
    task's queue only from it."""
    with celery_app.events.default_dispatcher() as dispatcher:
        for fields in events:
            dispatcher.send("task-sent", **fields)
