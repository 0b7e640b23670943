"""The Celery tasks: thin adapters from a delivered message to the runner (a fit) or to
session_build.py (a session file built on request). A job its worker gave back while
draining is rejected with requeue: its message goes back on its queue."""

from __future__ import annotations

import time
import traceback

from celery import Celery
from celery.exceptions import Reject

from ...shared.task_names import BUILD_TASK, FIT_TASK
from .message_checks import BuildRequest, FitRequest, only_the_fit_task


def register_tasks(app: Celery) -> None:
    only_the_fit_task(app)

    # FitRequest: a message asking for more than a fit is refused (message_checks.py)
    @app.task(name=FIT_TASK, bind=True, Request=FitRequest)
    def fit(task, job_id: str, owner: str, dispatch: str = "") -> str:
        # `dispatch`: the job's token from its server; a message without it (queued before
        # tokens existed) runs only a job whose record has none (store/lua/start.lua)
        from .backlog import run_backlog_after
        from .runner import DRAINED, draining, prepare_spare, run_job

        settings = app.conf.bumps_remote
        since = time.monotonic()
        try:
            worker = task.request.hostname or ""
            outcome = run_job(settings, owner, job_id, worker=worker, dispatch=str(dispatch))
            if outcome == DRAINED:
                # back on its queue now, by the worker's main process (acks_late): the
                # record already lets the next delivery take it over (store/lua/drain.lua)
                raise Reject("drained: the worker stops", requeue=True)
            run_backlog_after(task, settings, outcome, owner, worker, since)
            return outcome
        except BaseException as e:
            # the frames of the job's run hold its payload and results: let go of them
            traceback.clear_frames(e.__traceback__)
            raise
        finally:
            # The next job's fit process, forked now that nothing of this job is held (its
            # memory is a copy of this process's: docs/design.md#what-a-fit-process-holds);
            # none when the worker drains: no next job
            if not draining():
                prepare_spare(settings)

    # BuildRequest: (job id, owner, build token) and nothing more (message_checks.py)
    @app.task(name=BUILD_TASK, bind=True, Request=BuildRequest)
    def build_session(task, job_id: str, owner: str, token: str) -> str:
        # A drain does not stop a build (a few ms to a second): one cut short by the
        # worker's end leaves the job `building`, built again on the next request after
        # the stale deadline (docs/reliability.md)
        from .runner import draining, prepare_spare
        from .session_build import run_build

        settings = app.conf.bumps_remote
        try:
            return run_build(settings, owner, job_id, str(token))
        finally:
            if not draining():
                prepare_spare(settings)
