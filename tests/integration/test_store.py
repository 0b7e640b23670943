"""The job store against a real redis-server: records, transitions, events, listing."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.store import AsyncJobStore, JobNotFound, JobStore, TransitionRefused
from jupyter_bumps_remote.store.events import output as output_op

OUTPUT = {"stream": "stdout", "text": "late\n", "seq": 0}


def make_record(owner, **fields):
    return {
        "id": jobs.new_job_id(),
        "owner": owner,
        "name": fields.pop("name", "fit"),
        "tags": fields.pop("tags", []),
        "fitter": "lm",
        "options": {},
        "seed": 1,
        "max_attempts": 3,
        **fields,
    }


def create(store, owner, **fields):
    record, _ = store.create(make_record(owner, **fields), b'{"payload": 1}')
    return record


def test_create_and_read_back(store, owner):
    created = create(store, owner, tags=["a", "b"], name="first")
    record = store.get(owner, created["id"])
    assert record["status"] == jobs.QUEUED
    assert record["tags"] == ["a", "b"] and record["name"] == "first"
    assert record["attempt"] == 0 and record["seed"] == 1
    assert store.payload(owner, created["id"]) == b'{"payload": 1}'
    assert store.get("someone-else", created["id"]) is None


def test_keys_are_per_owner(store, owner, redis_server):
    created = create(store, owner)
    keys = {k.decode() for k in redis_server.client().keys(f"*{owner}*")}
    assert keys == {
        f"bumps-remote:u:{owner}:job:{created['id']}",
        f"bumps-remote:u:{owner}:job:{created['id']}:payload",
        f"bumps-remote:u:{owner}:job:{created['id']}:events",
        f"bumps-remote:u:{owner}:jobs",
        f"bumps-remote:u:{owner}:events",
        # what the owner's limits count (store/quotas.py)
        f"bumps-remote:u:{owner}:active",
        f"bumps-remote:u:{owner}:submitted",
        f"bumps-remote:u:{owner}:bytes",
        f"bumps-remote:u:{owner}:usage",
    }


def test_owner_names_cannot_escape_their_key_space(store):
    assert store.keys.index("a:b*") == "bumps-remote:u:a%3Ab%2A:jobs"


def test_terminal_state_is_final(store, owner):
    job = create(store, owner)
    outcome, record = store.start(owner, job["id"], "w1", max_attempts=3)
    assert outcome == "started" and record["status"] == jobs.RUNNING and record["attempt"] == 1
    assert store.finish(owner, job["id"], jobs.SUCCEEDED, summary={"chisq": 1.0})
    # a late failure, a duplicate delivery and a late progress event change nothing
    assert not store.finish(owner, job["id"], jobs.FAILED, error={"message": "late"})
    assert store.start(owner, job["id"], "w2", max_attempts=3)[0] == "terminal"
    assert store.progress(owner, job["id"], {"step": 99}, {"step": 99}) is None
    record = store.get(owner, job["id"])
    assert record["status"] == jobs.SUCCEEDED and record["has_result"] and "error" not in record
    statuses = [
        e["data"]["status"] for e in store.events(owner, job["id"]) if e["type"] == "status"
    ]
    assert statuses == ["queued", "running", "succeeded"]


def test_attempt_cap_fails_a_poison_job(store, owner):
    job = create(store, owner)
    for attempt in (1, 2):
        outcome, record = store.start(owner, job["id"], "w", max_attempts=2)
        assert (outcome, record["attempt"]) == ("started", attempt)
    outcome, record = store.start(owner, job["id"], "w", max_attempts=2)
    assert outcome == "exhausted" and record["status"] == jobs.FAILED
    assert record["error"]["message"].startswith("worker lost 2 times")
    assert record["attempt"] == 2  # attempts that ran, never above the cap


def test_cancel_queued_ends_it_and_running_flags_it(store, owner):
    queued = create(store, owner)
    assert store.request_cancel(owner, queued["id"]) == jobs.CANCELLED
    assert store.start(owner, queued["id"], "w", 3)[0] == "terminal"  # never starts

    running = create(store, owner)
    store.start(owner, running["id"], "w", 3)
    assert store.cancel_reason(owner, running["id"]) is None
    assert store.request_cancel(owner, running["id"], reason="enough") == jobs.RUNNING
    assert store.cancel_reason(owner, running["id"]) == "enough"
    assert store.get(owner, running["id"])["status"] == jobs.RUNNING
    store.finish(owner, running["id"], jobs.CANCELLED, reason="enough", partial=True)
    with pytest.raises(TransitionRefused) as refused:
        store.request_cancel(owner, running["id"])
    assert refused.value.status == jobs.CANCELLED
    with pytest.raises(JobNotFound):
        store.request_cancel(owner, jobs.new_job_id())


def test_progress_only_while_running(store, owner):
    job = create(store, owner)
    assert store.progress(owner, job["id"], {"step": 1}, {"step": 1}) is None
    store.start(owner, job["id"], "w", 3)
    event_id = store.progress(owner, job["id"], {"step": 2, "rows": [[1.0]]}, {"step": 2})
    assert event_id
    assert store.get(owner, job["id"])["progress"] == {"job": job["id"], "step": 2}
    owner_events = store.events(owner, None)
    assert owner_events[-1]["type"] == "progress" and owner_events[-1]["data"]["job"] == job["id"]


def test_replay_from_an_event_id_returns_exactly_the_rest(store, owner):
    job = create(store, owner)
    store.start(owner, job["id"], "w", 3)
    for step in range(10):
        store.progress(owner, job["id"], {"step": step}, {"step": step})
    everything = store.events(owner, job["id"])
    for cut in (0, 3, len(everything) - 1):
        rest = store.events(owner, job["id"], since=everything[cut]["id"])
        assert rest == everything[cut + 1 :]


def test_event_streams_stay_capped(redis_server, owner):
    small = JobStore(redis_server.client(), events_maxlen=50)
    job = create(small, owner)
    small.start(owner, job["id"], "w", 3)
    for step in range(2000):
        small.progress(owner, job["id"], {"step": step}, {"step": step})
    length = redis_server.client().xlen(small.keys.events(owner, job["id"]))
    assert length < 2000 // 4  # MAXLEN ~ trims whole macro nodes, so "about" 50


def test_list_newest_first_filters_and_pages(store, owner):
    made = [create(store, owner, tags=["even"] if i % 2 == 0 else ["odd"]) for i in range(7)]
    store.start(owner, made[1]["id"], "w", 3)
    newest_first = [m["id"] for m in reversed(made)]

    page, next_offset, total = store.list(owner, limit=3)
    assert [r["id"] for r in page] == newest_first[:3] and next_offset == 3 and total == 7
    page, next_offset, _ = store.list(owner, offset=6, limit=3)
    assert [r["id"] for r in page] == newest_first[6:] and next_offset is None

    evens, _, _ = store.list(owner, tag="even")
    assert [r["id"] for r in evens] == [m["id"] for m in reversed(made[::2])]
    running, _, _ = store.list(owner, status=jobs.RUNNING)
    assert [r["id"] for r in running] == [made[1]["id"]]
    first_two_odd, next_offset, _ = store.list(owner, tag="odd", limit=2)
    assert len(first_two_odd) == 2 and next_offset is not None
    rest, _, _ = store.list(owner, tag="odd", offset=next_offset)
    assert [r["id"] for r in first_two_odd + rest] == [m["id"] for m in reversed(made[1::2])]


def test_retention_expires_finished_jobs_and_cleans_the_index(redis_server, owner):
    short = JobStore(redis_server.client(), result_ttl=1)
    job = create(short, owner)
    short.start(owner, job["id"], "w", 3)
    short.put_result(owner, job["id"], {"chisq": 1.0})
    short.finish(owner, job["id"], jobs.SUCCEEDED, summary={"chisq": 1.0}, session_follows=True)
    assert short.put_session(owner, job["id"], b"h5")  # written after the terminal status
    client = redis_server.client()
    for key in short.keys.job_keys(owner, job["id"]):
        assert client.ttl(key) in (0, 1) or not client.exists(key)
    kept = create(short, owner)  # a queued job never expires
    time.sleep(1.1)  # the TTL itself is what is under test
    assert short.get(owner, job["id"]) is None
    page, _, total = short.list(owner)
    assert [r["id"] for r in page] == [kept["id"]]
    assert short.list(owner)[2] == 1


def test_idempotency_key_creates_one_job(store, owner):
    first, created = store.create(make_record(owner), b"{}", idempotency_key="k-1")
    again, created_again = store.create(make_record(owner), b"{}", idempotency_key="k-1")
    assert created and not created_again and again["id"] == first["id"]
    assert store.list(owner)[2] == 1


def test_delete_only_finished(store, owner, redis_server):
    job = create(store, owner)
    with pytest.raises(TransitionRefused):
        store.delete(owner, job["id"])
    store.request_cancel(owner, job["id"])
    store.delete(owner, job["id"])
    assert store.get(owner, job["id"]) is None
    assert not redis_server.client().exists(*store.keys.job_keys(owner, job["id"]))
    assert store.list(owner)[2] == 0


def test_async_store_shares_the_same_logic(redis_server, store, owner):
    async def scenario():
        client = redis.asyncio.Redis.from_url(redis_server.url)
        async_store = AsyncJobStore(client)
        try:
            record, _ = await async_store.create(make_record(owner), b"{}")
            assert (await async_store.get(owner, record["id"]))["status"] == jobs.QUEUED
            assert await async_store.request_cancel(owner, record["id"]) == jobs.CANCELLED
            listed, _, total = await async_store.list(owner)
            since = (await async_store.events(owner, record["id"]))[0]["id"]
            stream = async_store.keys.events(owner, record["id"])
            waited = await async_store.wait_events({stream: since}, block_ms=100)
            return record, listed, total, waited[stream]
        finally:
            await client.aclose()

    record, listed, total, waited = asyncio.run(scenario())
    assert [r["id"] for r in listed] == [record["id"]] and total == 1
    assert [e["data"]["status"] for e in waited] == [jobs.CANCELLED]
    assert store.get(owner, record["id"])["status"] == jobs.CANCELLED  # the sync side agrees


def test_a_run_taken_over_writes_nothing_more(store, owner):
    """A run cut off from Redis (its worker's link down) is taken over by another once its
    lease lapses; when its link comes back, its late progress, output, result, end and
    session file are refused, and the run that holds the job writes as before
    (lua/include/fence.lua; docs/reliability.md#24-a-workers-link-cut-mid-fit)."""
    job = create(store, owner)
    job_id = job["id"]
    assert store.start(owner, job_id, "w1", 3, "first", 30)[0] == "started"
    store.redis.delete(store.keys.lease(owner, job_id))  # its lease lapsed while cut off
    assert store.start(owner, job_id, "w2", 3, "second", 30)[0] == "started"
    before = store.events(owner, job_id)

    stale = {"run": "first"}
    assert store.progress(owner, job_id, {"step": 9}, {"step": 9}, **stale) is None
    assert store.run(output_op(store.settings, owner, job_id, [OUTPUT], **stale)) == 0
    assert store.put_result(owner, job_id, {"chisq": 9.0}, **stale) is False
    assert store.finish(owner, job_id, jobs.SUCCEEDED, summary={}, **stale) is False
    assert store.put_session(owner, job_id, b"stale h5", **stale) is False
    record = store.get(owner, job_id)
    assert record["status"] == jobs.RUNNING and record["worker"] == "w2"
    assert "run" not in record  # the store's own field, never shown
    assert store.events(owner, job_id) == before and store.result(owner, job_id) is None

    mine = {"run": "second"}
    assert store.progress(owner, job_id, {"step": 1}, {"step": 1}, **mine)
    assert store.run(output_op(store.settings, owner, job_id, [OUTPUT], **mine)) == 1
    assert store.put_result(owner, job_id, {"chisq": 1.0}, **mine) is True
    assert store.finish(owner, job_id, jobs.SUCCEEDED, summary={}, session_follows=True, **mine)
    assert store.put_session(owner, job_id, b"h5", **mine) is True
    assert store.get(owner, job_id)["status"] == jobs.SUCCEEDED
    assert store.result(owner, job_id) == {"chisq": 1.0}
    # the server's own changes carry no run: a delete still works
    store.delete(owner, job_id)
