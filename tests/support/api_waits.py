"""Waiting on a job through the REST API, for the tests of a real jupyter_server."""

from __future__ import annotations

import asyncio

from jupyter_bumps_remote.shared import jobs


async def wait_status(api, job_id, statuses=jobs.TERMINAL, timeout=60):
    """Follow the job's WebSocket-independent record until it reaches `statuses`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        record = await api.json("GET", "jobs", job_id, expect=200)
        if record["status"] in statuses:
            return record
        assert loop.time() < deadline, record
        await asyncio.sleep(0.05)
