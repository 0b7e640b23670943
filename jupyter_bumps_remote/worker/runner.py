"""Run one delivered job: mark it running, fork its fit process, record how that ended.

Forking from the warm worker process keeps bumps imported (no ~1 s import per job) while a
crash, a segfault or an OOM kill of the fit only fails that one job.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid

from celery.exceptions import SoftTimeLimitExceeded

from .. import jobs
from ..store import JobStore
from . import fit_process
from .lease import LeaseKeeper, claim
from .settings import ENV_PREFIX, WorkerSettings

log = logging.getLogger(__name__)
_stores: dict[int, JobStore] = {}


def store_for(settings: WorkerSettings) -> JobStore:
    """One store per process: a forked child must not share its parent's sockets."""
    pid = os.getpid()
    if pid not in _stores:
        import redis

        client = redis.Redis.from_url(settings.redis_url)
        _stores.clear()
        _stores[pid] = JobStore(client, **settings.store_settings())
    return _stores[pid]


def run_job(settings: WorkerSettings, owner: str, job_id: str, worker: str) -> str:
    store = store_for(settings)
    token = f"{worker}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    outcome, record = claim(
        store, owner, job_id, worker, token, settings.max_attempts, settings.lease_seconds
    )
    if outcome != "started":
        # 'duplicate': another execution runs this job now; acking this copy is all to do
        log.info("job %s not run: %s", job_id, outcome)
        return outcome
    reason = store.cancel_reason(owner, job_id)
    if reason:  # cancelled between its delivery and now: don't start the fit
        store.finish(owner, job_id, jobs.CANCELLED, reason=reason)
        store.release_lease(owner, job_id, token)
        return "cancelled"
    pid = os.fork()
    if pid == 0:  # the fit process
        code = 1
        try:
            _stores.clear()
            code = fit_process.main(settings, store_for(settings), owner, job_id, record)
        finally:
            os._exit(code)
    lease = LeaseKeeper(
        store, owner, job_id, token, settings.lease_seconds,
        on_lost=lambda: os.kill(pid, signal.SIGKILL),
    ).start()  # fmt: skip
    try:
        status = _wait(pid)
    finally:
        lease.stop()
    if lease.lost:  # the execution that took the job over records its end
        return "superseded"
    try:
        if os.waitstatus_to_exitcode(status) != 0:
            store.finish(owner, job_id, jobs.FAILED, error=death_error(status))
            return "died"
        return "done"
    finally:
        lease.release()


def record_hard_timeout(settings: WorkerSettings, owner: str, job_id: str) -> None:
    """The job's pool process was killed at Celery's hard time limit (worker main process)."""
    error = {
        "type": "TimeLimitExceeded",
        "message": f"timeout: the fit ran past the hard time limit of {settings.time_limit:g} s "
        f"and was killed (it did not stop at the soft limit, "
        f"{settings.soft_time_limit:g} s). Give the fit a max_time or fewer steps, or raise "
        f"{ENV_PREFIX}TIME_LIMIT on the workers",
        "traceback": "",
    }
    store_for(settings).finish(owner, job_id, jobs.FAILED, error=error, reason="timeout")


def _wait(pid: int) -> int:
    """Wait for the fit process; on Celery's soft time limit, ask it to stop and keep its
    best point, then keep waiting (the hard limit remains the backstop)."""
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except SoftTimeLimitExceeded:
            os.kill(pid, fit_process.TIME_LIMIT_SIGNAL)


def death_error(status: int) -> dict:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        name = signal.Signals(-code).name
        message = f"fit process killed by signal {-code} ({name})"
        if -code == signal.SIGKILL:
            message += ": it may have run out of memory or hit a resource limit"
        elif -code == signal.SIGXCPU:
            message += ": it used up its CPU time limit"
    else:
        message = f"fit process exited with code {code} before recording a result"
    return {"type": "FitProcessDied", "message": message, "traceback": ""}
