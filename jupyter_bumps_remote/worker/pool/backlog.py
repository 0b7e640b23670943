"""A pool process runs its owner's next queued fit itself, without Celery's delivery.

In a sweep of tiny fits each job crossed four processes: Redis, the worker's main process
(Celery's consumer, the ack), a pool process, its fit process, and back. Each hop waited
to be woken and given a CPU, and the main process spent about 1 ms of CPU on each job
(13 % of what a tiny fit in a sweep cost the machine; docs/benchmarks.md). So once a job's fit
process is kept for its owner's next job (kept_fit.py), its pool process looks at what its
queue gives next: if it is that owner's fit, the pool process takes the message off the
queue and starts the job in one script (store/taken_messages.py, lua/start.lua), runs it
in the kept fit process, and looks again. It stops at another owner's message, anything
not a fit, an empty queue, a message on another queue the worker consumes (a session
build, another environment's fits: Celery takes from its queues in turn), a fit process
not kept, the worker's drain, or PULL_SECONDS into its Celery task. It takes only after a
job that its task's own message ran (the start checked that message's dispatch token, so
its owner is the record's) and only from a queue the worker consumes.

Nothing else changes for the job: one Celery message per job, taken as a delivery takes it
(the queue's next, in order), kept in kombu's unacked hash while it runs, so that the
sweep for lost runs and kombu's restore find it there if the worker dies; acked when its
run is over; given back to the head of its queue if a drain gives its run back (as the
sweep for lost runs puts a lost run back). Its dispatch token is checked by the start, and
the message is refused as Celery's delivery would refuse it (message_checks.py): such a
message is left on the queue for Celery.

The job runs within its Celery task's time limits, which count from the task's start: a
taken job finds up to PULL_SECONDS of them used
(docs/design.md#a-sweeps-jobs-in-fewer-fit-processes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...shared import jobs
from ...shared.settings import WorkerSettings
from ...shared.task_names import FIT_TASK
from ...store import taken_messages
from ...store.taken_messages import TakenMessage
from . import kept_fit
from .message_checks import refusal
from .runner import DRAINED, draining, run_job, store_for

log = logging.getLogger(__name__)
# A pool process takes jobs off its queue for at most this long into its Celery task (and a
# tenth of the soft time limit, if less): a taken job's time limits count from the task's
# start, so it may find this much of them used (under 0.1 % of the default 12 h).
PULL_SECONDS = 30.0


@dataclass(frozen=True)
class RanJob:
    """The job a fit task's own message ran, to its end."""

    owner: str  # the record's, as the start checked the message's dispatch token
    queue: str  # the message's routing key
    worker: str  # the worker's name
    since: float  # time.monotonic() at the task's start
    tag: str  # the message's delivery tag


@dataclass(frozen=True)
class QueuedFit:
    """A fit message at the head of a queue, as a server sends it."""

    message: TakenMessage
    job_id: str
    owner: str
    dispatch: str


def queued_fit(queue: str, raw: bytes) -> QueuedFit | None:
    """The fit that the message `raw` asks for, if Celery's delivery would run it; None for
    anything else (left on the queue for Celery to refuse or run)."""
    message = taken_messages.read(queue, raw)
    if message is None or message.headers.get("task") != FIT_TASK:
        return None
    if refusal(message.headers, message.body, FIT_TASK):  # (it checks the arguments' types)
        return None
    args = message.body[0]
    dispatch = args[2] if len(args) == 3 else ""
    return QueuedFit(message, args[0], args[1], dispatch)


def pull_seconds(settings: WorkerSettings) -> float:
    return min(PULL_SECONDS, settings.soft_time_limit / 10)


def run_backlog(settings: WorkerSettings, ran: RanJob, consumed: Sequence[str]) -> int:
    """After the job `ran`, whose fit process was kept: run its owner's fits that its queue
    gives next, while the module's rules allow. `consumed`: the queues this worker consumes
    (a take waits for none of the others to hold a message). Returns how many messages it
    took."""
    if ran.queue not in consumed:  # the routing key a message names: not the worker's
        return 0
    queue = ran.queue
    others = [name for name in consumed if name != queue]
    store = store_for(settings)
    deadline = ran.since + pull_seconds(settings)
    taken = 0
    own_acked = not ran.tag
    while not draining() and time.monotonic() < deadline and kept_fit.kept_for(ran.owner):
        raw = store.next_message(queue, others)
        fit = queued_fit(queue, raw) if raw is not None else None
        if fit is None or fit.owner != ran.owner:
            return taken
        if not own_acked:
            # the task's own job has ended, and Celery acks its message whatever the end
            # but a drain's: acked now, so that a worker killed while running the jobs
            # taken after it leaves only theirs in the unacked hash (a second ack by Celery
            # at the task's return finds nothing to remove)
            store.ack_taken(ran.tag)
            own_acked = True
        try:
            outcome = run_job(
                settings, ran.owner, fit.job_id, ran.worker, fit.dispatch, take=fit.message
            )
        except Exception:
            _ack_if_ended(store, fit)
            raise
        if outcome == "gone":  # another consumer took it between the look and the take
            continue
        taken += 1
        if outcome == DRAINED:  # first in line again, for the next worker to resume it
            store.give_back(fit.message)
            log.info(
                "job %s of %s, taken off queue %s: given back", fit.job_id, ran.owner, ran.queue
            )
            return taken
        store.ack_taken(fit.message.tag)
        log.info("job %s of %s, taken off queue %s: %s", fit.job_id, ran.owner, queue, outcome)
    return taken


def _ack_if_ended(store, fit: QueuedFit) -> None:
    """After a taken job's run raised: its message acked if the job is no longer running
    (as Celery acks a task that raised), else left unacked for the sweep for lost runs,
    which requeues only running jobs; one not taken yet is still on its queue (nothing to
    ack)."""
    try:
        record = store.get(fit.owner, fit.job_id) or {}  # (none: deleted)
        if record.get("status") != jobs.RUNNING:
            store.ack_taken(fit.message.tag)
    except Exception:  # Redis away: the sweep, or kombu's restore, deals with it later
        log.exception("job %s of %s: its taken message's ack failed", fit.job_id, fit.owner)


def run_backlog_after(
    task: Any, settings: WorkerSettings, outcome: str, owner: str, worker: str, since: float
) -> None:
    """The owner's next fits, taken off the queue by run_backlog, after the task's own
    job if it ran to its end ('done': the start checked its message's dispatch token, so
    `owner` is the record's) and the worker takes. Whatever goes wrong there is logged, and
    the task still returns its own job's end (each taken job's is in its record)."""
    if outcome != "done" or not settings.take_backlog:
        return
    request = task.request
    info = request.delivery_info or {}
    # through kombu's anonymous exchange (as servers send fits: server_ext/fit_messages.py)
    queue = "" if info.get("exchange") else str(info.get("routing_key") or "")
    tag = str((request.properties or {}).get("delivery_tag") or "")
    # as the worker's main process selected them at its start, before the pool forked (its
    # -Q; all of the app's queues without it): a consumer added or cancelled later by
    # Celery's remote control changes the main process's only
    consumed = list(task.app.amqp.queues.consume_from)
    try:
        run_backlog(settings, RanJob(owner, queue, worker, since, tag), consumed)
    except Exception:
        log.exception("taking job %s's owner's next fits off queue %s failed", request.id, queue)
