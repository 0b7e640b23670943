"""`bumps-remote worker --lifetime`: the worker stops by itself, as on SIGTERM, and leaves
the list of live workers (what a Slurm job's worker does a margin before its walltime)."""

from __future__ import annotations

import subprocess
import sys
import time

from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore

from ..support.services import REPO, RedisServer
from ..support.waiting import wait_until

LIFETIME = 1


def test_a_worker_stops_at_the_end_of_its_lifetime(tmp_path):
    redis = RedisServer(appendonly=False).start()
    log = tmp_path / "worker.log"
    try:
        store = JobStore(redis.client(), **WorkerSettings(redis_url=redis.url).store_settings())
        with open(log, "wb") as out:
            started = time.monotonic()
            worker = subprocess.Popen(
                [sys.executable, "-m", "jupyter_bumps_remote.cli", "worker", "-c", "1"]
                + ["--lifetime", str(LIFETIME), "--hostname", "lifetime@%h"],
                env={"BUMPS_REMOTE_REDIS_URL": redis.url, "PATH": "/usr/bin:/bin"},
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                # a lifetime shorter than the warm-up: the worker stops once it is ready
                assert worker.wait(120) == 0, log.read_text()
            finally:
                if worker.poll() is None:
                    worker.kill()
        assert time.monotonic() - started >= LIFETIME
        assert "Warm shutdown" in log.read_text()
        wait_until(lambda: not store.workers(), 10, "the worker to leave the live workers")
    finally:
        redis.cleanup()
