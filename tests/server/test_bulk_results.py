"""POST jobs/results on a real jupyter_server, Redis and worker: a sweep's records and result
summaries in one request (responses checked against openapi.yaml), only the user's own jobs,
bounded input."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from jupyter_bumps_remote.shared import jobs, transport

from ..support.identity import TokenUsers
from ..support.problems import gaussian_problem
from .conftest import BAD_JOB_IDS, Api, named_user


@pytest.fixture
def jp_server_config(jp_server_config):
    """Users from the Authorization header: each test is a user (or two) of its own."""
    server = {**jp_server_config["ServerApp"], "identity_provider_class": TokenUsers}
    return {**jp_server_config, "ServerApp": server}


async def results(api: Api, ids: list[str], wait: float = 60, expect: int = 200) -> dict:
    params = {"wait": wait} if wait else None
    return await api.json(
        "POST", "jobs", "results", body={"ids": ids}, params=params, expect=expect
    )


async def test_a_sweeps_records_and_summaries_come_in_one_answer(bumps_ext, jp_fetch):
    ann = named_user(jp_fetch, "ann")
    made = [await ann.submit(gaussian_problem(n=30 + i), seed=i + 1) for i in range(12)]
    broken = transport.encode(gaussian_problem(model="raising_gaussian", RAISE_AFTER=1))
    failing = await ann.json(
        "POST", "jobs", body={"payload": broken, "fitter": "amoeba"}, expect=201
    )
    ids = [j["id"] for j in made] + [failing["id"]]
    started = time.monotonic()
    answer = await results(ann, ids, wait=120)
    # the long poll answers when the last job ends, not when its wait runs out
    assert time.monotonic() - started < 100
    assert answer["missing"] == []
    assert [r["id"] for r in answer["jobs"]] == ids  # in the order asked
    for record, job in zip(answer["jobs"], made, strict=False):
        assert record["status"] == jobs.SUCCEEDED, record
        one = await ann.json("GET", "jobs", job["id"], "result", expect=200)
        assert record["result"] == one  # the very summary GET result gives
        assert record["result"]["seed"] == job["seed"]
    failed = answer["jobs"][-1]
    assert failed["status"] == jobs.FAILED and "result" not in failed
    assert failed["error"]["type"] == "RuntimeError"
    # without wait, at once; an id asked twice answers once
    again = await results(ann, [ids[0], ids[0], ids[1]], wait=0)
    assert [r["id"] for r in again["jobs"]] == ids[:2] and again["jobs"][0]["result"]


async def test_a_wait_ends_with_its_time_when_a_job_has_not(bumps_ext, jp_fetch):
    ann = named_user(jp_fetch, "ann")
    payload = transport.encode(gaussian_problem())
    payload["environment"]["python"] = "3.10.2"  # no worker runs it: it stays queued
    stuck = await ann.json(
        "POST",
        "jobs",
        body={"payload": payload, "fitter": "lm", "wait_for_worker": True},
        expect=201,
    )
    done = await ann.submit()
    started = time.monotonic()
    answer = await results(ann, [done["id"], stuck["id"]], wait=1.5)
    assert time.monotonic() - started >= 1.5
    first, second = answer["jobs"]
    assert first["status"] == jobs.SUCCEEDED and first["result"]["x"]
    assert second["status"] == jobs.QUEUED and "waiting_reason" in second


async def test_another_users_ids_answer_as_missing_and_nothing_of_them(bumps_ext, jp_fetch):
    ann, bob = named_user(jp_fetch, "ann"), named_user(jp_fetch, "bob")
    hers = await ann.submit(name="ann-secret")
    await results(ann, [hers["id"]])  # ended, with a result
    mine = await bob.submit()
    response = await bob.call(
        "POST", "jobs", "results", body={"ids": [hers["id"], mine["id"]]}, params={"wait": 60}
    )
    answer = json.loads(response.body)
    assert answer["missing"] == [hers["id"]]
    assert [r["id"] for r in answer["jobs"]] == [mine["id"]]
    assert b"ann" not in response.body
    unknown = uuid.uuid4().hex
    assert (await results(bob, [unknown], wait=0)) == {"jobs": [], "missing": [unknown]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        *BAD_JOB_IDS,
        ({"ids": [None]}, "ids: item 0 is not a job id"),
        ({"ids": ["0" * 32], "include": "session"}, "include: unknown field"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(bumps_ext, jp_fetch, body, says):
    ann = named_user(jp_fetch, "ann")
    refused = await ann.json("POST", "jobs", "results", body=body, expect=400)
    assert refused["message"].startswith(says), refused


async def test_a_bad_wait_and_a_large_body_are_refused(bumps_ext, jp_fetch):
    ann = named_user(jp_fetch, "ann")
    body = {"ids": ["0" * 32]}
    for wait in ("-1", "301", "nan", "soon"):
        refused = await ann.json(
            "POST", "jobs", "results", body=body, params={"wait": wait}, expect=400
        )
        assert refused["message"].startswith("wait:"), refused
    huge = json.dumps({"ids": ["0" * 32] * 3000}).encode()  # over 64 KiB
    await ann.call("POST", "jobs", "results", body=huge, expect=413)
