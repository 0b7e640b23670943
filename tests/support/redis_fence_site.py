"""Ann and Bob, each with a Redis user of their own, on a real redis-server whose only other
login is the operator's admin user, with a real worker on the admin URL: the fixtures and
helpers of the fence's tests (tests/hub/test_redis_fence.py, tests/hub/test_fence_probes.py),
given to tests/hub by its conftest.py. Module-scoped: each test module gets its own Redis,
worker, Ann and Bob."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.exceptions

from jupyter_bumps_remote.hub import RedisFence
from jupyter_bumps_remote.server_ext import dispatch, session_builds
from jupyter_bumps_remote.server_ext.fit_messages import FitMessages, send_sent_events
from jupyter_bumps_remote.shared import transport
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.worker import make_app

from .problems import gaussian_problem
from .services import RedisServer, Worker
from .waiting import wait_until

ANN, BOB = "ann", "bob"
DEADLINE = 120  # s for a fit to end on a loaded machine
FORGED = "not run: its message does not carry the job's dispatch token"


class Owner:
    """What an owner's server holds: the job store and the Celery app on its fenced URL."""

    def __init__(self, name: str, url: str, task_events: bool = False):
        """`task_events`: as a server with BUMPS_REMOTE_TASK_EVENTS=1 (its sends publish
        Celery's `task-sent`)."""
        self.name, self.url = name, url
        self.settings = WorkerSettings.from_env({}, redis_url=url, task_events=task_events)
        self.client = redis.Redis.from_url(url)
        self.store = JobStore(self.client, **self.settings.store_settings())
        self.app = make_app(self.settings)

    def submit(self, queue: str | None = None, idempotency_key: str | None = None) -> dict:
        """A job created and queued as the server does it (on `queue` if given)."""
        record, raw = dispatch.new_job(
            self.name,
            transport.encode(gaussian_problem()),
            "lm",
            queue_prefix=self.settings.queue_prefix,
            max_attempts=self.settings.max_attempts,
        )
        if queue is not None:
            record["queue"] = queue
        message, event = FitMessages(self.app).message(record)
        created, _ = self.store.create(record, raw, idempotency_key, message=message)
        if event is not None:  # with task_events on: Celery's task-sent, for Flower
            send_sent_events(self.app, [event])
        return dispatch.shown(created)

    def close(self) -> None:
        self.app.close()
        self.client.close()


@pytest.fixture(scope="module", name="redis_server")
def fenced_redis_server():
    server = RedisServer(appendonly=False, user="bumps-admin", password=secrets.token_hex(16))
    yield server.start()
    server.cleanup()


@pytest.fixture(scope="module", name="admin")
def fenced_admin(redis_server) -> JobStore:
    settings = WorkerSettings.from_env({}, redis_url=redis_server.url)
    return JobStore(redis_server.client(), **settings.store_settings())


@pytest.fixture(scope="module", name="fence")
def redis_fence(redis_server) -> RedisFence:
    return RedisFence(redis_server.url)


@pytest.fixture(scope="module", name="worker")
def fenced_worker(redis_server):
    worker = Worker(redis_server.url, concurrency=1).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="module", name="ann")
def fenced_ann(fence):
    owner = Owner(ANN, fence.open(ANN))
    yield owner
    owner.close()


@pytest.fixture(scope="module", name="bob")
def fenced_bob(fence, admin, worker):
    """Bob's jobs, made through his own fenced URL: one that ran (record, payload, events,
    result, session, idempotency key; a checkpoint added by hand), one waiting on a queue
    no worker serves (its message stays there)."""
    owner = Owner(BOB, fence.open(BOB))
    done = owner.submit(idempotency_key="bob-key")
    waiting = owner.submit(queue=owner.settings.queue_prefix + "nobody-serves-this")
    wait_until(
        lambda: (admin.get(BOB, done["id"]) or {}).get("session") == "deferred",
        DEADLINE,
        "Bob's lm fit and its session recipe",
    )
    # his file built on request, asked through his fenced URL as his server asks: the claim
    # script on his own record, the build message pushed under the queue prefix
    assert session_builds.request_build_sync(owner.store, owner.app, BOB, done["id"]) == "build"
    wait_until(
        lambda: (admin.get(BOB, done["id"]) or {}).get("session") == "ready",
        DEADLINE,
        "Bob's session file built",
    )
    admin.redis.set(admin.keys.checkpoint(BOB, done["id"]), b"bob's chains")
    yield {"owner": owner, "done": done, "waiting": waiting}
    owner.close()


def bobs_keys(admin: JobStore, bob: dict) -> list[str]:
    keys = admin.keys
    found = [
        *keys.job_keys(BOB, bob["done"]["id"]),
        *keys.job_keys(BOB, bob["waiting"]["id"])[:3],  # record, payload, events
        keys.index(BOB),
        keys.owner_events(BOB),
        keys.idempotency(BOB, "bob-key"),
        keys.active(BOB),
        keys.usage(BOB),
        keys.job_bytes(BOB),
        keys.submitted(BOB),
        bob["waiting"]["queue"],  # the queue that holds his waiting job's message
    ]
    assert all(admin.redis.exists(k) for k in found), [
        k for k in found if not admin.redis.exists(k)
    ]
    return found


def snapshot(admin: JobStore, keys: list[str]) -> dict[str, Any]:
    """Each key's value as read by the admin (DUMP's bytes would not do: a hash's order
    changes as Redis rehashes it, which mere reads do)."""
    client: Any = admin.redis
    readers = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"stream": client.xrange,
        b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        b"set": client.smembers,
        b"list": lambda k: client.lrange(k, 0, -1),
    }
    return {key: readers[client.type(key)](key) for key in keys}


def refused(call: Callable[..., Any], *args: Any) -> str:
    """The NOPERM error of a call that must be refused (any other outcome fails)."""
    with pytest.raises(redis.exceptions.NoPermissionError) as refusal:
        call(*args)
    return str(refusal.value)


def refused_in_script(probe: redis.Redis, script: str, keys: list[str], args: list[str]) -> None:
    """A script's command on a key the caller may not touch is refused, whether the script
    declares the key or not (Redis checks each command of a script against its caller)."""
    with pytest.raises(redis.exceptions.ResponseError, match="(can't|no permissions to) access"):
        probe.eval(script, len(keys), *keys, *args)
