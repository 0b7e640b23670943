"""What the REST and WebSocket handlers do, without Tornado: one async service per server.

Redis is reached with redis.asyncio; Celery's blocking calls run in a small thread pool
behind a semaphore, and a sweep's work over many jobs in threads of its own (off_loop.py),
so that nothing here holds the IOLoop long. A Redis or broker outage becomes
`ServiceUnavailable` (503) with a message; the next request tries again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import orjson
import redis.asyncio
import redis.exceptions
from kombu.exceptions import OperationalError

from .._version import __version__
from ..shared import jobs, redis_url, versions
from ..shared.settings import WorkerSettings
from ..store import NO_LIMITS, AsyncJobStore, JobNotFound, Limits
from ..store.records import Many
from ..worker import make_app
from . import dispatch, session_builds, warm
from .event_hub import EventHub
from .fit_messages import FitMessages, send_sent_events
from .off_loop import OffLoop, in_turns
from .reconciling import ReconcileLoop
from .redis_errors import REDIS_ERRORS

SETTING = "c.BumpsRemote.redis_url (env BUMPS_REMOTE_REDIS_URL)"
MAX_PAGE = 200
MAX_OFFSET = 10**9  # Redis ranges take 64-bit integers; no user has a billion jobs
# A worker is live while its heartbeat key exists; its info says which queues it serves.
WAITING = "waiting for a worker with {env} ({key}); {why}"
NONE_RUNNING = "none is running"
OTHERS_RUNNING = "the live workers serve other versions (GET workers lists them)"
log = logging.getLogger(__name__)

# How long a request for a session file waits while its fit process writes it.
SESSION_WAIT = 60.0
MAX_WAIT = 300.0  # the longest a GET of a job may wait for it to end
# POST jobs/results: the ids one request may name (1000 take ~35 kB, a small body), and the
# summaries one answer carries at most (a client asks again for the rest)
MAX_RESULT_IDS = 1000
MAX_RESULTS_BYTES = 16 * 1024 * 1024
# POST jobs/batch: the jobs one request may create (its body is also within
# max_payload_bytes); one Redis script creates them all, a few ms for 1000
MAX_BATCH_JOBS = 1000
# A submit trusts the live workers read this recently when they serve its jobs
# (_workers_for): a tight loop of submits reads them once a second, not at each
WORKERS_FRESH = 1.0


class ServiceUnavailable(Exception):
    """Redis or the broker cannot be reached, or embedded mode could not start (503)."""


PAYLOAD_GONE = (
    "the job's problem is gone (expired, or lost with Redis' data): submit the problem again"
)


class ResultNotReady(Exception):
    """The job exists but has no result (yet): 409 with the job's status."""


class NoMatchingWorker(Exception):
    """Live workers exist but none serves the job's versions: 409, naming what differs
    (a request with wait_for_worker queues the job instead)."""


class JobService:
    def __init__(
        self,
        settings: WorkerSettings,
        mode: str,
        max_payload_bytes: int,
        executor_threads: int = 4,
        reconcile_interval: float = 0,
        limits: Limits = NO_LIMITS,
    ):
        self.settings = settings
        self.mode = mode
        self.max_payload_bytes = max_payload_bytes
        # each owner's limits, checked in the same atomic step as the creation (QuotaExceeded)
        self.limits = limits
        self.redis = redis.asyncio.Redis.from_url(
            settings.redis_url, **redis_url.SERVER_CLIENT_CHECKS
        )
        self.store = AsyncJobStore(self.redis, **settings.store_settings())

        self.hub = EventHub(self.store, settings.redis_url, uuid.uuid4().hex)

        self.celery = make_app(settings)
        self.messages = FitMessages(self.celery)  # on the IOLoop only
        # a sweep's work over many jobs, in threads (off_loop.py)
        self.off_loop = OffLoop(settings, self.celery)
        self.reconcile = ReconcileLoop(
            self.off_loop.store, reconcile_interval, worker_ttl=3 * settings.heartbeat_interval
        )
        self._executor = ThreadPoolExecutor(executor_threads, thread_name_prefix="bumps-celery")
        self._celery_slots = asyncio.Semaphore(executor_threads)
        # (when read, the live workers, their queues): see _workers_for
        self._workers_seen: tuple[float, list[dict], set[str]] | None = None

    def explain(self, exc: BaseException, detail: bool = False) -> str:
        """A Redis error as a message naming the cause and the setting to fix. For a client
        (the default): no address, user or the error's own text; `detail`: for the log, with
        those (the password masked)."""
        return redis_url.explain(exc, self.settings.redis_url, SETTING, detail=detail)

    def start(self) -> None:
        self.reconcile.start()
        self._executor.submit(warm.settle)

    async def close(self) -> None:
        try:
            await self.reconcile.close()
            await self.hub.close()
            await self.redis.aclose()
        finally:  # the threads go whatever failed before
            self._executor.shutdown(wait=False, cancel_futures=True)
            self.off_loop.close()

    # -- helpers -----------------------------------------------------------------------------

    async def _celery(self, fn, *args, what: str = "the job"):
        """Run a blocking Celery call off the IOLoop, at most `executor_threads` at once;
        `what` it sends, for the 503 when the broker is away."""
        async with self._celery_slots:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(self._executor, fn, *args)
            except (OperationalError, *REDIS_ERRORS) as e:
                raise ServiceUnavailable(f"could not queue {what}: {self.explain(e)}") from e

    async def _record(self, owner: str, job_id: str) -> dict:
        self.reconcile.watch(owner)
        record = await self.store.get(owner, job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    # -- routes ------------------------------------------------------------------------------

    async def info(self) -> dict:
        return {
            "version": __version__,
            "mode": self.mode,
            "environment": versions.environment(),
            "fitters": [
                {**info.to_dict(), "default": info.id == "amoeba"}
                for info in jobs.fitters().values()
            ],
            "common_options": jobs.COMMON_OPTIONS,
            "max_payload_bytes": self.max_payload_bytes,
            "workers": await self.workers(),
        }

    async def workers(self) -> list[dict]:
        return await self.store.workers()

    async def _workers_for(self, needed: set[str]) -> list[dict]:
        """The live workers, for a submit of jobs on the queues `needed`. A list read less
        than WORKERS_FRESH seconds ago answers when it serves them all (two Redis round trips
        spared per submit); otherwise, to refuse a job (409) or say none is running, the list
        is read now, so a worker that just came up is seen at once. One that went away within
        that second may let a job in, which waits in its queue as for a worker that dies just
        after the submit (docs/server.md#submitting)."""
        if self._workers_seen is not None:
            read_at, workers, queues = self._workers_seen
            if time.monotonic() - read_at < WORKERS_FRESH and needed <= queues:
                return workers
        read_at = time.monotonic()  # before the read: its age is never under-counted
        workers = await self.workers()
        self._workers_seen = (read_at, workers, self._queues_of(workers))
        return workers

    async def submit(
        self, owner: str, body: dict, idempotency_key: str | None
    ) -> tuple[dict, bool]:
        record, raw = self._new_job(owner, body)
        queues = await self._refuse_unserved(record, body)
        return await self._create_and_queue(record, raw, queues, idempotency_key)

    def _new_job(self, owner: str, body: dict) -> tuple[dict, bytes]:
        """A submit's body (or a batch member) validated into a record and its payload."""
        return dispatch.new_job(
            owner,
            body.get("payload", ""),  # missing: refused as "not JSON", as an empty one
            body.get("fitter"),
            body.get("options"),
            seed=body.get("seed"),
            name=body.get("name"),
            tags=body.get("tags"),
            queue_prefix=self.settings.queue_prefix,
            max_attempts=self.settings.max_attempts,
        )

    async def submit_many(
        self, owner: str, members: list[dict], wait_for_worker: object, idempotency_key: str | None
    ) -> tuple[list[dict], bool]:
        """Several jobs (a sweep) in one request: each member validated as a submit's body
        (an error names the member, `jobs[i].field`), all stored by one Redis script, all
        or none within the owner's limits, each with its message on its queue.
        Returns (records in the order given, True), or (the jobs of the earlier request with
        the same `idempotency_key`, False)."""
        if not isinstance(wait_for_worker, bool):
            raise jobs.JobInputError("wait_for_worker", "must be true or false")
        made = await self.off_loop.run(self._new_members, owner, members)
        workers = await self._workers_for({record["queue"] for record, _, _ in made})
        queues = self._queues_of(workers)
        if not wait_for_worker and workers:
            for record, _, _ in made:
                if record["queue"] not in queues:
                    raise NoMatchingWorker(
                        versions.no_worker_message(record["environment"], workers)
                    )
        self.reconcile.watch(owner)
        created, is_new = await self.off_loop.run(
            self.off_loop.store.create_many,
            owner,
            [(record, raw) for record, raw, _ in made],
            idempotency_key,
            self.limits,
            [message for _, _, (message, _) in made],
        )
        if is_new:
            for record in created:
                self.reconcile.remember(record)
            await self._sent_events([event for _, _, (_, event) in made if event is not None])
        return [await self.describe(dispatch.shown(r), queues) for r in created], is_new

    def _new_members(
        self, owner: str, members: list[dict]
    ) -> list[tuple[dict, bytes, tuple[bytes, dict | None]]]:
        """Each member validated as a submit's body (an error names it, `jobs[i].field`):
        (its record, its payload, (its message, its task-sent event)). In an off_loop thread."""
        made = []
        for i, member in in_turns(enumerate(members)):
            try:
                record, raw = self._new_job(owner, member)
                versions.check(record["environment"])
            except jobs.JobInputError as e:
                raise jobs.JobInputError(f"jobs[{i}].{e.field}", e.message) from e
            except ValueError as e:  # versions.check
                raise jobs.JobInputError(f"jobs[{i}].payload", f"{e}; re-encode the problem") from e
            made.append((record, raw, self.off_loop.messages().message(record)))
        return made

    async def _refuse_unserved(self, record: dict, body: dict) -> set[str]:
        """Refuse at once a job no live worker can run (the user learns now, not after a
        wait), unless it asks to wait for such a worker; with no live worker at all it
        queues (workers may be starting). Returns the live workers' queues, for `describe`."""
        try:
            versions.check(record["environment"])
        except ValueError as e:
            raise jobs.JobInputError("payload", f"{e}; re-encode the problem") from e
        wait = body.get("wait_for_worker", False)
        if not isinstance(wait, bool):
            raise jobs.JobInputError("wait_for_worker", "must be true or false")
        workers = await self._workers_for({record["queue"]})
        queues = self._queues_of(workers)
        if not wait and workers and record["queue"] not in queues:
            raise NoMatchingWorker(versions.no_worker_message(record["environment"], workers))
        return queues

    async def _create_and_queue(self, record, raw, queues: set[str], idempotency_key=None):
        self.reconcile.watch(record["owner"])
        message, event = self.messages.message(record)
        created, is_new = await self.store.create(
            record, raw, idempotency_key, self.limits, message
        )
        if is_new:
            self.reconcile.remember(created)
            await self._sent_events([event] if event is not None else [])
        return await self.describe(dispatch.shown(created), queues), is_new

    async def _sent_events(self, events: list[dict]) -> None:
        """Celery's `task-sent` of jobs already queued (with `task_events` on, for Flower):
        a broker that fails now costs Flower its view of them, not the jobs."""
        if events:
            try:
                await self._celery(send_sent_events, self.celery, events, what="task-sent")
            except Exception as e:  # noqa: BLE001 - the jobs are queued: never their error
                log.warning("bumps-remote: Celery's task-sent events not sent: %s", e)

    async def live_queues(self) -> set[str]:
        return self._queues_of(await self.workers())

    @staticmethod
    def _queues_of(workers: list[dict]) -> set[str]:
        return {queue for w in workers for queue in versions.queues_of(w)}

    async def describe(self, record: dict, queues: set[str] | None = None) -> dict:
        """The record as the API shows it: a queued job says why it waits, if it does."""
        if record.get("status") == jobs.QUEUED:
            if queues is None:
                queues = await self.live_queues()
            if record.get("queue") not in queues:
                env = record.get("environment", {})
                record["waiting_reason"] = WAITING.format(
                    env=versions.describe(env) if env else "?",
                    key=versions.environment_key(env) if env else "?",
                    why=OTHERS_RUNNING if queues else NONE_RUNNING,
                )
        return record

    async def get(
        self, owner: str, job_id: str, wait: float = 0, with_result: bool = False
    ) -> tuple[dict, bytes | None]:
        """The job's record and, with `with_result`, its result summary as stored (JSON
        bytes, not parsed here) once it has one, else None; with `wait`, once the job has
        ended or after `wait` seconds."""
        record = await self._until_terminal(owner, job_id, wait) if wait > 0 else None
        summary = None
        if record is None or (with_result and record.get("has_result")):
            # one round trip for both: the end of a wait is on a result's path
            self.reconcile.watch(owner)
            record, summary = await self.store.get_with_result(owner, job_id, with_result)
            if record is None:
                raise JobNotFound(job_id)
        return await self.describe(record), summary

    async def _until_terminal(self, owner: str, job_id: str, wait: float) -> dict | None:
        """The record if the job had ended already; else None once it ends, or after
        `wait` seconds."""
        # Follow the job's stream from its newest event, read before the record (in the
        # same round trip): a terminal event can then only come after that point, never
        # slip in between.
        self.reconcile.watch(owner)
        since, record = await self.store.get_after_newest_event(owner, job_id)
        if record is None:
            raise JobNotFound(job_id)
        if record["status"] in jobs.TERMINAL:
            return record
        ended = asyncio.get_running_loop().create_future()

        def watch(text: str) -> None:
            event = json.loads(text)
            if event["type"] == "status" and event["data"]["status"] in jobs.TERMINAL:
                if not ended.done():
                    ended.set_result(None)

        subscriber = await self.hub.subscribe(owner, job_id, since, watch)
        try:
            await asyncio.wait_for(ended, wait)
        except TimeoutError:
            pass
        finally:
            self.hub.unsubscribe(subscriber)
        return None

    async def list(self, owner: str, status=None, tag=None, offset=0, limit=50) -> dict:
        if status is not None and status not in jobs.STATES:
            raise jobs.JobInputError("status", f"must be one of {', '.join(jobs.STATES)}")
        if not 0 < limit <= MAX_PAGE:
            raise jobs.JobInputError("limit", f"must be from 1 to {MAX_PAGE}")
        if not 0 <= offset <= MAX_OFFSET:
            raise jobs.JobInputError("offset", f"must be from 0 to {MAX_OFFSET}")
        self.reconcile.watch(owner)
        records, next_offset, total = await self.store.list(owner, status, tag, offset, limit)
        queued = any(r.get("status") == jobs.QUEUED for r in records)
        queues = await self.live_queues() if queued else set()  # one look for the whole page
        return {
            "jobs": [await self.describe(r, queues) for r in records],
            "next_offset": next_offset,
            "total": total,
        }

    async def cancel(self, owner: str, job_id: str) -> dict:
        await self.store.request_cancel(owner, job_id)
        return await self.describe(await self._record(owner, job_id))

    async def cancel_many(self, owner: str, job_ids: list[str]) -> tuple[list[dict], list[str]]:
        """Cancel the owner's jobs `job_ids` (a sweep's) as `cancel` does each, in one answer:
        (their records after the request, in the order asked; the ids that are not the
        owner's jobs). A job that had ended is left as it was, and says so by its status."""
        bulk = self.off_loop
        await bulk.run(bulk.store.request_cancel_many, owner, job_ids)
        return await self._described(job_ids, await bulk.run(bulk.store.many, owner, job_ids, 0))

    async def retry(self, owner: str, job_id: str, body: dict) -> dict:
        """A new job from the same payload and options; a new seed unless one is given."""
        old = await self._record(owner, job_id)
        payload = await self.store.payload(owner, job_id)
        if payload is None:
            raise ResultNotReady(PAYLOAD_GONE)
        record, raw = dispatch.new_job(
            owner,
            payload,
            old["fitter"],
            body.get("options", old.get("options")),
            seed=body.get("seed"),
            name=body.get("name", old.get("name")),
            tags=body.get("tags", old.get("tags")),
            queue_prefix=self.settings.queue_prefix,
            max_attempts=self.settings.max_attempts,
        )
        record["retry_of"] = job_id
        queues = await self._refuse_unserved(record, body)
        created, _ = await self._create_and_queue(record, raw, queues)
        return created

    async def resume(self, owner: str, job_id: str, body: dict) -> dict:
        """A new job that continues the owner's finished or cancelled DREAM fit `job_id` for
        `steps` more steps, from its last checkpoint (docs/design.md#checkpoints-and-drain).
        The worker hands the new fit that checkpoint; nothing here reads it."""
        old = await self._record(owner, job_id)  # the owner's own job, or 404
        steps = body.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise jobs.JobInputError("steps", "give the number of steps to add, 1 or more")
        if old.get("fitter") != "dream":
            raise jobs.JobInputError(
                "job_id", f"only a DREAM fit can be resumed; this job's fitter is {old['fitter']}"
            )
        if old.get("status") not in (jobs.SUCCEEDED, jobs.CANCELLED):
            raise ResultNotReady(
                f"the job is {old.get('status')}: only a succeeded or cancelled fit can be "
                "resumed (a failed one: job.retry())"
            )
        summary = await self.store.result(owner, job_id)
        payload = await self.store.payload(owner, job_id)
        # the record's `checkpointed` says one was stored (it expires with the record): its
        # bytes, megabytes for a long DREAM fit, are not read here
        if summary is None or payload is None or not old.get("checkpointed"):
            raise ResultNotReady(
                "the job has no checkpoint (or its problem is gone): it ended before it stored "
                "one, or expired; submit the problem again"
            )
        options = dict(old.get("options") or {})
        burn = options.get("burn", 100)
        # DREAM's generations so far: its initial one, its burn-in, its steps
        done = max(int(summary.get("nit") or 0) - 1 - int(burn), 0)
        options["steps"] = done + steps
        record, raw = dispatch.new_job(
            owner,
            payload,
            old["fitter"],
            options,
            seed=old.get("seed"),
            name=body.get("name", old.get("name")),
            tags=body.get("tags", old.get("tags")),
            queue_prefix=self.settings.queue_prefix,
            max_attempts=self.settings.max_attempts,
        )
        record["resume_of"] = job_id
        queues = await self._refuse_unserved(record, body)
        created, _ = await self._create_and_queue(record, raw, queues)
        return created

    async def delete(self, owner: str, job_id: str) -> None:
        await self.store.delete(owner, job_id)

    async def results(
        self, owner: str, job_ids: list[str], wait: float = 0
    ) -> tuple[list[dict], list[str]]:
        """The owner's jobs `job_ids` (a sweep's) with their result summaries, in one answer:
        (records in the order asked, each with "result" as stored once it has one and while
        they fit in MAX_RESULTS_BYTES; the ids that are not the owner's jobs). With `wait`,
        answers once every one has ended or after `wait` seconds."""
        self.reconcile.watch(owner)
        many = self.off_loop.store.many
        found = await self.off_loop.run(many, owner, job_ids, 0 if wait > 0 else MAX_RESULTS_BYTES)
        pending = {
            job_id
            for job_id, record in zip(job_ids, found.records, strict=True)
            if record is not None and record["status"] not in jobs.TERMINAL
        }
        if wait > 0:
            if pending:
                await self._until_all_terminal(owner, pending, found.since, wait)
            found = await self.off_loop.run(many, owner, job_ids, MAX_RESULTS_BYTES)
        return await self._described(job_ids, found)

    async def _described(self, job_ids: list[str], found: Many) -> tuple[list[dict], list[str]]:
        """`found` (store.many's) as answered: the records in the order asked, each with its
        summary as "result" if one was read; the ids that have no record."""
        queued = any(r is not None and r.get("status") == jobs.QUEUED for r in found.records)
        queues = await self.live_queues() if queued else set()  # one look for them all
        answered, missing = [], []
        for job_id, record in zip(job_ids, found.records, strict=True):
            if record is None:
                missing.append(job_id)
                continue
            summary = found.results.get(job_id)
            if summary is not None:
                record["result"] = orjson.Fragment(summary)  # passed on as stored, unparsed
            answered.append(await self.describe(record, queues))
        return answered, missing

    async def _until_all_terminal(
        self, owner: str, pending: set[str], since: str, wait: float
    ) -> None:
        # The owner's stream from its newest event read before the records (as _until_terminal
        # does for one job): each job's terminal status event comes after that point.
        ended = asyncio.get_running_loop().create_future()

        def watch(text: str) -> None:
            event = json.loads(text)
            if event["type"] == "status" and event["data"].get("status") in jobs.TERMINAL:
                pending.discard(event["data"].get("job"))
                if not pending and not ended.done():
                    ended.set_result(None)

        subscriber = await self.hub.subscribe(owner, None, since, watch)
        try:
            if pending:
                await asyncio.wait_for(ended, wait)
        except TimeoutError:
            pass
        finally:
            self.hub.unsubscribe(subscriber)

    async def payload(self, owner: str, job_id: str) -> bytes:
        """The job's problem payload as it was submitted (the owner's own: its kernel rebuilds
        the problem from it, where a session file would need a worker to build it)."""
        payload = await self.store.payload(owner, job_id)
        if payload is None:
            await self._record(owner, job_id)  # 404 for a job that is not the owner's
            raise ResultNotReady(PAYLOAD_GONE)
        return payload

    async def result(self, owner: str, job_id: str) -> bytes:
        # the result summary as stored (JSON bytes, not parsed here)
        summary = await self.store.result_json(owner, job_id)
        if summary is None:
            record = await self._record(owner, job_id)
            raise ResultNotReady(_no_result(record))
        return summary

    async def session(self, owner: str, job_id: str) -> tuple[dict, bytes]:
        """The session file. A fit process writes it just after the job's terminal status,
        so a request in between waits for it (a few ms for small fits); a fit whose file is
        built on request (`deferred`) has it built now by a worker, and the request waits
        for that too (docs/design.md#session-files). Both up to SESSION_WAIT."""
        deadline = time.monotonic() + SESSION_WAIT
        delay = 0.005
        self.reconcile.watch(owner)
        while True:
            record, data = await self.store.session_with_record(owner, job_id)
            if record is None:
                raise JobNotFound(job_id)
            state = record.get("session")
            if state == "ready" and data is not None:
                return record, data
            if state in ("deferred", "building"):
                record = await self._request_build(owner, record)
            elif state != "writing":
                raise ResultNotReady(_no_session(record))
            if time.monotonic() > deadline:
                raise ResultNotReady(_no_session(record))
            await asyncio.sleep(delay)
            delay = min(2 * delay, 0.1)

    async def _request_build(self, owner: str, record: dict) -> dict:
        """Send the build of a deferred session file unless one is under way (one build for
        requests at once; another once the last is stale: session_builds.py)."""
        problem = session_builds.unbuildable(self.celery, record)
        if problem:
            raise ResultNotReady(f"no session file: {problem}")
        token = session_builds.new_token()
        stale = session_builds.stale_seconds()
        claimed = await self.store.claim_build(owner, record["id"], token, stale)
        if claimed == "build":
            try:
                await self._celery(
                    session_builds.enqueue_build,
                    self.celery,
                    owner,
                    record,
                    token,
                    what="the build of its session file",
                )
            except ServiceUnavailable:
                # not sent: `deferred` again, so the next request sends it (not `building`
                # until it is stale)
                await self.store.release_build(owner, record["id"], token)
                raise
            record = {**record, "session": "building"}
        return record

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.redis.ping()
        return time.perf_counter() - started


def _no_session(record: dict) -> str:
    state = record.get("session")
    if state == "writing":
        return "the session file is still being written: try again in a moment"
    if state in ("deferred", "building"):
        return (
            "the session file is being built by a worker (it is written on request for "
            "this fit) and was not ready in time: try again in a moment"
        )
    if state == "failed":
        return f"no session file: {record.get('session_error') or 'it could not be written'}"
    return _no_result(record)


def _no_result(record: dict) -> str:
    status = record["status"]
    if status in jobs.ACTIVE:
        return f"the job is {status}: its result is stored when it finishes"
    error = (record.get("error") or {}).get("message")
    return f"the job {status} without a result" + (f": {error}" if error else "")
