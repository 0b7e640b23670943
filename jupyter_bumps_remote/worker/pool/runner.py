"""Run one delivered job: mark it running, hand it to a fit process, record how that ended.

Fit processes are forked from the warm worker process, which keeps bumps imported (no import
of bumps per job) while a crash, a segfault or an OOM kill of the fit only fails that one job.
Each pool process keeps one spare fit process forked and warmed up ahead of its next job
(spare.py).
"""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid

from celery.exceptions import SoftTimeLimitExceeded

from ...shared import jobs
from ...shared.settings import ENV_PREFIX, WorkerSettings
from ...store import JobStore
from ..fit import fit_process
from . import leftovers
from .lease import LeaseKeeper, claim
from .spare import SpareFitProcess

log = logging.getLogger(__name__)
_stores: dict[int, JobStore] = {}
_spares: dict[int, SpareFitProcess] = {}  # by the pid of the pool process that forked it
# A job that waited longer than this in the queue had others before it: a backlog, whose
# next job comes at once. The next spare then skips its rehearsal, which would only take
# the CPU that the jobs of a sweep need (docs/design.md#figures-behind-the-code).
BACKLOG_SECONDS = 0.1


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
    assert record is not None  # "started" comes with the record
    backlog = time.time() - record.get("created", time.time()) > BACKLOG_SECONDS
    process = _hand_to_fit_process(settings, owner, job_id, record)
    lease = LeaseKeeper(
        store,
        owner,
        job_id,
        token,
        settings.lease_seconds,
        on_lost=lambda: os.kill(process.pid, signal.SIGKILL),
    ).start()
    try:
        status = _wait(process)
    finally:
        lease.stop()
        leftovers.kill_all(process.pid)  # before the next spare, which must live on
        prepare_spare(settings, rehearse=not backlog)  # the next job's, made while idle
    if lease.lost:  # the execution that took the job over records its end
        return "superseded"
    try:
        if os.waitstatus_to_exitcode(status) != 0:
            error = death_error(status)
            if not store.finish(owner, job_id, jobs.FAILED, error=error):
                _session_lost(store, owner, job_id, error["message"])
            return "died"
        return "done"
    finally:
        lease.release()


def prepare_spare(settings: WorkerSettings, rehearse: bool = True) -> None:
    """Fork this pool process's spare fit process unless it has one."""
    if os.getpid() not in _spares:
        _spares.clear()  # a forked child must not use its parent's spare
        leftovers.become_subreaper()  # what a fit leaves behind comes back here to be killed
        _spares[os.getpid()] = SpareFitProcess.fork(settings, _fresh_store, rehearse)


def _hand_to_fit_process(
    settings: WorkerSettings, owner: str, job_id: str, record: dict
) -> SpareFitProcess:
    spare = _spares.pop(os.getpid(), None)
    if spare is not None and spare.hand_over(owner, job_id, record):
        return spare
    # No spare, or it died while idle: a fit process forked now does the same, cold. If that
    # one dies too before reading its job, its exit status is what the job records.
    leftovers.become_subreaper()
    spare = SpareFitProcess.fork(settings, _fresh_store, rehearse=False)
    spare.hand_over(owner, job_id, record)
    return spare


def _fresh_store(settings: WorkerSettings) -> JobStore:
    _stores.clear()  # the fit process's own connection, not its parent's socket
    return store_for(settings)


def _session_lost(store: JobStore, owner: str, job_id: str, cause: str) -> None:
    """The fit process died after recording its result, while writing the session file."""
    record = store.get(owner, job_id)
    if record and record.get("session") == "writing":
        store.put_session(owner, job_id, None, f"the fit process died while writing it ({cause})")


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
    store = store_for(settings)
    if not store.finish(owner, job_id, jobs.FAILED, error=error, reason="timeout"):
        _session_lost(store, owner, job_id, "hard time limit")


def _wait(process: SpareFitProcess) -> int:
    """Wait for the fit process; on Celery's soft time limit, ask it to stop and keep its
    best point, then keep waiting (the hard limit remains the backstop)."""
    while True:
        try:
            return process.wait()
        except SoftTimeLimitExceeded:
            os.kill(process.pid, fit_process.TIME_LIMIT_SIGNAL)


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
