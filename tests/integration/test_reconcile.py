"""The sweep for lost jobs (store/reconcile.py) rule by rule, on a private Redis, with the clock
passed in (its waits are about time passing, not events)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.store.reconcile import Reconciler

from ..support.records import queued_record
from ..support.services import RedisServer

QUEUE = "bumps-remote.test"
OWNER = "someone"


@pytest.fixture
def private_store():
    server = RedisServer(appendonly=False).start()
    yield JobStore(server.client())
    server.cleanup()


def new_job(store: JobStore, n: int) -> str:
    job_id = f"{n:032x}"
    store.create(queued_record(job_id, OWNER, QUEUE), b"{}")
    return job_id


def kombu_message(job_id: str) -> str:
    return json.dumps({"body": "", "headers": {"id": job_id, "task": "bumps_remote.fit"}})


def test_each_rule_waits_for_confirmation_and_spares_jobs_the_broker_still_holds(private_store):
    store = private_store
    client = store.redis
    in_queue, lost_queued, unacked, dead_worker, live_worker = (
        new_job(store, n) for n in range(1, 6)
    )
    client.lpush(QUEUE, kombu_message(in_queue))
    for job_id, worker in ((unacked, "gone@a"), (dead_worker, "gone@b"), (live_worker, "live@c")):
        assert store.start(OWNER, job_id, worker, 3)[0] == "started"
    client.hset("unacked", "tag-1", json.dumps([json.loads(kombu_message(unacked)), "", QUEUE]))
    store.beat("live@c", {"name": "live@c"}, ttl=60)

    sweeps = Reconciler(store.settings, confirm_after=2, worker_ttl=30)
    t = time.time()
    assert store.run(sweeps.sweep(OWNER, now=t)) == []  # suspects only
    assert sweeps.due(t + 2) and not sweeps.due(t + 1)
    ended = dict(store.run(sweeps.sweep(OWNER, now=t + 2)))
    assert list(ended) == [lost_queued]
    assert "queue message is gone" in ended[lost_queued]
    # a running job waits a heartbeat lifetime: after a restart the worker keys come back
    ended = dict(store.run(sweeps.sweep(OWNER, now=t + 30)))
    assert list(ended) == [dead_worker]
    assert "worker gone@b stopped" in ended[dead_worker]

    statuses = {i: store.get(OWNER, i) for i in (in_queue, lost_queued, unacked, dead_worker)}
    assert statuses[in_queue]["status"] == jobs.QUEUED
    assert statuses[unacked]["status"] == jobs.RUNNING  # kombu redelivers it
    assert store.get(OWNER, live_worker)["status"] == jobs.RUNNING
    for job_id in (lost_queued, dead_worker):
        record = statuses[job_id]
        assert (record["status"], record["reason"], record["error"]["type"]) == (
            jobs.FAILED,
            "lost",
            "JobLost",
        )
        assert [e["data"]["status"] for e in store.events(OWNER, job_id)][-1] == jobs.FAILED


def test_a_vanished_active_record_gets_a_failed_record_only_after_a_restart(private_store):
    store = private_store
    job_id = new_job(store, 7)
    sweeps = Reconciler(store.settings, confirm_after=2, worker_ttl=30)
    store.run(sweeps.sweep(OWNER))
    store.redis.flushall()
    assert store.run(sweeps.sweep(OWNER)) == []  # no restart seen: nothing is invented
    store.run(sweeps.sweep(OWNER))  # it forgot the job too
    assert store.get(OWNER, job_id) is None

    job_id = new_job(store, 8)
    store.run(sweeps.sweep(OWNER))
    store.redis.flushall()
    ((ended, message),) = store.run(sweeps.sweep(OWNER, data_lost=True))
    assert ended == job_id and "Redis lost this job's record" in message
    record = store.get(OWNER, job_id)
    assert (record["status"], record["reason"], record["name"]) == (jobs.FAILED, "lost", "fit")
    records, _, _ = store.list(OWNER)
    assert [r["id"] for r in records] == [job_id]
    # never over a record that exists
    assert store.run(sweeps.sweep(OWNER, data_lost=True)) == []


def test_a_session_builds_message_is_never_taken_for_its_jobs(private_store):
    """A build message (server_ext/session_builds.py) queued or delivered unacked carries a
    task id that is no job's: a queued job whose own message is gone is still found lost,
    and one whose message is there is still spared, whatever builds are about."""
    from jupyter_bumps_remote.server_ext.session_builds import task_id
    from jupyter_bumps_remote.shared.versions import build_queue_of

    store = private_store
    client = store.redis
    lost, kept = new_job(store, 11), new_job(store, 12)
    client.lpush(QUEUE, kombu_message(kept))
    build_queue = build_queue_of("bumps-remote.", QUEUE)
    for job_id in (lost, kept):
        build = json.loads(kombu_message(task_id(job_id, "a-build-token")))
        client.lpush(build_queue, json.dumps(build))
        client.hset("unacked", f"tag-{job_id}", json.dumps([build, "", build_queue]))
    sweeps = Reconciler(store.settings, confirm_after=2, worker_ttl=30)
    t = time.time()
    assert store.run(sweeps.sweep(OWNER, now=t)) == []
    assert [job_id for job_id, _ in store.run(sweeps.sweep(OWNER, now=t + 2))] == [lost]
    assert store.get(OWNER, kept)["status"] == jobs.QUEUED


def test_jobs_remembered_from_another_thread_while_sweeps_run_are_each_swept_once(private_store):
    """The server remembers the jobs it creates on its IOLoop while its sweeps run in a
    thread (server_ext/reconciling.py): none is lost or swept twice, and no sweep fails on
    a remembered job arriving mid-sweep. Every sweep here runs as after a Redis restart, so
    each remembered job (it has no record) ends as lost in the one sweep that takes it."""
    store = private_store
    for n in range(1, 101):  # active jobs each sweep reads and decodes
        new_job(store, n)
    sweeps = Reconciler(store.settings, confirm_after=2, worker_ttl=30)
    remembered = {f"{n:032x}" for n in range(1000, 3000)}
    ended: list[str] = []
    errors: list[BaseException] = []
    sweeping = threading.Event()
    stop = threading.Event()

    def sweep_until_stopped() -> None:
        try:
            while not stop.is_set():
                ended.extend(i for i, _ in store.run(sweeps.sweep(OWNER, data_lost=True)))
                sweeping.set()
        except BaseException as e:  # noqa: BLE001 - raised by the assert below
            errors.append(e)
            sweeping.set()

    thread = threading.Thread(target=sweep_until_stopped)
    thread.start()
    assert sweeping.wait(60)
    for job_id in sorted(remembered):
        # as the store's create gave it back
        sweeps.remember({**queued_record(job_id, OWNER, QUEUE), "status": jobs.QUEUED})
        time.sleep(0.0001)  # not a wait: hands the GIL over, so that sweeps run between
    stop.set()
    thread.join(120)
    assert not thread.is_alive() and errors == []
    ended.extend(i for i, _ in store.run(sweeps.sweep(OWNER, data_lost=True)))
    assert sorted(ended) == sorted(remembered)
