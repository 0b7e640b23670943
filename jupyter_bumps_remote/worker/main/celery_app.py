"""The Celery application: json only, late acks, bounded fits.

Why each setting: docs/workers.md#celery-settings-and-why.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.exceptions import TimeLimitExceeded
from celery.signals import (
    celeryd_after_setup,
    task_failure,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from kombu.entity import Exchange, Queue

from ...shared import versions
from ...shared.settings import WorkerSettings
from ..pool.tasks import register_tasks
from . import junk_messages
from .drain import Drain


def make_app(settings: WorkerSettings | None = None) -> Celery:
    settings = settings or WorkerSettings.from_env()
    app = Celery("jupyter_bumps_remote", broker=settings.broker_url, set_as_current=False)
    # kombu 5.7 looks for messages of lost workers every unacked_restore_interval (10 s)
    # times unacked_restore_throttle (10): a lost fit waited up to 100 s beyond the
    # visibility timeout. Sweep on every tick, at most a tenth of the timeout apart.
    sweep_interval = min(10.0, max(0.5, settings.visibility_timeout / 10))
    transport_options = {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": sweep_interval,
        "unacked_restore_throttle": 1,
        # Each sweep holds a lock in Redis (kombu: 300 s). A Redis killed during a sweep
        # keeps it (AOF), and every later sweep skips in silence until it lapses: a lost fit
        # waited up to 300 s more (seen in CI). A sweep takes milliseconds, and two that
        # overlap cannot both requeue a message (restore_by_tag watches the unacked hash).
        "unacked_mutex_expire": sweep_interval,
    }
    # its job queues, then their session builds' queues (versions.consumed_queues)
    queues = versions.consumed_queues(settings.queue_prefix, versions.environment())
    app.conf.update(
        # Messages carry ids and small JSON only; nothing on the wire is ever unpickled.
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # Job state lives in the project's own keys, not in a result backend.
        task_ignore_result=True,
        # A fit whose worker dies is redelivered; the attempt cap in the record stops loops.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Long fits are not hoarded by one worker.
        worker_prefetch_multiplier=1,
        task_time_limit=settings.time_limit,
        task_soft_time_limit=settings.soft_time_limit,
        broker_transport_options=transport_options,
        result_backend_transport_options=transport_options,
        visibility_timeout=settings.visibility_timeout,
        # A lost broker connection does not cut the running fits: a copy of a message that
        # kombu delivers again meanwhile finds the job's lease held and is acked unrun, and a
        # run that another took over stores nothing (store/lua/include/fence.lua). Celery's
        # cancel on it (a SIGTERM, which pool processes leave to the drain: pool/sigterm.py)
        # lost up to a checkpoint interval of each fit and an attempt per broker blip.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        task_track_started=True,
        # Celery's task events (for Flower and `celery events`) only when asked for: they
        # cost each fit PUBLISHes nothing of ours reads and ~0.6 ms of CPU in the worker's
        # main process. Flower turns a worker's on itself (enable_events, every 5 s); a
        # server's task-sent (the task's queue in Flower) only this setting gives.
        worker_send_task_events=settings.task_events,
        task_send_sent_event=settings.task_events,
        # the queues a worker consumes unless given -Q (as `bumps-remote worker` gives it):
        # one per combination of the model libraries installed here; pure bumps first.
        # Declared as Celery declares a queue a task names (exchange and routing key alike).
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in queues],
        task_default_queue=queues[0],
        worker_hijack_root_logger=False,
    )
    app.conf.bumps_remote = settings
    register_tasks(app)

    @worker_init.connect(weak=False)
    def _drop_junk(sender=None, **_):
        # junk pushed onto a queue is dropped, not the worker's end (junk_messages.py). Set
        # for a worker only, before its consumer connects: Flower, started on this same app
        # (`celery -A jupyter_bumps_remote.worker flower`), reads its broker by the URL's
        # scheme, and a transport of ours made that `module:Transport`, which it refuses
        # ("'redis' broker is not supported": no queue lengths, no broker page)
        if getattr(sender, "app", None) is app and settings.broker_url.startswith(
            ("redis://", "rediss://")
        ):
            app.conf.broker_transport = junk_messages.TRANSPORT

    @worker_init.connect(weak=False)
    def _warm(sender=None, **_):
        # the fit launcher, warm, before the pool forks: spares fork from it (fit_launcher.py)
        if getattr(sender, "app", None) is app:
            from . import fit_launcher

            app.conf.bumps_remote_launcher = fit_launcher.start(settings)

    @celeryd_after_setup.connect(weak=False)
    def _say_what_cannot_apply(instance: Any = None, **_):
        # once, whatever started the worker (`bumps-remote worker` has printed them already),
        # in the main process before its pool starts; Celery's logging is set up by now
        if getattr(instance, "app", None) is app:
            from celery.utils.log import get_logger

            from .startup_checks import startup_warnings

            for warning in startup_warnings(settings):
                get_logger(__name__).warning("bumps-remote worker: warning: %s", warning)

    @worker_process_init.connect(weak=False)
    def _first_spare(**_):
        # Each pool process readies a fit process for its first job (runner.prepare_spare).
        if app.conf.get("bumps_remote") is settings:
            from ..pool.runner import prepare_spare

            prepare_spare(settings)

    drain = Drain(settings.drain_seconds)

    @worker_shutting_down.connect(weak=False)
    def _drain(how: str = "", **_):
        # SIGTERM, or the end of --lifetime: the running fits checkpoint and go back to their
        # queue (drain.py). The signal names no app: this process has one worker.
        if how == "Warm" and drain.controller is not None:
            drain.start()

    @worker_ready.connect(weak=False)
    def _advertise(sender: Any = None, **_):
        if getattr(sender, "app", None) is app:
            drain.controller = sender.controller
            from ..pool.runner import store_for
            from .heartbeat import Heartbeat, worker_info

            consumed = [queue.name for queue in sender.task_consumer.queues]
            info = worker_info(
                settings, sender.hostname, sender.controller.concurrency, queues=consumed
            )
            app.conf.bumps_remote_heartbeat = Heartbeat(
                store_for(settings), info, settings.heartbeat_interval
            ).start()
            # the jobs Redis lost, of every owner: fenced servers cannot sweep (lost_jobs.py)
            from .lost_jobs import LostJobsSweep

            app.conf.bumps_remote_lost_jobs = LostJobsSweep(
                store_for(settings), settings.reconcile_interval, settings.worker_lost_after
            ).start()

    @task_failure.connect(weak=False)
    def _hard_time_limit(sender: Any = None, exception=None, args: Any = None, **_):
        # Celery killed the pool process at the hard limit (its fit died with it, by
        # PDEATHSIG): nothing in it can record the end, so the worker's main process does.
        # Celery acks the message (task_acks_on_timeout), so it is not delivered again.
        if getattr(sender, "app", None) is app and isinstance(exception, TimeLimitExceeded):
            from ..pool.runner import record_hard_timeout

            job_id, owner = args[:2]  # then the dispatch token, if the message has one
            record_hard_timeout(settings, owner, job_id)

    @worker_shutdown.connect(weak=False)
    def _retire(sender=None, **_):
        heartbeat = app.conf.get("bumps_remote_heartbeat")
        if heartbeat is not None and getattr(sender, "app", None) is app:
            heartbeat.stop()
        lost_jobs = app.conf.get("bumps_remote_lost_jobs")
        if lost_jobs is not None and getattr(sender, "app", None) is app:
            lost_jobs.stop()
        launcher = app.conf.get("bumps_remote_launcher")
        if launcher is not None and getattr(sender, "app", None) is app:
            launcher.stop()

    return app
