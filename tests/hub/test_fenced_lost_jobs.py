"""Jobs Redis lost end `failed` (lost) under JupyterHub's fence too (docs/reliability.md
statement 8, docs/design.md#redis-restarts-and-lost-jobs): Ann's server, fenced to her keys,
may not read the queues and leaves the sweep to the workers; a worker on the admin URL
(worker/main/lost_jobs.py) ends her queued job whose message Redis lost, and Ann sees it
through her own server. Redis, Ann and Bob: tests/support/redis_fence_site.py."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_bumps_remote.kernel.client import Client
from jupyter_bumps_remote.kernel.discovery import ServerInfo
from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.store.reconcile import LOST, Reconciler

from ..support.redis_fence_site import ANN, DEADLINE
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
