"""The Celery task: a thin adapter from a delivered message to the runner."""

from __future__ import annotations

import traceback

from celery import Celery

from ...shared.task_names import FIT_TASK


def register_tasks(app: Celery) -> None:
    @app.task(name=FIT_TASK, bind=True)
    def fit(task, job_id: str, owner: str) -> str:
        from .runner import prepare_spare, run_job

        settings = app.conf.bumps_remote
        try:
            return run_job(settings, owner, job_id, worker=task.request.hostname or "")
        except BaseException as e:
            # the frames of the job's run hold its payload and results: let go of them
            traceback.clear_frames(e.__traceback__)
            raise
        finally:
            # The next job's fit process, forked now that nothing of this job is held (its
            # memory is a copy of this process's: docs/design.md#what-a-fit-process-holds)
            prepare_spare(settings)
