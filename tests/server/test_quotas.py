"""Per-user limits through a real jupyter_server on the session's Redis and worker: 429 with
Retry-After and a message naming the limit and its setting (store/quotas.py); a session file
over the limit is not stored while the result is; a queued job's payload expires."""

from __future__ import annotations

import asyncio
import json

import pytest

from jupyter_bumps_remote.shared import jobs, transport

from ..support.dispatch_tokens import token_of
from ..support.problems import gaussian_problem
from ..support.waiting import wait_until
from .conftest import Api, named_user, users_from_authorization

MAX_ACTIVE, PER_MINUTE, MAX_BYTES = 3, 5, 32 * 1024


@pytest.fixture
def extension_config(extension_config):
    return {
        **extension_config,
        "max_active_jobs": MAX_ACTIVE,
        "max_submissions_per_minute": PER_MINUTE,
        "max_stored_bytes": MAX_BYTES,
    }


@pytest.fixture
def jp_server_config(jp_server_config):
    """Users from the Authorization header: each test is a user of its own, with limits and
    counts of its own."""
    return users_from_authorization(jp_server_config)


@pytest.fixture
def user(bumps_ext, jp_fetch) -> Api:
    return named_user(jp_fetch, "quota")


def waiting_job() -> dict:
    """A submit that stays queued: made on a Python no worker runs, asking to wait for one."""
    payload = transport.encode(gaussian_problem())
    payload["environment"]["python"] = "3.10.2"
    return {"payload": payload, "fitter": "lm", "wait_for_worker": True}


async def refused(user: Api, *path: str, body: dict) -> tuple[dict, int]:
    """A POST answered 429 (checked against openapi.yaml): its body and Retry-After."""
    response = await user.call("POST", *path, body=body, expect=429)
    assert response is not None
    return json.loads(response.body), int(response.headers["Retry-After"])


async def test_active_jobs_over_the_limit_answer_429_until_one_ends(user):
    made = [await user.json("POST", "jobs", body=waiting_job(), expect=201) for _ in range(3)]

    answer, retry_after = await refused(user, "jobs", body=waiting_job())

    assert answer["message"] == (
        "3 active jobs (queued or running) is the limit (c.BumpsRemote.max_active_jobs); "
        "wait for one to end or cancel one"
    )
    assert retry_after == 30
    # a retry makes a job too
    await refused(user, "jobs", made[0]["id"], "retry", body={"wait_for_worker": True})
    listed = await user.json("GET", "jobs", expect=200)
    assert listed["total"] == 3  # nothing stored
    await user.json("POST", "jobs", made[0]["id"], "cancel", expect=200)
    await user.json("POST", "jobs", body=waiting_job(), expect=201)


async def test_concurrent_submissions_never_take_more_than_the_last_slot(user):
    await user.json("POST", "jobs", body=waiting_job(), expect=201)
    answers = await asyncio.gather(
        *(user.call("POST", "jobs", body=waiting_job()) for _ in range(6))
    )
    assert sorted(a.code for a in answers) == [201, 201, 429, 429, 429, 429]


async def test_submissions_a_minute_over_the_limit_say_when_to_try_again(user):
    for _ in range(PER_MINUTE):  # each cancelled and deleted at once: only the rate counts
        job = await user.json("POST", "jobs", body=waiting_job(), expect=201)
        await user.json("POST", "jobs", job["id"], "cancel", expect=200)
        await user.call("DELETE", "jobs", job["id"], expect=204)

    answer, retry_after = await refused(user, "jobs", body=waiting_job())

    assert 1 <= retry_after <= 60
    assert answer["message"] == (
        f"{PER_MINUTE} submissions a minute is the limit "
        "(c.BumpsRemote.max_submissions_per_minute); the next one is possible in "
        f"{retry_after} s"
    )


async def test_stored_bytes_over_the_limit_answer_429_until_jobs_are_deleted(user, store):
    job = await user.json("POST", "jobs", body=waiting_job(), expect=201)
    owner = job["owner"]
    # the worker's part, played: a result larger than what is left (never refused itself)
    store.start(owner, job["id"], "played-worker", 3, dispatch=token_of(store, owner, job["id"]))
    store.put_result(owner, job["id"], {"chisq": 1.0, "filler": "x" * MAX_BYTES})
    store.finish(owner, job["id"], jobs.SUCCEEDED, summary={"chisq": 1.0})

    answer, retry_after = await refused(user, "jobs", body=waiting_job())

    assert answer["message"].startswith("this job (")
    assert "does not fit in your stored data's limit: 0 bytes left of 32.0 KiB" in answer["message"]
    assert "(c.BumpsRemote.max_stored_bytes); delete jobs you no longer need" in answer["message"]
    assert retry_after == 60
    await user.call("DELETE", "jobs", job["id"], expect=204)
    assert store.usage(owner)["stored_bytes"] == 0
    await user.json("POST", "jobs", body=waiting_job(), expect=201)


async def test_a_real_fit_whose_session_file_is_over_the_limit_keeps_its_result(user):
    """The live worker runs the fit: its payload, result and events fit in 32 KiB, its
    session file (about 60 KB for this problem) does not."""
    body = {"payload": transport.encode(gaussian_problem()), "fitter": "lm"}
    job = await user.json("POST", "jobs", body=body, expect=201)
    ended = await user.json("GET", "jobs", job["id"], params={"wait": 120}, expect=200)
    assert ended["status"] == jobs.SUCCEEDED, ended

    no_session = await user.json("GET", "jobs", job["id"], "session.h5", expect=409)

    assert no_session["message"].startswith("no session file: the session file (")
    assert "(c.BumpsRemote.max_stored_bytes); the result is kept" in no_session["message"]
    record = await user.json("GET", "jobs", job["id"], expect=200)
    assert record["session"] == "failed" and record["has_result"]
    result = await user.json("GET", "jobs", job["id"], "result", expect=200)
    assert result["chisq"] > 0


class TestPayloadExpiry:
    @pytest.fixture
    def extension_config(self, extension_config):
        return {**extension_config, "payload_ttl": 1}

    async def test_a_job_whose_payload_expired_in_the_queue_fails_saying_so(
        self, user, store, redis_server
    ):
        job = await user.json("POST", "jobs", body=waiting_job(), expect=201)
        owner, payload = job["owner"], store.keys.payload(job["owner"], job["id"])
        client = redis_server.client()
        wait_until(lambda: not client.exists(payload), timeout=10, what="the payload to expire")

        # what a worker does when the job's message reaches it
        token = token_of(store, owner, job["id"])
        assert store.start(owner, job["id"], "w", 3, dispatch=token)[0] == "expired"

        record = await user.json("GET", "jobs", job["id"], expect=200)
        assert record["status"] == jobs.FAILED
        assert record["error"]["type"] == "PayloadExpired"
        assert "c.BumpsRemote.payload_ttl" in record["error"]["message"]
        gone = await user.json("POST", "jobs", job["id"], "retry", body={}, expect=409)
        assert "problem is gone" in gone["message"]
