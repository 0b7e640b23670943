"""A pool process takes a fit's message off its queue itself (store/taken_messages.py,
worker/pool/backlog.py), on a real Redis with the messages a server sends: only the queue's
next message, moved with the job's start into kombu's unacked hash as a delivery is (where
the sweep for lost runs finds it), acked or given back to the head of its queue; and only a
message that Celery's delivery would run."""

from __future__ import annotations

import base64
import json
import time

import pytest

from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.task_names import BUILD_TASK
from jupyter_bumps_remote.store.lost_runs import WORKER_GONE, LostRuns
from jupyter_bumps_remote.store.taken_messages import read
from jupyter_bumps_remote.worker.pool.backlog import queued_fit

from ..support.dispatch_tokens import token_of
from ..support.private_broker import PrivateBroker
from ..support.problems import gaussian_problem
from ..support.waiting import wait_until

OWNER = "someone"
LEASE = 0.3  # s: a run that stops renewing it has lost it at once


class Broker(PrivateBroker):
    """The private broker, with the takes of a pool process played by the test."""

    def submit(self) -> str:
        payload = transport.encode(gaussian_problem())
        return dispatch.submit(self.store, self.app, OWNER, payload, "lm")["id"]

    def head(self) -> bytes:
        raw = self.store.next_message(self.queue)
        assert raw is not None
        return raw

    def start(self, job_id: str, raw: bytes, worker: str = "w@host") -> str:
        fit = queued_fit(self.queue, raw)
        assert fit is not None
        token = token_of(self.store, OWNER, job_id)
        outcome, _, _ = self.store.start_run(
            OWNER, job_id, worker, 3, "run-token", LEASE, token, take=fit.message
        )
        return outcome


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.close()


def test_the_take_moves_the_queues_next_message_where_a_delivery_puts_it(broker):
    first, second = broker.submit(), broker.submit()
    raw = broker.head()
    assert broker.start(first, raw) == "started"
    fit = queued_fit(broker.queue, raw)
    assert fit is not None and (fit.job_id, fit.owner) == (first, OWNER)
    assert broker.store.get(OWNER, first)["status"] == jobs.RUNNING
    assert broker.client.llen(broker.queue) == 1  # the second's, still queued
    entry = json.loads(broker.client.hget("unacked", fit.message.tag))
    assert entry == [json.loads(raw), "", broker.queue]  # kombu's [message, exchange, key]
    assert broker.client.zscore("unacked_index", fit.message.tag) == pytest.approx(
        time.time(), abs=60
    )
    # a worker that dies now leaves it to the sweep for lost runs, as a delivered one
    wait_until(
        lambda: not broker.client.exists(broker.store.keys.lease(OWNER, first)),
        timeout=10,
        what="the lease to lapse",
    )
    sweeper = LostRuns(broker.store.settings, 30.0, 0.0)
    (requeued,) = broker.store.run(sweeper.sweep({OWNER}))
    assert (requeued.job_id, requeued.why) == (first, WORKER_GONE)
    assert broker.client.hlen("unacked") == 0
    assert [json.loads(m)["headers"]["id"] for m in broker.client.lrange(broker.queue, 0, -1)] == [
        second,
        first,  # at the head: next to be consumed
    ]


def test_a_message_no_longer_at_the_head_is_gone_and_nothing_changes(broker):
    first = broker.submit()
    raw = broker.head()
    broker.client.rpop(broker.queue)  # another consumer took it
    second = broker.submit()
    assert broker.start(first, raw) == "gone"
    assert broker.store.get(OWNER, first)["status"] == jobs.QUEUED
    assert broker.client.hlen("unacked") == 0
    assert broker.client.lrange(broker.queue, 0, -1) == [broker.head()]
    assert queued_fit(broker.queue, broker.head()).job_id == second  # type: ignore[union-attr]


def test_an_ack_ends_the_take_and_a_give_back_puts_it_first_in_line(broker):
    first = broker.submit()
    raw = broker.head()
    assert broker.start(first, raw) == "started"
    fit = queued_fit(broker.queue, raw)
    assert fit is not None
    later = broker.submit()
    assert broker.store.give_back(fit.message) is True
    assert broker.client.hlen("unacked") == broker.client.zcard("unacked_index") == 0
    again = broker.head()  # before the job queued after it, flagged as kombu restores it
    assert json.loads(again)["headers"]["id"] == first
    assert json.loads(again)["headers"]["redelivered"] is True
    assert json.loads(again)["properties"]["delivery_info"]["redelivered"] is True
    assert broker.store.give_back(fit.message) is False  # no longer taken: nothing pushed
    assert broker.client.llen(broker.queue) == 2
    # taken again (its record lets the next start take the job over), then acked
    broker.client.delete(broker.store.keys.lease(OWNER, first))
    assert broker.start(first, again) == "started"
    broker.store.ack_taken(fit.message.tag)
    assert broker.client.hlen("unacked") == broker.client.zcard("unacked_index") == 0
    assert queued_fit(broker.queue, broker.head()).job_id == later  # type: ignore[union-attr]


def test_nothing_is_taken_while_another_queue_of_the_worker_holds_a_message(broker):
    broker.submit()
    other = "another-queue-of-the-worker"
    assert broker.store.next_message(broker.queue, [other]) is not None
    broker.client.lpush(other, b"a session build, say")
    assert broker.store.next_message(broker.queue, [other]) is None
    broker.client.delete(broker.queue)
    broker.client.delete(other)
    assert broker.store.next_message(broker.queue, [other]) is None  # an empty queue


def with_body(raw: bytes, change) -> bytes:
    message = json.loads(raw)
    body = json.loads(base64.b64decode(message["body"]))
    change(message, body)
    message["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    return json.dumps(message).encode()


def test_only_a_message_celerys_delivery_would_run_is_taken(broker):
    broker.submit()
    raw = broker.head()
    assert queued_fit(broker.queue, raw) is not None

    def callback(message, body):
        body[2]["callbacks"] = [{"task": "x", "args": [], "kwargs": {}, "options": {}}]

    def build(message, body):
        message["headers"]["task"] = BUILD_TASK

    def priority(message, body):
        message["properties"]["priority"] = 5

    def keywords(message, body):
        body[1] = {"x": 1}

    def time_limit_not_a_list(message, body):  # Celery's own check raised on these
        message["headers"]["timelimit"] = 5

    def embed_not_a_dict(message, body):
        body[2] = ["callbacks"]

    def owner_not_a_string(message, body):
        body[0][1] = ["someone"]

    changes = (callback, build, priority, keywords)
    changes += (time_limit_not_a_list, embed_not_a_dict, owner_not_a_string)
    for change in changes:
        assert queued_fit(broker.queue, with_body(raw, change)) is None, change.__name__
    for junk in (b"", b"not json", b"[]", b'{"body": "%%%"}', json.dumps({"x": 1}).encode()):
        assert read(broker.queue, junk) is None, junk
        assert queued_fit(broker.queue, junk) is None, junk
