"""Bare Celery apps: the floors a remote fit is measured against, on the same broker.

Only bench/run.py uses them. Their workers run as `celery -A bare_celery worker` (with
bench/ on PYTHONPATH) and read the Redis URL from BENCH_BARE_REDIS_URL; the same URL is the
result backend, so that `send_task(...).get()` returns. json only, like the project's app.

- the plain app: nothing else configured, a no-op task: what Celery and Redis alone cost;
- BENCH_BARE_CONTRACT=1: the same with the settings RELIABILITY.md and ARCHITECTURE.md
  require of the project's workers (late acks, prefetch 1, time limits, a visibility
  timeout, task events for Flower): what any worker honouring that contract pays;
- BENCH_BARE_WARM=1: the main process imports what every fit needs before the pool forks,
  as the project's worker does: the memory any warm Celery worker holds;
- the `fit` task: decode a payload and run the fit in the task's process, no job record,
  no fit process, no session file: what any design that runs the fit on a worker pays;
  with `session=True` it also writes the bumps session file that ARCHITECTURE.md requires
  of every job.
"""

from __future__ import annotations

import os

from celery import Celery

QUEUE = "bench-bare"
CONTRACT_QUEUE = "bench-bare-contract"
TASK_NAME = "bench_bare.noop"
FIT_TASK_NAME = "bench_bare.fit"

# The project's own worker settings that cost time on every task (celery_app.py).
CONTRACT_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "task_time_limit": 3600,
    "task_soft_time_limit": 3300,
    "broker_transport_options": {"visibility_timeout": 3900},
    "visibility_timeout": 3900,
    "task_track_started": True,
    "worker_send_task_events": True,
    "task_send_sent_event": True,
}


def make_app(redis_url: str, contract: bool = False) -> Celery:
    app = Celery("bench_bare", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_default_queue=CONTRACT_QUEUE if contract else QUEUE,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        **(CONTRACT_SETTINGS if contract else {}),
    )

    @app.task(name=TASK_NAME)
    def noop(value=None):
        return value

    @app.task(name=FIT_TASK_NAME)
    def fit(payload: dict, fitter: str, seed: int, session: bool = False) -> float:
        """`session`: also write the bumps session file, as every job of the project must."""
        from jupyter_bumps_remote import transport
        from jupyter_bumps_remote.fitting import local_fit
        from jupyter_bumps_remote.worker.results import session_bytes

        problem = transport.decode(payload)
        result = local_fit(problem, fitter, seed)
        if session:
            session_bytes(problem, result)
        return float(result.chisq)

    return app


app = make_app(
    os.environ.get("BENCH_BARE_REDIS_URL", "redis://127.0.0.1:6379/0"),
    contract=os.environ.get("BENCH_BARE_CONTRACT") == "1",
)
if os.environ.get("BENCH_BARE_WARM") == "1":
    # the imports every fit needs, in the main process before the pool forks, as the
    # project's worker does (worker/warm.py): the floor of a warm Celery worker's memory
    import importlib

    from jupyter_bumps_remote.worker.warm import MODULES

    for _name in MODULES:
        importlib.import_module(_name)
