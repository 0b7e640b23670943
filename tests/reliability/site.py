"""A site for Redis-restart tests: a private redis-server, one real worker and one real
`jupyter server` on it, and the kernel's view of them."""

from __future__ import annotations

import contextlib
import json
import os
import signal

from jupyter_bumps_remote.shared import transport, versions
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore

from ..support.services import JupyterServer, RedisServer, Worker
from .conftest import SUPPORT
from .events_listener import EventsListener

# visibility > hard > soft, scaled from hours to seconds: the fit that Redis interrupts is
# redelivered after the visibility timeout
SCALED = {"time_limit": 12, "soft_time_limit": 11, "visibility_timeout": 14}
SLOW_FIT = ("dream", {"steps": 60, "burn": 0})
SLOW_MODEL = {"model": "slow_gaussian", "DELAY": 0.002}
RESUME = 60  # workers consume again within 60 s: docs/reliability.md#7-redis-restarted-with-aof
SERVER_TRAITS = ("time_limit", "soft_time_limit", "visibility_timeout", "max_attempts")


def env_of(settings: dict) -> dict[str, str]:
    return {f"BUMPS_REMOTE_{k.upper()}": str(v) for k, v in settings.items()}


def server_args(redis_url: str, settings: dict) -> list[str]:
    return [f"--BumpsRemote.redis_url={redis_url}"] + [
        f"--BumpsRemote.{k}={v}" for k, v in settings.items()
    ]


class Site:
    """Redis, one worker (one fit at a time, so the others stay queued), one Jupyter server."""

    def __init__(self, tmp_path, redis: RedisServer, settings: dict, server: dict | None = None):
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
        traitlets = {k: v for k, v in settings.items() if k in SERVER_TRAITS} | (server or {})
        self.server = JupyterServer(
            tmp_path / "server", env=env_of(settings), args=server_args(redis.url, traitlets)
        )
        self.server.start()
        self.listeners: list[EventsListener] = []

    def listen(self, path: str = "events", since: str = "0") -> EventsListener:
        listener = EventsListener(self.server, path, since)
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
        client = self.redis.client()
        pipeline = client.pipeline(transaction=True)
        for queue in versions.worker_queues(self.settings.queue_prefix, versions.environment()):
            pipeline.lrange(queue, 0, -1)
        *queues, unacked = pipeline.hvals("unacked").execute()
        queued = [m for queue in queues for m in queue]
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


def rest_answers(server: JupyterServer) -> bool:
    try:
        return server.api("GET", "jobs").status_code == 200
    except OSError:
        return False


@contextlib.contextmanager
def sites(tmp_path):
    """`make(redis, settings, server_traitlets)` starts a Site; all are closed at the end."""
    made = []

    def make(redis: RedisServer, settings: dict, server: dict | None = None) -> Site:
        made.append(Site(tmp_path / str(len(made)), redis, settings, server))
        return made[-1]

    try:
        yield make
    finally:
        for s in made:
            s.close()
