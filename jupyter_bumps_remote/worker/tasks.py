"""The Celery task: a thin adapter from a delivered message to the runner."""

from __future__ import annotations

from celery import Celery

TASK_NAME = "bumps_remote.fit"


def register_tasks(app: Celery) -> None:
    @app.task(name=TASK_NAME, bind=True)
    def fit(task, job_id: str, owner: str) -> str:
        from .runner import run_job

        return run_job(app.conf.bumps_remote, owner, job_id, worker=task.request.hostname or "")
