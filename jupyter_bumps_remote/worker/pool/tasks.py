"""The Celery task: a thin adapter from a delivered message to the runner."""

from __future__ import annotations

from celery import Celery

from ...shared.task_names import FIT_TASK


def register_tasks(app: Celery) -> None:
    @app.task(name=FIT_TASK, bind=True)
    def fit(task, job_id: str, owner: str) -> str:
        from .runner import run_job

        return run_job(app.conf.bumps_remote, owner, job_id, worker=task.request.hostname or "")
