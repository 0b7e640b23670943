"""The jupyter_server extension `bumps_remote`: settings, routes, start and stop."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, TraitError, Unicode, default, validate

from .._version import __version__
from ..shared.redis_url import masked as masked_url
from ..shared.settings import SettingsError, WorkerSettings
from ..store import Limits
from ..worker.main.requeue import requeue_unacked
from .embedded import EmbeddedRedis, RedisUnavailable, WorkerSupervisor
from .handlers import (
    BatchHandler,
    CancelHandler,
    CancelManyHandler,
    InfoHandler,
    JobHandler,
    JobsHandler,
    PayloadHandler,
    ResultHandler,
    ResultsHandler,
    ResumeHandler,
    RetryHandler,
    SessionHandler,
    WorkersHandler,
)
from .redis_errors import REDIS_ERRORS
from .service import JobService
from .websockets import EventsSocket

API = "bumps-remote/api"
JOB = rf"{API}/jobs/([^/]+)"
_DEFAULTS = WorkerSettings()
MAX_OWNER_LENGTH = 200


class BumpsRemote(ExtensionApp):
    name = "bumps_remote"
    version = __version__
    load_other_extensions = True

    redis_url = Unicode(
        help="""Redis for jobs and the Celery broker: redis://, rediss:// (TLS) or unix://;
        empty: embedded mode (the server starts its own Redis and workers). Passwords, ACL
        users and TLS: docs/operator-guide.md#shared-redis-workers-on-other-machines.
        Env: BUMPS_REMOTE_REDIS_URL.""",
    ).tag(config=True)

    @default("redis_url")
    def _redis_url_from_env(self):
        return os.environ.get("BUMPS_REMOTE_REDIS_URL", "")

    key_prefix = Unicode(_DEFAULTS.prefix, help="Prefix of every Redis key of jobs.").tag(
        config=True
    )
    queue_prefix = Unicode(
        _DEFAULTS.queue_prefix,
        help="Prefix of the Celery queues; "
        "one per Python minor, bumps, numpy minor and model libraries.",
    ).tag(config=True)
    owner = Unicode(
        "",
        help="""The owner of the jobs this server submits and shows, for deployments whose
        servers share one OS user without JupyterHub (containers that all run as the same
        user, say): give each server its own name, or their users see one another's jobs.
        Empty: the JupyterHub user, else the OS user, or the user an identity provider names.
        When set it wins over all of them, so every user of this server shares it. Jobs
        are kept per owner: after a change the old name's jobs are no longer shown.""",
    ).tag(config=True)

    @validate("owner")
    def _check_owner(self, proposal):
        owner = proposal["value"]
        if owner and (
            len(owner) > MAX_OWNER_LENGTH or not owner.isprintable() or owner.strip() != owner
        ):
            raise TraitError(
                f"c.BumpsRemote.owner={owner[:40]!r}: must be at most {MAX_OWNER_LENGTH} "
                "printable characters, without leading or trailing spaces (or empty)"
            )
        return owner

    embedded_workers = Int(1, help="Local worker processes in embedded mode.").tag(config=True)
    worker_concurrency = Int(
        0, help="Fits at once per local worker process (0: one per core)."
    ).tag(config=True)
    max_payload_bytes = Int(
        32 * 1024 * 1024, help="Largest request body accepted by POST jobs (413 above it)."
    ).tag(config=True)
    events_maxlen = Int(
        _DEFAULTS.events_maxlen, help="Approximate cap of each event stream (XADD MAXLEN ~)."
    ).tag(config=True)
    result_ttl = Int(
        _DEFAULTS.result_ttl,
        help="Seconds a finished job, its result and session file are kept (0: forever).",
    ).tag(config=True)
    max_attempts = Int(
        _DEFAULTS.max_attempts, help="Deliveries of a job before it fails as 'worker lost'."
    ).tag(config=True)
    time_limit = Float(_DEFAULTS.time_limit, help="Hard limit of one fit, seconds.").tag(
        config=True
    )
    soft_time_limit = Float(
        _DEFAULTS.soft_time_limit,
        help="The fit stops and keeps its best point after this many seconds.",
    ).tag(config=True)
    visibility_timeout = Float(
        _DEFAULTS.visibility_timeout,
        help="Seconds before an unacknowledged fit is redelivered; above time_limit.",
    ).tag(config=True)
    executor_threads = Int(
        4, help="Threads for blocking Celery calls (sends), so the IOLoop never waits."
    ).tag(config=True)
    redis_server = Unicode(help="The redis-server binary for embedded mode.").tag(config=True)
    reconcile_interval = Float(
        60.0,
        help="""Seconds between sweeps for jobs Redis lost, which end failed, reason 'lost'
        (docs/design.md#redis-restarts-and-lost-jobs). 0: off. Embedded workers sweep at
        the same pace.""",
    ).tag(config=True)

    # A sweep of 2,000 (`submit_many`, two requests of 1000) goes through: a user's sweep
    # is the normal case; a runaway script still stops at 10,000
    max_active_jobs = Int(
        10_000,
        min=0,
        help="""Queued and running jobs per user; a submission beyond answers 429 (0: no
        limit). Limits: docs/operator-guide.md#per-user-limits.""",
    ).tag(config=True)
    max_stored_bytes = Int(
        1024**3,
        min=0,
        help="""Bytes a user's jobs may keep in Redis: problems, results, session files and
        the event streams of ended jobs. A submission beyond answers 429; a session file
        beyond is not stored (the result is). 0: no limit.""",
    ).tag(config=True)
    max_submissions_per_minute = Int(
        10_000,
        min=0,
        help="Submissions per user in any 60 s; beyond, 429 with Retry-After (0: no limit).",
    ).tag(config=True)
    payload_ttl = Int(
        7 * 24 * 3600,
        min=0,
        help="""Seconds a queued job's problem is kept; a job no worker took by then fails,
        saying so (0: until the job ends).""",
    ).tag(config=True)

    @default("redis_server")
    def _find_redis_server(self):
        return shutil.which("redis-server") or ""

    service: JobService | None = None
    unavailable_reason = "the bumps-remote extension is starting"
    _embedded_redis: EmbeddedRedis | None = None
    _supervisor: WorkerSupervisor | None = None
    _started: asyncio.Event | None = None

    @property
    def mode(self) -> str:
        return "shared" if self.redis_url else "embedded"

    def initialize_handlers(self):
        self.handlers.extend(
            [
                (rf"/{API}/info", InfoHandler),
                (rf"/{API}/jobs", JobsHandler),
                # these three before {JOB}, which matches them too
                (rf"/{API}/jobs/results", ResultsHandler),
                (rf"/{API}/jobs/cancel", CancelManyHandler),
                (rf"/{API}/jobs/batch", BatchHandler),
                (rf"/{JOB}", JobHandler),
                (rf"/{JOB}/cancel", CancelHandler),
                (rf"/{JOB}/retry", RetryHandler),
                (rf"/{JOB}/resume", ResumeHandler),
                (rf"/{JOB}/result", ResultHandler),
                (rf"/{JOB}/session\.h5", SessionHandler),
                (rf"/{JOB}/payload", PayloadHandler),
                (rf"/{JOB}/events", EventsSocket),
                (rf"/{API}/events", EventsSocket),
                (rf"/{API}/workers", WorkersHandler),
            ]
        )

    def worker_settings(self, redis_url: str) -> WorkerSettings:
        """Traitlets decide what they cover; BUMPS_REMOTE_* variables the rest (limits)."""
        return WorkerSettings.from_env(
            None,
            redis_url=redis_url,
            prefix=self.key_prefix,
            queue_prefix=self.queue_prefix,
            time_limit=self.time_limit,
            soft_time_limit=self.soft_time_limit,
            visibility_timeout=self.visibility_timeout,
            max_attempts=self.max_attempts,
            events_maxlen=self.events_maxlen,
            result_ttl=self.result_ttl,
            # embedded workers sweep for lost jobs too (worker/main/lost_jobs.py): at the
            # server's pace, so that one setting covers both
            reconcile_interval=self.reconcile_interval,
        )

    def limits(self) -> Limits:
        """Each user's limits, as the store checks them (store/quotas.py)."""
        return Limits(
            max_active_jobs=self.max_active_jobs,
            max_stored_bytes=self.max_stored_bytes,
            max_submissions_per_minute=self.max_submissions_per_minute,
            payload_ttl=self.payload_ttl,
        )

    async def _start_jupyter_server_extension(self, serverapp):
        try:
            await self._start_service()
        finally:
            self.started.set()

    @property
    def started(self) -> asyncio.Event:
        """Set once start-up is over, successful or not (tests and probes wait on it)."""
        if self._started is None:
            self._started = asyncio.Event()
        return self._started

    async def _start_service(self):
        try:
            if self.redis_url:
                settings = self.worker_settings(self.redis_url)
            else:
                settings = await self._start_embedded()
            self.service = JobService(
                settings,
                self.mode,
                self.max_payload_bytes,
                self.executor_threads,
                self.reconcile_interval,
                self.limits(),
            )
            self.service.start()
        except (RedisUnavailable, SettingsError) as e:
            self.unavailable_reason = f"bumps-remote is not available: {e}"
            self.log.error(self.unavailable_reason)
            return
        where = masked_url(self.service.settings.redis_url)
        try:
            await self.service.ping()
        except REDIS_ERRORS as e:  # requests answer 503 with this message until it is fixed
            self.log.error("bumps-remote: %s", self.service.explain(e, detail=True))
            return
        self.log.info("bumps-remote %s ready (%s mode, Redis at %s)", __version__, self.mode, where)

    async def _start_embedded(self) -> WorkerSettings:
        base = Path(jupyter_runtime_dir()) / "bumps-remote"
        self._embedded_redis = EmbeddedRedis(
            self.redis_server, base, Path(jupyter_data_dir()) / "bumps-remote" / "redis", self.log
        )
        url = await self._embedded_redis.start()
        settings = self.worker_settings(url)
        if not self._embedded_redis.reused:
            # the previous server's workers died with it: their fits run again now rather
            # than after the visibility timeout
            try:
                requeued = await asyncio.get_running_loop().run_in_executor(
                    None, requeue_unacked, settings
                )
            except Exception as e:  # noqa: BLE001 - kombu redelivers them later anyway
                requeued = 0
                self.log.warning(
                    "bumps-remote: could not queue again the fits cut short when the server "
                    "last stopped (%s); they run again after the visibility timeout (%g s)",
                    e,
                    settings.visibility_timeout,
                )
            if requeued:
                self.log.warning(
                    "bumps-remote: %d fit(s) cut short when the server last stopped are "
                    "queued again (their next attempt starts over)",
                    requeued,
                )
        self._supervisor = WorkerSupervisor(
            settings, self.embedded_workers, self.worker_concurrency, self.log
        )
        await self._supervisor.start()
        return settings

    async def stop_extension(self):
        if self.service is not None:
            await self.service.close()
            self.service = None
        if self._supervisor is not None:
            await self._supervisor.stop()
        if self._embedded_redis is not None:
            await self._embedded_redis.stop()
