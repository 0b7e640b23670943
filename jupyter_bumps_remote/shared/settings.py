"""Worker settings from the environment, shared by the Celery app, the CLI and the runner.

The server extension passes the same values to the workers it starts through these
variables, so one name means one thing everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from . import machine
from .machine import AUTOMATIC
from .redis_url import masked as masked_redis_url
from .redis_url import normalize as normalize_redis_url

ENV_PREFIX = "BUMPS_REMOTE_"

# Defaults shared by the store, the server's settings and the workers: their one home.
DEFAULT_PREFIX = "bumps-remote:"
DEFAULT_QUEUE_PREFIX = "bumps-remote."
DEFAULT_EVENTS_MAXLEN = 10_000
DEFAULT_RESULT_TTL = 30 * 24 * 3600
DEFAULT_MAX_ATTEMPTS = 3
# A worker that misses this many heartbeats in a row is lost: its advertisement expires and
# the sweeps queue its running fits again (docs/design.md#workers-that-die).
HEARTBEATS_TO_LOSE = 3


# A fit's uid is the base plus its pid (at most 2^22, Linux' PID_MAX_LIMIT): a range above
# the ones distributions and systemd assign, below 2^31
DEFAULT_FIT_UID_BASE = 1_900_000_000
MAX_FIT_UID_BASE = 2**31 - 2 - 2**22


def _bool(raw: str) -> bool:
    # bool("0") is True: spell each value out (to_env writes "True" / "False")
    word = raw.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


class SettingsError(ValueError):
    """A configuration that would break a guarantee; the message names the setting to change."""


@dataclass(frozen=True)
class WorkerSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = DEFAULT_PREFIX
    queue_prefix: str = DEFAULT_QUEUE_PREFIX
    # Hard limit on one fit, Celery's task_time_limit. The soft limit stops the fit and
    # keeps its best point a little before.
    time_limit: float = 12 * 3600.0
    soft_time_limit: float = 12 * 3600.0 - 60
    # A message not acked within this long is redelivered: it must exceed the hard limit,
    # or a long fit would run twice at once (docs/reliability.md#4-a-fit-never-runs-twice-at-once).
    visibility_timeout: float = 12 * 3600.0 + 300
    # Life of a running job's lease, renewed a few times within it: a copy of the job's
    # message that kombu redelivers while the lease lives is not run; a lost execution's job
    # is taken over once its lease lapses (docs/workers.md#one-run-at-a-time).
    lease_seconds: float = 3.0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    events_maxlen: int = DEFAULT_EVENTS_MAXLEN
    result_ttl: int = DEFAULT_RESULT_TTL
    progress_interval: float = 0.1
    heartbeat_interval: float = 10.0
    # Seconds between a worker's sweeps for the jobs Redis lost, of every owner (0: none):
    # where servers are fenced to their owner's keys (JupyterHub) only workers can sweep
    # (docs/design.md#redis-restarts-and-lost-jobs)
    reconcile_interval: float = 60.0
    cancel_poll_interval: float = 0.2
    # Resource limits of one fit process: 0 = none, -1 (AUTOMATIC) = this machine's default
    # (shared/machine.py), which __post_init__ puts in its place.
    max_memory_mb: int = AUTOMATIC
    max_cpu_seconds: int = AUTOMATIC
    max_processes: int = AUTOMATIC
    # What a fit process may send back through its pipe (docs/design.md#what-a-fit-sends-back):
    # a session file over this is not stored (the job still completes, the session says why),
    # and a fit's stdout and stderr are relayed up to this many bytes, then cut.
    max_session_bytes: int = 256 * 1024 * 1024
    output_limit: int = 1024 * 1024
    # A DREAM or DE fit sends its state this often; stored in Redis, it is where a
    # redelivered or drained job resumes (docs/cluster.md#drain-and-checkpoints). 0: never.
    checkpoint_interval: float = 60.0
    # On SIGTERM (or at the end of --lifetime) a worker checkpoints its fits, gives their jobs
    # back to the queue and exits within this many seconds: below Slurm's KillWait (30 s).
    drain_seconds: float = 20.0
    # Who a fit runs as (docs/operator-guide.md#the-fit-sandbox): "" gives each fit a uid of
    # its own, fit_uid_base + its pid, when the worker runs as root; a user name runs every
    # fit as that user instead. Never root.
    fit_user: str = ""
    fit_uid_base: int = DEFAULT_FIT_UID_BASE
    # Absolute paths, separated by ":", that fits may read besides the Python environment
    # (a data directory or a model cache under the worker's home)
    fit_readable_paths: str = ""
    # Celery's task events: a worker's task-received/started/succeeded and a server's
    # task-sent, PUBLISHed for Flower and `celery events`. Off, a fit costs the worker's main
    # process ~0.6 ms of CPU less; Flower turns a worker's on itself (Celery's
    # enable_events), and only a server's task-sent needs this (docs/workers.md#task-events).
    task_events: bool = False
    # A pool process takes its owner's next queued fits off the queue itself, after a job
    # whose fit process it keeps (docs/design.md#a-sweeps-jobs-in-fewer-fit-processes): a
    # sweep of tiny fits cost the machine 10-20 % less CPU a fit (docs/benchmarks.md,
    # session 20). Off, every job goes through Celery's delivery, and Flower lists each as
    # a task of its own.
    take_backlog: bool = True

    def __post_init__(self):
        for name, default in machine.DEFAULTS.items():
            if getattr(self, name) == AUTOMATIC:
                object.__setattr__(self, name, default())
        # rediss:// checks the server's certificate on every client, kombu's included
        object.__setattr__(self, "redis_url", normalize_redis_url(self.redis_url))

    def __repr__(self) -> str:
        # Celery's `inspect conf` shows app.conf.bumps_remote by its repr, and Flower's worker
        # page shows that to whoever may log in: never the Redis password
        # (docs/operator-guide.md#watching-workers-with-flower)
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["redis_url"] = masked_redis_url(self.redis_url)
        return f"WorkerSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def readable_paths(self) -> tuple[str, ...]:
        return tuple(path for path in self.fit_readable_paths.split(":") if path)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> WorkerSettings:
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _bool(raw) if isinstance(f.default, bool) else type(f.default)(raw)
            except ValueError as e:
                raise SettingsError(
                    f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid "
                    f"{type(f.default).__name__}"
                ) from e
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if not self.soft_time_limit < self.time_limit:
            raise SettingsError(
                f"soft_time_limit ({self.soft_time_limit:g} s) must be below time_limit "
                f"({self.time_limit:g} s): set {ENV_PREFIX}SOFT_TIME_LIMIT lower"
            )
        if not self.visibility_timeout > self.time_limit:
            raise SettingsError(
                f"visibility_timeout ({self.visibility_timeout:g} s) must be above time_limit "
                f"({self.time_limit:g} s), or a long fit would be delivered twice and run twice "
                f"at once: raise {ENV_PREFIX}VISIBILITY_TIMEOUT or lower {ENV_PREFIX}TIME_LIMIT"
            )
        if not 0 < self.lease_seconds < self.visibility_timeout:
            raise SettingsError(
                f"lease_seconds ({self.lease_seconds:g} s) must be above 0 and below "
                f"visibility_timeout ({self.visibility_timeout:g} s): set "
                f"{ENV_PREFIX}LEASE_SECONDS to a few seconds"
            )
        for name in machine.DEFAULTS:
            if getattr(self, name) < 0:
                raise SettingsError(
                    f"{ENV_PREFIX}{name.upper()}={getattr(self, name)}: use 0 (no limit), a "
                    f"number, or {AUTOMATIC} for this machine's default"
                )
        if self.checkpoint_interval < 0:
            raise SettingsError(
                f"{ENV_PREFIX}CHECKPOINT_INTERVAL={self.checkpoint_interval:g}: give seconds "
                f"(0: no checkpoints)"
            )
        if self.fit_user in ("root", "0"):
            raise SettingsError(
                f"{ENV_PREFIX}FIT_USER={self.fit_user}: fits must never run as root; leave it "
                f"empty to give each fit a user of its own"
            )
        if not 0 < self.fit_uid_base <= MAX_FIT_UID_BASE:
            raise SettingsError(
                f"{ENV_PREFIX}FIT_UID_BASE={self.fit_uid_base}: use a base above 0 and at most "
                f"{MAX_FIT_UID_BASE}, so that the base plus any pid stays below 2^31 (default "
                f"{DEFAULT_FIT_UID_BASE})"
            )
        for path in self.readable_paths():
            if not os.path.isabs(path):
                raise SettingsError(
                    f"{ENV_PREFIX}FIT_READABLE_PATHS: {path!r} is not an absolute path; give "
                    f"absolute paths separated by ':'"
                )
        if self.drain_seconds <= 0:
            raise SettingsError(
                f"{ENV_PREFIX}DRAIN_SECONDS={self.drain_seconds:g}: give seconds above 0 "
                f"(below the kill grace of whatever stops the worker: Slurm's KillWait is 30 s)"
            )
        if self.reconcile_interval < 0:
            raise SettingsError(
                f"{ENV_PREFIX}RECONCILE_INTERVAL={self.reconcile_interval:g}: give seconds "
                f"(0: this worker does not sweep for lost jobs)"
            )
        if self.max_attempts < 1:
            raise SettingsError(f"{ENV_PREFIX}MAX_ATTEMPTS must be 1 or more")

    @property
    def worker_lost_after(self) -> float:
        """Seconds after its last heartbeat that a worker counts as lost."""
        return HEARTBEATS_TO_LOSE * self.heartbeat_interval

    @property
    def broker_url(self) -> str:
        """The same server as kombu spells it: redis-py's unix:///path is redis+socket:///path."""
        if self.redis_url.startswith("unix://"):
            return "redis+socket://" + self.redis_url[len("unix://") :]
        return self.redis_url

    def to_env(self) -> dict[str, str]:
        """The environment that gives a child process these same settings."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    def store_settings(self) -> dict:
        return {
            "prefix": self.prefix,
            "events_maxlen": self.events_maxlen,
            "result_ttl": self.result_ttl,
        }
