"""docs/reliability.md#26-a-stopped-worker-drains for a fit that evaluates its population in
parallel (`parallel=2`): Slurm's SIGTERM reaches its evaluators too (shared/fork_mapper.py),
and the fit still ends its generation, sends its last checkpoint and goes back on the
queue, as a serial fit does."""

from __future__ import annotations

import os
import signal
import time

from jupyter_bumps_remote.shared import jobs

from ..support.checkpoints import stored, wait_for_checkpoint
from ..support.fit_processes import fits_of, pool_processes
from ..support.problems import gaussian_problem
from ..support.waiting import wait_until
from .conftest import session_pids

SETTINGS = {
    "heartbeat_interval": 1.0,
    "checkpoint_interval": 0.3,
    "time_limit": 600,
    "soft_time_limit": 590,
    "visibility_timeout": 3600,
}
DRAIN_SECONDS = 8.0
FITTER, OPTIONS = "dream", {"steps": 100, "burn": 0, "parallel": 2}
SLOW = {"model": "slow_gaussian", "DELAY": 0.002}


def test_a_sigterm_to_every_process_drains_a_parallel_fit(stack_factory):
    stack = stack_factory(**SETTINGS, drain_seconds=DRAIN_SECONDS)
    remote = stack.remote
    first = stack.worker()
    job = remote.submit(gaussian_problem(**SLOW), FITTER, OPTIONS, seed=1)
    wait_for_checkpoint(stack.store, remote.owner, job["id"], past=20)
    (pool,) = pool_processes(first.process.pid)
    (fit,) = fits_of(pool)
    everyone = session_pids(first.process.pid)
    mappers = [pid for pid in everyone if _parent(pid) == fit]
    assert len(mappers) == 2, (fit, everyone)
    stopped = time.monotonic()
    for pid in everyone:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    requeued = wait_until(
        lambda: [e for e in remote.events(job["id"]) if e["type"] == "requeued"],
        timeout=DRAIN_SECONDS,
        what="the requeued event",
    )
    first.process.wait(DRAIN_SECONDS * 2)
    exited = time.monotonic() - stopped
    print(f"\nSIGTERM to {len(everyone)} processes -> worker exited {exited:.2f} s")
    assert exited < DRAIN_SECONDS, exited
    assert requeued[0]["data"]["reason"] == "drained"
    # the fit ended its generation and sent its last checkpoint: it was not killed at half
    # the drain time, its evaluators dead of the SIGTERM and the generation never ending
    assert "sent no checkpoint in time" not in first.log.read_text()
    assert stored(stack.store, remote.owner, job["id"]) is not None
    record = stack.store.get(remote.owner, job["id"])
    assert record["status"] == jobs.RUNNING and int(record["drained"]) == 1, record


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1
