"""The body of the process that runs one fit (forked from a warm worker process).

Everything the user's code can break happens here: decoding the payload (pickled code),
calling the model, fitting. It holds nothing but its pipes to its pool process: it is handed
its job's payload, and sends back progress, result, outcome and session file or its recipe
(channel.py), which the pool process writes into the job's keys. If it dies instead, the pool
process records how it died.
"""

from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

from ...shared import fast_json, jobs, transport
from ...shared.bumps_compat import convergence_monitor
from ...shared.fitting import run_fit
from ...shared.settings import ENV_PREFIX
from . import checkpoint, heap
from .cancel import CancelFlag
from .channel import Channel, flush_output
from .fit_settings import FitSettings
from .progress import ProgressMonitor
from .results import deferrable, session_bytes, session_recipe, summarize, too_large
from .session_build import build

_PR_SET_PDEATHSIG = 1


def main(
    settings: FitSettings,
    channel: Channel,
    stop: CancelFlag,
    job: dict,
    payload: bytes,
    saved: bytes | None = None,
) -> int:
    """Run the job's fit and send what it leaves behind; returns the process exit code.

    The process has already been made a fit process (`become_fit_process`); `stop` is set
    by the pool process's cancel and drain messages. `saved`: the job's last checkpoint,
    to resume from. A job that asks for a session file (`"session_recipe"` in it) builds it
    instead of fitting (session_build.py)."""
    if "session_recipe" in job:
        return build(settings, channel, job, payload)
    try:
        problem = transport.decode(payload)
    except Exception as e:  # noqa: BLE001 - a payload that does not decode is the job's failure
        channel.outcome("failed", error=error_of(e, settings))
        return 0
    try:
        _fit_and_send(settings, channel, stop, job, problem, saved)
    except Exception as e:  # noqa: BLE001 - the user's model raised mid-fit: the job's failure
        if stop.drained:  # its last checkpoint is sent: the next run resumes from it
            return 0
        channel.outcome("failed", error=error_of(e, settings))
    return 0


def _fit_and_send(
    settings: FitSettings, channel: Channel, stop, job: dict, problem, saved: bytes | None
) -> None:
    fitter, options, seed = job["fitter"], job.get("options", {}), job["seed"]
    started = time.monotonic()
    total = jobs.max_steps(fitter, options, problem)
    # The run keeps its own ConvergenceMonitor; progress reads its rows as they grow.
    rows = convergence_monitor(problem)
    progress = ProgressMonitor(
        problem, rows, total, send=channel.progress, interval=settings.progress_interval
    )
    monitors: list = [progress]
    stop.checkpoints = checkpoint.supported(fitter)
    saver = None
    if stop.checkpoints:
        monitors.append(
            saver := checkpoint.CheckpointMonitor(
                fitter,
                channel.checkpoint,
                settings.checkpoint_interval,
                settings.max_session_bytes,
                stop,
                say=lambda text: print(text, file=sys.stderr),
            )
        )
    resume = _resume(fitter, saved)
    if resume is not None:
        progress.resumed_from = resume.step
        options = checkpoint.resumed_options(fitter, options, resume, total)
    outcome = run_fit(
        problem,
        fitter,
        options,
        seed,
        monitors=monitors,
        abort_test=stop,
        convergence=rows,
        fit_state=resume.state if resume is not None else None,
        random_state=resume.random if resume is not None else None,
    )
    if stop.drained:  # the worker drains: the checkpoint is the job's, no outcome
        progress.emit(final=False)
        flush_output()
        return
    result: Any = outcome.result
    cancelled = stop()
    summary = summarize(
        problem,
        result,
        seed=seed,
        options=options,
        partial=cancelled,
        elapsed=time.monotonic() - started,
        cov=outcome.cov,
        sample_stats=outcome.sample_stats,
    )
    # (not Channel.result's json.dumps, in C but float by float: shared/fast_json.py)
    channel.result(fast_json.dumps(summary))
    progress.emit(final=True)
    # The summary is the result: the job is finished for its client now. The session file
    # (HDF5, tens of ms even for a tiny fit) follows; the server's session route waits for it.
    deferred = deferrable(result)
    if deferred and saver is None:
        # nothing comes between the end and the recipe: both in one write, which the pool
        # process stores in one round trip (a sweep of tiny fits: one of three per job)
        recipe = session_recipe(problem, result, session_serializer(job))
        channel.outcome(
            "cancelled" if cancelled else "completed", max_time=outcome.aborted, recipe=recipe
        )
        return
    channel.outcome("cancelled" if cancelled else "completed", max_time=outcome.aborted)
    # Nobody waits for what follows yet (a completed DREAM or DE fit's end state, pickled and
    # sent to be stored: 2.4 MB for 2000 DREAM steps; the session file), while the pool
    # process stores the job's end, the server answers its client and the next job may be
    # starting: let them go first (nice applies to this process only, which ends next; one
    # that may serve its owner's next job keeps its priority: no process can take it back).
    if (saver is not None or not deferred) and not job.get("reuse"):
        os.nice(10)
    if saver is not None and not (cancelled or outcome.aborted):
        # the end of a completed fit, where `job.resume(steps=...)` continues it; off the
        # result's path (a stopped fit's state is mostly empty buffers: its last periodic
        # checkpoint stands)
        saver.at_end(result.state, int(result.nit))
    if deferred:
        # its file holds nothing a worker cannot rebuild from the payload: written only if
        # someone asks for it (session_build.py); most never are (a sweep's members)
        channel.session_recipe(session_recipe(problem, result, session_serializer(job)))
        return
    try:
        data = session_bytes(problem, result, session_serializer(job))
    except Exception as e:  # noqa: BLE001 - the result stands; say why there is no file
        channel.no_session(f"bumps could not write it: {type(e).__name__}: {e}")
        return
    if len(data) > settings.max_session_bytes:
        channel.no_session(too_large(len(data), settings.max_session_bytes))
    else:
        channel.session(data)


def _resume(fitter: str, saved: bytes | None) -> checkpoint.Resume | None:
    """The checkpoint to resume from, unpickled here; None (and the fit starts again, saying
    why on stderr) if there is none or it is unusable."""
    if saved is None or not checkpoint.supported(fitter):
        return None
    try:
        resume = checkpoint.restore(saved, fitter)
    except ValueError as e:
        print(
            f"bumps-remote: starting again from step 0: the checkpoint is unusable: {e}",
            file=sys.stderr,
        )
        return None
    print(f"bumps-remote: resumed from the checkpoint at step {resume.step}", file=sys.stderr)
    return resume


def session_serializer(job: dict) -> str:
    """How the session file stores the problem: as it travelled, so it reopens unchanged."""
    return "cloudpickle" if job.get("encoding") == transport.PICKLE_ENCODING else "dataclass"


def error_of(exc: BaseException, settings: FitSettings | None = None) -> dict:
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
    elif isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        # a fit writes into its private temporary directory, a space of a fixed size: say so
        message = f"{message}{_temporary_space()}"
    return {
        "type": type(exc).__name__,
        "message": message,
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _temporary_space() -> str:
    """Where a fit's files go (/tmp, also its HOME), and how large that space is."""
    where = tempfile.gettempdir()
    try:
        space = os.statvfs(where)
    except OSError:
        return ""
    size = space.f_blocks * space.f_frsize // 2**20
    return f": the fit's temporary directory ({where}, also its HOME) holds {size} MB in all"


def become_fit_process() -> None:
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
    # the pool process's handlers (Celery's: SIGUSR1 raises its soft time limit) are not a
    # fit's: a cancel comes down the pipe
    for signum in (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_DFL)
    # Nor is SIGTERM the fit's to act on: Slurm (walltime, scancel) sends it to every process
    # of its job at once, and the pool process, told to drain, asks this one down the pipe
    # for a last checkpoint (or kills it). Set before any of the user's code runs.
    signal.signal(signal.SIGTERM, _sigterm_is_the_pool_process_s(os.getpid()))
    _children_die_of_sigterm()
    # numpy's arrays of a MB or so reused, not faulted in afresh at each evaluation (heap.py)
    heap.keep_freed_heap()
    # The resource limits (max_memory_mb, max_cpu_seconds, max_processes) are the sandbox's
    # to set, after its user namespace exists (sandbox.enter).


def _children_die_of_sigterm() -> None:
    """A process this fit forks (a mapper's pool process) takes SIGTERM's default at once.

    Inheriting the Python handler below is not enough: a Python handler runs only when the
    interpreter next checks, and a SIGTERM that lands just before a blocking call (a pool
    process going back to wait on its queue's lock as `Pool.terminate()` sends it) is never
    acted on, so `terminate()` waited forever on a process that would not die (a parallel=N
    DREAM fit stayed `running`). SIGTERM is blocked across the fork, so that one sent
    between the fork and the child's hook waits for the default disposition, not for the
    handler, whose pending flag Python clears in a new child."""
    was_blocked = [False]

    def before() -> None:
        was_blocked[0] = signal.SIGTERM in signal.pthread_sigmask(
            signal.SIG_BLOCK, {signal.SIGTERM}
        )

    def restore() -> None:
        if not was_blocked[0]:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    def in_child() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        restore()

    os.register_at_fork(before=before, after_in_parent=restore, after_in_child=in_child)


def _sigterm_is_the_pool_process_s(fit_pid: int):
    """SIGTERM's handler in a fit process: nothing (the pool process decides). A process
    forked where Python's fork hooks do not run (a C library's fork) inherits the handler,
    not SIG_IGN, and dies of SIGTERM as by default, so that its own pool can still
    terminate it."""

    def on_sigterm(signum, frame) -> None:
        if os.getpid() != fit_pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    return on_sigterm
