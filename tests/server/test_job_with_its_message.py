"""A job and its Celery message are stored in one step (store/lua/create.lua and
create_many.lua; server_ext/fit_messages.py), on a real jupyter_server and Redis: the
message is on its queue when the submit answers, and it is Celery's own; a submit that a
limit refuses, or a repeat of one, queues nothing; a sweep's messages go in its order.

Each job here waits on a queue of its own that no worker serves (a bumps version made up
for the test), so what the queue holds is exactly what the submits put there."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import pytest

from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.server_ext.fit_messages import FitMessages
from jupyter_bumps_remote.shared import transport, versions
from jupyter_bumps_remote.shared.task_names import FIT_TASK
from jupyter_bumps_remote.worker import make_app

from ..support.dispatch_tokens import token_of
from ..support.problems import gaussian_problem
from .conftest import Api, named_user, users_from_authorization

MAX_ACTIVE = 3


@pytest.fixture
def extension_config(extension_config):
    return {**extension_config, "max_active_jobs": MAX_ACTIVE}


@pytest.fixture
def jp_server_config(jp_server_config):
    """Users from the Authorization header: each test is a user of its own."""
    return users_from_authorization(jp_server_config)


@pytest.fixture
def user(bumps_ext, jp_fetch) -> Api:
    return named_user(jp_fetch, "message")


@pytest.fixture
def unserved(redis_server, settings) -> Iterator[dict]:
    """A submit's body that waits on a queue of this test's own: no worker serves its
    (made-up) bumps, and it asks to wait for one."""
    payload = transport.encode(gaussian_problem())
    payload["environment"]["bumps"] = f"0.0.0+{uuid.uuid4().hex[:12]}"
    yield {"payload": payload, "fitter": "lm", "wait_for_worker": True}
    redis_server.client().delete(versions.queue_name(settings.queue_prefix, payload["environment"]))


def sweep(body: dict, count: int) -> dict:
    """A POST jobs/batch body of `count` members like `body` (a sweep waits as a whole)."""
    member = {k: v for k, v in body.items() if k != "wait_for_worker"}
    return {"jobs": [member] * count, "wait_for_worker": True}


def queued(redis_server, queue: str) -> list[dict]:
    """The messages on `queue`, the first to be taken first (kombu takes from the right)."""
    raw = redis_server.client().lrange(queue, 0, -1)
    return [json.loads(m) for m in reversed(raw)]


def arguments(message: dict) -> list:
    """A Celery message's positional arguments (its body: base64 of [args, kwargs, embed])."""
    body = json.loads(base64.b64decode(message["body"]))
    return body[0]


async def test_a_job_s_message_is_on_its_queue_when_its_submit_answers(
    user, unserved, redis_server, store
):
    job = await user.json("POST", "jobs", body=unserved, expect=201)
    (message,) = queued(redis_server, job["queue"])
    assert message["headers"]["task"] == FIT_TASK
    assert message["headers"]["id"] == job["id"]
    # what Celery's events show of its arguments: the job and its owner, not the token
    assert message["headers"]["argsrepr"] == repr([job["id"], job["owner"]])
    assert message["properties"]["delivery_info"] == {"exchange": "", "routing_key": job["queue"]}
    token = token_of(store, job["owner"], job["id"])
    assert token and arguments(message) == [job["id"], job["owner"], token]


async def test_a_submit_a_limit_refuses_queues_nothing(user, unserved, redis_server):
    made = [await user.json("POST", "jobs", body=unserved, expect=201) for _ in range(MAX_ACTIVE)]
    await user.call("POST", "jobs", body=unserved, expect=429)
    await user.call("POST", "jobs", "batch", body=sweep(unserved, 1), expect=429)
    ids = [m["headers"]["id"] for m in queued(redis_server, made[0]["queue"])]
    assert ids == [job["id"] for job in made]


async def test_a_repeated_submit_queues_its_message_once(user, unserved, redis_server):
    key = {"Idempotency-Key": f"once-{uuid.uuid4()}"}
    first = await user.json("POST", "jobs", body=unserved, headers=key, expect=201)
    again = await user.json("POST", "jobs", body=unserved, headers=key, expect=200)
    assert again["id"] == first["id"]
    ids = [m["headers"]["id"] for m in queued(redis_server, first["queue"])]
    assert ids == [first["id"]]


async def test_a_sweep_s_messages_go_in_its_order_with_their_jobs(user, unserved, redis_server):
    key = {"Idempotency-Key": f"sweep-{uuid.uuid4()}"}
    body = sweep(unserved, MAX_ACTIVE)
    made = (await user.json("POST", "jobs", "batch", body=body, headers=key, expect=201))["jobs"]
    await user.json("POST", "jobs", "batch", body=body, headers=key, expect=200)  # a repeat
    messages = queued(redis_server, made[0]["queue"])
    assert [m["headers"]["id"] for m in messages] == [job["id"] for job in made]
    assert [arguments(m)[:2] for m in messages] == [[job["id"], job["owner"]] for job in made]


def test_the_message_is_the_one_celery_sends_itself(redis_server, settings):
    """The bytes the create script pushes are those Celery's own send pushes (but for the
    delivery tag, a fresh uuid each time): the worker reads them as it always has."""
    app = make_app(settings)
    record, _ = dispatch.new_job(
        f"celery-{uuid.uuid4().hex[:8]}",
        transport.encode(gaussian_problem()),
        "lm",
        queue_prefix=f"{settings.queue_prefix}own-{uuid.uuid4().hex[:8]}-",
        max_attempts=1,
    )
    ours, event = FitMessages(app).message(record)
    assert event is None  # task events are off by default: no task-sent to send
    app.send_task(
        FIT_TASK,
        args=[record["id"], record["owner"], record[dispatch.DISPATCH_FIELD]],
        argsrepr=repr([record["id"], record["owner"]]),
        queue=record["queue"],
        exchange="",
        routing_key=record["queue"],
        declare=[],
        task_id=record["id"],
    )
    (celerys,) = queued(redis_server, record["queue"])
    redis_server.client().delete(record["queue"])
    app.close()
    mine = json.loads(ours)
    for message in (mine, celerys):
        assert message["properties"].pop("delivery_tag")
    assert mine == celerys
