"""Users fenced from one another in Redis (docs/design.md#users-fenced-from-one-another-jupyterhub,
docs/reliability.md#27-users-fenced-from-one-another-in-redis): each owner's server reaches Redis as
an ACL user of its own (jupyter_bumps_remote.hub), on a real redis-server whose only other
login is the operator's admin user, with a real worker on the admin URL.

Ann's server runs a fit end to end on her URL; with that URL, a client of her own cannot
list keys, cannot read or change any of Bob's keys, cannot read, pop or remove queued
messages, cannot write kombu's bindings or its unacked hash; a message she pushes for Bob's
job is refused by the worker and leaves Bob's job as it was. Each probe asserts the NOPERM
refusal itself, and Bob's keys read the same before and after."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from typing import Any

import pytest
import redis
import redis.exceptions

from jupyter_bumps_remote.hub.redis_users import user_name
from jupyter_bumps_remote.kernel.client import Client, RemoteError
from jupyter_bumps_remote.kernel.discovery import ServerInfo
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.task_names import FIT_TASK
from jupyter_bumps_remote.store.lost_runs import KOMBU_UNACKED, KOMBU_UNACKED_INDEX

from ..support.dispatch_tokens import token_of
from ..support.problems import gaussian_problem
from ..support.records import queued_record
from ..support.redis_fence_site import (
    ANN,
    BOB,
    DEADLINE,
    FORGED,
    bobs_keys,
    refused,
    refused_in_script,
    snapshot,
)
from ..support.services import REPO, JupyterServer, RedisServer
from ..support.waiting import wait_until


def test_27_ann_cannot_list_read_change_or_drop_anything_of_bobs(ann, bob, admin):
    keys = bobs_keys(admin, bob)
    before = snapshot(admin, keys)
    mine = admin.keys.owner(ANN) + "loot"
    probe = ann.client

    # no listing of key names
    assert "keys" in refused(lambda: probe.keys("*"))
    assert "scan" in refused(lambda: probe.scan(0))
    refused(lambda: probe.randomkey())
    # none of Bob's keys, whatever the command, in or out of a script
    readers = {
        b"string": lambda k: probe.get(k),
        b"hash": lambda k: probe.hgetall(k),
        b"stream": lambda k: probe.xrange(k),
        b"zset": lambda k: probe.zrange(k, 0, -1),
        b"set": lambda k: probe.smembers(k),
        b"list": lambda k: probe.lrange(k, 0, -1),
    }
    for key in keys:
        kind = admin.redis.type(key)
        assert "no permissions to" in refused(readers[kind], key), key
        refused(probe.delete, key)
        refused(probe.unlink, key)
        refused(probe.hset, key, "status", "cancelled")
        refused(probe.expire, key, 1)
        refused(probe.rename, key, mine)
        refused(probe.copy, key, mine)
        refused(probe.dump, key)
        refused(probe.xread, {key: "0"})
        refused_in_script(probe, "return redis.call('TYPE', KEYS[1])", [key], [])
        # a key the script does not declare is checked all the same
        refused_in_script(probe, "return redis.call('DEL', ARGV[1])", [], [key])
    # queued messages: no read, pop, move or removal (pushing is the one thing allowed)
    queue = bob["waiting"]["queue"]
    for attempt in (
        lambda: probe.llen(queue),
        lambda: probe.lindex(queue, 0),
        lambda: probe.lpop(queue),
        lambda: probe.rpop(queue),
        lambda: probe.brpop([queue], timeout=1),
        lambda: probe.lrem(queue, 0, b"x"),
        lambda: probe.ltrim(queue, 1, 0),
        lambda: probe.lmove(queue, mine),
        lambda: probe.rpoplpush(queue, mine),
    ):
        refused(attempt)
    pushed_queue = ann.settings.queue_prefix + "ann-probe"
    assert probe.lpush(pushed_queue, b"junk") == 1
    refused(lambda: probe.lpop(pushed_queue))
    # kombu's bindings (a binding could copy every message to a queue she reads) and its
    # unacked hash (every delivered message, with its arguments)
    binding = f"_kombu.binding.{queue}"
    for attempt in (
        lambda: probe.sadd(binding, f"{queue}\x06\x16\x06\x16{mine}"),
        lambda: probe.smembers(binding),
        lambda: probe.hset(KOMBU_UNACKED, "tag", b"[]"),
        lambda: probe.hgetall(KOMBU_UNACKED),
        lambda: probe.zadd(KOMBU_UNACKED_INDEX, {"tag": 0}),
    ):
        refused(attempt)
    # the workers' advertisements: read, never written
    (name,) = admin.redis.zrange(admin.keys.workers_index, 0, -1)
    assert probe.get(name) is not None
    refused(lambda: probe.set(name, b"{}"))
    refused(lambda: probe.zadd(admin.keys.workers_index, {"fake-worker": 1}))
    # nothing server-wide; no channel but Celery's events, and those only to publish
    for command in (
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("CONFIG", "GET", "*"),
        ("ACL", "LIST"),
        ("ACL", "SETUSER", user_name(ANN), "+@all", "~*"),
        ("INFO",),
        ("CLIENT", "LIST"),
        ("CLIENT", "KILL", "USER", user_name(BOB)),
        ("SCRIPT", "FLUSH"),
        ("FUNCTION", "FLUSH"),
        ("SAVE",),
        ("SWAPDB", "0", "1"),
        ("MOVE", keys[0], "1"),
        ("MIGRATE", "127.0.0.1", "1", keys[0], "0", "100"),
        ("MONITOR",),
        ("SUBSCRIBE", "/0.celeryev/task.sent"),
        ("PUBLISH", "elsewhere", "x"),
    ):
        refused(probe.execute_command, *command)

    assert snapshot(admin, keys) == before, "Bob's keys changed"
    assert admin.get(BOB, bob["waiting"]["id"])["status"] == jobs.QUEUED
    ann.client.close()  # a MONITOR or SUBSCRIBE refused leaves the connection as it was


def test_27_a_message_ann_forges_for_bobs_job_is_refused_and_changes_nothing(
    ann, bob, admin, worker
):
    keys = bobs_keys(admin, bob)
    before = snapshot(admin, keys)
    forged_before = worker.log.read_text().count(FORGED)
    queue = ann.app.conf.task_default_queue  # the worker's
    waiting = bob["waiting"]["id"]
    # pushed as her server sends, onto the queue the worker serves: a guessed token, none
    for args in ([waiting, BOB, "guessed"], [waiting, BOB]):
        ann.app.send_task(
            FIT_TASK, args=args, queue=queue, exchange="", routing_key=queue, declare=[]
        )
    wait_until(
        lambda: worker.log.read_text().count(FORGED) == forged_before + 2,
        DEADLINE,
        "the worker to refuse both forged messages",
    )
    wait_until(
        lambda: not admin.redis.llen(queue) and not admin.redis.hlen(KOMBU_UNACKED),
        DEADLINE,
        "the forged messages to be acked",
    )
    record = admin.get(BOB, waiting)
    assert (record["status"], record["attempt"], record.get("worker")) == (jobs.QUEUED, 0, None)
    assert snapshot(admin, keys) == before, "Bob's keys changed"


def test_27_a_server_on_anns_url_runs_her_fit_end_to_end_and_streams_its_events(
    ann, redis_server, worker, tmp_path
):
    admin = redis_server.client()
    admin.acl_log_reset()  # what the probes of other tests were refused is not this server's
    server = JupyterServer(
        tmp_path / "home",
        env={"JUPYTERHUB_USER": ANN},  # the owner, as under JupyterHub
        args=[f"--BumpsRemote.redis_url={ann.url}"],
    ).start()
    try:
        client = Client(ServerInfo(server.url, server.token, "test"))
        # the live worker, found through the index (no SCAN)
        workers = wait_until(lambda: client.info()["workers"], 60, "the worker in GET info")
        assert [w["name"] for w in workers] == [worker_name(redis_server)]
        job = client.submit({"payload": transport.encode(gaussian_problem()), "fitter": "lm"})
        assert job["owner"] == ANN and "dispatch" not in job
        statuses = []
        for event in client.events(job["id"], timeout=DEADLINE):
            if event["type"] == "status":
                statuses.append(event["data"]["status"])
                if event["data"]["status"] in jobs.TERMINAL:
                    break
        assert statuses == [jobs.QUEUED, jobs.RUNNING, jobs.SUCCEEDED]
        assert client.get(job["id"])["status"] == jobs.SUCCEEDED
        assert client.result(job["id"])["chisq"] > 0
        assert [j["id"] for j in client.list()["jobs"]] == [job["id"]]
        # the rest of what a user does, each through the store's scripts and reads
        assert client.session_file(job["id"])[:8] == b"\x89HDF\r\n\x1a\n"
        again = client.retry(job["id"], seed=7)
        try:
            client.cancel(again["id"])  # the request_cancel script
        except RemoteError as e:  # it ended first: its end went through the worker
            assert e.status == 409, e
        found = client.results([job["id"], again["id"]], wait=DEADLINE)
        assert found["jobs"][0]["result"]["chisq"] > 0
        assert found["jobs"][1]["status"] in jobs.TERMINAL
        assert "dispatch" not in again and all("dispatch" not in j for j in found["jobs"])
        for event in client.events(None, timeout=DEADLINE):  # the sidebar's stream
            assert event["data"]["job"] == job["id"]
            break
        client.delete(job["id"])
        assert [j["id"] for j in client.list()["jobs"]] == [again["id"]]
    finally:
        server.stop()
    # all it did, Redis allowed, but the sweep's look at the queues, which it leaves to the
    # workers (one log line)
    denied = [
        entry
        for entry in admin.acl_log()
        if entry["username"] == user_name(ANN) and entry["reason"] == "command"
    ]
    assert {entry["object"] for entry in denied} <= {"info"}, denied
    assert server.log.read_text().count("no sweep for lost jobs from this server") <= 1
    assert "Traceback" not in server.log.read_text()


def worker_name(redis_server: RedisServer) -> str:
    admin: Any = redis_server.client()
    (key,) = admin.zrange("bumps-remote:workers", 0, -1)
    return json.loads(admin.get(key))["name"]


def test_27_a_server_that_names_another_owner_gets_a_clear_refusal_not_a_500(ann, tmp_path):
    server = JupyterServer(
        tmp_path / "home",
        env={"JUPYTERHUB_USER": ANN},
        args=[f"--BumpsRemote.redis_url={ann.url}", f"--BumpsRemote.owner={BOB}"],
    ).start()
    try:
        answer = server.api("GET", "jobs")
    finally:
        server.stop()
    assert answer.status_code == 503, answer.text
    assert "leave c.BumpsRemote.owner unset" in answer.json()["message"]


def test_27_a_worker_runs_a_message_only_with_its_jobs_dispatch_token(admin):
    """The start script's check on its own (tokens of jobs made before there were tokens:
    none, and any message runs them)."""
    job = queued_record(secrets.token_hex(16), "carl", "q")
    created, _ = admin.create({**job, "dispatch": "right"}, b"{}")
    assert "dispatch" not in admin.get("carl", job["id"])  # never shown
    assert token_of(admin, "carl", job["id"]) == "right"
    for wrong in ("", "wrong"):
        assert admin.start("carl", job["id"], "w", 3, dispatch=wrong)[0] == "forged"
    record = admin.get("carl", job["id"])
    assert (record["status"], record["attempt"]) == (jobs.QUEUED, 0)  # no attempt counted
    assert admin.start("carl", job["id"], "w", 3, dispatch="right")[0] == "started"
    older = queued_record(secrets.token_hex(16), "carl", "q")
    admin.create(older, b"{}")
    assert admin.start("carl", older["id"], "w", 3)[0] == "started"


def test_27_a_stopped_servers_url_reaches_nothing_and_a_new_spawn_replaces_the_old_one(fence):
    first = fence.open("dora")
    held = redis.Redis.from_url(first)
    assert held.ping()
    second = fence.open("dora")  # spawned again: the first password no longer works
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(first).ping()
    with pytest.raises(redis.exceptions.ConnectionError):
        held.ping()  # its connection was closed with the change
    again = redis.Redis.from_url(second)
    assert again.ping()
    fence.close("dora")  # the hub's post-stop hook
    with pytest.raises(redis.exceptions.ConnectionError):
        again.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(second).ping()


def test_27_the_redis_user_command_prints_a_fenced_url_and_disables_it(redis_server, admin):
    def command(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "jupyter_bumps_remote.cli", "redis-user", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    made = command("erin", "--admin-url", redis_server.url)
    assert made.returncode == 0, made.stderr
    url = made.stdout.strip()
    assert redis_server.password not in url
    erin = redis.Redis.from_url(url)
    erin.set(admin.keys.owner("erin") + "mine", b"1")  # her own keys
    refused(erin.get, admin.keys.owner(BOB) + "jobs")  # not another's
    assert command("erin", "--admin-url", redis_server.url, "--disable").returncode == 0
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url).ping()
