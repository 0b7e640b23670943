"""`records.many`, the read behind POST jobs/results, fed scripted replies: every record in
one round trip with the owner's newest event, then the summaries that fit the byte budget in
a second."""

from __future__ import annotations

from typing import Any

from jupyter_bumps_remote.store import StoreSettings, encode_record, records

from ..support.scripted_ops import drive

OWNER = "ann"
SETTINGS = StoreSettings(prefix="p:", events_maxlen=100, result_ttl=60)
IDS = [f"{n:032x}" for n in (1, 2, 3, 4)]


def key(job_id: str, tail: str = "") -> str:
    return f"p:u:{OWNER}:job:{job_id}{tail}"


def stored(job_id: str, **fields: Any) -> dict[bytes, bytes]:
    record = {"id": job_id, "owner": OWNER, "status": "succeeded", "has_result": True, **fields}
    return {k.encode(): v.encode() for k, v in encode_record(record).items()}


NEWEST = [(b"1700000000000-3", {b"type": b"status", b"data": b"{}"})]


def test_records_only_is_one_round_trip_with_the_owners_newest_event():
    raws = [stored(IDS[0]), {}, stored(IDS[2], status="running", has_result=False), {}]
    found, (batch,) = drive(records.many(SETTINGS, OWNER, IDS), [NEWEST, *raws])
    assert list(batch.commands) == [
        ("XREVRANGE", f"p:u:{OWNER}:events", "+", "-", "COUNT", 1),
        *[("HGETALL", key(i)) for i in IDS],
    ]
    assert batch.repeatable  # only reads: sent again once after a dropped connection
    assert found.since == "1700000000000-3" and found.results == {}
    assert [r and r["id"] for r in found.records] == [IDS[0], None, IDS[2], None]
    assert found.records[2]["status"] == "running"


def test_no_event_yet_follows_from_zero():
    found, _ = drive(records.many(SETTINGS, OWNER, IDS[:1]), [[], stored(IDS[0])])
    assert found.since == "0"


def test_summaries_in_the_order_asked_while_they_fit_the_budget():
    raws = [stored(i) for i in IDS]
    sizes = [40, 0, 50, 30]  # the second has none; 40 + 50 fit in 100, the fourth not
    found, (first, second) = drive(
        records.many(SETTINGS, OWNER, IDS, result_bytes=100),
        [NEWEST, *raws, *sizes],
        [b'{"x":[1]}', b'{"x":[3]}'],
    )
    assert list(first.commands)[1 + len(IDS) :] == [("STRLEN", key(i, ":result")) for i in IDS]
    assert list(second.commands) == [
        ("GET", key(IDS[0], ":result")),
        ("GET", key(IDS[2], ":result")),
    ]
    assert first.repeatable and second.repeatable
    assert found.results == {IDS[0]: b'{"x":[1]}', IDS[2]: b'{"x":[3]}'}


def test_one_summary_over_the_budget_still_comes_alone():
    found, (_, second) = drive(
        records.many(SETTINGS, OWNER, IDS[:2], result_bytes=10),
        [NEWEST, stored(IDS[0]), stored(IDS[1]), 500, 500],
        [b"{}"],
    )
    assert list(second.commands) == [("GET", key(IDS[0], ":result"))]
    assert found.results == {IDS[0]: b"{}"}


def test_no_summaries_no_second_round_trip_and_a_gone_one_is_left_out():
    found, batches = drive(
        records.many(SETTINGS, OWNER, IDS[:1], result_bytes=100), [NEWEST, {}, 0]
    )
    assert len(batches) == 1 and found.records == [None] and found.results == {}
    found, _ = drive(
        records.many(SETTINGS, OWNER, IDS[:1], result_bytes=100),
        [NEWEST, stored(IDS[0]), 10],
        [None],  # deleted between the two round trips
    )
    assert found.results == {}
