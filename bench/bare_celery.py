"""A bare Celery app with one no-op task: the floor for a round trip on the same broker.

Only bench/run.py uses it. Its worker runs as
`celery -A bare_celery worker` (with bench/ on PYTHONPATH) and reads the Redis URL from
BENCH_BARE_REDIS_URL; the same URL is its result backend, so that `send_task(...).get()`
returns. json only, like the project's own app; nothing else is configured.
"""

from __future__ import annotations

import os

from celery import Celery

QUEUE = "bench-bare"
TASK_NAME = "bench_bare.noop"


def make_app(redis_url: str) -> Celery:
    app = Celery("bench_bare", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name=TASK_NAME)
    def noop(value=None):
        return value

    return app


app = make_app(os.environ.get("BENCH_BARE_REDIS_URL", "redis://127.0.0.1:6379/0"))
