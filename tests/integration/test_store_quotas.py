"""The per-owner limits and what they count (store/quotas.py, lua/create.lua,
lua/lib/usage.lua) against a real redis-server: atomic under concurrency, stored bytes that
go down on delete and expiry, session files over the limit, payloads that expire."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.store import (
    NO_LIMITS,
    AsyncJobStore,
    JobStore,
    Limits,
    QuotaExceeded,
)

from ..support.waiting import wait_until

PAYLOAD = b'{"payload": "' + b"x" * 985 + b'"}'
assert len(PAYLOAD) == 1000


def make_record(owner: str) -> dict:
    return {
        "id": jobs.new_job_id(),
        "owner": owner,
        "name": "fit",
        "tags": [],
        "fitter": "lm",
        "options": {},
        "seed": 1,
    }


def create(store: JobStore, owner: str, limits: Limits = NO_LIMITS) -> dict:
    record, _ = store.create(make_record(owner), PAYLOAD, limits=limits)
    return record


def run_to_the_end(store: JobStore, owner: str, job_id: str, result: dict | None = None) -> None:
    """A worker's part: start, result, terminal status (the session file is left to write)."""
    store.start(owner, job_id, "w", 3)
    if result is not None:
        store.put_result(owner, job_id, result)
    store.finish(owner, job_id, jobs.SUCCEEDED, summary=result, session_follows=True)


def counted(store: JobStore, owner: str) -> int:
    return store.usage(owner)["stored_bytes"]


def test_concurrent_submissions_never_share_the_last_slot(redis_server, owner):
    limits = Limits(max_active_jobs=3)

    async def race() -> list:
        client = redis.asyncio.Redis.from_url(redis_server.url, max_connections=20)
        store = AsyncJobStore(client)
        try:
            tries = [store.create(make_record(owner), PAYLOAD, limits=limits) for _ in range(20)]
            return await asyncio.gather(*tries, return_exceptions=True)
        finally:
            await client.aclose()

    outcomes = asyncio.run(race())
    created = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
    assert len(created) == 3 and len(refused) == 17, outcomes
    assert {r.setting for r in refused} == {"max_active_jobs"}


def test_an_ended_job_frees_its_slot_however_it_ended(store, owner):
    limits = Limits(max_active_jobs=2)
    cancelled, exhausted = create(store, owner, limits), create(store, owner, limits)
    with pytest.raises(QuotaExceeded, match="2 active jobs"):
        create(store, owner, limits)
    store.request_cancel(owner, cancelled["id"])  # a queued job ends at once
    finished = create(store, owner, limits)
    store.start(owner, exhausted["id"], "w", max_attempts=1)
    assert store.start(owner, exhausted["id"], "w", max_attempts=1)[0] == "exhausted"
    run_to_the_end(store, owner, finished["id"])
    assert store.usage(owner)["active_jobs"] == 0
    create(store, owner, limits), create(store, owner, limits)


def test_a_repeated_request_is_answered_even_at_the_limit(store, owner):
    limits = Limits(max_active_jobs=1)
    first, _ = store.create(make_record(owner), PAYLOAD, "key", limits)
    again, created = store.create(make_record(owner), PAYLOAD, "key", limits)
    assert not created and again["id"] == first["id"]


def test_submissions_a_minute_are_a_sliding_window(store, owner, redis_server):
    limits = Limits(max_submissions_per_minute=3)
    made = [create(store, owner, limits) for _ in range(3)]
    with pytest.raises(QuotaExceeded) as refused:
        create(store, owner, limits)
    assert refused.value.setting == "max_submissions_per_minute"
    assert 55 <= refused.value.retry_after <= 60
    # the first submission leaves the window: one slot, not a new minute's three
    submitted = store.keys.submitted(owner)
    redis_server.client().zadd(submitted, {made[0]["id"]: made[0]["created"] - 60})
    create(store, owner, limits)
    with pytest.raises(QuotaExceeded, match="3 submissions a minute"):
        create(store, owner, limits)


def test_stored_bytes_count_payload_result_session_and_events_and_leave_on_delete(store, owner):
    job = create(store, owner)
    assert counted(store, owner) == len(PAYLOAD)
    run_to_the_end(store, owner, job["id"], result={"chisq": 1.0})
    events = store.redis.memory_usage(store.keys.events(owner, job["id"]))
    assert counted(store, owner) == len(PAYLOAD) + len(b'{"chisq":1.0}') + events
    assert store.put_session(owner, job["id"], b"h" * 5000)
    # written again (a retry across a Redis outage): replaced, not counted twice
    assert store.put_session(owner, job["id"], b"h" * 5000)
    store.put_result(owner, job["id"], {"chisq": 1.0})
    assert counted(store, owner) == len(PAYLOAD) + 13 + events + 5000

    store.delete(owner, job["id"])
    assert counted(store, owner) == 0
    assert not store.redis.exists(store.keys.job_bytes(owner))


def test_a_result_for_a_deleted_job_is_not_stored(store, owner):
    job = create(store, owner)
    store.request_cancel(owner, job["id"])
    store.delete(owner, job["id"])
    assert store.put_result(owner, job["id"], {"chisq": 1.0}) is False
    assert not store.redis.exists(store.keys.result(owner, job["id"]))
    assert counted(store, owner) == 0


def test_over_the_bytes_limit_a_submission_is_refused_until_jobs_are_deleted(store, owner):
    limits = Limits(max_stored_bytes=2500)
    first = create(store, owner, limits)
    create(store, owner, limits)
    with pytest.raises(QuotaExceeded) as refused:
        create(store, owner, limits)
    assert refused.value.setting == "max_stored_bytes"
    assert str(refused.value).startswith(
        "this job (1000 bytes) does not fit in your stored data's limit: 500 bytes left of "
        "2.4 KiB (c.BumpsRemote.max_stored_bytes); delete jobs you no longer need"
    )
    assert store.usage(owner)["active_jobs"] == 2  # nothing was stored
    store.request_cancel(owner, first["id"])
    store.delete(owner, first["id"])
    create(store, owner, limits)


def test_expired_jobs_leave_the_count_when_a_write_would_go_over(store, owner, redis_server):
    made = [create(store, owner) for _ in range(2)]
    for job in made:
        store.request_cancel(owner, job["id"])
    client = redis_server.client()
    gone = made[0]["id"]
    gone_bytes = int(client.hget(store.keys.job_bytes(owner), gone))
    for key in store.keys.job_keys(owner, gone):
        client.delete(key)  # what expiry does: the keys go, no script runs
    before = counted(store, owner)
    limits = Limits(max_stored_bytes=before + len(PAYLOAD) - 1)

    create(store, owner, limits)  # the sum says no; the recount, yes

    assert counted(store, owner) == before - gone_bytes + len(PAYLOAD)
    assert gone.encode() not in client.hkeys(store.keys.job_bytes(owner))


def test_a_recount_runs_at_most_every_few_seconds(store, owner, redis_server):
    limits = Limits(max_stored_bytes=1500)
    job = create(store, owner, limits)
    store.request_cancel(owner, job["id"])
    client = redis_server.client()
    client.hset(store.keys.usage(owner), "recounted", 0)
    with pytest.raises(QuotaExceeded):  # the recount finds the job there
        create(store, owner, limits)
    for key in store.keys.job_keys(owner, job["id"]):
        client.delete(key)
    with pytest.raises(QuotaExceeded):  # recounted just now: the sum is trusted
        create(store, owner, limits)
    client.hset(store.keys.usage(owner), "recounted", 0)
    create(store, owner, limits)


def test_a_session_file_over_the_limit_is_not_stored_and_the_result_stays(store, owner):
    limits = Limits(max_stored_bytes=20_000)
    job = create(store, owner, limits)
    run_to_the_end(store, owner, job["id"], result={"chisq": 2.0})
    before = counted(store, owner)

    assert store.put_session(owner, job["id"], b"h" * 20_000)

    record = store.get(owner, job["id"])
    assert record["session"] == "failed", record
    why = record["session_error"]
    assert why.startswith("the session file (19.5 KiB) does not fit in your stored data's limit")
    assert "of 19.5 KiB (c.BumpsRemote.max_stored_bytes); the result is kept" in why
    assert store.session(owner, job["id"]) is None
    assert store.result(owner, job["id"]) == {"chisq": 2.0}
    assert counted(store, owner) == before
    # under the limit it is stored as before
    other = create(store, owner, limits)
    run_to_the_end(store, owner, other["id"])
    assert store.put_session(owner, other["id"], b"h" * 100)
    assert store.get(owner, other["id"])["session"] == "ready"


def test_a_session_file_has_no_limit_for_an_owner_whose_server_sets_none(store, owner):
    job = create(store, owner)  # no limits: the usage hash says 0
    run_to_the_end(store, owner, job["id"])
    assert store.put_session(owner, job["id"], b"h" * 100_000)
    assert store.get(owner, job["id"])["session"] == "ready"


def test_a_queued_payload_expires_and_its_job_fails_saying_so(store, owner, redis_server):
    job = create(store, owner, Limits(payload_ttl=1))
    client = redis_server.client()
    payload = store.keys.payload(owner, job["id"])
    assert 0 < client.ttl(payload) <= 1
    wait_until(lambda: not client.exists(payload), timeout=10, what="the payload to expire")

    outcome, record = store.start(owner, job["id"], "w", 3)

    assert outcome == "expired" and record["status"] == jobs.FAILED
    assert record["error"]["type"] == "PayloadExpired"
    assert "c.BumpsRemote.payload_ttl" in record["error"]["message"]
    assert store.usage(owner)["active_jobs"] == 0
    statuses = [e["data"]["status"] for e in store.events(owner, job["id"])]
    assert statuses == ["queued", "failed"]


def test_a_started_job_keeps_its_payload(store, owner, redis_server):
    job = create(store, owner, Limits(payload_ttl=600))
    assert store.start(owner, job["id"], "w", 3)[0] == "started"
    assert redis_server.client().ttl(store.keys.payload(owner, job["id"])) == -1
