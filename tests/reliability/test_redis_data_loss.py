"""docs/reliability.md#8-redis-restarted-without-persistence: jobs it no longer knows end
`failed` with reason `lost` and a message that says what to do, never `queued` forever.

redis-server runs with `appendonly no` and `save ""`: a restart comes back empty (or from
an RDB snapshot taken by hand, for the case where records survive and messages do not).
Seen through the REST API, the owner event stream (what the sidebar listens to) and the
kernel's Python API.
"""

from __future__ import annotations

import signal
import time

import pytest

from jupyter_bumps_remote.kernel import api
from jupyter_bumps_remote.kernel.client import RemoteError
from jupyter_bumps_remote.kernel.job import RemoteFitError
from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.server_ext.fit_messages import FitMessages
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.worker import make_app

from ..support.problems import gaussian_problem
from ..support.running_fits import wait_for_progress
from ..support.services import RedisServer
from ..support.waiting import wait_until
from .site import SCALED, SLOW_MODEL, sites

# the worker beats every second (its key lives 3 s); the server sweeps every second
FAST = {**SCALED, "heartbeat_interval": 1}
SWEEPS = {"reconcile_interval": 1}
BOUND = 15  # s from the restart until every lost job says so
LONG_DREAM = {"steps": 5000, "burn": 0}  # stopped by the soft time limit if nothing else


@pytest.fixture
def site(tmp_path):
    with sites(tmp_path) as make:
        yield make


@pytest.fixture
def kernel():
    """The kernel's API on the site's server (as a notebook would use it)."""
    yield lambda s: api.connect(s.server.url, s.server.token)
    api._client = None


def is_lost(record: dict, fragment: str) -> bool:
    error = record.get("error") or {}
    return (
        record["status"] == jobs.FAILED
        and record.get("reason") == "lost"
        and error.get("type") == "JobLost"
        and fragment in error.get("message", "")
    )


def test_8_jobs_whose_records_redis_lost_end_failed_lost_everywhere(site, kernel):
    s = site(RedisServer(appendonly=False), FAST, SWEEPS)
    kernel(s)
    owner_events = s.listen()  # as the sidebar: one socket, kept across the restart
    running = api.submit(gaussian_problem(**SLOW_MODEL), "dream", **LONG_DREAM)
    owner_events.wait_for(
        lambda e: e["type"] == "progress" and e["data"]["job"] == running.id, 30, "progress"
    )
    queued = api.submit(gaussian_problem(), "lm")
    assert queued.status == jobs.QUEUED

    main = s.worker.process.pid
    fit = {p for p in s.worker.children() if parent_of(p) != main}  # not the pool process
    assert len(fit) == 1, fit
    s.redis.stop(signal.SIGKILL)
    s.redis.start()  # empty: no AOF, no RDB
    restarted = time.monotonic()

    for job in (running, queued):
        owner_events.wait_for(
            lambda e, job=job: (
                e["type"] == "status"
                and e["data"].get("job") == job.id
                and e["data"]["status"] == jobs.FAILED
                and e["data"].get("reason") == "lost"
            ),
            BOUND,
            f"job {job.id} failed as lost on the owner stream",
        )
        assert is_lost(s.get(job.id), "Redis lost this job's record"), s.get(job.id)
        assert job.status == jobs.FAILED and job.record["reason"] == "lost"
        with pytest.raises(RemoteFitError, match="Submit the problem again"):
            job.result(timeout=5)
    assert time.monotonic() - restarted < BOUND
    listed = s.server.api("GET", "jobs").json()["jobs"]
    assert {j["id"] for j in listed} == {running.id, queued.id}
    with pytest.raises(RemoteError, match="submit the problem again") as refused:
        queued.retry()
    assert refused.value.status == 409

    # the fit still running for the lost job stops and stores nothing; the worker serves on
    owner = running.record["owner"]
    # (Celery may replace the pool process too, as it cancels tasks on a lost connection)
    wait_until(lambda: not fit & set(s.worker.children()), 10, "the lost fit's process ends")
    assert not s.redis.client().exists(s.store.keys.result(owner, running.id))
    fresh = api.submit(gaussian_problem(), "lm")
    assert fresh.wait(timeout=60).status == jobs.SUCCEEDED


def test_8_queued_record_whose_message_redis_lost_ends_failed_lost(site, kernel):
    """The partial case: an RDB snapshot has the record, the message came after it."""
    s = site(RedisServer(appendonly=False), FAST, SWEEPS)
    kernel(s)
    busy = api.submit(gaussian_problem(**SLOW_MODEL), "dream", **LONG_DREAM)
    owner = busy.record["owner"]
    app = make_app(s.settings)
    record, raw = dispatch.new_job(
        owner,
        transport.encode(gaussian_problem()),
        "lm",
        queue_prefix=s.settings.queue_prefix,
        max_attempts=s.settings.max_attempts,
    )
    created, _ = s.store.create(record, raw)
    s.redis.client().save()  # the snapshot: the record is in it, the message is not
    # its message alone, afterwards
    s.redis.client().lpush(created["queue"], FitMessages(app).message(created)[0])
    app.close()
    orphan = api.get_job(created["id"])
    assert orphan.status == jobs.QUEUED
    assert created["id"] in s.broker_ids()

    s.redis.stop(signal.SIGKILL)
    s.redis.start()  # from the snapshot: the record, no message
    restarted = time.monotonic()
    assert s.store.get(owner, created["id"])["status"] == jobs.QUEUED
    assert created["id"] not in s.broker_ids()

    orphan.wait(timeout=BOUND)
    assert time.monotonic() - restarted < BOUND
    assert is_lost(orphan.record, "its queue message is gone"), orphan.record
    assert "job.retry()" in orphan.record["error"]["message"]
    assert is_lost(s.get(created["id"]), "its queue message is gone")
    # what the message advises works: the problem survived with the record
    again = orphan.retry()
    assert again.wait(timeout=SCALED["visibility_timeout"] + 60).status == jobs.SUCCEEDED


def test_8_kernel_shows_a_job_the_server_no_longer_knows_as_lost(site, kernel):
    """Redis and the Jupyter server both restarted (no sweep remembers the job): the kernel
    turns the 404 for a job it submitted into `failed`, reason `lost`, and says what works."""
    s = site(RedisServer(appendonly=False), FAST, SWEEPS)
    kernel(s)
    api.submit(gaussian_problem(**SLOW_MODEL), "dream", **LONG_DREAM)  # keeps it busy
    queued = api.submit(gaussian_problem(), "lm")
    assert queued.status == jobs.QUEUED

    s.server.stop()
    s.redis.stop(signal.SIGKILL)
    s.redis.start()
    s.server.start()  # same port and token: the kernel's client goes on

    queued.wait(timeout=10)
    assert is_lost(queued.record, "no longer knows job"), queued.record
    assert queued.status == jobs.FAILED
    with pytest.raises(RemoteFitError, match="Submit the problem again"):
        queued.result()
    with pytest.raises(RemoteError, match="submit the problem again"):
        queued.retry()


def test_8_a_fit_whose_record_vanished_stops_and_stores_nothing(stack_factory):
    """A running fit whose record is gone (data lost without the broker noticing, so Celery
    does not cancel it) stops at its next cancel check instead of running to its end and
    leaving a result nobody owns."""
    stack = stack_factory(time_limit=60, soft_time_limit=59, visibility_timeout=70)
    stack.worker(concurrency=1)
    remote = stack.remote
    job = remote.submit(gaussian_problem(**SLOW_MODEL), "dream", LONG_DREAM)
    wait_for_progress(remote, job["id"])
    stack.redis.client().delete(remote.store.keys.job(remote.owner, job["id"]))
    # the one pool process is free again within seconds, not at the time limit
    after = remote.submit(gaussian_problem(), "lm")
    assert remote.wait(after["id"], timeout=10)["status"] == jobs.SUCCEEDED
    assert not stack.redis.client().exists(remote.store.keys.result(remote.owner, job["id"]))


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
