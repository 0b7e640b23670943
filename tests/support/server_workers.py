"""The workers a running jupyter_server sees, through its REST API."""

from __future__ import annotations

import asyncio


async def live_workers(api, timeout=20) -> list[dict]:
    """GET workers once the session's worker has beaten (it follows its "ready")."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (workers := (await api.json("GET", "workers", expect=200))["workers"]):
        assert asyncio.get_running_loop().time() < deadline, "no worker beat"
        await asyncio.sleep(0.1)
    return workers
