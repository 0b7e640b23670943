"""RELIABILITY.md 7: Redis restarted (AOF on) while jobs are queued and running.

A private redis-server on a fixed port, a real worker run as `bumps-remote worker` runs it
(mingle and gossip on: Celery's reconnection regressions #7705, #9054, #10302 live there),
and a real `jupyter server` on the same Redis. Redis is killed and started again on the
same port and data dir.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from jupyter_bumps_remote import jobs, transport
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.worker.settings import WorkerSettings

from ..support.problems import gaussian_problem
from ..support.services import JupyterServer, RedisServer, Worker
from .conftest import SUPPORT
from .events_listener import EventsListener

# visibility > hard > soft, scaled from hours to seconds: the fit that Redis interrupts is
# redelivered after the visibility timeout
SCALED = {"time_limit": 12, "soft_time_limit": 11, "visibility_timeout": 14}
SLOW_FIT = ("dream", {"steps": 60, "burn": 0})
SLOW_MODEL = {"model": "slow_gaussian", "DELAY": 0.002}
RESUME = 60  # RELIABILITY.md 7: workers consume again within 60 s


def env_of(settings: dict) -> dict[str, str]:
    return {f"BUMPS_REMOTE_{k.upper()}": str(v) for k, v in settings.items()}


def server_args(redis_url: str, settings: dict) -> list[str]:
    return [f"--BumpsRemote.redis_url={redis_url}"] + [
        f"--BumpsRemote.{k}={v}" for k, v in settings.items()
    ]


class Site:
    """Redis, one worker (one fit at a time, so the others stay queued), one Jupyter server."""

    def __init__(self, tmp_path, redis: RedisServer, settings: dict):
        self.redis = redis.start()
        self.settings = WorkerSettings.from_env(env_of(settings), redis_url=redis.url)
        self.store = JobStore(redis.client(), **self.settings.store_settings())
        self.worker = Worker(
            redis.url,
            concurrency=1,
            env=env_of(settings),
            pythonpath=[str(SUPPORT / "importable")],
            celery_args=(),
        ).start()
        self.server = JupyterServer(tmp_path / "server", args=server_args(redis.url, settings))
        self.server.start()
        self.listeners: list[EventsListener] = []

    def listen(self, path: str = "events") -> EventsListener:
        listener = EventsListener(self.server, path)
        self.listeners.append(listener)
        return listener

    def submit(self, problem, fitter="lm", options=None) -> dict:
        body = {"payload": transport.encode(problem), "fitter": fitter, "options": options or {}}
        response = self.server.api("POST", "jobs", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, job_id: str) -> dict:
        response = self.server.api("GET", f"jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def broker_ids(self) -> set[str]:
        """Task ids in the job queue and in kombu's unacked hash, read in one transaction."""
        import json

        client = self.redis.client()
        queue = transport.queue_name(self.settings.queue_prefix, transport.environment())
        queued, unacked = (
            client.pipeline(transaction=True).lrange(queue, 0, -1).hvals("unacked").execute()
        )
        messages = [json.loads(m) for m in queued] + [json.loads(m)[0] for m in unacked]
        return {m["headers"]["id"] for m in messages}

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()
        self.server.stop()
        if self.worker.process.poll() is None:
            os.killpg(self.worker.process.pid, signal.SIGKILL)
        self.worker.stop()
        self.redis.cleanup()


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.1)
    return value


def rest_answers(server: JupyterServer) -> bool:
    try:
        return server.api("GET", "jobs").status_code == 200
    except OSError:
        return False


@pytest.fixture
def site(tmp_path):
    sites = []

    def make(redis: RedisServer, settings: dict) -> Site:
        sites.append(Site(tmp_path, redis, settings))
        return sites[-1]

    yield make
    for s in sites:
        s.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_7_redis_restarted_with_aof_keeps_jobs_and_everything_resumes_by_itself(site, sig):
    s = site(RedisServer(appendonly=True), SCALED)
    owner_events = s.listen()
    running = s.submit(gaussian_problem(**SLOW_MODEL), *SLOW_FIT)
    owner_events.wait_for(
        lambda e: e["type"] == "progress" and e["data"]["job"] == running["id"], 30, "progress"
    )
    queued = [s.submit(gaussian_problem()) for _ in range(2)]
    job_events = s.listen(f"jobs/{queued[0]['id']}/events")
    job_events.status(queued[0]["id"], jobs.QUEUED, timeout=10)  # subscribed and replayed
    ids = [running["id"]] + [j["id"] for j in queued]

    s.redis.stop(sig)
    assert s.server.api("GET", "jobs").status_code == 503
    s.redis.start()  # same port, same data dir
    restarted = time.monotonic()

    # the queue is still there (the worker may already be taking messages again)
    wait_until(lambda: set(ids) <= s.broker_ids(), 10, "every job's message in the broker")

    # the server answers REST again by itself, with the same jobs
    wait_until(lambda: rest_answers(s.server), 10, "REST answering again")
    listed = s.server.api("GET", "jobs").json()["jobs"]
    assert {j["id"] for j in listed} == set(ids)

    # the worker consumes again: the queued jobs run, their events reach the sockets opened
    # before the outage (no reconnect)
    for job in queued:
        owner_events.status(job["id"], jobs.SUCCEEDED, timeout=RESUME)
    job_events.status(queued[0]["id"], jobs.SUCCEEDED, timeout=5)
    assert time.monotonic() - restarted < RESUME
    fresh = s.submit(gaussian_problem())
    submitted = time.monotonic()
    owner_events.status(fresh["id"], jobs.SUCCEEDED, timeout=RESUME)
    assert time.monotonic() - submitted < RESUME

    # the fit Redis interrupted is not lost and does not run twice at once
    owner_events.wait_for(
        lambda e: (
            e["type"] == "status"
            and e["data"].get("job") == running["id"]
            and e["data"]["status"] in jobs.TERMINAL
        ),
        SCALED["visibility_timeout"] + RESUME,
        "the interrupted fit's end",
    )
    record = s.get(running["id"])
    events = s.store.events(record["owner"], running["id"])
    story = [(e["data"].get("status"), e["data"].get("step")) for e in events]
    assert record["status"] == jobs.SUCCEEDED, (record.get("error"), story)
    statuses = [status for status, _ in story if status]
    # either it finished its first run, or Celery cancelled it when the broker went away
    # (worker_cancel_long_running_tasks_on_connection_loss) and kombu redelivered it after
    # the visibility timeout: attempt 2
    assert statuses in (
        ["queued", "running", "succeeded"],
        ["queued", "running", "running", "succeeded"],
    ), story
    assert record["attempt"] == statuses.count("running")
    # never two runs at once: after the last start the steps only grow (a first run still
    # going would interleave its own steps)
    last_start = max(i for i, (status, _) in enumerate(story) if status == "running")
    steps = [step for _, step in story[last_start:] if step is not None]
    assert steps == sorted(steps), story
    print(f"interrupted fit: attempt {record['attempt']}; {len(story)} events")
