"""A run's start and end in one script each, against a real redis-server: what they read
and write is what the separate scripts did (lua/start.lua, lua/end_run.lua)."""

from __future__ import annotations

from jupyter_bumps_remote.shared import jobs


def create(store, owner):
    record = {"id": jobs.new_job_id(), "owner": owner, "name": "fit", "fitter": "lm"}
    record |= {"options": {}, "seed": 1, "max_attempts": 3}
    created, _ = store.create(record, b'{"payload": 1}')
    return created["id"]


def test_start_run_returns_the_record_after_the_start_and_the_payload(store, owner):
    job_id = create(store, owner)
    outcome, record, payload = store.start_run(owner, job_id, "w1", 3, "run-1", 30)
    assert (outcome, record["status"], record["attempt"]) == ("started", jobs.RUNNING, 1)
    assert record["worker"] == "w1" and "run" not in record
    assert payload == b'{"payload": 1}'
    # a copy of its message finds it leased: the record, no payload
    outcome, record, payload = store.start_run(owner, job_id, "w2", 3, "run-2", 30)
    assert (outcome, record["worker"], payload) == ("leased", "w1", None)


def test_start_run_of_a_missing_job(store, owner):
    assert store.start_run(owner, "nope", "w", 3) == ("missing", None, None)


def test_the_start_names_the_job_in_its_events_as_its_record_does(store, owner):
    job_id = jobs.new_job_id()
    record = {"id": job_id, "owner": owner, "name": 'a "quoted" 50% /ü\\ name', "fitter": "dream"}
    store.create(record | {"options": {}, "seed": 1, "max_attempts": 1}, b"{}")
    assert store.start_run(owner, job_id, "w1", 1)[0] == "started"
    running = store.events(owner, job_id)[-1]["data"]
    assert (running["job"], running["status"], running["worker"]) == (job_id, "running", "w1")
    assert (running["name"], running["fitter"]) == (record["name"], "dream")
    assert store.events(owner, None)[-1]["data"] == running
    # past its attempt cap: failed, named the same way
    assert store.start_run(owner, job_id, "w2", 1)[0] == "exhausted"  # (no lease)
    failed = store.events(owner, job_id)[-1]["data"]
    assert (failed["status"], failed["name"], failed["fitter"]) == (
        "failed",
        record["name"],
        "dream",
    )
    assert failed["error"]["type"] == "WorkerLost"


def test_the_start_of_a_job_cancelled_while_its_run_was_lost_names_its_reason(store, owner):
    job_id = create(store, owner)
    store.start_run(owner, job_id, "w1", 3, "run-1", 30)
    store.request_cancel(owner, job_id, reason="by me")
    store.redis.delete(store.keys.lease(owner, job_id))  # its run was lost
    assert store.start_run(owner, job_id, "w2", 3)[0] == "cancelled"
    cancelled = store.events(owner, job_id)[-1]["data"]
    assert (cancelled["status"], cancelled["reason"], cancelled["name"]) == (
        "cancelled",
        "by me",
        "fit",
    )


def test_the_end_stores_result_then_last_progress_then_status_counting_the_bytes(store, owner):
    job_id = create(store, owner)
    _, record, _ = store.start_run(owner, job_id, "w1", 3, "run-1", 30)
    stored_before = store.usage(owner)
    ended = store.finish(
        owner,
        job_id,
        jobs.SUCCEEDED,
        summary={"chisq": 1.5},
        session_follows=True,
        run="run-1",
        record=record,
        result={"chisq": 1.5},
        last_progress=({"step": 9, "rows": [], "final": True}, {"step": 9, "final": True}),
    )
    assert ended is True
    assert store.result(owner, job_id) == {"chisq": 1.5}
    record = store.get(owner, job_id)
    assert record["status"] == jobs.SUCCEEDED and record["has_result"] is True
    assert record["progress"] == {"job": job_id, "step": 9, "final": True}
    kinds = [(e["type"], e["data"].get("status")) for e in store.events(owner, job_id)]
    assert kinds[-2:] == [("progress", None), ("status", jobs.SUCCEEDED)]
    owner_kinds = [(e["type"], e["data"].get("status")) for e in store.events(owner, None)]
    assert owner_kinds[-2:] == [("progress", None), ("status", jobs.SUCCEEDED)]
    assert store.usage(owner) != stored_before  # the result counted in the owner's bytes
    assert store.redis.ttl(store.keys.result(owner, job_id)) > 0  # expires with the record


def test_the_end_of_a_run_taken_over_writes_nothing(store, owner):
    job_id = create(store, owner)
    _, record, _ = store.start_run(owner, job_id, "w1", 3, "first", 30)
    store.redis.delete(store.keys.lease(owner, job_id))  # its lease lapsed while cut off
    assert store.start_run(owner, job_id, "w2", 3, "second", 30)[0] == "started"
    before = store.events(owner, job_id)
    ended = store.finish(
        owner,
        job_id,
        jobs.SUCCEEDED,
        summary={"chisq": 9.0},
        run="first",
        record=record,
        result={"chisq": 9.0},
        last_progress=({"step": 9}, {"step": 9}),
    )
    assert ended is False
    assert store.result(owner, job_id) is None
    assert store.get(owner, job_id)["status"] == jobs.RUNNING
    assert store.events(owner, job_id) == before


def test_the_end_of_a_job_ended_meanwhile_adds_no_progress_after_its_status(store, owner):
    job_id = create(store, owner)
    _, record, _ = store.start_run(owner, job_id, "w1", 3, "run-1", 30)
    assert store.finish(owner, job_id, jobs.FAILED, error={"type": "X"}) is True
    before = store.events(owner, job_id)
    late = store.finish(
        owner,
        job_id,
        jobs.SUCCEEDED,
        run="run-1",
        record=record,
        result={"chisq": 1.0},
        last_progress=({"step": 9}, {"step": 9}),
    )
    assert late is False and store.events(owner, job_id) == before
    assert store.get(owner, job_id)["status"] == jobs.FAILED
