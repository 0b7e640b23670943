"""A worker says once at start-up which protections of the fit sandbox cannot apply, whatever
started it (#15 point 2): `bumps-remote worker` and a bare `celery -A … worker`, both run
here as `nobody`, where fits keep the worker's user."""

from __future__ import annotations

import sys
import uuid

import pytest

from jupyter_bumps_remote.shared.settings import WorkerSettings

from ..support.services import Worker

# what the sandbox says of a worker that is not root (sandbox.what_applies)
NOT_ROOT = "user: fits run as the worker's own user (nobody)"
CELERY = [sys.executable, "-m", "celery", "-A", "jupyter_bumps_remote.worker", "worker"]


@pytest.mark.parametrize("command", ["bumps-remote", "celery"])
def test_a_worker_that_is_not_root_says_so_once(redis_server, command):
    # keys and queues of its own: it takes no other test's job and counts in no listing
    name = uuid.uuid4().hex[:8]
    settings = WorkerSettings.from_env(
        {}, redis_url=redis_server.url, prefix=f"warn-{name}:", queue_prefix=f"warn-{name}."
    )
    worker = Worker(redis_server.url, concurrency=1, env=settings.to_env(), user="nobody")
    if command == "celery":
        # the same unprivileged prefix (setpriv …), then Celery's own command
        prefix = worker.command[: worker.command.index(sys.executable)]
        worker.command = [
            *prefix,
            *CELERY,
            "-c",
            "1",
            "-n",
            f"warn-{name}@%h",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
        ]
    worker.start()
    try:
        log = worker.log.read_text()
    finally:
        worker.stop()
    said = [line for line in log.splitlines() if NOT_ROOT in line]
    assert len(said) == 1, log[-4000:]
    assert "bumps-remote worker: warning: " in said[0]
    if command == "celery":  # through Celery's logger, before the worker is ready
        assert "WARNING/MainProcess" in said[0]
        assert log.index(NOT_ROOT) < log.index(" ready.")
