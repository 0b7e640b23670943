"""One reader of Redis event streams per server, fanned out to every WebSocket.

A blocking XREAD per socket held one pooled Redis connection each (enough sockets exhausted
redis-py's pool and REST calls answered 503) and did N times the work per event, which
lagged the IOLoop (docs/design.md#figures-behind-the-code). Here one task on its own
connection reads every stream that has subscribers in a single XREAD, serializes each event
once, and hands it to the subscribers of its stream.

No gap, no duplicate: a subscriber is registered (buffering) before it replays its stream
from `since` with XRANGE; then it sends the buffered events newer than the replay's end,
and from then on every event newer than the last it sent. Stream ids only grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.asyncio

from ..store import AsyncJobStore, decode_events
from .redis_errors import REDIS_ERRORS

log = logging.getLogger(__name__)
BLOCK_MS = 10_000
RETRY_DELAY = 1.0
REPLAY_BATCH = 500
FAN_OUT_SLICE = 25  # sockets written between two turns of the IOLoop
# A sweep's events come a few ms apart, and an XREAD each cost the server more CPU than
# the rest of its work per job (docs/design.md#events-to-websockets). While replies come
# faster than BURST_REPLIES in BURST_SECONDS, the reader waits BATCH_SECONDS before the
# next XREAD, which then brings what came meanwhile at once; but never while anyone follows
# one job's stream (a result waited for, a live panel): each of its events is read as it
# comes, or a tiny fit's result waited up to BATCH_SECONDS more (~8 ms of a ~21 ms
# submit-to-result when fits came one after another, the burst being their own events).
BURST_REPLIES = 5
BURST_SECONDS = 0.1
BATCH_SECONDS = 0.01


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Subscriber:
    """One WebSocket's view of one stream; `send(text)` writes a message to it."""

    def __init__(self, stream: str, since: str, send: Callable[[str], None]):
        self.stream = stream
        self.last = since
        self.send = send
        self._buffer: list[tuple[str, str]] | None = []  # None once replay is done

    def deliver(self, event_id: str, text: str) -> None:
        if self._buffer is not None:
            self._buffer.append((event_id, text))
        elif _id_key(event_id) > _id_key(self.last):
            self.last = event_id
            self.send(text)

    def replayed(self, last: str) -> None:
        self.last = last
        buffered, self._buffer = self._buffer or [], None
        for event_id, text in buffered:
            self.deliver(event_id, text)


class EventHub:
    def __init__(self, store: AsyncJobStore, redis_url: str, server_id: str):
        """`server_id`: names this server's wake-up stream, which lives under the owner of
        the first subscriber (keys.hub): a server fenced to its owner's keys may write only
        there, and such a server serves that one owner."""
        self.store = store
        self.redis_url = redis_url
        self.server_id = server_id
        self.wake_stream: str | None = None
        self.subscribers: dict[str, set[Subscriber]] = {}
        self.positions: dict[str, str] = {}
        self._job_streams: set[str] = set()  # followed for one job: read without batching
        self._job_followed = asyncio.Event()  # ends a batching wait at once
        self._reader: asyncio.Task | None = None
        self._connection: redis.asyncio.Redis | None = None

    async def subscribe(
        self, owner: str, job_id: str | None, since: str, send: Callable[[str], None]
    ) -> Subscriber:
        """Replay `since` onwards, then follow. Raises Redis errors of the replay."""
        keys = self.store.keys
        if self.wake_stream is None:
            self.wake_stream = keys.hub(owner, self.server_id)
        stream = keys.events(owner, job_id) if job_id else keys.owner_events(owner)
        subscriber = Subscriber(stream, since, send)
        self.subscribers.setdefault(stream, set()).add(subscriber)
        if job_id:
            self._job_streams.add(stream)
            self._job_followed.set()
        try:
            last = since
            while True:
                batch = await self.store.events(owner, job_id, last, REPLAY_BATCH)
                for event in batch:
                    send(_message(event))
                    last = event["id"]
                if len(batch) < REPLAY_BATCH:
                    break
        except BaseException:
            self.unsubscribe(subscriber)
            raise
        subscriber.replayed(last)
        if stream not in self.positions or _id_key(last) < _id_key(self.positions[stream]):
            self.positions[stream] = last if last != "0" else "0-0"
            await self._wake()
        self._ensure_reader()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        members = self.subscribers.get(subscriber.stream)
        if members is not None:
            members.discard(subscriber)
            if not members:
                del self.subscribers[subscriber.stream]
                self.positions.pop(subscriber.stream, None)
                self._job_streams.discard(subscriber.stream)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._connection is not None:
            await self._connection.aclose()

    # -- the reader ---------------------------------------------------------------------------

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._read())

    async def _wake(self) -> None:
        """Make a running XREAD return, so that it picks up a new stream at once."""
        if self._reader is not None and not self._reader.done() and self.wake_stream:
            pipe = self.store.redis.pipeline(transaction=False)
            pipe.xadd(self.wake_stream, {"w": "1"}, maxlen=10, approximate=True)
            pipe.expire(self.wake_stream, 24 * 3600)  # a server that dies leaves no clutter
            await pipe.execute()

    def _batching(self, replies: deque[float]) -> bool:
        burst = len(replies) == BURST_REPLIES and replies[-1] - replies[0] < BURST_SECONDS
        return burst and not self._job_streams

    async def _read(self) -> None:
        if self._connection is None:  # its own connection: a blocked XREAD holds it
            self._connection = redis.asyncio.Redis.from_url(
                self.redis_url, socket_connect_timeout=5, health_check_interval=30
            )
        wake_position = "$"
        replies: deque[float] = deque(maxlen=BURST_REPLIES)
        while self.subscribers:
            if self._batching(replies):
                self._job_followed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._job_followed.wait(), BATCH_SECONDS)
            streams: dict[Any, Any] = {**self.positions}
            if self.wake_stream:  # set by the first subscribe, before any reader starts
                streams[self.wake_stream] = wake_position
            try:
                reply = await self._connection.xread(streams, count=1000, block=BLOCK_MS)
            except REDIS_ERRORS as e:
                log.warning("bumps-remote: event reader lost Redis (%s); retrying", e)
                await asyncio.sleep(RETRY_DELAY)  # positions are kept: nothing is lost
                continue
            replies.append(time.monotonic())
            for raw_stream, entries in _items(reply):
                stream = raw_stream.decode() if isinstance(raw_stream, bytes) else raw_stream
                events = decode_events(entries)
                if not events:
                    continue
                if stream == self.wake_stream:
                    wake_position = events[-1]["id"]
                    continue
                if stream in self.positions:
                    self.positions[stream] = events[-1]["id"]
                for event in events:
                    await self._fan_out(stream, event["id"], _message(event))

    async def _fan_out(self, stream: str, event_id: str, text: str) -> None:
        # One socket write each; between slices the IOLoop serves other requests, so that
        # hundreds of subscribers do not hold a REST call for the whole fan-out.
        for count, subscriber in enumerate(list(self.subscribers.get(stream, ())), 1):
            subscriber.deliver(event_id, text)
            if count % FAN_OUT_SLICE == 0:
                await asyncio.sleep(0)


def _message(event: dict) -> str:
    return json.dumps(event, allow_nan=False)


def _items(reply):
    if not reply:
        return []
    return list(reply.items()) if isinstance(reply, dict) else [tuple(x) for x in reply]
