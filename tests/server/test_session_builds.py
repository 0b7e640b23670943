"""GET session.h5 of a fit whose file is built on request (docs/design.md#session-files), on
a real jupyter_server, Redis and worker: requests at once share one build, a build that
fails answers its cause (409, never 500), a deleted job's build stores nothing."""

from __future__ import annotations

import asyncio

from jupyter_bumps_remote.shared import jobs

from ..support.api_waits import wait_status

HDF5 = b"\x89HDF\r\n\x1a\n"


async def deferred_job(api) -> dict:
    job = await api.submit()
    record = await wait_status(api, job["id"])
    assert record["status"] == jobs.SUCCEEDED
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while record.get("session") == "writing":
        assert loop.time() < deadline, record
        await asyncio.sleep(0.02)
        record = await api.json("GET", "jobs", job["id"], expect=200)
    assert record["session"] == "deferred", record
    return record


async def test_requests_at_once_share_one_build(api):
    job = await deferred_job(api)
    answers = await asyncio.gather(
        *(api.call("GET", "jobs", job["id"], "session.h5", expect=200) for _ in range(4))
    )
    bodies = {response.body for response in answers}
    assert len(bodies) == 1 and next(iter(bodies))[:8] == HDF5
    record = await api.json("GET", "jobs", job["id"], expect=200)
    assert record["session"] == "ready" and record["session_builds"] == 1, record
    assert "build_token" not in record
    # later requests read the stored file: no other build
    await api.call("GET", "jobs", job["id"], "session.h5", expect=200)
    assert (await api.json("GET", "jobs", job["id"]))["session_builds"] == 1


async def test_a_build_that_fails_answers_its_cause(api, store):
    job = await deferred_job(api)
    # a recipe its fit process could have sent: the build refuses it, and says so
    store.redis.set(store.keys.session(job["owner"], job["id"]), b'{"version": 99}')
    answer = await api.json("GET", "jobs", job["id"], "session.h5", expect=409)
    assert answer["message"] == (
        "no session file: bumps could not write it: ValueError: not a session recipe of "
        "this version"
    ), answer
    record = await api.json("GET", "jobs", job["id"], expect=200)
    assert record["session"] == "failed" and record["session_builds"] == 1, record
    assert store.session(job["owner"], job["id"]) is None  # the recipe went with it


async def test_a_deleted_jobs_build_stores_nothing(api, store):
    job = await deferred_job(api)
    owner, job_id = job["owner"], job["id"]
    assert store.claim_build(owner, job_id, "the-build", 60) == "build"
    assert store.claim_build(owner, job_id, "another", 60) == "building"  # one at a time
    await api.call("DELETE", "jobs", job_id, expect=204)
    assert not store.put_session(owner, job_id, b"late file", build="the-build")
    assert store.session(owner, job_id) is None
    assert not store.redis.exists(store.keys.job(owner, job_id))
