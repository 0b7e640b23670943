"""Shared fixtures: one private redis-server and one real worker for the session."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from jupyter_bumps_remote.server_ext import dispatch, session_builds
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore, Keys
from jupyter_bumps_remote.worker import make_app

from .support.services import JupyterServer, RedisServer, Worker
from .support.tiers import tiers

SUPPORT = Path(__file__).parent / "support"
pytest_plugins = ["pytest_jupyter.jupyter_server"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's tier (unit, browser, slow: tests/support/tiers.py), for `-m`."""
    for item in items:
        for marker in tiers(item.path, item.name, getattr(item, "fixturenames", [])):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer(appendonly=True).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def settings(redis_server):
    return WorkerSettings.from_env({}, redis_url=redis_server.url)


@pytest.fixture(scope="session")
def celery_app(settings):
    return make_app(settings)


@pytest.fixture(scope="session")
def worker(redis_server):
    """A real `bumps-remote worker` with 2 pool processes; `tests/support/importable` is on
    its path (a package both sides have, as refl1d would be)."""
    process = Worker(redis_server.url, concurrency=2, pythonpath=[str(SUPPORT / "importable")])
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def notebook_server(redis_server, worker, tmp_path_factory):
    """A real `jupyter server` process in shared mode on the session's Redis and worker."""
    server = JupyterServer(
        tmp_path_factory.mktemp("notebook-server"),
        args=[f"--BumpsRemote.redis_url={redis_server.url}"],
    ).start()
    yield server
    server.stop()


@pytest.fixture
def store(redis_server, settings):
    return JobStore(redis_server.client(), **settings.store_settings())


@pytest.fixture
def owner():
    return f"user-{uuid.uuid4().hex[:8]}"


class Remote:
    """Submit and follow jobs the way the server will, with the sync store."""

    def __init__(self, store: JobStore, app, owner: str):
        self.store, self.app, self.owner = store, app, owner

    def submit(self, problem_or_payload, fitter="lm", options=None, **fields) -> dict:
        payload = problem_or_payload
        if not isinstance(payload, dict | bytes | str):
            payload = transport.encode(problem_or_payload)
        return dispatch.submit(self.store, self.app, self.owner, payload, fitter, options, **fields)

    def wait(self, job_id: str, timeout: float = 60, until=jobs.TERMINAL) -> dict:
        """Block on the job's event stream (no polling) until its status is in `until`."""
        stream = Keys(self.store.keys.prefix).events(self.owner, job_id)
        since = "0"
        deadline = time.monotonic() + timeout
        while True:
            record = self.store.get(self.owner, job_id)
            if record["status"] in until:
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"job {job_id} still {record['status']} after {timeout} s")
            found = self.store.wait_events({stream: since}, block_ms=int(min(remaining, 1) * 1000))
            for event in found.get(stream, []):
                since = event["id"]

    def events(self, job_id: str, since: str = "0") -> list[dict]:
        return self.store.events(self.owner, job_id, since)

    def session(self, job_id: str, timeout: float = 120) -> bytes:
        """The session file, as the server's route gets it: the fit process stores it just
        after the terminal status, or (every fitter but DREAM) its recipe, and a request
        has a worker build it (server_ext/session_builds.py). The deadline allows for a
        build that waits for a pool process busy with another test's fit, then decodes a
        refl1d problem in a fresh fit process on a loaded machine (30 s was once too short)."""
        deadline = time.monotonic() + timeout
        while True:
            record, data = self.store.session_with_record(self.owner, job_id)
            state = (record or {}).get("session")
            if state == "ready" and data is not None:
                return data
            if state in ("deferred", "building"):
                session_builds.request_build_sync(self.store, self.app, self.owner, job_id)
            elif state != "writing":
                raise AssertionError(f"job {job_id}: no session file (session: {state})")
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id}: no session file (session: {state})")
            time.sleep(0.01)


@pytest.fixture
def remote(store, celery_app, owner, worker):
    return Remote(store, celery_app, owner)
