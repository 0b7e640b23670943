"""Reliability tests: each starts its own Redis and workers with time limits scaled down."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.worker import make_app

from ..conftest import Remote
from ..support.services import RedisServer, Worker
from ..support.waiting import alive

SUPPORT = Path(__file__).resolve().parents[1] / "support"


class Stack:
    """A private redis-server, workers sharing one scaled-down configuration, and a Remote
    that submits to them. Everything is torn down with the test."""

    def __init__(self, env: dict[str, str]):
        self.env = {k: str(v) for k, v in env.items()}
        self.redis = RedisServer(appendonly=False).start()
        self.settings = WorkerSettings.from_env(self.env, redis_url=self.redis.url)
        self.app = make_app(self.settings)
        self.store = JobStore(self.redis.client(), **self.settings.store_settings())
        self.remote = Remote(self.store, self.app, f"user-{uuid.uuid4().hex[:8]}")
        self.workers: list[Worker] = []

    def worker(
        self,
        concurrency: int = 1,
        extra_env: dict | None = None,
        celery_args: tuple = (),
        user: str | None = None,
    ) -> Worker:
        worker = Worker(
            self.redis.url,
            concurrency=concurrency,
            env={**self.env, **(extra_env or {})},
            pythonpath=[str(SUPPORT / "importable")],
            user=user,
        )
        worker.command += list(celery_args)  # after the command's `--`: Celery's own options
        self.workers.append(worker)
        return worker.start()

    def close(self) -> None:
        for worker in self.workers:
            if worker.process and worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait(10)
            worker.stop()
            kill_session(worker.process.pid)
        self.app.close()
        self.redis.cleanup()

    # -- what the broker still holds --------------------------------------------------------

    def celery_backlog(self) -> dict[str, int]:
        """Messages left in the job queue and in kombu's unacked (delivered, not acked) set."""
        client = self.redis.client()
        queue = self.app.conf.task_default_queue
        return {"queued": client.llen(queue), "unacked": client.hlen("unacked")}

    def drained(self, timeout: float = 30) -> dict[str, int]:
        """The backlog once the worker has acked: the job record ends before the task returns
        and Celery acks, so give the ack a moment (kombu's ack is not an event we can await)."""
        deadline = time.monotonic() + timeout
        while (backlog := self.celery_backlog()) != {"queued": 0, "unacked": 0}:
            if time.monotonic() > deadline:
                return backlog
            time.sleep(0.02)
        return backlog


@pytest.fixture
def stack_factory():
    stacks = []

    def make(**env) -> Stack:
        stack = Stack({f"BUMPS_REMOTE_{k.upper()}": v for k, v in env.items()})
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


def session_pids(session: int) -> list[int]:
    """Every live process of a worker's session (main, pool children, fit processes)."""
    out = subprocess.run(["pgrep", "-s", str(session)], capture_output=True, text=True)
    return [p for p in map(int, out.stdout.split()) if alive(p)]


def kill_session(session: int, timeout: float = 10) -> None:
    """SIGKILL what is left of a worker's session, every process group of it (each fit leads
    its own), until nothing is left."""
    deadline = time.monotonic() + timeout
    while pids := session_pids(session):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"still alive in session {session}: {pids}")
        time.sleep(0.02)


def kill_worker_main(worker: Worker) -> list[int]:
    """SIGKILL the worker's main process only, as the OOM killer or a lost node would; returns
    the pids of its session that were alive (pool children, fit processes)."""
    pids = session_pids(worker.process.pid)
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait(10)
    return pids
