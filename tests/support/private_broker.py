"""A private Redis that no worker consumes, with the job store and the workers' Celery app
on it: for tests that play a worker's part on the broker's own keys (kombu's queues and
unacked hash) without a worker taking the messages first."""

from __future__ import annotations

from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.worker import make_app

from .services import RedisServer


class PrivateBroker:
    def __init__(self):
        self.server = RedisServer(appendonly=False).start()
        self.client = self.server.client()
        settings = WorkerSettings.from_env({}, redis_url=self.server.url)
        self.app = make_app(settings)
        self.store = JobStore(self.client, **settings.store_settings())
        self.queue = self.app.conf.task_default_queue

    def close(self):
        self.app.close()
        self.server.cleanup()
