"""A job goes only to a worker with its versions: refused at once (409) while the live
workers serve other versions, naming what differs; queued with wait_for_worker."""

from __future__ import annotations

from jupyter_bumps_remote.shared import jobs, transport, versions

from ..support.problems import gaussian_problem
from ..support.server_workers import live_workers


def other_bumps(ours: str) -> str:
    return "1.0.3" if ours != "1.0.3" else "1.0.4"


async def test_a_job_no_live_worker_serves_is_refused_at_once_naming_what_differs(api):
    (worker, *_) = await live_workers(api)
    theirs = worker["environment"]
    payload = transport.encode(gaussian_problem())
    made_with = other_bumps(theirs["bumps"])
    payload["environment"]["bumps"] = made_with
    payload["environment"]["libraries"] = {"refl1d": "0.9.9"}  # a release no worker has
    before = (await api.json("GET", "jobs", params={"limit": 1}, expect=200))["total"]

    refused = await api.json("POST", "jobs", body={"payload": payload, "fitter": "lm"}, expect=409)

    message = refused["message"]
    assert f"bumps {theirs['bumps']} (the job's: {made_with})" in message, message
    installed = versions.libraries_of(theirs).get("refl1d")
    if installed:
        assert f"refl1d {installed} (the job's: 0.9.9)" in message, message
    else:
        assert "no refl1d (the job uses refl1d 0.9.9)" in message, message
    assert worker["name"] in message  # which workers, and what they serve
    assert f"serves {versions.describe(theirs, libraries=False)}" in message, message
    assert f'"bumps=={made_with}"' in message and '"refl1d==0.9.9"' in message, message
    assert "wait_for_worker" in message
    after = (await api.json("GET", "jobs", params={"limit": 1}, expect=200))["total"]
    assert after == before  # nothing stored, nothing queued


async def test_with_wait_for_worker_it_queues_and_says_why_it_waits(api):
    await live_workers(api)
    payload = transport.encode(gaussian_problem())
    payload["environment"]["numpy"] = "1.26.4"
    body = {"payload": payload, "fitter": "lm", "wait_for_worker": True}

    job = await api.json("POST", "jobs", body=body, expect=201)

    assert job["status"] == jobs.QUEUED
    assert "numpy 1.26" in job["waiting_reason"], job["waiting_reason"]
    assert "the live workers serve other versions" in job["waiting_reason"]
    # a retry of it is refused like a submit, unless it waits too
    await api.json("POST", "jobs", job["id"], "retry", body={}, expect=409)
    again = await api.json(
        "POST", "jobs", job["id"], "retry", body={"wait_for_worker": True}, expect=201
    )
    for job_id in (job["id"], again["id"]):
        await api.json("POST", "jobs", job_id, "cancel", expect=200)


async def test_wait_for_worker_must_be_a_boolean(api):
    body = {"payload": transport.encode(gaussian_problem()), "fitter": "lm"}
    bad = await api.json("POST", "jobs", body={**body, "wait_for_worker": "yes"}, expect=400)
    assert bad["message"].startswith("wait_for_worker: must be true or false")


async def test_a_job_a_live_worker_serves_runs_without_the_flag(api):
    await live_workers(api)
    job = await api.submit()
    assert "waiting_reason" not in job


async def test_a_malformed_libraries_field_is_400_naming_it(api):
    payload = transport.encode(gaussian_problem())
    payload["environment"]["libraries"] = ["refl1d"]
    bad = await api.json("POST", "jobs", body={"payload": payload, "fitter": "lm"}, expect=400)
    assert bad["message"].startswith("payload: environment.libraries: must be an object")
