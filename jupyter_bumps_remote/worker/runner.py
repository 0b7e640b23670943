"""Run one delivered job: mark it running, fork its fit process, record how that ended.

Forking from the warm worker process keeps bumps imported (no ~1 s import per job) while a
crash, a segfault or an OOM kill of the fit only fails that one job.
"""

from __future__ import annotations

import logging
import os
import signal

from celery.exceptions import SoftTimeLimitExceeded

from .. import jobs
from ..store import JobStore
from . import fit_process, leftovers
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
    outcome, record = store.start(owner, job_id, worker, settings.max_attempts)
    if outcome != "started":
        log.info("job %s not run: %s", job_id, outcome)
        return outcome
    reason = store.cancel_reason(owner, job_id)
    if reason:  # cancelled while a lost worker held it: don't start it again
        store.finish(owner, job_id, jobs.CANCELLED, reason=reason)
        return "cancelled"
    leftovers.become_subreaper()
    pid = os.fork()
    if pid == 0:  # the fit process
        code = 1
        try:
            _stores.clear()
            code = fit_process.main(settings, store_for(settings), owner, job_id, record)
        finally:
            os._exit(code)
    leftovers.own_group(pid)
    try:
        status = _wait(pid)
    finally:
        leftovers.kill_all(pid)
    if os.waitstatus_to_exitcode(status) != 0:
        store.finish(owner, job_id, jobs.FAILED, error=death_error(status))
        return "died"
    return "done"


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
