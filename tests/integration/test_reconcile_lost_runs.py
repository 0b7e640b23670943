"""Runs whose worker died go back on their queue (store/lost_runs.py), on a real Redis with
real kombu messages: each taken off its queue by a consumer that died without acking it, as
a worker SIGKILLed mid-fit leaves it. The clock is passed in where a rule waits for time."""

from __future__ import annotations

import json
import time

import pytest

from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.store.lost_runs import LEASE_LAPSED, WORKER_GONE, LostRuns

from ..support.dead_consumer import take_and_die
from ..support.dispatch_tokens import token_of
from ..support.private_broker import PrivateBroker
from ..support.problems import gaussian_problem
from ..support.waiting import wait_until

OWNER = "someone"
LOST_AFTER = 30.0
CONFIRM = 2.0
LEASE = 0.3  # s: short, so that a dead run's lease lapses at once


class Broker(PrivateBroker):
    """The private broker, with runs left by consumers that died."""

    def lost_run(self, owner: str = OWNER, worker: str = "dead@host") -> str:
        """A job whose message a dead consumer holds, started by `worker`, lease lapsed."""
        record = dispatch.submit(
            self.store, self.app, owner, transport.encode(gaussian_problem()), "lm"
        )
        assert take_and_die(self.server.url, self.queue)
        token = token_of(self.store, owner, record["id"])
        started = self.store.start(owner, record["id"], worker, 3, "token", LEASE, token)
        assert started[0] == "started"
        lease = self.store.keys.lease(owner, record["id"])
        wait_until(lambda: not self.client.exists(lease), timeout=10, what="the lease to lapse")
        return record["id"]

    def queued_ids(self) -> list[str]:
        return [json.loads(m)["headers"]["id"] for m in self.client.lrange(self.queue, 0, -1)]

    def unacked(self) -> int:
        return self.client.hlen("unacked") + self.client.zcard("unacked_index")


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.close()


def test_a_dead_workers_run_goes_back_to_the_head_of_its_queue_once_confirmed(broker):
    lost = broker.lost_run()
    dispatch.submit(broker.store, broker.app, OWNER, transport.encode(gaussian_problem()), "lm")
    sweeper = LostRuns(broker.store.settings, LOST_AFTER, CONFIRM)
    t = time.time()
    assert broker.store.run(sweeper.sweep({OWNER}, now=t)) == []  # seen once: not yet
    assert sweeper.due(t + CONFIRM) and not sweeper.due(t + CONFIRM / 2)
    (requeued,) = broker.store.run(sweeper.sweep({OWNER}, now=t + CONFIRM))
    assert (requeued.job_id, requeued.owner, requeued.worker) == (lost, OWNER, "dead@host")
    assert (requeued.why, requeued.attempt) == (WORKER_GONE, 1)
    assert "queued again" in requeued.describe()
    # next to be consumed (kombu's consumers pop the right end), out of kombu's indices
    assert broker.queued_ids()[-1] == lost
    assert broker.unacked() == 0
    message = json.loads(broker.client.lrange(broker.queue, -1, -1)[0])
    assert message["headers"]["redelivered"] is True
    # the record is left running: the next delivery takes the job over (start.lua)
    assert broker.store.get(OWNER, lost)["status"] == jobs.RUNNING
    token = token_of(broker.store, OWNER, lost)
    outcome, record = broker.store.start(OWNER, lost, "fresh@host", 3, "token2", LEASE, token)
    assert (outcome, record["attempt"]) == ("started", 2)
    assert broker.store.run(sweeper.sweep({OWNER}, now=t + 10 * CONFIRM)) == []


def test_a_run_whose_worker_still_beats_waits_a_worker_lifetime(broker):
    lost = broker.lost_run(worker="alive@host")
    broker.store.beat("alive@host", {"name": "alive@host"}, ttl=600)
    sweeper = LostRuns(broker.store.settings, LOST_AFTER, CONFIRM)
    t = time.time()
    for later in (0, CONFIRM, LOST_AFTER - 1):
        assert broker.store.run(sweeper.sweep({OWNER}, now=t + later)) == []
    (requeued,) = broker.store.run(sweeper.sweep({OWNER}, now=t + LOST_AFTER))
    assert (requeued.job_id, requeued.why) == (lost, LEASE_LAPSED)
    assert broker.queued_ids() == [lost]


def test_a_live_lease_other_owners_and_other_tasks_are_left_alone(broker):
    leased = broker.lost_run()
    broker.client.set(broker.store.keys.lease(OWNER, leased), "alive", px=60_000)
    other = broker.lost_run(owner="someone-else")
    broker.client.hset("unacked", "not-ours", json.dumps([{"headers": {}}, "", broker.queue]))
    sweeper = LostRuns(broker.store.settings, LOST_AFTER, CONFIRM)
    t = time.time()
    for later in (0, CONFIRM, LOST_AFTER):
        assert broker.store.run(sweeper.sweep({OWNER}, now=t + later)) == []
    assert broker.queued_ids() == []
    # a sweeper for every owner (a worker's) takes the other owner's
    everyone = LostRuns(broker.store.settings, LOST_AFTER, CONFIRM)
    broker.store.run(everyone.sweep(now=t))
    assert [r.job_id for r in broker.store.run(everyone.sweep(now=t + CONFIRM))] == [other]


def run_until_the_move(store: JobStore, sweep):
    """Drive a sweep up to the batch that moves the message, and return it unsent."""
    batch = next(sweep)
    while True:
        if batch.single_script is not None and batch.single_script.name == "requeue_lost":
            return batch
        batch = sweep.send(store._execute(batch))


def test_two_sweepers_at_once_requeue_a_message_once(broker):
    lost = broker.lost_run()
    t = time.time()
    first, second = (LostRuns(broker.store.settings, LOST_AFTER, CONFIRM) for _ in range(2))
    for sweeper in (first, second):
        broker.store.run(sweeper.sweep({OWNER}, now=t))
    # both have read the hash and decided; only one move finds the message where it was
    moves = [
        run_until_the_move(broker.store, s.sweep({OWNER}, now=t + CONFIRM)) for s in (first, second)
    ]
    assert [broker.store._execute(m) for m in moves] == [[1], [0]]
    assert broker.queued_ids() == [lost]
    assert broker.unacked() == 0


def test_a_run_that_takes_its_lease_back_meanwhile_keeps_its_job(broker):
    lost = broker.lost_run()
    sweeper = LostRuns(broker.store.settings, LOST_AFTER, CONFIRM)
    t = time.time()
    broker.store.run(sweeper.sweep({OWNER}, now=t))
    move = run_until_the_move(broker.store, sweeper.sweep({OWNER}, now=t + CONFIRM))
    assert broker.store.keep_lease(OWNER, lost, "token", 60)  # back after a Redis blip
    assert broker.store._execute(move) == [0]
    assert broker.queued_ids() == []
    assert broker.unacked() == 2  # still kombu's: the hash and its index
