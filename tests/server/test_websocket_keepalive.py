"""Idle WebSockets get protocol pings, so that proxies don't cut them."""

from __future__ import annotations

import asyncio

import pytest

from .conftest import API


@pytest.fixture
def jp_server_config(extension_config, worker):
    # pings every 50 ms, so that the keep-alive is seen within the test
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_bumps_remote": True},
            "tornado_settings": {"ws_ping_interval": 50},
        },
        "BumpsRemote": extension_config,
    }


async def test_idle_sockets_get_keep_alive_pings(api, jp_ws_fetch):
    # nothing to replay (an id in the future): the socket is idle from the start, and the
    # client's one-slot read queue is never full (a full one stops it reading pings)
    ws = await jp_ws_fetch(*API, "events", params={"since": "99999999999999-0"})
    pinged = asyncio.Event()
    ws.on_ping = lambda data: pinged.set()
    await asyncio.wait_for(pinged.wait(), 5)
    ws.close()
