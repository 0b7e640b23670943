"""Write docs/configuration.md from the traitlets and worker settings themselves.

`python -m jupyter_bumps_remote.cli.config_reference > docs/configuration.md`; a test keeps
the page in step with the code.
"""

from __future__ import annotations

from dataclasses import fields

from ..server_ext.app import BumpsRemote
from ..shared.settings import ENV_PREFIX, WorkerSettings

WORKER_HELP = {
    "redis_url": "Broker and job store: redis://, rediss:// (TLS) or unix:///path; "
    "user:password@ and TLS options (?ssl_ca_certs=/path/ca.pem) as for c.BumpsRemote.redis_url.",
    "prefix": "Prefix of every Redis key of jobs (c.BumpsRemote.key_prefix).",
    "queue_prefix": "Prefix of the Celery queues "
    "(one per Python minor, bumps, numpy minor and model libraries).",
    "time_limit": "Hard limit of one fit, seconds (Celery task_time_limit).",
    "soft_time_limit": "The fit stops and keeps its best point after this many seconds.",
    "visibility_timeout": "An unacknowledged fit is redelivered after this; > time_limit.",
    "lease_seconds": "Life of a running job's lease (renewed every third of it): a copy of "
    "its message delivered meanwhile is not run; a lost run's job is taken over after it.",
    "max_attempts": "Deliveries of a job before it fails as 'worker lost'.",
    "events_maxlen": "Approximate cap of each event stream.",
    "result_ttl": "Seconds a finished job is kept (0: forever).",
    "progress_interval": "Minimum seconds between two progress events of a fit.",
    "heartbeat_interval": "Seconds between two heartbeats of a worker in Redis. A worker "
    "that misses 3 in a row (30 s by default) is lost: its running fits are queued again.",
    "reconcile_interval": "Seconds between a worker's sweeps for jobs Redis lost, of every "
    "owner: they end failed, reason 'lost' (0: none; needed where servers are fenced to "
    "their owner's keys, docs/design.md#redis-restarts-and-lost-jobs).",
    "cancel_poll_interval": "Seconds between two checks of a running fit for a cancel request.",
    "max_memory_mb": "Address-space limit of one fit process, MB (0: none; -1: half the "
    "machine's memory).",
    "max_cpu_seconds": "CPU-time limit of one fit process, s (0: none; -1: 12 h times the CPUs "
    "the worker may use).",
    "max_processes": "Processes and threads of one fit (RLIMIT_NPROC of its own user; 0: none; "
    "-1: room for parallel = the worker's CPUs). A worker not started as root shares it with "
    "its fits (docs/operator-guide.md#the-fit-sandbox).",
    "max_session_bytes": "Largest session file a fit may send back, bytes; a larger one is not "
    "stored (the job completes, its session says 'failed' and why).",
    "output_limit": "Bytes of a fit's stdout and stderr relayed as `output` events; the rest is "
    "cut, said by one last event with `truncated`.",
    "checkpoint_interval": "Seconds between two checkpoints of a DREAM or DE fit, stored in "
    "Redis; a redelivered or drained job resumes from its last (0: none).",
    "fit_user": "Who fits run as: empty (the default) gives each fit a uid of its own "
    "(fit_uid_base + its pid) when the worker runs as root; a user name runs every fit as "
    "that user. Never root (docs/operator-guide.md#the-fit-sandbox).",
    "fit_uid_base": "First of the 2^22 uids given to fits; must hold no account, and be "
    "mapped where the worker runs in a user namespace (a rootless container).",
    "fit_readable_paths": "Absolute paths, separated by ':', that fits may read besides the "
    "Python environment (data, a model cache), shown read-only in the fit's sandbox.",
    "task_events": "1: send Celery's task events, a worker's task-received, -started and "
    "-succeeded, a server's task-sent (a server reads it from its environment too), for "
    "Flower and `celery events`. Off by default, as they cost each fit worker CPU: Flower "
    "turns a worker's on itself; a server's give each task's queue in Flower "
    "(docs/workers.md#task-events).",
    "take_backlog": "1 (the default): a worker's pool process runs its owner's next queued "
    "fits itself, taken off the queue without Celery's delivery (a sweep's tiny fits cost less). "
    "0: every job is a Celery task of its own, as Flower lists them "
    "(docs/design.md#a-sweeps-jobs-in-fewer-fit-processes).",
    "drain_seconds": "On SIGTERM or at the end of --lifetime, a worker checkpoints its fits, "
    "requeues their jobs and exits within this long (bumps-remote worker --drain-seconds).",
}


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the code by `python -m jupyter_bumps_remote.cli.config_reference`.",
        "",
        "## Server extension (`c.BumpsRemote.*`)",
        "",
        'Set in `jupyter_server_config.py` (`c.BumpsRemote.redis_url = "redis://..."`) or on',
        "the command line (`jupyter lab --BumpsRemote.redis_url=redis://...`).",
        "",
        "| setting | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    app = BumpsRemote
    for name, trait in sorted(app.class_own_traits(config=True).items()):
        default = trait.default_value_repr()
        if name in ("redis_url", "redis_server"):
            default = {
                "redis_url": "'' (env BUMPS_REMOTE_REDIS_URL)",
                "redis_server": "redis-server on PATH",
            }[name]
        help_text = " ".join((trait.help or "").split())
        lines.append(f"| `{name}` | {type(trait).__name__} | `{default}` | {help_text} |")
    lines += [
        "",
        "## Workers (environment variables)",
        "",
        "`bumps-remote worker` and `celery -A jupyter_bumps_remote.worker worker` read these;",
        "the server passes the same values to the workers it starts in embedded mode.",
        "",
        "| variable | default | meaning |",
        "| --- | --- | --- |",
    ]
    for f in fields(WorkerSettings):
        lines.append(f"| `{ENV_PREFIX}{f.name.upper()}` | `{f.default}` | {WORKER_HELP[f.name]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
