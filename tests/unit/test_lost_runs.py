"""Reading kombu's unacked entries for the sweep of lost runs (store/lost_runs.py): which are
fit tasks, whose, and the queue kombu would restore each to. Sweeps on a real Redis:
tests/integration/test_reconcile_lost_runs.py."""

from __future__ import annotations

import base64
import json

from jupyter_bumps_remote.shared.task_names import FIT_TASK
from jupyter_bumps_remote.store.lost_runs import _delivery, _queue_key, redelivered


def entry(args, task=FIT_TASK, exchange="", routing_key="q", priority=0) -> bytes:
    body = base64.b64encode(json.dumps([args, {}, {}]).encode()).decode()
    message = {
        "body": body,
        "headers": {"task": task, "id": args[0] if args else "x"},
        "properties": {"priority": priority, "delivery_info": {"routing_key": routing_key}},
    }
    return json.dumps([message, exchange, routing_key]).encode()


def test_a_fit_tasks_entry_names_its_job_and_owner():
    d = _delivery(b"tag-1", entry(["job-1", "alice"]))
    assert d is not None
    assert (d.tag, d.job_id, d.owner, d.routing_key) == ("tag-1", "job-1", "alice", "q")


def test_other_tasks_and_unreadable_entries_are_skipped():
    assert _delivery(b"t", entry(["job-1", "alice"], task="celery.ping")) is None
    assert _delivery(b"t", entry(["job-1"])) is None  # no owner
    assert _delivery(b"t", b"not json") is None
    assert _delivery(b"t", json.dumps([{"headers": {"task": FIT_TASK}}, "", "q"])) is None


def test_the_queue_is_the_routing_key_of_the_default_exchange_with_kombus_priorities():
    def queue(**kw):
        d = _delivery(b"t", entry(["j", "o"], **kw))
        assert d is not None
        return _queue_key(d, "from-record")

    assert queue() == "q"
    assert queue(priority=5) == "q\x06\x163"
    assert queue(priority=9) == "q\x06\x169"
    assert queue(priority=42) == "q\x06\x169"
    assert queue(exchange="named") == "from-record"


def test_a_requeued_message_is_flagged_redelivered_and_otherwise_the_same():
    d = _delivery(b"t", entry(["j", "o"]))
    assert d is not None
    again = redelivered(d.message)
    assert again["headers"]["redelivered"] is True
    assert again["properties"]["delivery_info"]["redelivered"] is True
    assert again["body"] == d.message["body"]
    assert "redelivered" not in d.message["headers"]  # the original is left as read
