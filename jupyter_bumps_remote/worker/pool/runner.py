"""Run one delivered job: mark it running, hand it to a fit process, relay what the fit
sends into the job's keys, record how the fit process ended.

Fit processes are forked from the warm worker process, which keeps bumps imported (no import
of bumps per job) while a crash, a segfault or an OOM kill of the fit only fails that one job.
Each pool process keeps one spare fit process forked and warmed up ahead of its next job
(spare.py). The fit process holds nothing but its pipes: this process reads the job's
payload, hands it over, and writes what comes back (relay.py, recorder.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time

from celery.exceptions import SoftTimeLimitExceeded

from ...shared import jobs, transport
from ...shared.settings import ENV_PREFIX, WorkerSettings
from ...store import JobStore
from ...store.taken_messages import TakenMessage
from ..fit import sandbox
from ..fit.fit_process import error_of
from . import kept_fit, leftovers
from .cancel_poll import CancelPoll
from .forget import connections, forget_connections
from .lease import LeaseKeeper, claim
from .recorder import Recorder
from .relay import Relay
from .sigterm import defer_sigterm
from .spare import SpareFitProcess, sandbox_settings

log = logging.getLogger(__name__)
_stores: dict[int, JobStore] = {}
_spares: dict[int, SpareFitProcess] = {}  # by the pid of the pool process that forked it
# the connection objects a pool process inherited from the worker's main process (forget.py)
_inherited: dict[int, list[object]] = {}
_rehearse_next = True  # whether the next spare rehearses (no backlog behind the last job)
# A job that waited longer than this in the queue had others before it: a backlog, whose
# next job comes at once. The next spare then skips its rehearsal, which would only take
# the CPU that the jobs of a sweep need (docs/design.md#figures-behind-the-code).
BACKLOG_SECONDS = 0.1
# This pool process's spare and kept fit process change under it: the job's path, and the
# watch that replaces a kept fit process nobody took by a spare (_watch_kept), one at a time
_fit_lock = threading.RLock()
_kept_changed = threading.Event()  # set when a fit process is kept: the watch looks again
_watching: set[int] = set()  # the pool processes whose watch runs (by pid: not a fork's)


class _WatchState:
    # the watch waits for a fit process to be kept, with no deadline: only then does
    # keeping one wake it (a wake-up per job in a sweep, each kept one replacing the last)
    idle = True


_watch = _WatchState()
DRAINED = "drained"  # what run_job returns for a job given back to its queue
DRAIN_SIGNAL = signal.SIGUSR2
MIN_CHECKPOINT_GAP = 0.1  # s between two checkpoints stored, whatever a fit sends


def store_for(settings: WorkerSettings) -> JobStore:
    """One store per process: a forked child must not share its parent's sockets."""
    pid = os.getpid()
    if pid not in _stores:
        import redis

        client = redis.Redis.from_url(settings.redis_url)
        _stores.clear()
        _stores[pid] = JobStore(client, **settings.store_settings())
    return _stores[pid]


def run_job(
    settings: WorkerSettings,
    owner: str,
    job_id: str,
    worker: str,
    dispatch: str = "",
    take: TakenMessage | None = None,
) -> str:
    """`dispatch`: the token the job's message carries (store.start refuses a wrong one).
    `take`: the job's message, which this pool process takes off its queue itself as the
    job starts (backlog.py); 'gone' if another consumer took it first."""
    # a SIGTERM to every process of a Slurm job (walltime, scancel) drains this job through
    # the worker's main process, instead of killing this one (sigterm.py)
    defer_sigterm(draining)
    store = store_for(settings)
    token = f"{worker}/{os.getpid()}/{os.urandom(4).hex()}"
    # the record and the payload come with the start (lua/start.lua): no read after it
    outcome, record, payload = claim(
        store,
        owner,
        job_id,
        worker,
        token,
        settings.max_attempts,
        settings.lease_seconds,
        dispatch,
        take,
    )
    if outcome == "forged":
        log.warning(
            "job %s of %s not run: its message does not carry the job's dispatch token "
            "(not sent by the job's server); dropped, the job unchanged",
            job_id,
            owner,
        )
        return outcome
    if outcome != "started":
        # 'duplicate': another execution runs this job now; acking this copy is all to do
        log.info("job %s not run: %s", job_id, outcome)
        return outcome
    assert record is not None  # "started" comes with the record, read after the start
    if take is not None and draining():  # the drain came while it was taken: not begun
        return _drained(store, owner, job_id, token)
    # cancelled between its delivery and its start: don't start the fit. The record says so
    # without another round trip (a cancel of a queued job ended it, and start.lua refused
    # it; one since it is running flags it); a cancel after that read reaches the fit
    # through the cancel poll, as any cancel of a running fit does
    if record.get("cancel_requested"):
        reason = str(record.get("reason") or "cancelled")
        store.finish(owner, job_id, jobs.CANCELLED, reason=reason, run=token, record=record)
        store.release_lease(owner, job_id, token)
        return "cancelled"
    if payload is None:  # no fit to start: the spare waits for the next job
        gone = transport.PayloadError(
            "the job's problem payload is gone from Redis (expired or deleted)",
            "Submit the problem again",
        )
        store.finish(owner, job_id, jobs.FAILED, error=error_of(gone), run=token, record=record)
        store.release_lease(owner, job_id, token)
        return "failed"
    # one taken off its queue waited there while the last job ran: a backlog's
    backlog = take is not None or time.time() - record.get("created", time.time()) > BACKLOG_SECONDS
    global _rehearse_next
    _rehearse_next = not backlog  # the task forks the next spare once this returns
    # Every job may leave its fit process to its owner's next one (kept_fit.py), not only a
    # backlog's: the next fit of a notebook's loop then starts in a warm process at once,
    # and no spare's fork and rehearsal takes the CPU from it. But for a DREAM fit out of
    # a backlog: it writes its session file at once, at nice 10 only in a process that
    # will not serve again (fit_process.py), so that the next job goes first
    # (docs/design.md#a-sweeps-jobs-in-fewer-fit-processes)
    reuse = backlog or record.get("fitter") != "dream"
    return _run(settings, store, owner, job_id, token, record, payload, reuse=reuse)


def _run(
    settings: WorkerSettings,
    store: JobStore,
    owner: str,
    job_id: str,
    token: str,
    record: dict,
    payload: bytes,
    reuse: bool = False,
) -> str:
    """Hand the job to a fit process, relay what it sends until it ends, record how.
    `reuse`: its fit process may run the owner's next job (kept_fit.py)."""
    # checkpoints stored at most twice as often as the setting asks (a fit may send more)
    gap = max(settings.checkpoint_interval / 2, MIN_CHECKPOINT_GAP)
    recorder = Recorder(store, owner, job_id, token, checkpoint_gap=gap, record=record)
    # a job run before (a lost worker, a drain) resumes from its last checkpoint, if any; a
    # job that continues an ended fit of the same owner (job.resume) from that fit's
    saved = None
    if int(record.get("attempt") or 1) > 1 or record.get("drained"):
        saved = store.checkpoint(owner, job_id)
    if saved is None and record.get("resume_of"):
        saved = store.checkpoint(owner, str(record["resume_of"]))
    process, served = _fit_process(settings, owner)
    relay = Relay(process, recorder, settings.max_session_bytes, settings.output_limit, reuse=reuse)

    def taken_over() -> None:  # this execution looked dead: the one that took over records
        recorder.discard = True
        relay.kill()

    lease = LeaseKeeper(store, owner, job_id, token, settings.lease_seconds, taken_over)
    # the session file, the run's last write, gives the lease up in the same round trip
    recorder.release_with_session = lease.stop_for_release
    poll = CancelPoll(
        lambda: store.cancel_reason(owner, job_id), settings.cancel_poll_interval, relay.cancel
    )
    try:
        lease.start()
        # a fit process that died before reading its job: its exit status is what the job
        # records (the relay sees it exit)
        process.hand_over(fit_job(record) | {"reuse": reuse}, payload, saved)
        relay.start()
        poll.start()
        _wait(relay, settings.drain_seconds)
        recorder.flush_checkpoint()  # one the fit sent last (a drain's), under the lease
    finally:
        poll.stop()
        lease.stop()
        if not relay.started or relay.running:
            relay.kill()  # interrupted here, not by the fit's end: it must not outlive this
            relay.wait()
        status = 0
        if _ended_cleanly(relay, recorder, lease) and kept_fit.may_serve_again(process, served):
            with _fit_lock:
                kept_fit.keep(process, owner, served + 1)  # stands for this process's spare
            _watch_kept(settings)
        else:
            status = retire(settings, process)
    if lease.lost:  # the execution that took the job over records its end
        return "superseded"
    if relay.lost_run:
        return "lost"
    # one that took it over while this run was cut off from Redis: the store refused this
    # run's end (lua/include/fence.lua)
    if recorder.refused and not store.holds_job(owner, job_id, token):
        return "superseded"
    if relay.error is not None:
        raise relay.error
    if relay.draining and not recorder.finished and relay.broken is None:
        # the worker stops: the job goes back to its queue, to resume from its checkpoint
        recorder.flush_pending()  # a result sent before the drain, as any write of the run
        return _drained(store, owner, job_id, token)
    try:
        if not recorder.finished or recorder.session_pending:
            recorder.fail(relay.broken_error() or death_error(status))
            return "died"
        return "done"
    finally:
        lease.release()


def _drained(store: JobStore, owner: str, job_id: str, token: str) -> str:
    """The run `token` gives its job back: the next delivery takes it over (lua/drain.lua)."""
    event = {"job": job_id, "reason": "drained", "worker": token, "time": time.time()}
    store.drained(owner, job_id, token, event)
    return DRAINED


def _ended_cleanly(relay: Relay, recorder: Recorder, lease: LeaseKeeper) -> bool:
    """The fit completed its job, all of it is stored, and nothing of it runs on."""
    ended = relay.job_done and relay.clean and not relay.running and not draining()
    faults = relay.broken or relay.error or relay.draining or relay.lost_run or lease.lost
    stored = recorder.finished and not (recorder.session_pending or recorder.discard)
    return bool(ended and not faults and stored and not recorder.refused)


def retire(settings: WorkerSettings, process: SpareFitProcess) -> int:
    """End a fit process and whatever it left behind; its wait status."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)  # one kept idle, or one that ended: no-op
    confinement = sandbox_settings(settings)
    fit_uid = sandbox.own_uid_of(confinement, process.pid)
    if fit_uid is not None:  # while the unreaped fit holds its pid, so no other fit can
        leftovers.kill_every_process_of(fit_uid)  # have been given the same uid
    status = process.wait()
    # before the next spare, which must live on
    leftovers.kill_all(process.pid, fit_uid, uid_killed=fit_uid is not None)
    process.close()
    sandbox.cleanup(confinement, process.pid)  # its private directory
    return status


def fit_job(record: dict) -> dict:
    """All a fit process is told of its job besides the payload."""
    fields = ("fitter", "options", "seed", "encoding")
    return {name: record.get(name) for name in fields} | {"options": record.get("options") or {}}


def prepare_spare(settings: WorkerSettings, rehearse: bool | None = None) -> None:
    """Fork this pool process's spare fit process unless it has one; it rehearses unless
    the last job came from a backlog."""
    rehearse = _rehearse_next if rehearse is None else rehearse
    if os.getpid() not in _inherited:  # once, while this pool process is young
        _inherited.clear()
        _inherited[os.getpid()] = connections()
    with _fit_lock:
        if os.getpid() not in _spares and not kept_fit.holding():
            if threading.current_thread() is threading.main_thread():  # (signal's rule)
                listen_for_drain()
            _spares.clear()  # a forked child must not use its parent's spare
            leftovers.become_subreaper()  # what a fit leaves behind comes back here
            _spares[os.getpid()] = SpareFitProcess.fork(settings, rehearse, _forget(settings))


def _watch_kept(settings: WorkerSettings) -> None:
    """Once a fit process is kept, replace it by a rehearsed spare if its owner's next job
    does not come within kept_fit.REUSE_SECONDS: whoever comes next after a pause then
    finds a warm spare, not a fork made cold at its delivery. One thread per pool process,
    idle while nothing is kept."""
    with _fit_lock:
        if _watch.idle:  # it waits for a fit process to be kept: wake it (one waiting for
            _kept_changed.set()  # the last one's deadline looks again then, by itself)
    if os.getpid() in _watching:
        return
    _watching.clear()  # a forked child has not its parent's thread
    _watching.add(os.getpid())
    threading.Thread(
        target=_replace_stale_kept, args=(settings,), name="bumps-kept-fit", daemon=True
    ).start()


def _replace_stale_kept(settings: WorkerSettings) -> None:
    while True:
        with _fit_lock:
            left = kept_fit.stale_in()
            _watch.idle = left is None
        _kept_changed.wait(left)  # None: until a fit process is kept
        _kept_changed.clear()
        with _fit_lock:
            if draining():  # no next job: the drain ends what is kept
                return
            try:
                stale = kept_fit.take_stale()
                if stale is not None:
                    retire(settings, stale)
                    prepare_spare(settings, rehearse=True)
            except Exception:  # the next job forks what it needs itself, as without a spare
                log.exception("replacing an unused kept fit process by a spare failed")


def _fit_process(settings: WorkerSettings, owner: str) -> tuple[SpareFitProcess, int]:
    """The fit process kept after the owner's last job if it may run this one, else this
    pool process's spare, or, if it has none or it died while idle, a fit process forked
    now, which does the same, cold; with how many jobs it has run."""
    with _fit_lock:
        kept, ended, served = kept_fit.take(owner)
        if ended is not None:
            retire(settings, ended)
        if kept is not None:
            return kept, served
        return fresh_fit_process(settings), 0


def fresh_fit_process(settings: WorkerSettings) -> SpareFitProcess:
    """This pool process's spare, or, if it has none or it died while idle, a fit process
    forked now, cold: never one that ran a job (a session build takes it too, and leaves
    a fit process kept for its owner's next job alone: worker/pool/session_build.py)."""
    with _fit_lock:
        spare = _spares.pop(os.getpid(), None)
    if spare is not None and spare.alive():
        return spare
    if spare is not None:
        spare.close()
    leftovers.become_subreaper()
    return SpareFitProcess.fork(settings, rehearse=False, forget=_forget(settings))


def _forget(settings: WorkerSettings):
    def forget() -> None:
        """In a new fit process: let go of the pool process's connections and spare."""
        # (this is the child: the pool process's entries are under its parent's pid)
        found = [obj for objs in _inherited.values() for obj in objs]
        found += [store.redis for store in _stores.values()]
        _stores.clear()
        _spares.clear()
        kept_fit.forget()
        _inherited.clear()
        forget_connections(settings, found)

    return forget


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
        Recorder(store, owner, job_id).lose_session("hard time limit")


def _wait(relay: Relay, drain_seconds: float) -> None:
    """Wait for the relay (the fit's end); on Celery's soft time limit, ask the fit to stop
    and keep its best point, then keep waiting (the hard limit remains the backstop). When
    the worker drains, ask the fit for its last checkpoint and give it half the drain time
    to send it and exit; then it is killed (its last periodic checkpoint stands).

    The drain is seen by looking at its flag every DRAIN_POLL seconds, not by an exception
    raised from the signal's handler: one raised while the main thread was entering or
    leaving the relay's Event left that Event's lock held, and the relay thread, setting it,
    hung with the relay's own lock held, so the drain never reached the fit (seen once under
    load: the worker killed at its drain deadline, the job back as a lost run)."""
    deadline = None
    while True:
        try:
            if _drain.requested and deadline is None:
                deadline = _drain.since + drain_seconds / 2
                relay.drain()
            left = DRAIN_POLL if deadline is None else deadline - time.monotonic()
            if relay.wait(max(0.0, min(DRAIN_POLL, left))):
                return
            if deadline is not None and time.monotonic() >= deadline:
                log.warning("fit process %s sent no checkpoint in time: killed", relay.process.pid)
                relay.kill()
                deadline = None
                _drain.requested = False  # (the kill ends the relay)
        except SoftTimeLimitExceeded:
            relay.cancel("time limit")


# how often a pool process waiting for its fit looks whether the worker drains
DRAIN_POLL = 0.2


class _DrainState:
    requested = False  # the worker drains (SIGUSR2 from its main process)
    since = 0.0  # time.monotonic() of the request


_drain = _DrainState()


def _on_drain_signal(signum, frame) -> None:
    if not _drain.requested:
        _drain.requested, _drain.since = True, time.monotonic()


def draining() -> bool:
    return _drain.requested


def listen_for_drain() -> None:
    """In a pool process: SIGUSR2, which the worker's main process sends when it stops
    (worker/main/drain.py), drains this process's fit."""
    signal.signal(DRAIN_SIGNAL, _on_drain_signal)


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
