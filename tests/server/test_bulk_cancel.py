"""POST jobs/cancel on a real jupyter_server, Redis and worker: a sweep's jobs cancelled in one
request (responses checked against openapi.yaml), only the user's own, bounded input."""

from __future__ import annotations

import uuid

import pytest

from jupyter_bumps_remote.shared import jobs, transport

from ..support.api_waits import wait_status
from ..support.identity import TokenUsers
from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM
from .conftest import BAD_JOB_IDS, Api, named_user


@pytest.fixture
def jp_server_config(jp_server_config):
    """Users from the Authorization header: each test is a user (or two) of its own."""
    server = {**jp_server_config["ServerApp"], "identity_provider_class": TokenUsers}
    return {**jp_server_config, "ServerApp": server}


async def queued_for_good(api: Api) -> dict:
    """A job no worker runs (another Python's): it stays queued until cancelled."""
    payload = transport.encode(gaussian_problem())
    payload["environment"]["python"] = "3.10.2"
    body = {"payload": payload, "fitter": "lm", "wait_for_worker": True}
    return await api.json("POST", "jobs", body=body, expect=201)


async def test_queued_running_and_ended_jobs_in_one_request(bumps_ext, jp_fetch):
    ann, bob = named_user(jp_fetch, "ann"), named_user(jp_fetch, "bob")
    queued = [await queued_for_good(ann) for _ in range(3)]
    running = await ann.submit(fitter="dream", options=LONG_DREAM, seed=3)
    await wait_status(ann, running["id"], {jobs.RUNNING})
    done = await ann.submit()
    await wait_status(ann, done["id"])
    bobs = await queued_for_good(bob)
    unknown = uuid.uuid4().hex
    ids = [q["id"] for q in queued] + [running["id"], done["id"], unknown, bobs["id"]]

    answer = await ann.json("POST", "jobs", "cancel", body={"ids": ids}, expect=200)

    assert answer["missing"] == [unknown, bobs["id"]]  # not hers: nothing of it said or done
    records = {r["id"]: r for r in answer["jobs"]}
    assert list(records) == ids[:5]  # in the order asked
    for job in queued:  # ended now
        assert records[job["id"]]["status"] == jobs.CANCELLED, records[job["id"]]
    assert records[running["id"]]["cancel_requested"]  # its fit stops at its next step
    assert records[done["id"]]["status"] == jobs.SUCCEEDED  # left as it was: no 409
    stopped = await wait_status(ann, running["id"])
    assert stopped["status"] == jobs.CANCELLED and stopped["partial"]
    assert (await bob.json("GET", "jobs", bobs["id"], expect=200))["status"] == jobs.QUEUED
    # asked again: the same answer, nothing refused
    again = await ann.json("POST", "jobs", "cancel", body={"ids": ids[:3]}, expect=200)
    assert [r["status"] for r in again["jobs"]] == [jobs.CANCELLED] * 3
    await bob.json("POST", "jobs", bobs["id"], "cancel", expect=200)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        *BAD_JOB_IDS,
        ({"ids": ["0" * 32], "reason": "mine"}, "reason: unknown field"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(bumps_ext, jp_fetch, body, says):
    ann = named_user(jp_fetch, "ann")
    refused = await ann.json("POST", "jobs", "cancel", body=body, expect=400)
    assert refused["message"].startswith(says), refused
