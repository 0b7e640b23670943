"""Flower against a bumps-remote deployment (#16 point 6): a real Flower, started as the
operator guide says (docs/operator-guide.md#watching-workers-with-flower), on the same Redis
as a real worker that runs real fits, shows the fits' tasks with their names and states, and
nothing that one user of a shared deployment must not see of another's: no Redis password,
no problem, no parameters, no model code; no access without its login; read-only."""

from __future__ import annotations

import secrets

import pytest

from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.shared.task_names import FIT_TASK
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.worker import make_app

from ..support.flower import Flower
from ..support.problems import gaussian_problem
from ..support.services import RedisServer, Worker
from ..support.waiting import wait_until

PASSWORD = "redis-" + secrets.token_hex(8)
LOGIN = ("operator", "flower-" + secrets.token_hex(8))
# what a fit's payload holds that must never reach Flower: the model's source and a
# parameter's name unique to this module
MODEL_SECRET = "flower_test_parameter_name"
# generous on a loaded 2-core machine: a worker's first fit takes ~1 s alone
DEADLINE = 90


@pytest.fixture(scope="module")
def deployment():
    """A Redis with an ACL user and password (as a shared Redis is), one worker and Flower on
    it, task events off as by default (docs/workers.md#task-events). Flower starts first and
    waits for the worker's events, and until it has turned the worker's task events on, so
    that it sees every task."""
    redis = RedisServer(appendonly=False, user="bumps", password=PASSWORD).start()
    flower = Flower(redis.url, LOGIN)
    worker = Worker(redis.url, concurrency=2)
    try:
        flower.start()
        worker.start()
        wait_until(flower.online_workers, DEADLINE, "Flower to receive the worker's events")
        # Celery's enable_events, which Flower sends every 5 s: the worker logs it at INFO
        wait_until(
            lambda: "Events of group {task} enabled by remote" in worker.log.read_text(),
            DEADLINE,
            "Flower to turn the worker's task events on",
        )
        yield redis, worker, flower
    finally:
        flower.stop()
        worker.stop()
        redis.cleanup()


def submit(redis: RedisServer, owner: str, task_events: bool = False, **module_globals) -> dict:
    """A job sent as a server sends it; with `task_events`, as one with
    BUMPS_REMOTE_TASK_EVENTS=1, which publishes Celery's `task-sent`."""
    settings = WorkerSettings(redis_url=redis.url, task_events=task_events)
    store = JobStore(redis.client(), **settings.store_settings())
    problem = gaussian_problem(**module_globals)
    next(iter(problem.models)).A.name = MODEL_SECRET
    payload = transport.encode(problem)
    return dispatch.submit(store, make_app(settings), owner, payload, "lm", {"steps": 50})


def tasks_in(flower: Flower, *ids: str, state: str = "SUCCESS") -> dict | None:
    """Flower's tasks by id once all of `ids` are there in `state`, else None."""
    shown = flower.get("/api/tasks").json()
    if all(shown.get(i, {}).get("state") == state for i in ids):
        return shown
    return None


def test_flower_shows_the_fits_tasks_and_nothing_secret(deployment):
    redis, worker, flower = deployment
    store = JobStore(redis.client(), **WorkerSettings(redis_url=redis.url).store_settings())
    fits = [
        submit(redis, "alice", task_events=True),
        submit(redis, "bob", model="raising_gaussian"),
    ]
    ids = [fit["id"] for fit in fits]

    shown = wait_until(lambda: tasks_in(flower, *ids), DEADLINE, "Flower to show both fits")
    (name,) = flower.online_workers()
    for fit in fits:
        task = shown[fit["id"]]
        assert task["name"] == FIT_TASK
        assert task["worker"] == name
        # the task's only arguments: the job id and its owner (the user's name)
        assert task["args"] == repr([fit["id"], fit["owner"]])
        assert task["kwargs"] == "{}"
        # a task's state is Celery's: a fit that ran to its end, even one whose model
        # raised, is SUCCESS; how the job ended is in its record, not in Flower
        assert task["result"] == repr("done")
    wait_until(lambda: store.get("bob", ids[1])["status"] == jobs.FAILED, 30, "bob's job")
    alice = store.get("alice", ids[0])
    assert alice["status"] == jobs.SUCCEEDED, alice.get("error")

    info = flower.get(f"/api/task/info/{ids[0]}").json()
    assert info["routing_key"] == fits[0]["queue"]
    assert info["state"] == "SUCCESS"
    # the queue comes from the sender's task-sent alone, which Flower cannot turn on
    assert flower.get(f"/api/task/info/{ids[1]}").json().get("routing_key") is None
    workers = flower.get("/api/workers", params={"refresh": 1}).json()
    assert name in workers

    # Everything Flower shows a login: its pages and API, the worker's configuration
    # (Celery's `inspect conf`) and stats included, and its unauthenticated metrics
    pages = [
        "/api/tasks",
        f"/api/task/info/{ids[0]}",
        f"/api/task/info/{ids[1]}",
        "/api/workers?refresh=1",
        "/api/queues/length",
        "/api/task/types",
        "/workers",
        f"/worker/{name}",
        "/tasks",
        # what the tasks page loads: every column of every task
        "/tasks/datatable?draw=1&start=0&length=100&order[0][column]=0&columns[0][data]=name",
        f"/task/{ids[0]}",
        "/broker",
        "/metrics",
    ]
    for page in pages:
        answer = flower.get(page)
        assert answer.ok, (page, answer.status_code, answer.text[:300])
        for secret in (PASSWORD, MODEL_SECRET, "np.exp"):
            assert secret not in answer.text, (page, secret)


def test_flower_needs_its_login_and_changes_nothing(deployment):
    redis, worker, flower = deployment
    for page in ("/api/tasks", "/api/workers", "/workers", "/tasks"):
        for wrong in (None, (LOGIN[0], "not-the-password")):
            assert flower.get(page, auth=wrong).status_code == 401, page
    # read-only: no revoking or terminating a fit, no sending tasks, no worker shut down
    fit = submit(redis, "carol")
    name = next(iter(flower.online_workers()))
    for path, body in (
        (f"/api/task/revoke/{fit['id']}?terminate=true", None),
        (f"/api/task/send-task/{FIT_TASK}", {"args": [fit["id"], "mallory"]}),
        (f"/api/worker/shutdown/{name}", None),
    ):
        answer = flower.post(path, json=body)
        assert answer.status_code == 403, (path, answer.status_code, answer.text[:300])
    wait_until(lambda: tasks_in(flower, fit["id"]), DEADLINE, "carol's fit to end")
    assert worker.process is not None and worker.process.poll() is None
