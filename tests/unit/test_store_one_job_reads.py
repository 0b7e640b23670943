"""The reads behind GET jobs/{id}?wait=…&include=result, fed scripted replies: where to
follow the job from and its record in one round trip; at the end, the record and its
summary in one more."""

from __future__ import annotations

from typing import Any

from jupyter_bumps_remote.store import StoreSettings, encode_record, records

from ..support.scripted_ops import drive

OWNER, JOB = "ann", f"{7:032x}"
SETTINGS = StoreSettings(prefix="p:", events_maxlen=100, result_ttl=60)
RECORD_KEY = f"p:u:{OWNER}:job:{JOB}"


def stored(**fields: Any) -> dict[bytes, bytes]:
    record = {"id": JOB, "owner": OWNER, "status": "succeeded", "has_result": True, **fields}
    return {k.encode(): v.encode() for k, v in encode_record(record).items()}


def test_the_newest_event_is_read_before_the_record_in_one_round_trip():
    newest = [(b"1700000000000-3", {b"type": b"status", b"data": b"{}"})]
    running = stored(status="running", has_result=False)
    (since, record), (batch,) = drive(
        records.get_after_newest_event(SETTINGS, OWNER, JOB), [newest, running]
    )
    assert list(batch.commands) == [
        ("XREVRANGE", f"{RECORD_KEY}:events", "+", "-", "COUNT", 1),
        ("HGETALL", RECORD_KEY),
    ]
    assert batch.repeatable
    assert since == "1700000000000-3" and record is not None and record["status"] == "running"


def test_a_job_without_events_is_followed_from_zero_and_one_not_found_is_none():
    (since, record), _ = drive(records.get_after_newest_event(SETTINGS, OWNER, JOB), [[], {}])
    assert (since, record) == ("0", None)


def test_the_record_and_its_summary_in_one_round_trip():
    (record, summary), (batch,) = drive(
        records.get_with_result(SETTINGS, OWNER, JOB), [stored(), b'{"chisq":1.0}']
    )
    assert list(batch.commands) == [("HGETALL", RECORD_KEY), ("GET", f"{RECORD_KEY}:result")]
    assert record is not None and record["id"] == JOB and summary == b'{"chisq":1.0}'


def test_no_summary_for_a_record_that_has_none_or_when_not_asked():
    unfinished = stored(status="running", has_result=False)
    (record, summary), _ = drive(
        records.get_with_result(SETTINGS, OWNER, JOB), [unfinished, b'{"stale":1}']
    )
    assert record is not None and summary is None
    (record, summary), (batch,) = drive(
        records.get_with_result(SETTINGS, OWNER, JOB, with_result=False), [stored()]
    )
    assert list(batch.commands) == [("HGETALL", RECORD_KEY)] and summary is None
    (record, summary), _ = drive(records.get_with_result(SETTINGS, OWNER, JOB), [{}, None])
    assert (record, summary) == (None, None)
