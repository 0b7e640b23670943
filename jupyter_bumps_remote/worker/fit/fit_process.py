"""The body of the process that runs one fit (forked from a warm worker process).

Everything the user's code can break happens here: decoding the payload (pickled code),
calling the model, fitting. It records the job's outcome itself; if it dies instead, the
runner in the parent records how it died.
"""

from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import resource
import signal
import time
import traceback

from ...shared import jobs, transport
from ...shared.bumps_compat import convergence_monitor
from ...shared.fitting import run_fit
from ...shared.settings import ENV_PREFIX, WorkerSettings
from ...store import LOST_RUN
from .cancel import CancelWatch
from .progress import ProgressMonitor
from .redis_outage import REDIS_DOWN, retrying, tolerant
from .results import session_bytes, summarize

TIME_LIMIT_SIGNAL = signal.SIGUSR1
_PR_SET_PDEATHSIG = 1


def main(settings: WorkerSettings, store, owner: str, job_id: str, record: dict) -> int:
    """Run the job's fit and record its outcome; returns the process exit code.

    The process has already been made a fit process (`become_fit_process`)."""
    watch = CancelWatch(lambda: store.cancel_reason(owner, job_id), settings.cancel_poll_interval)
    signal.signal(TIME_LIMIT_SIGNAL, lambda *_: watch.set("time limit"))
    try:
        payload = store.payload(owner, job_id)
        if payload is None:
            raise transport.PayloadError(
                "the job's problem payload is gone from Redis (expired or deleted)",
                "Submit the problem again",
            )
        problem = transport.decode(payload)
    except transport.PayloadError as e:
        store.finish(owner, job_id, jobs.FAILED, error=error_of(e))
        return 0
    watch.start()
    try:
        _fit_and_record(settings, store, owner, job_id, record, problem, watch)
    except REDIS_DOWN:
        raise  # Redis stayed away: not the job's failure (the message is redelivered)
    except Exception as e:  # noqa: BLE001 - the user's model raised mid-fit: the job's failure
        retrying(store.finish, owner, job_id, jobs.FAILED, error=error_of(e, settings))
    finally:
        watch.stop()
    return 0


def _fit_and_record(settings, store, owner, job_id, record, problem, watch) -> None:
    fitter, options, seed = record["fitter"], record.get("options", {}), record["seed"]
    started = time.monotonic()
    # The run keeps its own ConvergenceMonitor; progress reads its rows as they grow.
    rows = convergence_monitor(problem)
    progress = ProgressMonitor(
        problem,
        rows,
        jobs.max_steps(fitter, options, problem),
        send=tolerant(lambda data, summary: store.progress(owner, job_id, data, summary)),
        interval=settings.progress_interval,
    )
    outcome = run_fit(
        problem, fitter, options, seed, monitors=[progress], abort_test=watch, convergence=rows
    )
    result = outcome.result
    if watch.reason == LOST_RUN:
        return  # the record is gone or was ended as lost: a result would have no owner
    cancelled = watch.reason is not None
    summary = summarize(
        problem,
        result,
        seed=seed,
        options=options,
        partial=cancelled,
        elapsed=time.monotonic() - started,
    )
    # the outcome is stored even if Redis restarts meanwhile (a progress event may be lost)
    retrying(store.put_result, owner, job_id, summary)
    progress.emit(final=True)
    if cancelled:
        status, reason = jobs.CANCELLED, watch.reason
    else:
        status, reason = jobs.SUCCEEDED, ("stopped at max_time" if outcome.aborted else None)
    # The summary is the result: the job is finished for its client now. The session file
    # (HDF5, tens of ms even for a tiny fit) follows; the server's session route waits for it.
    retrying(
        store.finish,
        owner,
        job_id,
        status,
        reason=reason,
        partial=cancelled,
        summary=summary,
        session_follows=True,
    )
    # Nobody waits for this file yet, while the next job may already be starting on the
    # other CPU: let it go first (nice applies to this process only, which ends next).
    os.nice(10)
    try:
        data, error = session_bytes(problem, result, session_serializer(record)), ""
    except Exception as e:  # noqa: BLE001 - the result stands; say why there is no file
        data, error = None, f"bumps could not write it: {type(e).__name__}: {e}"
    retrying(store.put_session, owner, job_id, data, error)


def session_serializer(record: dict) -> str:
    """How the session file stores the problem: as it travelled, so it reopens unchanged."""
    return "cloudpickle" if record.get("encoding") == transport.PICKLE_ENCODING else "dataclass"


def error_of(exc: BaseException, settings: WorkerSettings | None = None) -> dict:
    message = str(exc)
    if isinstance(exc, MemoryError) and settings is not None and settings.max_memory_mb:
        # MemoryError often says nothing at all (bytearray, list growth): name the limit
        message = (
            f"{message or 'out of memory'}: the fit process may use at most "
            f"{settings.max_memory_mb} MB ({ENV_PREFIX}MAX_MEMORY_MB on the workers)"
        )
    elif isinstance(exc, BlockingIOError) and exc.errno == errno.EAGAIN:
        # fork() or a new thread refused: almost always RLIMIT_NPROC; say which limit
        limit = resource.getrlimit(resource.RLIMIT_NPROC)[0]
        count = "no limit set" if limit == resource.RLIM_INFINITY else f"{limit} processes"
        message = (
            f"{message}: the fit could not start another process; it hit the process limit "
            f"of its user ({count}, counting every process and thread of that user; "
            f"{ENV_PREFIX}MAX_PROCESSES on the workers)"
        )
    return {
        "type": type(exc).__name__,
        "message": message,
        "traceback": "".join(traceback.format_exception(exc)),
    }


def become_fit_process(settings: WorkerSettings) -> None:
    # A process group of its own: when the fit ends, the runner kills the group, so nothing
    # the fit started (a mapper pool, a fork bomb) outlives it.
    try:
        os.setpgid(0, 0)
    except OSError:  # already done by the runner
        pass
    # Die with the worker process that forked us (hard time limit, worker killed).
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the runner's wait still catches a lost fit
        pass
    # Celery's pool children are daemonic and multiprocessing refuses children to a daemonic
    # process; this process is a plain fork that owns its children, so the population
    # mapper (parallel=N) may start its pool here.
    # (`_config` is private: neither library has a public way to clear the flag)
    multiprocessing.current_process()._config.pop("daemon", None)  # pyright: ignore[reportAttributeAccessIssue]
    try:
        import billiard

        billiard.current_process()._config.pop("daemon", None)  # pyright: ignore[reportAttributeAccessIssue]
    except ImportError:
        pass
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    _limit(resource.RLIMIT_AS, settings.max_memory_mb * 1024 * 1024)
    # The soft CPU limit sends SIGXCPU, which names the cause; with hard == soft Linux sends
    # SIGKILL instead. The hard limit a second later still stops code that catches SIGXCPU.
    _limit(resource.RLIMIT_CPU, settings.max_cpu_seconds, grace=1)
    _limit(resource.RLIMIT_NPROC, settings.max_processes)


def _limit(which: int, value: int, grace: int = 0) -> None:
    if value > 0:
        resource.setrlimit(which, (value, value + grace))
