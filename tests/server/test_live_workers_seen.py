"""A submit trusts the live workers the server read less than WORKERS_FRESH seconds ago only
when they serve the job (docs/server.md#submitting): a worker that just came up serves the
very next submit, a refusal (409) is always decided on a list read then, and one that just
went away may let a job in for at most that long.

On a Redis and a worker of this module's own (the session's worker must stay up), the
freshness made an hour so that what the cached list would answer shows, then 0."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_bumps_remote.server_ext import service
from jupyter_bumps_remote.shared import transport

from ..support.problems import gaussian_problem
from ..support.server_workers import live_workers
from ..support.services import RedisServer, Worker

NONE_RUNNING = "none is running"


@pytest.fixture(scope="module")
def own_redis():
    server = RedisServer(appendonly=False).start()
    yield server
    server.cleanup()


@pytest.fixture
def worker():
    """No worker when the server starts: the test starts and stops its own."""
    return None


@pytest.fixture
def extension_config(own_redis):
    return {"redis_url": own_redis.url, "max_payload_bytes": 2 * 1024 * 1024}


async def no_live_worker(api, timeout=60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await api.json("GET", "workers", expect=200))["workers"]:
        assert asyncio.get_running_loop().time() < deadline, "the stopped worker still listed"
        await asyncio.sleep(0.1)


async def test_a_worker_seen_is_trusted_only_to_let_jobs_in(api, own_redis, monkeypatch):
    monkeypatch.setattr(service, "WORKERS_FRESH", 3600.0)
    first = await api.submit()
    assert NONE_RUNNING in first["waiting_reason"]  # and the empty list is what was read

    worker = Worker(own_redis.url, concurrency=1)
    try:
        worker.start()
        (live, *_) = await live_workers(api, timeout=60)
        # came up: the empty list read above does not let it through, it is read again
        job = await api.submit()
        assert "waiting_reason" not in job, job["waiting_reason"]
        # a job it does not serve is refused on a list read now, naming the worker
        payload = transport.encode(gaussian_problem())
        payload["environment"]["numpy"] = "1.26.4"
        body = {"payload": payload, "fitter": "lm"}
        refused = await api.json("POST", "jobs", body=body, expect=409)
        assert live["name"] in refused["message"]
    finally:
        worker.stop()  # a clean stop removes its advertisement
    await no_live_worker(api)

    # went away: the list read while it lived still lets its jobs in, while fresh...
    late = await api.submit()
    assert "waiting_reason" not in late
    # (its record, read now, says why it waits)
    record = await api.json("GET", "jobs", late["id"], expect=200)
    assert NONE_RUNNING in record["waiting_reason"]
    # ...and no longer once it is not
    monkeypatch.setattr(service, "WORKERS_FRESH", 0.0)
    stale = await api.submit()
    assert NONE_RUNNING in stale["waiting_reason"]
    for job_id in (late["id"], stale["id"]):  # no worker: both still queued
        await api.json("POST", "jobs", job_id, "cancel", expect=200)
