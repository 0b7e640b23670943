"""Job and owner events over WebSockets: order, replay, reconnect without gap or duplicate."""

from __future__ import annotations

import asyncio
import getpass
import json

from jupyter_bumps_remote.shared import jobs

from .conftest import API


async def read_until_terminal(ws, timeout=60) -> list[dict]:
    events = []
    while True:
        message = await asyncio.wait_for(ws.read_message(), timeout)
        assert message is not None, "socket closed early"
        event = json.loads(message)
        events.append(event)
        if event["type"] == "status" and event["data"]["status"] in jobs.TERMINAL:
            return events


async def test_job_events_stream_in_order_to_the_terminal_status(api, jp_ws_fetch):
    job = await api.submit(fitter="dream", options={"steps": 300, "burn": 10})
    ws = await jp_ws_fetch(*API, "jobs", job["id"], "events")
    events = await read_until_terminal(ws)
    ws.close()
    statuses = [e["data"]["status"] for e in events if e["type"] == "status"]
    assert statuses == ["queued", "running", "succeeded"]
    progress = [e for e in events if e["type"] == "progress"]
    assert progress and progress[-1]["data"]["final"] and events[-2] is progress[-1]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


async def test_reconnect_with_the_last_id_has_no_gap_and_no_duplicate(api, jp_ws_fetch):
    job = await api.submit(fitter="dream", options={"steps": 600, "burn": 10})
    first = await jp_ws_fetch(*API, "jobs", job["id"], "events")
    seen = [json.loads(await first.read_message()) for _ in range(4)]
    first.close()
    again = await jp_ws_fetch(*API, "jobs", job["id"], "events", params={"since": seen[-1]["id"]})
    seen += await read_until_terminal(again)
    again.close()
    # a listener that comes after the end gets everything that was emitted meanwhile
    late = await jp_ws_fetch(*API, "jobs", job["id"], "events")
    everything = await read_until_terminal(late)
    late.close()
    assert [e["id"] for e in seen] == [e["id"] for e in everything]
    assert seen == everything


async def test_owner_stream_carries_status_of_every_job(api, jp_ws_fetch):
    ws = await jp_ws_fetch(*API, "events", params={"since": "0"})
    job = await api.submit()
    statuses = []
    while statuses[-1:] != [jobs.SUCCEEDED]:
        event = json.loads(await asyncio.wait_for(ws.read_message(), 30))
        if event["data"].get("job") == job["id"] and event["type"] == "status":
            statuses.append(event["data"]["status"])
    ws.close()
    assert statuses == ["queued", "running", "succeeded"]


async def test_bad_since_is_refused(api, jp_ws_fetch):
    from tornado.httpclient import HTTPClientError

    for since in ("abc", "1-2-3", "$"):
        try:
            await jp_ws_fetch(*API, "events", params={"since": since})
        except HTTPClientError as e:
            assert e.code == 400
        else:
            raise AssertionError(f"since={since!r} was accepted")


async def test_many_sockets_share_one_reader_and_rest_keeps_working(
    api, jp_ws_fetch, bumps_ext, redis_server
):
    # more sockets than redis-py's default pool of 100 connections: each socket holding
    # its own blocking read would starve the REST routes (503 "Too many connections")
    stream = bumps_ext.service.store.keys.owner_events(getpass.getuser())
    latest = redis_server.client().xrevrange(stream, count=1)
    now = latest[0][0].decode() if latest else "0"  # from here on: nothing to replay
    sockets = [await jp_ws_fetch(*API, "events", params={"since": now}) for _ in range(150)]
    try:
        job = await api.submit()  # REST answers (201) with 150 sockets open
        await api.json("GET", "jobs", job["id"], expect=200)
        assert bumps_ext.service.hub.subscribers  # the sockets are the hub's subscribers
        for ws in sockets:
            # the first event each socket sees is the new job's
            event = json.loads(await asyncio.wait_for(ws.read_message(), 30))
            assert event["data"]["job"] == job["id"] and event["data"]["status"] == "queued"
    finally:
        for ws in sockets:
            ws.close()
