"""Redis down: the API answers 503 with a message, and recovers by itself when it is back."""

from __future__ import annotations

import pytest

from jupyter_bumps_remote.shared import transport

from ..support.problems import gaussian_problem
from ..support.services import RedisServer


@pytest.fixture
def flaky_redis():
    server = RedisServer(appendonly=True).start()
    yield server
    server.cleanup()


@pytest.fixture
def extension_config(flaky_redis):
    return {"redis_url": flaky_redis.url}


async def test_redis_down_is_503_and_the_extension_recovers(api, flaky_redis):
    payload = transport.encode(gaussian_problem())
    before = await api.submit()
    flaky_redis.stop()

    down = await api.json("GET", "jobs", expect=503)
    assert "Redis" in down["message"] and "not reachable" in down["message"]
    refused = await api.json("POST", "jobs", body={"payload": payload, "fitter": "lm"}, expect=503)
    assert "not reachable" in refused["message"]
    await api.json("GET", "jobs", before["id"], expect=503)

    flaky_redis.start()  # same port, same AOF: the job is still there
    listed = await api.json("GET", "jobs", expect=200)
    assert [j["id"] for j in listed["jobs"]] == [before["id"]]
    await api.submit()
