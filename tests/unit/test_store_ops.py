"""The store's operations without Redis: each is fed scripted replies, and the test checks
the commands it sends and what it makes of the replies. Redis itself (the Lua scripts, the
drivers) is covered by tests/integration/test_store.py and test_reconcile.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.store import (
    LOST_RUN,
    AsyncJobStore,
    Batch,
    JobNotFound,
    JobStore,
    Limits,
    QuotaExceeded,
    Script,
    StoreSettings,
    TransitionRefused,
    encode_record,
    quotas,
    records,
    transitions,
    workers,
)
from jupyter_bumps_remote.store import events as event_ops
from jupyter_bumps_remote.store.binding import async_op, sync_op
from jupyter_bumps_remote.store.reconcile import KOMBU_UNACKED, QUEUE_GONE, WORKER_GONE, Reconciler

from ..support.scripted_ops import drive

NOW = 1_700_000_000.0
OWNER, JOB = "ann", "0" * 31 + "1"
SETTINGS = StoreSettings(prefix="p:", events_maxlen=100, result_ttl=60)
JOB_KEY = f"p:u:{OWNER}:job:{JOB}"
INDEX = f"p:u:{OWNER}:jobs"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr("time.time", lambda: NOW)


def stored(**fields: Any) -> dict[bytes, bytes]:
    """An HGETALL reply for a record with these fields."""
    record = {"id": JOB, "owner": OWNER, "name": "fit", "fitter": "lm", **fields}
    return {k.encode(): v.encode() for k, v in encode_record(record).items()}


def commands(batch: Batch) -> list[str]:
    return [c.name if isinstance(c, Script) else c[0] for c in batch.commands]


def plain(batch: Batch) -> list[tuple[Any, ...]]:
    """The batch's commands, none of them a script."""
    assert not any(isinstance(c, Script) for c in batch.commands), batch
    return [c for c in batch.commands if not isinstance(c, Script)]


def only_script(batch: Batch) -> Script:
    script = batch.single_script
    assert script is not None, f"not a lone script: {batch}"
    return script


# -- records ------------------------------------------------------------------------------------


OWNER_KEYS = {
    name: f"p:u:{OWNER}:{name}" for name in ("active", "submitted", "bytes", "usage", "events")
}
CREATE_KEYS = [
    JOB_KEY,
    f"{JOB_KEY}:payload",
    f"{JOB_KEY}:events",
    OWNER_KEYS["events"],
    INDEX,
    OWNER_KEYS["active"],
    OWNER_KEYS["submitted"],
    OWNER_KEYS["bytes"],
    OWNER_KEYS["usage"],
]
LIMITS = Limits(
    max_active_jobs=3, max_stored_bytes=1000, max_submissions_per_minute=5, payload_ttl=600
)


def new_record(**fields: Any) -> dict[str, Any]:
    return {"id": JOB, "owner": OWNER, "name": "fit", "fitter": "lm", "tags": ["a"], **fields}


def test_create_checks_the_limits_and_writes_the_job_in_one_script():
    record = new_record()
    (created, new), (batch,) = drive(
        records.create(SETTINGS, record, b"{}", limits=LIMITS), [[b"created"]]
    )
    assert new is True
    assert created == {"status": jobs.QUEUED, "attempt": 0, "created": NOW, **record}
    script = only_script(batch)
    assert script.name == "create" and script.keys == CREATE_KEYS
    job_id, now, maxlen, event, payload, payload_ttl, *rest = script.args
    max_active, max_rate, max_bytes, namespace, recount, idem_ttl, *rest = rest
    queue, message, *pairs = rest
    assert (job_id, now, maxlen, payload, payload_ttl) == (JOB, NOW, 100, b"{}", 600)
    assert (max_active, max_rate, max_bytes) == (3, 5, 1000)
    assert (namespace, recount, idem_ttl) == (f"p:u:{OWNER}:", 10, records.IDEMPOTENCY_TTL)
    assert (queue, message) == ("", "")  # no message: the script pushes none
    fields = dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert fields["status"] == "queued" and fields["tags"] == '["a"]'
    assert json.loads(event) == {
        "job": JOB,
        "status": "queued",
        "name": "fit",
        "fitter": "lm",
        "time": NOW,
    }


def test_create_hands_the_script_the_job_s_queue_and_message_after_the_limits():
    record = new_record(queue="bumps-py3.11")
    _, (batch,) = drive(records.create(SETTINGS, record, b"{}", message=b'{"m":1}'), [[b"created"]])
    assert only_script(batch).args[12:14] == ["bumps-py3.11", b'{"m":1}']


def test_create_many_hands_the_script_each_job_s_queue_and_message_before_its_fields():
    jobs_to_create = [(new_record(id=f"{n:032x}", queue=f"q{n}"), b"{}") for n in (1, 2)]
    messages = [b"m1", b"m2"]
    _, (batch,) = drive(
        records.create_many(SETTINGS, OWNER, jobs_to_create, messages=messages), [[b"created"]]
    )
    args = only_script(batch).args
    at = 11  # after the request's own arguments (create_many.lua's ARGV[1..11])
    for n, message in zip((1, 2), messages, strict=True):
        job_id, _, _, payload, queue, sent, count = args[at : at + 7]
        assert (job_id, payload, queue, sent) == (f"{n:032x}", b"{}", f"q{n}", message)
        at += 7 + count
    assert at == len(args)


def test_create_without_limits_sends_zeros_which_the_script_reads_as_none():
    _, (batch,) = drive(records.create(SETTINGS, new_record(), b"{}"), [[b"created"]])
    assert only_script(batch).args[5:9] == [0, 0, 0, 0]


def test_create_with_a_used_idempotency_key_returns_the_earlier_job():
    (found, new), batches = drive(
        records.create(SETTINGS, new_record(id="other"), b"{}", "key 1", LIMITS),
        [[b"exists", JOB.encode()]],
        [stored(status="running")],
    )
    assert new is False and found["id"] == JOB and found["status"] == "running"
    other = [key.replace(JOB, "other") for key in CREATE_KEYS]
    assert only_script(batches[0]).keys == [*other, f"p:u:{OWNER}:idem:key%201"]
    assert batches[1].commands == [("HGETALL", JOB_KEY)]


def test_create_whose_earlier_job_expired_meanwhile_runs_the_script_again():
    (_, new), batches = drive(
        records.create(SETTINGS, new_record(), b"{}", "k"),
        [[b"exists", b"gone"]],
        [{}],
        [[b"created"]],
    )
    assert new is True and only_script(batches[2]).keys[-1] == f"p:u:{OWNER}:idem:k"


@pytest.mark.parametrize(
    ("reply", "setting", "retry_after", "says"),
    [
        (
            [b"rate", 5, b"12.25"],
            "max_submissions_per_minute",
            13,
            "5 submissions a minute is the limit (c.BumpsRemote.max_submissions_per_minute); "
            "the next one is possible in 13 s",
        ),
        (
            [b"active", 3],
            "max_active_jobs",
            quotas.ACTIVE_RETRY_AFTER,
            "3 active jobs (queued or running) is the limit (c.BumpsRemote.max_active_jobs); "
            "wait for one to end or cancel one",
        ),
        (
            [b"bytes", 900],
            "max_stored_bytes",
            quotas.BYTES_RETRY_AFTER,
            "this job (200 bytes) does not fit in your stored data's limit: 100 bytes left of "
            "1000 bytes (c.BumpsRemote.max_stored_bytes); delete jobs you no longer need",
        ),
    ],
)
def test_create_refused_by_a_limit_names_it_and_its_setting(reply, setting, retry_after, says):
    with pytest.raises(QuotaExceeded) as refused:
        drive(records.create(SETTINGS, new_record(), b"x" * 200, limits=LIMITS), [reply])
    assert refused.value.setting == setting and refused.value.retry_after == retry_after
    assert str(refused.value).startswith(says)


def test_a_rate_refusal_never_says_to_wait_less_than_a_second():
    with pytest.raises(QuotaExceeded) as refused:
        drive(records.create(SETTINGS, new_record(), b"", limits=LIMITS), [[b"rate", 5, b"0.01"]])
    assert refused.value.retry_after == 1


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 bytes"), (1023, "1023 bytes"), (1536, "1.5 KiB"), (5 * 2**20, "5.0 MiB")]
    + [(2**30, "1.0 GiB"), (3 * 2**40, "3072.0 GiB")],
)
def test_sizes_in_messages(n, text):
    assert quotas.size_text(n) == text


def test_usage_reads_the_three_counts():
    found, (batch,) = drive(quotas.usage(SETTINGS, OWNER), [2, b"4096", 7])
    assert found == {"active_jobs": 2, "stored_bytes": 4096, "submissions_last_minute": 7}
    assert batch.commands == [
        ("SCARD", OWNER_KEYS["active"]),
        ("HGET", OWNER_KEYS["usage"], "stored"),
        ("ZCOUNT", OWNER_KEYS["submitted"], f"({NOW - 60}", "+inf"),
    ]
    assert batch.repeatable
    assert drive(quotas.usage(SETTINGS, OWNER), [0, None, 0])[0]["stored_bytes"] == 0


def test_put_result_counts_it_and_stores_nothing_for_a_gone_job():
    done, (batch,) = drive(records.put_result(SETTINGS, OWNER, JOB, {"chisq": 1.5}), [1])
    script = only_script(batch)
    assert done is True and script.name == "result"
    assert script.keys == [JOB_KEY, f"{JOB_KEY}:result", OWNER_KEYS["bytes"], OWNER_KEYS["usage"]]
    assert script.args == [JOB, '{"chisq":1.5}', ""]
    assert drive(records.put_result(SETTINGS, OWNER, JOB, {}), [0])[0] is False
    # a run's result carries its token, which the script checks against the job's run
    fenced = records.put_result(SETTINGS, OWNER, JOB, {}, run="w/1/ab")
    assert only_script(drive(fenced, [0])[1][0]).args[2] == "w/1/ab"


def test_get_decodes_the_record_or_returns_none():
    record, _ = drive(records.get(SETTINGS, OWNER, JOB), [stored(attempt=2, partial=True)])
    assert record["attempt"] == 2 and record["partial"] is True
    assert drive(records.get(SETTINGS, OWNER, JOB), [{}])[0] is None


def ids(*numbers: int) -> list[bytes]:
    return [f"job{n}".encode() for n in numbers]


def row(n: int, **fields: Any) -> dict[bytes, bytes]:
    return stored(**{"id": f"job{n}", "status": "queued", **fields})


def test_list_pages_newest_first_and_says_where_the_next_page_starts():
    (found, next_offset, total), batches = drive(
        records.list_jobs(SETTINGS, OWNER, offset=2, limit=2),
        [5, ids(3, 2)],
        [row(3), row(2)],
    )
    assert batches[0].commands == [("ZCARD", INDEX), ("ZREVRANGE", INDEX, 2, 3)]
    assert batches[1].commands == [
        ("HGETALL", f"p:u:{OWNER}:job:job3"),
        ("HGETALL", f"p:u:{OWNER}:job:job2"),
    ]
    assert [r["id"] for r in found] == ["job3", "job2"]
    assert (next_offset, total) == (4, 5)


def test_list_last_page_has_no_next_offset():
    (found, next_offset, total), _ = drive(
        records.list_jobs(SETTINGS, OWNER, offset=4, limit=2), [5, ids(1)], [row(1)], [5, []]
    )
    assert len(found) == 1 and next_offset is None and total == 5


def test_list_drops_expired_records_from_the_index_and_reads_on():
    (found, next_offset, _), batches = drive(
        records.list_jobs(SETTINGS, OWNER, limit=2),
        [3, ids(3, 2)],
        [row(3), {}],  # job2 expired
        [1],  # ZREM
        [2, ids(1)],  # the index without job2: job1 is now at position 1
        [row(1)],
    )
    assert batches[2].commands == [("ZREM", INDEX, b"job2")]
    assert plain(batches[3])[1] == ("ZREVRANGE", INDEX, 1, 2)
    assert [r["id"] for r in found] == ["job3", "job1"] and next_offset is None


def test_list_filtered_by_status_reads_in_large_chunks_and_skips_the_others():
    (found, next_offset, _), batches = drive(
        records.list_jobs(SETTINGS, OWNER, status="running", limit=1),
        [3, ids(3, 2, 1)],
        [row(3), row(2, status="running"), row(1)],
    )
    assert plain(batches[0])[1] == ("ZREVRANGE", INDEX, 0, records.FILTERED_CHUNK - 1)
    assert [r["id"] for r in found] == ["job2"] and next_offset == 2


def test_delete_refuses_an_active_job_and_a_missing_one():
    with pytest.raises(TransitionRefused, match="cannot delete a job that is running"):
        drive(records.delete(SETTINGS, OWNER, JOB), [[b"active", b"running"]])
    with pytest.raises(JobNotFound):
        drive(records.delete(SETTINGS, OWNER, JOB), [[b"missing"]])
    done, (batch,) = drive(records.delete(SETTINGS, OWNER, JOB), [[b"deleted"]])
    script = only_script(batch)
    assert done and script.name == "delete" and script.args == [JOB]
    assert script.keys == [
        JOB_KEY,
        *(f"{JOB_KEY}:{part}" for part in ("payload", "events", "result", "session")),
        INDEX,
        OWNER_KEYS["bytes"],
        OWNER_KEYS["usage"],
        f"{JOB_KEY}:checkpoint",  # expires and goes with the record
    ]


# -- transitions --------------------------------------------------------------------------------

TRANSITION_KEYS = [
    JOB_KEY,
    f"{JOB_KEY}:events",
    f"p:u:{OWNER}:events",
    f"{JOB_KEY}:payload",
    f"{JOB_KEY}:result",
    f"{JOB_KEY}:session",
    f"p:u:{OWNER}:bytes",  # a job that ends changes its owner's usage
    f"p:u:{OWNER}:usage",
    f"p:u:{OWNER}:active",
    f"{JOB_KEY}:checkpoint",  # expires with the record
]


def flat(fields: dict[bytes, bytes]) -> list[bytes]:
    """An HGETALL reply as a script returns it: field, value, ..."""
    return [item for pair in fields.items() for item in pair]


def test_start_runs_the_start_script_with_the_lease_and_reads_the_record_in_it():
    (outcome, record), batches = drive(
        transitions.start(SETTINGS, OWNER, JOB, "w@host", 3, "token", 2.5, "sent-by-server"),
        [[b"started", 1, flat(stored(status="running", attempt=1))]],
    )
    assert (outcome, record["status"], record["attempt"]) == ("started", "running", 1)
    assert len(batches) == 1  # one round trip: the record is read in the script
    script = only_script(batches[0])
    assert script.name == "start"
    assert script.keys == [*TRANSITION_KEYS, f"{JOB_KEY}:lease"]
    worker, now, cap, maxlen, running, failed, lost, ttl, token, lease_ms, *more = script.args
    cancelled, expired, expired_event, dispatch, with_payload = more
    assert dispatch == "sent-by-server" and with_payload == ""
    assert (worker, now, cap, maxlen, ttl, token, lease_ms) == (
        "w@host",
        NOW,
        3,
        100,
        60,
        "token",
        2500,
    )
    running = json.loads(running)
    assert running["status"] == "running" and running["worker"] == "w@host"
    # the script names the job as its record does (lua/start.lua)
    assert (running["job"], running["name"], running["fitter"]) == (
        JOB,
        "@@record.name@@",
        "@@record.fitter@@",
    )
    assert json.loads(failed)["error"] == json.loads(lost)
    assert json.loads(lost)["type"] == "WorkerLost" and "3 times" in json.loads(lost)["message"]
    cancelled = json.loads(cancelled)
    assert (cancelled["status"], cancelled["reason"]) == ("cancelled", "@@record.reason@@")
    expired = json.loads(expired)
    assert expired["type"] == "PayloadExpired" and "c.BumpsRemote.payload_ttl" in expired["message"]
    assert json.loads(expired_event)["error"] == expired


def test_start_of_a_job_whose_payload_expired_reports_it_not_started():
    (outcome, record), _ = drive(
        transitions.start(SETTINGS, OWNER, JOB, "w", 3),
        [[b"expired", 0, flat(stored(status="failed"))]],
    )
    assert outcome == "expired" and record["status"] == "failed"


def test_start_run_has_the_payload_of_a_started_job_back_from_the_script():
    (outcome, record, payload), batches = drive(
        transitions.start_run(SETTINGS, OWNER, JOB, "w", 3, "mine", 3),
        [[b"started", 1, flat(stored(status="running", attempt=1)), b"problem"]],
    )
    assert (outcome, record["attempt"], payload) == ("started", 1, b"problem")
    assert only_script(batches[0]).args[-1] == "1"


def test_start_run_of_a_job_whose_payload_is_gone_returns_none_for_it():
    (outcome, _, payload), _ = drive(
        transitions.start_run(SETTINGS, OWNER, JOB, "w", 3),
        [[b"started", 1, flat(stored(status="running")), None]],
    )
    assert (outcome, payload) == ("started", None)


def test_start_refused_while_another_execution_holds_the_lease():
    (outcome, record), _ = drive(
        transitions.start(SETTINGS, OWNER, JOB, "w", 3, "mine", 3),
        [[b"leased", 1, flat(stored(status="running", worker="other"))]],
    )
    assert outcome == "leased" and record["worker"] == "other"


def test_start_of_a_missing_job_is_said_by_the_script():
    result, batches = drive(transitions.start(SETTINGS, OWNER, JOB, "w", 3), [[b"missing", 0]])
    assert result == ("missing", None) and len(batches) == 1


def test_finish_moves_an_active_job_with_its_fields_and_event():
    moved, batches = drive(
        transitions.finish(
            SETTINGS,
            OWNER,
            JOB,
            jobs.SUCCEEDED,
            summary={"chisq": 1.5},
            session_follows=True,
            run="w/1/ab",
        ),
        [stored(status="running")],
        [[1, b"succeeded"]],
    )
    assert moved is True
    script = only_script(batches[1])
    assert script.name == "transition" and script.keys == TRANSITION_KEYS
    status, allowed, maxlen, event, ttl, run, *pairs = script.args
    assert (status, allowed, maxlen, ttl) == ("succeeded", "queued,running", 100, 60)
    assert run == "w/1/ab"
    fields = dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert fields == {"finished": str(NOW), "partial": "0", "has_result": "1", "session": "writing"}
    assert json.loads(event)["chisq"] == 1.5


def test_finish_with_the_record_result_and_last_progress_is_one_script():
    moved, batches = drive(
        transitions.finish(
            SETTINGS,
            OWNER,
            JOB,
            jobs.SUCCEEDED,
            summary={"chisq": 1.5},
            run="w/1/ab",
            record={"id": JOB, "name": "fit", "fitter": "lm"},
            result={"chisq": 1.5},
            last_progress=({"step": 9, "rows": []}, {"step": 9, "final": True}),
        ),
        [[1, b"succeeded"]],
    )
    assert moved is True and len(batches) == 1  # the record kept: not read again
    script = only_script(batches[0])
    assert script.name == "end_run" and script.keys == TRANSITION_KEYS
    status, allowed, maxlen, event, ttl, run, job, result, data, summary, *pairs = script.args
    assert (status, allowed, ttl, run, job) == ("succeeded", "queued,running", 60, "w/1/ab", JOB)
    assert json.loads(result) == {"chisq": 1.5} and json.loads(data)["step"] == 9
    assert json.loads(summary) == {"job": JOB, "step": 9, "final": True}
    assert json.loads(event)["name"] == "fit"
    assert dict(zip(pairs[::2], pairs[1::2], strict=True))["has_result"] == "1"


def test_finish_without_a_result_or_progress_runs_the_transition_script():
    _, batches = drive(
        transitions.finish(SETTINGS, OWNER, JOB, jobs.FAILED, record={"id": JOB}),
        [[1, b"failed"]],
    )
    assert only_script(batches[0]).name == "transition"


def test_finish_of_an_ended_or_missing_job_reports_no_move():
    refused, _ = drive(
        transitions.finish(SETTINGS, OWNER, JOB, jobs.FAILED, error={"type": "X"}),
        [stored(status="cancelled")],
        [[0, b"cancelled"]],
    )
    assert refused is False
    assert drive(transitions.finish(SETTINGS, OWNER, JOB, jobs.FAILED), [{}]) == (
        False,
        [Batch([("HGETALL", JOB_KEY)])],
    )


def test_request_cancel_returns_the_status_or_refuses_a_finished_job():
    status, batches = drive(
        transitions.request_cancel(SETTINGS, OWNER, JOB, "enough"),
        [stored(status="running")],
        [[1, b"running"]],
    )
    assert status == "running"
    script = only_script(batches[1])
    maxlen, cancelled, requested, reason, now, ttl = script.args
    assert (script.name, maxlen, reason, now, ttl) == ("cancel", 100, "enough", NOW, 60)
    assert json.loads(cancelled)["reason"] == "enough" and json.loads(requested)["job"] == JOB
    with pytest.raises(TransitionRefused) as refused:
        drive(
            transitions.request_cancel(SETTINGS, OWNER, JOB),
            [stored(status="succeeded")],
            [[0, b"succeeded"]],
        )
    assert refused.value.status == "succeeded"
    with pytest.raises(JobNotFound):
        drive(transitions.request_cancel(SETTINGS, OWNER, JOB), [{}])


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ([b"running", None, None], None),
        ([b"running", b"1", b"enough"], "enough"),
        ([b"running", b"1", None], "cancelled"),
        ([b"failed", None, None], LOST_RUN),
        ([None, None, None], LOST_RUN),  # the record is gone
    ],
)
def test_cancel_reason(reply, reason):
    found, (batch,) = drive(transitions.cancel_reason(SETTINGS, OWNER, JOB), [reply])
    assert found == reason
    assert batch.commands == [("HMGET", JOB_KEY, "status", "cancel_requested", "reason")]


SESSION_KEYS = [JOB_KEY, f"{JOB_KEY}:session", f"p:u:{OWNER}:bytes", f"p:u:{OWNER}:usage"]


def test_put_session_stores_the_file_in_one_script():
    done, (batch,) = drive(transitions.put_session(SETTINGS, OWNER, JOB, b"h5"), [1])
    script = only_script(batch)
    assert done is True and script.name == "session" and script.keys == SESSION_KEYS
    assert script.args == ["ready", b"h5", JOB, f"p:u:{OWNER}:", NOW, quotas.RECOUNT_EVERY, "", ""]
    failed, (batch,) = drive(transitions.put_session(SETTINGS, OWNER, JOB, None, "no h5"), [1])
    assert failed is True and only_script(batch).args[:2] == ["failed", "no h5"]
    assert drive(transitions.put_session(SETTINGS, OWNER, JOB, b"h5"), [0])[0] is False


def test_a_session_file_over_the_owners_bytes_is_not_stored_and_the_record_says_why():
    done, batches = drive(
        transitions.put_session(SETTINGS, OWNER, JOB, b"x" * 2048),
        [[4 * 1024**2 - 1024, 4 * 1024**2]],  # the script refused: (stored, limit); no write
        [1],
    )
    assert done is True
    state, why, *rest = only_script(batches[1]).args
    assert state == "failed" and rest == [JOB, f"p:u:{OWNER}:", NOW, quotas.RECOUNT_EVERY, "", ""]
    assert why == (
        "the session file (2.0 KiB) does not fit in your stored data's limit: 1.0 KiB left of "
        "4.0 MiB (c.BumpsRemote.max_stored_bytes); the result is kept. Delete jobs you no "
        "longer need, then retry the fit for a session file"
    )


def test_scripts_include_the_shared_usage_functions():
    from jupyter_bumps_remote.store.scripts import SOURCES

    for name in ("create", "delete", "result", "session", "transition", "cancel", "start"):
        assert "--#include" not in SOURCES[name] and "local function add_bytes" in SOURCES[name]


def test_leases():
    renewed, (batch,) = drive(transitions.keep_lease(SETTINGS, OWNER, JOB, "t", 3), [1])
    assert renewed is True
    assert batch.commands == [Script("lease", [f"{JOB_KEY}:lease"], ["t", 3000, ""])]
    assert drive(transitions.keep_lease(SETTINGS, OWNER, JOB, "t", 3), [0])[0] is False
    assert drive(transitions.lease_left(SETTINGS, OWNER, JOB), [1500])[0] == 1.5
    assert drive(transitions.lease_left(SETTINGS, OWNER, JOB), [-2])[0] is None


def test_progress_sends_data_to_the_job_stream_and_a_summary_to_the_record():
    status, (batch,) = drive(
        transitions.progress(SETTINGS, OWNER, JOB, {"step": 3, "rows": [1]}, {"step": 3}),
        [b"running"],
    )
    script = only_script(batch)
    assert script.keys == TRANSITION_KEYS[:3]
    assert script.args == [100, '{"step":3,"rows":[1]}', f'{{"job":"{JOB}","step":3}}', ""]
    assert status == "running"
    assert drive(transitions.progress(SETTINGS, OWNER, JOB, {}, {}), [None])[0] is None


# -- events and workers ---------------------------------------------------------------------------


def test_events_after_an_id_exclusive_and_from_the_owner_stream():
    entries = [(b"1-0", {b"type": b"status", b"data": b'{"status":"queued"}'})]
    found, (batch,) = drive(event_ops.events(SETTINGS, OWNER, JOB, "5-0", 10), [entries])
    assert batch.commands == [("XRANGE", f"{JOB_KEY}:events", "(5-0", "+", "COUNT", 10)]
    assert found == [{"id": "1-0", "type": "status", "data": {"status": "queued"}}]
    _, (batch,) = drive(event_ops.events(SETTINGS, OWNER, None), [[]])
    assert plain(batch)[0][1:3] == (f"p:u:{OWNER}:events", "-")


def test_wait_events_reads_resp2_and_resp3_replies():
    entries = [(b"2-0", {b"type": b"progress", b"data": b"{}"})]
    streams = {"a": "1-0"}
    for reply in ([(b"a", entries)], {b"a": entries}):
        found, (batch,) = drive(event_ops.wait_events(SETTINGS, streams, 500), [reply])
        assert found == {"a": [{"id": "2-0", "type": "progress", "data": {}}]}
    assert batch.commands == [("XREAD", "COUNT", 1000, "BLOCK", 500, "STREAMS", "a", "1-0")]
    assert drive(event_ops.wait_events(SETTINGS, streams, 500), [None])[0] == {}


def test_workers_are_found_through_the_index_not_by_scan_and_sorted_by_name():
    found, batches = drive(
        workers.workers(SETTINGS),
        [[b"p:worker:b", b"p:worker:a", b"p:worker:gone"]],
        [[b'{"name":"b"}', b'{"name":"a"}', None]],
    )
    assert batches[0].commands == [("ZRANGE", "p:workers", 0, -1)]
    assert batches[1].commands == [("MGET", b"p:worker:b", b"p:worker:a", b"p:worker:gone")]
    assert found == [{"name": "a"}, {"name": "b"}]
    assert drive(workers.workers(SETTINGS), [[]])[0] == []


def test_a_beat_indexes_its_advertisement_and_prunes_long_expired_entries():
    _, (batch,) = drive(workers.beat(SETTINGS, "w@h", {"name": "w@h"}, ttl=3), [None, 1, 0])
    (set_, zadd, prune) = plain(batch)
    assert set_ == ("SET", "p:worker:w@h", '{"name":"w@h"}', "PX", 3000)
    assert zadd[:2] == ("ZADD", "p:workers") and zadd[3] == "p:worker:w@h"
    assert prune[:3] == ("ZREMRANGEBYSCORE", "p:workers", "-inf")
    assert zadd[2] - prune[3] == 3000 + workers.PRUNE_AFTER_MS
    _, (batch,) = drive(workers.forget_worker(SETTINGS, "w@h"), [None, 0])
    assert batch.commands == [("DEL", "p:worker:w@h"), ("ZREM", "p:workers", "p:worker:w@h")]


def test_only_batches_of_reads_are_sent_again_after_a_connection_error():
    assert Batch([("GET", "k"), ("HGETALL", "h")]).repeatable
    assert not Batch([("GET", "k"), ("SET", "k", 1)]).repeatable
    assert not Batch([Script("lease", ["k"], [])]).repeatable


# -- the sweep for lost jobs ----------------------------------------------------------------------

QUEUE = "q"
BROKER = [QUEUE, *(QUEUE + suffix for suffix in ("\x06\x163", "\x06\x166", "\x06\x169"))]


def hmget(status: str, worker: str | None = None) -> list[Any]:
    """An HMGET reply of the reconciler's REMEMBERED fields."""
    from jupyter_bumps_remote.store.reconcile import REMEMBERED

    values = {"status": status, "queue": QUEUE, "worker": worker, "created": "1"}
    return [values.get(name) for name in REMEMBERED]


def broker_reply(*queued: str, unacked: tuple[str, ...] = ()) -> list[Any]:
    def message(job_id: str) -> dict:
        return {"headers": {"id": job_id}}

    lists = [[json.dumps(message(i)) for i in queued]] + [[] for _ in BROKER[1:]]
    return [*lists, [json.dumps([message(i), "", QUEUE]) for i in unacked]]


def sweep(reconciler: Reconciler, now: float, *replies: Any, data_lost: bool = False):
    return drive(reconciler.sweep(OWNER, data_lost=data_lost, now=now), *replies)


def test_a_queued_job_missing_from_the_broker_ends_after_confirmation():
    reconciler = Reconciler(SETTINGS, confirm_after=2, worker_ttl=30)
    queued = ([[JOB.encode()]], [hmget("queued")], broker_reply())
    assert sweep(reconciler, 100, *queued)[0] == []  # a suspect only
    assert not reconciler.due(101) and reconciler.due(102)
    assert sweep(reconciler, 101, *queued)[0] == []  # not yet confirmed
    ended, batches = sweep(reconciler, 102, *queued, [[1, b"failed"]])
    assert ended == [(JOB, QUEUE_GONE)]
    assert [c[1] for c in plain(batches[2])[:-1]] == BROKER and batches[2].transaction
    assert plain(batches[2])[-1] == ("HVALS", KOMBU_UNACKED)
    script = only_script(batches[3])
    status, allowed, _, event, _, run, *pairs = script.args
    assert run == ""  # a server's change: no run to fence
    # only from the state seen: a job that started meanwhile is left alone
    assert (script.name, status, allowed) == ("transition", "failed", "queued")
    fields = dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert fields["reason"] == "lost" and json.loads(fields["error"])["type"] == "JobLost"
    assert json.loads(event)["reason"] == "lost"


def test_jobs_the_broker_holds_are_never_suspects():
    reconciler = Reconciler(SETTINGS, confirm_after=2, worker_ttl=30)
    other = "0" * 31 + "2"
    index = [[JOB.encode(), other.encode()]]
    rows = [hmget("queued"), hmget("running", "w@a")]
    for now in (100, 200):
        ended, _ = sweep(reconciler, now, index, rows, broker_reply(JOB, unacked=(other,)), [0])
        assert ended == []
    assert reconciler.suspects == {}


def test_a_running_job_ends_only_when_its_worker_is_gone_for_a_heartbeat_lifetime():
    reconciler = Reconciler(SETTINGS, confirm_after=2, worker_ttl=30)
    running = ([[JOB.encode()]], [hmget("running", "w@a")], broker_reply())
    assert sweep(reconciler, 100, *running, [1])[0] == []  # its worker is alive
    assert reconciler.suspects == {}
    _, batches = sweep(reconciler, 101, *running, [0])
    assert batches[3].commands == [("EXISTS", "p:worker:w@a")]
    assert sweep(reconciler, 120, *running, [0])[0] == []  # 19 s < the worker ttl
    ended, _ = sweep(reconciler, 131, *running, [0], [[1, b"failed"]])
    assert ended == [(JOB, WORKER_GONE.format(worker="w@a"))]


def test_a_vanished_active_record_gets_a_tombstone_only_after_a_restart():
    reconciler = Reconciler(SETTINGS, confirm_after=2, worker_ttl=30)
    sweep(reconciler, 100, [[JOB.encode()]], [hmget("queued")], broker_reply(JOB))
    assert sweep(reconciler, 101, [[]])[0] == []  # no restart seen: nothing is invented
    sweep(reconciler, 102, [[JOB.encode()]], [hmget("queued")], broker_reply(JOB))
    ended, batches = sweep(reconciler, 103, [[]], [1], data_lost=True)
    ((job_id, message),) = ended
    assert job_id == JOB and "while it was queued" in message
    script = only_script(batches[1])
    assert script.name == "tombstone"
    assert script.keys == [JOB_KEY, f"{JOB_KEY}:events", f"p:u:{OWNER}:events", INDEX]
    maxlen, event, created, ttl, job_id, *pairs = script.args
    assert (maxlen, created, ttl, job_id) == (100, 1.0, 60, JOB)
    assert dict(zip(pairs[::2], pairs[1::2], strict=True))["status"] == "failed"


# -- the drivers --------------------------------------------------------------------------------


def test_both_drivers_offer_the_same_operations_on_the_same_generators():
    def ops(driver: type, kind: type) -> dict[str, Any]:
        return {name: op.op for name, op in vars(driver).items() if isinstance(op, kind)}

    sync, asynchronous = ops(JobStore, sync_op), ops(AsyncJobStore, async_op)
    assert sync == asynchronous and len(sync) > 20
    assert JobStore.get.__doc__ == records.get.__doc__


def test_owner_names_are_quoted_so_no_owner_reaches_another_owners_keys():
    keys = SETTINGS.keys
    assert keys.job("a:b*", "j") == "p:u:a%3Ab%2A:job:j"
    assert keys.idempotency("a", "x/y z") == "p:u:a:idem:x%2Fy%20z"
    assert keys.worker("w@host name") == "p:worker:w@host%20name"
    assert keys.hub("a:b", "s1") == "p:u:a%3Ab:hub:s1"
