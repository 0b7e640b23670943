"""How workers are started, configured, and kept warm."""

from __future__ import annotations

import os
import subprocess
import sys

from jupyter_bumps_remote.shared import jobs, transport, versions
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.worker import make_app

from ..support.problems import gaussian_problem
from ..support.services import Worker
from ..support.waiting import wait_until


def test_fit_processes_start_warm(remote):
    # importing bumps.fitters alone takes about a second; a warm fork needs none of it
    payload = transport.encode(gaussian_problem())
    for _ in range(3):
        job = remote.submit(payload, "lm")
        record = remote.wait(job["id"])
        assert record["status"] == jobs.SUCCEEDED
        assert record["finished"] - record["started"] < 0.5


def test_plain_celery_command_serves_jobs(redis_server, store, owner):
    """`celery -A jupyter_bumps_remote.worker worker` works as well as `bumps-remote worker`,
    and consumes its environment's queue by default."""
    from ..conftest import Remote

    # its own queue names, so that only this worker can take the job
    settings = WorkerSettings.from_env({}, redis_url=redis_server.url, queue_prefix="plain.")
    worker = Worker(redis_server.url, env=settings.to_env())
    worker.command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "jupyter_bumps_remote.worker",
        "worker",
        "-c",
        "1",
        "-n",
        "plain@%h",
        "--without-mingle",
        "--without-gossip",
        "-l",
        "INFO",
    ]
    worker.start()
    try:
        remote = Remote(store, make_app(settings), owner)
        job = remote.submit(gaussian_problem(), "lm")
        record = remote.wait(job["id"])
        assert record["status"] == jobs.SUCCEEDED and record["worker"] == f"plain@{os.uname()[1]}"
    finally:
        worker.stop()


def test_start_up_refuses_a_visibility_timeout_not_above_the_time_limit(redis_server):
    env = {
        **os.environ,
        "BUMPS_REMOTE_REDIS_URL": redis_server.url,
        "BUMPS_REMOTE_TIME_LIMIT": "600",
        "BUMPS_REMOTE_SOFT_TIME_LIMIT": "590",
        "BUMPS_REMOTE_VISIBILITY_TIMEOUT": "600",
    }
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_bumps_remote.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "visibility_timeout (600 s) must be above time_limit (600 s)" in done.stderr
    assert "BUMPS_REMOTE_VISIBILITY_TIMEOUT" in done.stderr


def test_workers_advertise_their_environment_and_fitters(worker, store):
    # the first beat follows the worker's "ready" by a moment
    found = wait_until(store.workers, 20, "the worker's first beat")
    (info,) = [w for w in found if w["pid"] == worker.process.pid]
    assert info["environment"] == versions.environment()
    assert info["fitters"] == ["amoeba", "de", "dream", "lm", "newton", "pt"]
    assert info["queues"] == versions.consumed_queues("bumps-remote.", versions.environment())
    assert info["queues"][0] == "bumps-remote." + versions.environment_key(
        {**versions.environment(), "libraries": {}}
    )
    assert info["concurrency"] == 2
    # and it said at start what it serves: versions, model libraries, queues
    log = worker.log.read_text()
    assert "bumps-remote worker: serves jobs made with Python " in log
    assert f"bumps {info['environment']['bumps']}" in log
    assert all(queue in log for queue in info["queues"]), log[:2000]
