"""The bare Celery app the measures compare against: `celery -A bare_celery worker`.

Its worker reads the Redis URL from BENCH_BARE_REDIS_URL (broker and result backend, json
only, like the project's app). BENCH_BARE_CONTRACT=1 adds the settings docs/reliability.md
and docs/design.md require of the project's workers (late acks, prefetch 1, time limits, a
visibility timeout; task events are off, as the project's workers have them unless
BUMPS_REMOTE_TASK_EVENTS=1): what any worker honouring that contract pays.
BENCH_BARE_WARM=1 imports what every fit needs before the pool forks, as the project's
worker does: the memory any warm worker holds. Tasks: `noop`, and `fit`, which decodes a
payload and fits in the pool process (no job record, no fit process): what any design that
runs the fit on a worker pays; and `fit_in_child`, the same in a child process that each pool
process forks once and keeps, the problem sent over a pipe and the chisq back: what any
design pays that keeps the model's code out of the process holding the broker's credentials
(the project's fit processes; their sandbox, entered once per kept process, left out).
`fit_pickled` takes a problem as its cloudpickle bytes (base64) with its chisq at the start
point, checks the copy's chisq against it and fits with `run_fit` in the pool process, its
malloc adapted as a fit process's (worker/fit/heap.py): the least any design that sends a
sweep's problems through Celery does (bench/sweep_medium.py).
"""

from __future__ import annotations

import gc
import importlib
import os
from multiprocessing.connection import Connection, Pipe

from celery import Celery

NOOP = "bench_bare.noop"
FIT = "bench_bare.fit"
FIT_IN_CHILD = "bench_bare.fit_in_child"
FIT_PICKLED = "bench_bare.fit_pickled"

# The project's worker settings that cost time on every task (worker/celery_app.py).
CONTRACT_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "task_time_limit": 3600,
    "task_soft_time_limit": 3300,
    "broker_transport_options": {"visibility_timeout": 3900},
    "task_track_started": True,
}


def make_app(redis_url: str, contract: bool = False) -> Celery:
    app = Celery("bench_bare", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        **(CONTRACT_SETTINGS if contract else {}),
    )

    @app.task(name=NOOP)
    def noop(value=None):
        return value

    @app.task(name=FIT)
    def fit(payload: dict, fitter: str, seed: int) -> float:
        return _decode_and_fit(payload, fitter, seed)

    @app.task(name=FIT_IN_CHILD)
    def fit_in_child(payload: dict, fitter: str, seed: int) -> float:
        child = _kept_child()
        child.send((payload, fitter, seed))
        return child.recv()

    @app.task(name=FIT_PICKLED)
    def fit_pickled(problem: str, chisq: float, fitter: str, seed: int) -> float:
        return _unpickle_and_fit(problem, chisq, fitter, seed)

    return app


def _decode_and_fit(payload: dict, fitter: str, seed: int) -> float:
    from jupyter_bumps_remote.shared import transport
    from jupyter_bumps_remote.shared.fitting import local_fit

    return float(local_fit(transport.decode(payload), fitter, seed).chisq)


_heap_set = False


def _unpickle_and_fit(problem: str, chisq: float, fitter: str, seed: int) -> float:
    import base64
    import pickle

    from jupyter_bumps_remote.shared import bumps_compat, transport
    from jupyter_bumps_remote.shared.fitting import run_fit
    from jupyter_bumps_remote.worker.fit.heap import keep_freed_heap

    global _heap_set
    if not _heap_set:  # here, not at import: the other tasks keep glibc's malloc as it starts
        keep_freed_heap()
        _heap_set = True
    rebuilt = pickle.loads(base64.b64decode(problem))
    with bumps_compat.memoized_chisq_scale():  # as transport.decode checks a payload's copy
        transport.verify_preflight(rebuilt, chisq)
    return float(run_fit(rebuilt, fitter, {}, seed).result.chisq)


_child: Connection | None = None


def _kept_child() -> Connection:
    """This pool process's fit child (forked at its first task): it fits what the pipe
    brings until the pipe closes, that is until this process ends."""
    global _child
    if _child is None:
        ours, theirs = Pipe()
        if os.fork() == 0:
            ours.close()
            try:
                while True:
                    theirs.send(_decode_and_fit(*theirs.recv()))
            except EOFError:
                pass
            finally:
                os._exit(0)
        theirs.close()
        _child = ours
    return _child


app = make_app(
    os.environ.get("BENCH_BARE_REDIS_URL", "redis://127.0.0.1:6379/0"),
    contract=os.environ.get("BENCH_BARE_CONTRACT") == "1",
)
if os.environ.get("BENCH_BARE_WARM") == "1":
    from jupyter_bumps_remote.worker.main.warm import MODULES

    for _name in MODULES:
        importlib.import_module(_name)
    # as the project's worker does before its pool forks: otherwise each pool process's first
    # full collection copies the warm heap, and the floor moves with it (44.5 and 13.7 MB
    # of their own in one run)
    gc.collect()
    gc.freeze()
