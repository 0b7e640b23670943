"""Jobs Redis lost end `failed` (lost) under JupyterHub's fence too (docs/reliability.md
statement 8, docs/design.md#redis-restarts-and-lost-jobs): Ann's server, fenced to her keys,
may not read the queues and leaves the sweep to the workers; a worker on the admin URL
(worker/main/lost_jobs.py) ends her queued job whose message Redis lost, and Ann sees it
through her own server. Redis, Ann and Bob: tests/support/redis_fence_site.py."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from jupyter_bumps_remote.kernel.client import Client
from jupyter_bumps_remote.kernel.discovery import ServerInfo
from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.store.reconcile import LOST, Reconciler
from jupyter_bumps_remote.worker.main.lost_jobs import LostJobsSweep

from ..support.redis_fence_site import ANN, DEADLINE, Owner
from ..support.services import JupyterServer, Worker
from ..support.waiting import wait_until

SWEEP = 1.0  # s between a worker's sweeps, instead of 60


@pytest.fixture(scope="module", name="worker")
def sweeping_worker(redis_server):
    """This module's worker, on the admin URL, sweeping every second."""
    worker = Worker(
        redis_server.url, concurrency=1, env={"BUMPS_REMOTE_RECONCILE_INTERVAL": str(SWEEP)}
    ).start()
    yield worker
    worker.stop()


def test_8_two_sweepers_at_once_end_a_lost_job_once(ann, admin: JobStore):
    """Every worker sweeps: two that see the same orphan end it once, one status event.
    First in the module: no worker sweeps yet (its fixture starts with the next test)."""
    job = ann.submit(queue=ann.settings.queue_prefix + "nobody-serves-twice")
    admin.redis.delete(job["queue"])
    first, second = (Reconciler(admin.settings, confirm_after=0.5, worker_ttl=1.0) for _ in "12")
    for sweeper in (first, second):  # both suspect it
        assert admin.run(sweeper.sweep(ANN, now=1000.0)) == []
    ended = [admin.run(sweeper.sweep(ANN, now=1001.0)) for sweeper in (first, second)]
    assert sorted(len(e) for e in ended) == [0, 1], ended
    record = admin.get(ANN, job["id"]) or {}
    assert (record.get("status"), record.get("reason")) == (jobs.FAILED, LOST)
    events: Any = admin.redis.xrange(admin.keys.events(ANN, job["id"]))
    failed = [e for _, e in events if b'"failed"' in e.get(b"data", b"")]
    assert len(failed) == 1, events


def test_8_under_the_fence_a_queued_job_whose_message_redis_lost_ends_failed_lost(
    ann, admin, worker, tmp_path
):
    unserved = ann.settings.queue_prefix + "nobody-serves-"
    lost = ann.submit(queue=unserved + "lost")
    kept = ann.submit(queue=unserved + "kept")  # its message stays: it must stay queued
    admin.redis.delete(lost["queue"])  # as Redis restarted from a snapshot without it
    server = JupyterServer(
        tmp_path / "home",
        env={"JUPYTERHUB_USER": ANN},
        args=[f"--BumpsRemote.redis_url={ann.url}"],
    ).start()
    try:
        client = Client(ServerInfo(server.url, server.token, "test"))
        ended = wait_until(
            lambda: (job := client.get(lost["id"]))["status"] == jobs.FAILED and job,
            DEADLINE,
            "Ann's job whose message is gone ends failed, through her fenced server",
        )
        assert ended["reason"] == LOST, ended
        assert "its queue message is gone" in ended["error"]["message"]
        assert client.get(kept["id"])["status"] == jobs.QUEUED
        log = server.log.read_text()
    finally:
        server.stop()
    # her server did not sweep (it may not): a worker did
    assert log.count("no sweep for lost jobs from this server") <= 1
    assert f"job {lost['id']} of {ANN} failed" in worker.log.read_text()
    assert admin.get(ANN, kept["id"])["status"] == jobs.QUEUED


def test_8_under_the_fence_a_job_whose_record_redis_lost_ends_failed_lost(
    ann, admin: JobStore, redis_server, fence, worker
):
    """Redis restarted without persistence: Ann's record is gone with her Redis user. A
    worker's sweeper that saw her job active writes it a failed record (tombstone) once it
    sees the new run_id. The sweeper runs in the test, step by step, so that it has surely
    seen the job before the restart (the module's worker, sweeping too, may write it first:
    one record either way). Last in the module: it restarts the module's Redis."""
    job = ann.submit(queue=ann.settings.queue_prefix + "nobody-serves-gone")
    sweeper = LostJobsSweep(admin, interval=3600, worker_ttl=30)
    assert sweeper.step()  # notes the run_id, sweeps: Ann's job is active
    assert job["id"] in sweeper.reconciler.active[ANN]
    redis_server.stop(signal.SIGKILL)
    redis_server.start()  # empty: no save, no AOF
    assert admin.get(ANN, job["id"]) is None
    assert sweeper.step()  # a new run_id: the jobs it saw active and no longer finds
    again = Owner(ANN, fence.open(ANN))  # the hub gives her a Redis user anew
    try:
        record = again.store.get(ANN, job["id"]) or {}
    finally:
        again.close()
    assert (record.get("status"), record.get("reason")) == (jobs.FAILED, LOST), record
    assert "Redis lost this job's record" in record["error"]["message"]
