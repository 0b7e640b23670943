"""The server's event reader under a burst of events (a sweep's): it reads them in fewer
XREADs (server_ext/event_hub.py), and every subscriber still gets each event once, in order;
a job's own stream followed is read without that wait."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque

import redis.asyncio

from jupyter_bumps_remote.server_ext.event_hub import BURST_REPLIES, EventHub
from jupyter_bumps_remote.store import AsyncJobStore

EVENTS = 300


def test_a_burst_reaches_each_subscriber_whole_and_in_order(redis_server, owner):
    async def scenario() -> tuple[list[list[int]], list[str]]:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        store = AsyncJobStore(client)
        hub = EventHub(store, redis_server.url, "burst-test")
        stream = store.keys.owner_events(owner)
        seen: list[list[int]] = [[], []]
        done = asyncio.Event()

        def follower(index: int):
            def send(text: str) -> None:
                seen[index].append(json.loads(text)["data"]["n"])
                if all(len(s) == EVENTS for s in seen):
                    done.set()

            return send

        try:
            first = await hub.subscribe(owner, None, "0", follower(0))
            added = []
            for n in range(EVENTS):  # one XADD each, as a sweep's jobs write them
                if n == EVENTS // 2:  # a subscriber joining mid-burst replays from the start
                    second = await hub.subscribe(owner, None, "0", follower(1))
                added.append(
                    await client.xadd(stream, {"type": "status", "data": json.dumps({"n": n})})
                )
            await asyncio.wait_for(done.wait(), 60)
            hub.unsubscribe(first)
            hub.unsubscribe(second)
            return seen, added
        finally:
            await hub.close()
            await client.aclose()

    seen, added = asyncio.run(scenario())
    assert len(added) == EVENTS
    assert seen[0] == list(range(EVENTS))
    assert seen[1] == list(range(EVENTS))


def test_no_batching_while_one_job_s_stream_is_followed(redis_server, owner):
    """A result waited for, or a live panel, follows one job's stream: the reader then
    reads each event as it comes, however fast events come; it batches again once only
    owner-wide streams (a sweep's results, the sidebar) are followed."""
    burst = deque(time.monotonic() + i * 0.001 for i in range(BURST_REPLIES))

    async def scenario() -> list[bool]:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        store = AsyncJobStore(client)
        hub = EventHub(store, redis_server.url, "burst-test")
        try:
            sweep = await hub.subscribe(owner, None, "0", lambda text: None)
            owner_wide = hub._batching(burst)
            one_job = await hub.subscribe(owner, "some-job", "0", lambda text: None)
            with_a_job = hub._batching(burst)
            hub.unsubscribe(one_job)
            after = hub._batching(burst)
            hub.unsubscribe(sweep)
            return [owner_wide, with_a_job, after]
        finally:
            await hub.close()
            await client.aclose()

    assert asyncio.run(scenario()) == [True, False, True]
