"""The server's event reader under a burst of events (a sweep's): it reads them in fewer
XREADs (server_ext/event_hub.py), and every subscriber still gets each event once, in order."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio

from jupyter_bumps_remote.server_ext.event_hub import EventHub
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
