"""The REST API on a real jupyter_server, Redis and worker (responses checked by openapi.yaml)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import numpy as np
from bumps.fitters import load_fit_from_session

from jupyter_bumps_remote.shared import jobs, transport, versions

from ..support.api_waits import wait_status
from ..support.dispatch_tokens import token_of
from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM
from ..support.server_workers import live_workers


async def test_info_lists_fitters_options_and_workers(api, bumps_ext):
    info = await api.json("GET", "info", expect=200)
    assert info["mode"] == "shared"
    # shared mode starts nothing locally: the workers live elsewhere
    assert bumps_ext._embedded_redis is None and bumps_ext._supervisor is None
    fitters = {f["id"]: f for f in info["fitters"]}
    assert sorted(fitters) == ["amoeba", "de", "dream", "lm", "newton", "pt"]
    assert fitters["dream"]["settings"]["samples"] == 10000
    assert set(info["common_options"]) == {"parallel", "max_time"}
    assert info["environment"] == versions.environment()


async def test_submit_run_result_and_session(api):
    job = await api.submit(name="gauss", tags=["t1"], seed=7)
    assert job["status"] == jobs.QUEUED and job["name"] == "gauss" and job["seed"] == 7
    record = await wait_status(api, job["id"])
    assert record["status"] == jobs.SUCCEEDED and record["has_result"]
    summary = await api.json("GET", "jobs", job["id"], "result", expect=200)
    assert summary["seed"] == 7 and len(summary["x"]) == 3
    response = await api.call("GET", "jobs", job["id"], "session.h5", expect=200)
    assert response.headers["Content-Type"] == "application/x-hdf5"
    assert "gauss-" in response.headers["Content-Disposition"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.h5"
        path.write_bytes(response.body)
        _, reloaded = load_fit_from_session(path)
    np.testing.assert_allclose(reloaded.x, summary["x"], rtol=1e-12)


async def test_the_payload_comes_back_as_submitted_and_decodes_to_the_problem(api, bumps_ext):
    problem = gaussian_problem()
    payload = transport.encode(problem)
    job = await api.json("POST", "jobs", body={"payload": payload, "fitter": "lm"}, expect=201)
    response = await api.call("GET", "jobs", job["id"], "payload", expect=200)
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body) == payload
    assert transport.decode(response.body).chisq() == problem.chisq()
    # once it is gone (expired, or lost with Redis' data): 409 saying so, not a 500
    store = bumps_ext.service.store
    await store.redis.delete(store.keys.payload(job["owner"], job["id"]))
    gone = await api.call("GET", "jobs", job["id"], "payload", expect=409)
    assert b"problem is gone" in gone.body
    await api.call("GET", "jobs", "0" * 32, "payload", expect=404)


async def test_location_header_points_at_the_job(api, jp_fetch):
    payload = transport.encode(gaussian_problem())
    response = await api.call("POST", "jobs", body={"payload": payload, "fitter": "lm"}, expect=201)
    job = json.loads(response.body)
    assert response.headers["Location"].endswith(f"/bumps-remote/api/jobs/{job['id']}")


async def test_list_filters_and_pages(api):
    made = [await api.submit(tags=["sweep"] if i % 2 else ["other"]) for i in range(5)]
    page = await api.json("GET", "jobs", params={"limit": 2}, expect=200)
    assert [j["id"] for j in page["jobs"]] == [m["id"] for m in made[::-1][:2]]
    assert page["next_offset"] == 2 and page["total"] >= 5
    sweep = await api.json("GET", "jobs", params={"tag": "sweep"}, expect=200)
    assert {j["id"] for j in sweep["jobs"]} == {made[1]["id"], made[3]["id"]}
    for job in made:
        await wait_status(api, job["id"])
    done = await api.json("GET", "jobs", params={"status": "succeeded"}, expect=200)
    assert {m["id"] for m in made} <= {j["id"] for j in done["jobs"]}
    bad = await api.json("GET", "jobs", params={"status": "sleeping"}, expect=400)
    assert "status" in bad["message"] and "queued" in bad["message"]
    bad = await api.json("GET", "jobs", params={"limit": "many"}, expect=400)
    assert "limit" in bad["message"]
    # found by fuzzing: an offset beyond 64 bits reached Redis and answered 500
    bad = await api.json("GET", "jobs", params={"offset": str(10**30)}, expect=400)
    assert bad["message"].startswith("offset:")


async def test_cancel_retry_delete_and_their_conflicts(api):
    running = await api.submit(fitter="dream", options=LONG_DREAM, seed=11)
    await wait_status(api, running["id"], {jobs.RUNNING})
    answer = await api.json("POST", "jobs", running["id"], "cancel", expect=200)
    assert answer["cancel_requested"]
    record = await wait_status(api, running["id"])
    assert record["status"] == jobs.CANCELLED and record["partial"]
    partial = await api.json("GET", "jobs", running["id"], "result", expect=200)
    assert partial["partial"]
    # a finished job cannot be cancelled again
    conflict = await api.json("POST", "jobs", running["id"], "cancel", expect=409)
    assert "cancelled" in conflict["message"]

    retried = await api.json("POST", "jobs", running["id"], "retry", body={}, expect=201)
    assert retried["retry_of"] == running["id"] and retried["seed"] != running["seed"]
    assert retried["options"] == running["options"] and retried["fitter"] == "dream"
    # a running job cannot be deleted; a finished one can
    await wait_status(api, retried["id"], {jobs.RUNNING})
    await api.json("DELETE", "jobs", retried["id"], expect=409)
    await api.json("POST", "jobs", retried["id"], "cancel", expect=200)
    await wait_status(api, retried["id"])
    await api.call("DELETE", "jobs", retried["id"], expect=204)
    await api.json("GET", "jobs", retried["id"], expect=404)

    seeded = await api.json("POST", "jobs", running["id"], "retry", body={"seed": 5}, expect=201)
    assert seeded["seed"] == 5
    await api.json("POST", "jobs", seeded["id"], "cancel", expect=200)


async def test_result_of_an_unfinished_job_is_409(api):
    job = await api.submit(fitter="dream", options=LONG_DREAM)
    answer = await api.json("GET", "jobs", job["id"], "result", expect=409)
    assert "result is stored when it finishes" in answer["message"]
    await api.json("POST", "jobs", job["id"], "cancel", expect=200)


async def test_idempotency_key_gives_one_job(api):
    payload = transport.encode(gaussian_problem())
    body = {"payload": payload, "fitter": "lm"}
    first = await api.json(
        "POST", "jobs", body=body, headers={"Idempotency-Key": "abc"}, expect=201
    )
    again = await api.json(
        "POST", "jobs", body=body, headers={"Idempotency-Key": "abc"}, expect=200
    )
    assert again["id"] == first["id"]


async def test_bad_input_is_400_naming_the_field_and_nothing_is_stored(api):
    payload = transport.encode(gaussian_problem())
    before = (await api.json("GET", "jobs", expect=200))["total"]
    cases = [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        ({"fitter": "lm"}, "payload"),
        ({"payload": payload}, "fitter"),
        ({"payload": payload, "fitter": "simplex"}, "fitter"),
        ({"payload": payload, "fitter": "lm", "options": {"stepz": 3}}, "options.stepz"),
        ({"payload": payload, "fitter": "lm", "options": {"steps": "many"}}, "options.steps"),
        ({"payload": payload, "fitter": "lm", "options": []}, "options"),
        ({"payload": payload, "fitter": "lm", "seed": -1}, "seed"),
        ({"payload": payload, "fitter": "lm", "tags": "x"}, "tags"),
        ({"payload": {"format": "nope"}, "fitter": "lm"}, "payload"),
        ({"payload": payload, "fitter": "lm", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        answer = await api.json("POST", "jobs", body=body, expect=400)
        assert answer["message"].startswith(f"{field}:"), (field, answer)
    assert (await api.json("GET", "jobs", expect=200))["total"] == before


async def test_oversized_payload_is_413(api):
    huge = b'{"payload": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    answer = await api.json("POST", "jobs", body=huge, expect=413)
    assert "max_payload_bytes" in answer["message"]


async def test_bad_and_unknown_job_ids_are_404(api):
    for job_id in ("0" * 32, "not-an-id", "..%2F..%2Fetc", "A" * 32):
        await api.json("GET", "jobs", job_id, expect=404)
        # the long poll's own read (the newest event with the record) finds none either
        wait = {"wait": "30", "include": "result"}
        await api.json("GET", "jobs", job_id, params=wait, expect=404)
        await api.json("POST", "jobs", job_id, "cancel", expect=404)


async def test_workers_route_lists_the_live_worker(api):
    workers = await live_workers(api)
    assert workers[0]["fitters"] == ["amoeba", "de", "dream", "lm", "newton", "pt"]
    # what it serves: its versions and one queue per combination of its model libraries,
    # then the session build queue of each
    assert workers[0]["environment"] == versions.environment()
    jobs_queues = versions.worker_queues("bumps-remote.", versions.environment())
    assert workers[0]["queues"] == jobs_queues + [
        versions.build_queue_of("bumps-remote.", queue) for queue in jobs_queues
    ]
    assert workers[0]["queues"][len(jobs_queues)].startswith("bumps-remote.session-py")


def waiting_for_a_foreign_worker(payload: dict) -> dict:
    """A submit of `payload` made on another Python, asking to wait for such a worker (the
    live worker serves other versions, so without the flag it is refused: test_routing)."""
    payload["environment"]["python"] = "3.10.2"
    return {"payload": payload, "fitter": "lm", "wait_for_worker": True}


async def test_a_job_for_an_environment_no_worker_has_says_why_it_waits(api):
    await live_workers(api)
    body = waiting_for_a_foreign_worker(transport.encode(gaussian_problem()))
    job = await api.json("POST", "jobs", body=body, expect=201)
    assert "waiting for a worker with Python 3.10, bumps" in job["waiting_reason"]
    again = await api.json("GET", "jobs", job["id"], expect=200)
    assert again["status"] == jobs.QUEUED
    assert "the live workers serve other versions" in again["waiting_reason"]
    await api.json("POST", "jobs", job["id"], "cancel", expect=200)


async def ended_by_a_played_worker(api, store, result=None) -> tuple[str, str]:
    """(owner, id) of a job no worker takes (foreign environment), whose worker part the test
    plays: the fit process records the result (if any) and the terminal status; the session
    file is left for the test to write."""
    body = waiting_for_a_foreign_worker(transport.encode(gaussian_problem()))
    job = await api.json("POST", "jobs", body=body, expect=201)
    owner, job_id = job["owner"], job["id"]
    store.start(owner, job_id, "played-worker", 3, dispatch=token_of(store, owner, job_id))
    if result is not None:
        store.put_result(owner, job_id, result)
    store.finish(owner, job_id, jobs.SUCCEEDED, summary={"chisq": 1.0}, session_follows=True)
    return owner, job_id


async def test_session_file_written_after_the_status_is_waited_for(api, store):
    owner, job_id = await ended_by_a_played_worker(api, store, result={"chisq": 1.0})
    assert (await api.json("GET", "jobs", job_id, expect=200))["session"] == "writing"

    request = asyncio.ensure_future(api.call("GET", "jobs", job_id, "session.h5"))
    await asyncio.sleep(0.2)  # the request is now waiting on the file being written
    assert not request.done()
    assert store.put_session(owner, job_id, b"HDF5 bytes")
    response = await request
    assert response.code == 200 and response.body == b"HDF5 bytes"
    assert (await api.json("GET", "jobs", job_id, expect=200))["session"] == "ready"


async def test_a_session_file_that_could_not_be_written_says_why(api, store):
    owner, job_id = await ended_by_a_played_worker(api, store)
    store.put_session(owner, job_id, None, "bumps could not write it: OSError: disk full")
    answer = await api.json("GET", "jobs", job_id, "session.h5", expect=409)
    assert answer["message"] == "no session file: bumps could not write it: OSError: disk full"
    # a job deleted before its file is written leaves nothing behind
    await api.call("DELETE", "jobs", job_id, expect=204)
    assert not store.put_session(owner, job_id, b"late")
    assert store.session(owner, job_id) is None


async def test_get_with_wait_answers_when_the_job_ends(api):
    job = await api.submit(fitter="dream", options=LONG_DREAM)
    loop = asyncio.get_running_loop()
    started = loop.time()
    running = await api.json("GET", "jobs", job["id"], params={"wait": "0.3"}, expect=200)
    assert running["status"] in jobs.ACTIVE and loop.time() - started >= 0.3  # waited it out
    waiting = asyncio.ensure_future(api.json("GET", "jobs", job["id"], params={"wait": "60"}))
    await api.json("POST", "jobs", job["id"], "cancel", expect=200)
    ended = await asyncio.wait_for(waiting, 10)  # answered at the end, not after 60 s
    assert ended["status"] == jobs.CANCELLED
    again = await api.json("GET", "jobs", job["id"], params={"wait": "60"}, expect=200)
    assert again["status"] == jobs.CANCELLED  # an ended job answers at once


async def test_a_bad_wait_is_400_naming_it(api):
    job = await api.submit()
    for bad in ("-1", "301", "nan", "soon"):
        answer = await api.json("GET", "jobs", job["id"], params={"wait": bad}, expect=400)
        assert answer["message"].startswith("wait: must be a number of seconds from 0 to 300")


async def test_include_result_brings_the_summary_with_the_end(api):
    job = await api.submit(seed=5)
    ended = await api.json(
        "GET", "jobs", job["id"], params={"wait": "60", "include": "result"}, expect=200
    )
    assert ended["status"] == jobs.SUCCEEDED and ended["has_result"]
    summary = await api.json("GET", "jobs", job["id"], "result", expect=200)
    assert ended["result"] == summary and summary["seed"] == 5
    # a job without a result answers its record alone; a plain GET never carries one
    plain = await api.json("GET", "jobs", job["id"], expect=200)
    assert "result" not in plain
    bad = await api.json("GET", "jobs", job["id"], params={"include": "session"}, expect=400)
    assert bad["message"] == "include: can only be 'result', got 'session'"


async def test_include_result_is_absent_while_there_is_none(api):
    # a queue no worker serves: stays queued
    body = waiting_for_a_foreign_worker(transport.encode(gaussian_problem()))
    job = await api.json("POST", "jobs", body=body, expect=201)
    queued = await api.json("GET", "jobs", job["id"], params={"include": "result"}, expect=200)
    assert queued["status"] == jobs.QUEUED and "result" not in queued
