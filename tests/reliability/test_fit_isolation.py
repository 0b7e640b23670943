"""A fit process holds nothing of its worker but its pipes: a model that looks around from
inside it (its environment, its descriptors, the objects in its memory) reports what it
finds as output, and finds no secret, no connection and no route to Redis."""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import pytest

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.worker import make_app

from ..conftest import Remote
from ..support.services import RedisServer, Worker
from ..support.talking_models import found, talking_module, talking_problem

SECRET_ENV = {
    "JUPYTER_TOKEN": "jupyter-token-value",
    "JPY_API_TOKEN": "jpy-api-token-value",
    "MY_SERVICE_PASSWORD": "service-password-value",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
}


@pytest.fixture(scope="module")
def embedded_like():
    """A Redis reached as the embedded one is, on a unix socket in a 0700 directory (it
    also listens on loopback TCP), and a worker of one process configured with that
    socket, with secrets in its environment."""
    redis_server = RedisServer(appendonly=False)
    socket_path = str(redis_server.dir / "redis.sock")
    redis_server.extra += ["--unixsocket", socket_path, "--unixsocketperm", "700"]
    redis_server.start()
    url = f"unix://{socket_path}"
    worker = Worker(url, concurrency=1, env=SECRET_ENV).start()
    settings = WorkerSettings.from_env({}, redis_url=url)
    app = make_app(settings)
    store = JobStore(redis_server.client(), **settings.store_settings())
    yield Remote(store, app, f"user-{uuid.uuid4().hex[:8]}"), redis_server, socket_path
    worker.stop()
    app.close()
    redis_server.cleanup()


def look(remote, **globals_) -> dict:
    job = remote.submit(talking_problem("look", **globals_), "lm")
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    return found(remote, job["id"])


def test_no_secret_variable_no_descriptor_no_connection_object(embedded_like):
    remote, redis_server, socket_path = embedded_like
    secrets = [*SECRET_ENV.values(), socket_path, f"127.0.0.1:{redis_server.port}"]
    # the spare forked at start, then one forked after a job: another owner's, since the
    # same owner's next job may run in the process of the one before, which holds that
    # job's data (its SECRETS among it: docs/design.md#a-sweeps-jobs-in-fewer-fit-processes)
    other = Remote(remote.store, remote.app, f"user-{uuid.uuid4().hex[:8]}")
    for who in (remote, other):
        seen = look(who, SECRETS=secrets)
        names = set(seen["env"])
        assert not [n for n in names if n.startswith(("BUMPS_REMOTE_", "JUPYTER", "JPY_"))]
        assert not [n for n in names if any(w in n for w in ("TOKEN", "PASSWORD", "SECRET"))]
        assert not any(s in seen["proc_environ"] for s in secrets), seen["proc_environ"]
        # 0, 1, 2 and the two pipes to its pool process; all else /dev/null
        pipes = {fd: target for fd, target in seen["fds"].items() if target != os.devnull}
        assert len([t for t in pipes.values() if t.startswith("pipe:")]) == 4, seen["fds"]
        assert set(pipes) >= {"1", "2"} and all(t.startswith("pipe:") for t in pipes.values())
        # the worker's own broker connection, frozen into the warm heap before the pool
        # forked, is the one left (docs/design.md#what-a-fit-process-holds)
        assert set(seen["live_connections"]) <= {"kombu.connection.Connection"}
        assert seen["secret_holders"] == [] and seen["secret_in_dicts"] == [], (
            seen["secret_holders"],
            seen["secret_in_dicts"],
        )


def test_redis_is_out_of_reach_by_tcp_and_by_its_unix_socket(embedded_like, capsys):
    remote, redis_server, socket_path = embedded_like
    targets = [("tcp", ["127.0.0.1", redis_server.port]), ("unix", socket_path)]
    seen = look(remote, TARGETS=targets)
    assert seen["reached"] == {"tcp": None, "unix": None}, seen["reached"]
    # the same probe run here, outside the sandbox, reaches it both ways
    talking_module("look", TARGETS=targets, SECRETS=[]).look()
    here = json.loads(capsys.readouterr().out.split("FOUND ", 1)[1])
    assert here["reached"] == {"tcp": "+PONG\r\n", "unix": "+PONG\r\n"}


MARKER_PREFIX = "bumps-remote-marker-"


def marker() -> str:
    return MARKER_PREFIX + uuid.uuid4().hex


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def shared_like():
    """A Redis reached as a shared one is, on loopback TCP with a user and a password, and a
    worker of one process (so that every job of this module runs in a fit forked by the
    same worker, one after another)."""
    password = marker()
    redis_server = RedisServer(appendonly=False, user="worker", password=password).start()
    worker = Worker(redis_server.url, concurrency=1).start()
    settings = WorkerSettings.from_env({}, redis_url=redis_server.url)
    app = make_app(settings)
    store = JobStore(redis_server.client(), **settings.store_settings())
    yield store, app, redis_server, password
    worker.stop()
    app.close()
    redis_server.cleanup()


def test_a_fit_finds_nothing_of_earlier_jobs_nor_the_broker_in_its_own_memory(shared_like):
    """A fit's memory is a copy of the process that forked it: if that process had seen
    earlier jobs (their payloads pass through the pool process) or held the broker's URL, a
    model reading its own memory byte by byte would find them
    (docs/design.md#what-a-fit-process-holds)."""
    store, app, redis_server, password = shared_like
    alice, mallory = (Remote(store, app, f"{who}-{uuid.uuid4().hex[:8]}") for who in "am")
    secret = marker()  # in alice's payload and output only (a global her model prints)
    for _ in range(2):  # her job, then another: the spare that scans has seen both go by
        job = alice.submit(talking_problem("carry", CARRIED=secret), "lm")
        assert alice.wait(job["id"], timeout=120)["status"] == jobs.SUCCEEDED
    scan = talking_problem(
        "scan", MARKER_PREFIX=MARKER_PREFIX, HASHES=[sha256(secret), sha256(password)]
    )
    job = mallory.submit(scan, "lm")
    record = mallory.wait(job["id"], timeout=180)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    seen = found(mallory, job["id"], label="SCAN")
    assert seen["scanned"] > 10 << 20, seen["scanned"]  # it read its heap, bumps' included
    assert sha256(secret) not in seen["hits"], "alice's payload in a later fit's memory"
    assert sha256(password) not in seen["hits"], "the Redis password in a fit's memory"
    assert not [u for u in seen["urls"] if str(redis_server.port) in u], seen["urls"]
