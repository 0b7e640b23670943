"""A hostile hub user against the per-user Redis fence, beyond tests/hub/test_redis_fence.py
(docs/design.md#users-fenced-from-one-another-jupyterhub,
docs/design.md#forged-and-dropped-messages): Ann holds her own fenced URL, as her server
gets it; Bob's jobs were made through his. Same real redis-server (admin login only), same
real worker on the admin URL, same fixtures (tests/support/redis_fence_site.py).

Each probe asserts the refusal, and that every key of Bob's namespace (names and values,
read by the admin) and his waiting job's queued message are as they were."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
import redis
import redis.exceptions

from jupyter_bumps_remote.hub import redis_users
from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.server_ext.fit_messages import FitMessages
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.task_names import BUILD_TASK, FIT_TASK
from jupyter_bumps_remote.shared.versions import build_queue_of
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.store.keys import Keys
from jupyter_bumps_remote.store.lost_runs import KOMBU_UNACKED

from ..support.problems import gaussian_problem
from ..support.redis_fence_site import ANN, BOB, DEADLINE, FORGED, Owner, refused, snapshot
from ..support.services import Worker
from ..support.waiting import wait_until

REFUSED = "Received invalid task message: refused, not a message a server sends"
UNREGISTERED = "Received unregistered task of type"
# a script's command on a key or with rights its caller lacks, or one no script may run
SCRIPT_REFUSAL = "can't access|can't run|no permissions to|not allowed from script"


def namespace(admin: JobStore, owner: str, bob: dict) -> dict[str, Any]:
    """Every key under the owner's prefix, and the queue of Bob's waiting job, with values
    (SCAN by the admin: a key planted there shows up too)."""
    client: Any = admin.redis
    # the lease of Bob's finished run goes just after its end (the bob fixture waits for less)
    lease = admin.keys.lease(BOB, bob["done"]["id"])
    wait_until(lambda: not client.exists(lease), DEADLINE, "the lease of Bob's run released")
    found = sorted(client.scan_iter(match=redis_users.glob_escape(admin.keys.owner(owner)) + "*"))
    return snapshot(admin, [k.decode() for k in found] + [bob["waiting"]["queue"]])


def settled(admin: JobStore, queue: str) -> bool:
    """The worker's queue empty and nothing delivered unacked: every message dealt with."""
    return not admin.redis.llen(queue) and not admin.redis.hlen(KOMBU_UNACKED)


def test_27_a_message_asking_the_worker_for_more_than_a_fit_is_refused_unrun(
    ann, bob, admin, worker
):
    """Celery acts on more than a message's arguments, with the worker's rights over every
    key: a `link` made it LPUSH a list into Bob's namespace (seen before
    worker/pool/message_checks.py), a time limit makes it record a hard timeout of the job
    the arguments name, built-in tasks run what they are given."""
    before = namespace(admin, BOB, bob)
    log = worker.log.read_text
    refused_before, unknown_before = log().count(REFUSED), log().count(UNREGISTERED)
    queue = ann.app.conf.task_default_queue
    waiting = bob["waiting"]["id"]
    planted = admin.keys.owner(BOB) + "planted"
    # what the worker would send after the task: a message straight onto Bob's key
    onto_bobs_key = ann.app.signature(
        "celery.accumulate", queue=planted, exchange="", routing_key=planted
    )

    def send(name: str = FIT_TASK, args: Any = (waiting, BOB, "guessed"), **options: Any):
        ann.app.send_task(
            name, args=args, queue=queue, exchange="", routing_key=queue, declare=[], **options
        )

    asking_more = [
        {"link": onto_bobs_key},
        {"link_error": onto_bobs_key},
        {"chain": [onto_bobs_key]},
        {"time_limit": 1},
        {"soft_time_limit": 1},
        {"countdown": 3600},
        {"expires": 3600},
        {"shadow": "bumps_remote.other"},
        {"kwargs": {"dispatch": "guessed"}},
        {"args": [waiting]},
        {"args": [{"job": waiting}, BOB]},
    ]
    for options in asking_more:
        send(**options)
    others = ["celery.accumulate", "celery.map", "celery.chord_unlock", "celery.backend_cleanup"]
    for name in others:
        send(name, args=[1, 2])
    wait_until(
        lambda: (
            log().count(REFUSED) == refused_before + len(asking_more)
            and log().count(UNREGISTERED) == unknown_before + len(others)
        ),
        DEADLINE,
        "the worker to refuse every message",
    )
    wait_until(lambda: settled(admin, queue), DEADLINE, "the refused messages acked")
    assert not admin.redis.exists(planted)
    assert namespace(admin, BOB, bob) == before, "Bob's keys changed"
    assert admin.get(BOB, waiting)["status"] == jobs.QUEUED


def test_27_a_forged_session_build_for_bobs_job_does_nothing(ann, bob, admin, worker):
    """Ann may push onto the build queues (under the queue prefix, as her server sends her
    own builds: server_ext/session_builds.py). A build message for Bob's job without the
    token of a build that holds his session is dropped unrun; one asking for more than a
    build, or with other arguments, is refused as a fit's would be."""
    before = namespace(admin, BOB, bob)
    log = worker.log.read_text
    refused_before = log().count(REFUSED)
    dropped_before = log().count("session build of job")
    done = bob["done"]
    queue = build_queue_of(ann.settings.queue_prefix, done["queue"])
    planted = admin.keys.owner(BOB) + "planted"
    onto_bobs_key = ann.app.signature(
        "celery.accumulate", queue=planted, exchange="", routing_key=planted
    )

    def send(args: Any = (done["id"], BOB, "guessed"), **options: Any):
        ann.app.send_task(
            BUILD_TASK,
            args=args,
            queue=queue,
            exchange="",
            routing_key=queue,
            declare=[],
            **options,
        )

    send()
    asking_more = [{"link": onto_bobs_key}, {"args": [done["id"], BOB]}, {"time_limit": 1}]
    for options in asking_more:
        send(**options)
    wait_until(
        lambda: (
            log().count(REFUSED) == refused_before + len(asking_more)
            and log().count("session build of job") == dropped_before + 1
        ),
        DEADLINE,
        "the worker to refuse or drop every build message",
    )
    wait_until(lambda: settled(admin, queue), DEADLINE, "the build messages acked")
    assert not admin.redis.exists(planted)
    assert namespace(admin, BOB, bob) == before, "Bob's keys changed"


def test_27_junk_on_the_queue_leaves_the_worker_serving(ann, bob, admin, worker):
    """Whatever Ann may push (not JSON, not a Celery message, a body that does not decode,
    16 MB of bytes): the worker drops it and runs the next fit."""
    before = namespace(admin, BOB, bob)
    queue = ann.app.conf.task_default_queue
    envelope = {
        "body": "bm90IGpzb24=",  # base64 of "not json"
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"task": FIT_TASK, "id": secrets.token_hex(8)},
        "properties": {
            "delivery_tag": secrets.token_hex(8),
            "body_encoding": "base64",
            "delivery_info": {"exchange": "", "routing_key": queue},
        },
    }
    for junk in (b"not json", b"[1, 2]", json.dumps(envelope).encode(), b"x" * (16 << 20)):
        assert ann.client.lpush(queue, junk) >= 1
    wait_until(lambda: settled(admin, queue), DEADLINE, "the junk taken off the queue")
    job = ann.submit()
    wait_until(
        lambda: admin.get(ANN, job["id"])["status"] in jobs.TERMINAL,
        DEADLINE,
        "Ann's next fit to end",
    )
    assert admin.get(ANN, job["id"])["status"] == jobs.SUCCEEDED
    assert worker.process is not None and worker.process.poll() is None
    assert namespace(admin, BOB, bob) == before, "Bob's keys changed"


def test_27_a_job_on_a_queue_outside_her_prefix_is_refused_whole(ann, bob, admin):
    """Her server's create script pushes the job's message (store/lua/create.lua) where she
    may push: a job named onto another queue (a server of hers set to another queue prefix)
    is refused, and nothing of it is stored (the push comes before the script's writes)."""
    before = namespace(admin, BOB, bob)
    client: Any = admin.redis

    def hers() -> tuple:
        found = client.scan_iter(match=redis_users.glob_escape(admin.keys.job(ANN, "")) + "*")
        index, active = admin.keys.index(ANN), admin.keys.active(ANN)
        return sorted(found), client.zrange(index, 0, -1), sorted(client.smembers(active))

    stored = hers()
    outside = f"elsewhere-{secrets.token_hex(4)}"
    with pytest.raises(redis.exceptions.ResponseError, match=SCRIPT_REFUSAL):
        ann.submit(queue=outside)
    assert hers() == stored
    assert not client.exists(outside)
    assert namespace(admin, BOB, bob) == before, "Bob's keys changed"


def test_27_anns_own_record_under_bobs_job_id_runs_as_hers_and_touches_nothing_of_bobs(
    ann, bob, admin, worker
):
    """Ann writes her own keys as she likes: a record with the id of Bob's job (ids are not
    secret to a user who guesses or learns one) runs in her namespace only; a message naming
    her job with owner Bob finds no such job of his."""
    before = namespace(admin, BOB, bob)
    forged_before = worker.log.read_text().count(FORGED)
    record, raw = dispatch.new_job(
        ANN,
        transport.encode(gaussian_problem()),
        "lm",
        queue_prefix=ann.settings.queue_prefix,
        max_attempts=ann.settings.max_attempts,
    )
    record["id"] = bob["done"]["id"]
    message, _ = FitMessages(ann.app).message(record)
    created, _ = ann.store.create(record, raw, message=message)
    # her own job's id and token, with Bob as its owner
    ann.app.send_task(
        FIT_TASK,
        args=[created["id"], BOB, created[dispatch.DISPATCH_FIELD]],
        queue=created["queue"],
        exchange="",
        routing_key=created["queue"],
        declare=[],
    )
    wait_until(
        lambda: admin.get(ANN, created["id"])["status"] in jobs.TERMINAL,
        DEADLINE,
        "Ann's fit under Bob's job id to end",
    )
    wait_until(lambda: settled(admin, created["queue"]), DEADLINE, "both messages dealt with")
    assert admin.get(ANN, created["id"])["status"] == jobs.SUCCEEDED
    assert worker.log.read_text().count(FORGED) >= forged_before  # (refused or not found)
    assert namespace(admin, BOB, bob) == before, "Bob's keys changed"
    assert admin.get(BOB, bob["done"]["id"])["status"] == jobs.SUCCEEDED


def test_27_commands_that_reach_keys_without_naming_them_are_refused(ann, bob, admin):
    """Patterns, other databases, scripts and functions, streams' groups, pub/sub,
    replication, connection tricks: none reaches a key of Bob's."""
    before = namespace(admin, BOB, bob)
    probe: Any = redis.Redis.from_url(ann.url)
    keys = admin.keys
    record = keys.job(BOB, bob["done"]["id"])
    events = keys.events(BOB, bob["done"]["id"])
    mine = keys.owner(ANN) + "probe-set"
    probe.sadd(mine, "1", "2")
    bob_glob = keys.owner(BOB) + "job:*"
    for command in (
        ("SORT", mine, "BY", f"{bob_glob}->status", "GET", f"{bob_glob}->owner"),
        ("SORT_RO", mine, "GET", f"{bob_glob}->status"),
        ("OBJECT", "ENCODING", record),
        ("MEMORY", "USAGE", record),  # allowed on her own keys only
        ("MEMORY", "STATS"),
        ("RANDOMKEY",),
        ("WAIT", "0", "1"),
        ("LATENCY", "LATEST"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", events, ">"),
        ("XGROUP", "CREATE", events, "g", "0"),
        ("XINFO", "STREAM", events),
        ("PSUBSCRIBE", "*"),
        ("SSUBSCRIBE", events),
        ("PUBSUB", "CHANNELS"),
        ("PUBLISH", "/0.celery.pidbox", "{}"),  # Celery's remote control of the workers
        ("SYNC",),
        ("PSYNC", "?", "-1"),
        ("REPLICAOF", "127.0.0.1", "1"),
        ("CLIENT", "PAUSE", "1"),
        ("CLIENT", "TRACKING", "on", "BCAST"),
        ("CLIENT", "NO-EVICT", "on"),
        ("FUNCTION", "LOAD", "#!lua name=probe\nredis.register_function('p', function() end)"),
        ("FCALL", "p", "0"),
        ("COPY", mine, keys.owner(ANN) + "copy", "DB", "1"),
        ("MOVE", mine, "1"),
        ("SWAPDB", "0", "1"),
        ("BGSAVE",),
        ("SHUTDOWN", "NOSAVE"),
    ):
        refused(probe.execute_command, *command)
    # refused by Redis' configuration before any ACL check (enable-debug-command,
    # enable-module-command): the ACL refuses them too, if an operator enables them
    for command in (("DEBUG", "OBJECT", record), ("DEBUG", "SLEEP", "0"), ("MODULE", "LIST")):
        answer = admin.redis.execute_command("ACL", "DRYRUN", redis_users.user_name(ANN), *command)
        assert b"no permissions" in answer, (command, answer)
    # scripts: every command they run is checked, whether the key is declared, computed or
    # listed inside the script; a loaded script the same
    for script in (
        "return redis.call('HGETALL', ARGV[1] .. ARGV[2])",
        "return redis.call('KEYS', '*')",
        "return redis.call('SCAN', '0')",
        "return redis.call('RANDOMKEY')",
        "return redis.call('ACL', 'SETUSER', ARGV[3], '~*', '+@all')",
    ):
        args = [keys.owner(BOB), "jobs", redis_users.user_name(ANN)]
        with pytest.raises(redis.exceptions.ResponseError, match=SCRIPT_REFUSAL):
            probe.eval(script, 0, *args)
        sha = probe.script_load(script)
        with pytest.raises(redis.exceptions.ResponseError, match=SCRIPT_REFUSAL):
            probe.evalsha(sha, 0, *args)
    # another database: the key patterns hold in every one
    probe.execute_command("SELECT", "1")
    refused(probe.hgetall, record)
    # a login as Bob needs his password; HELLO's AUTH is checked like AUTH
    with pytest.raises(redis.exceptions.AuthenticationError):
        probe.execute_command("HELLO", "3", "AUTH", redis_users.user_name(BOB), "guessed")
    probe.close()
    assert namespace(admin, BOB, bob) == before, "Bob's keys changed"


@pytest.mark.parametrize("prefix", ["bumps-remote:", "b*[x]?\\:"])
def test_27_no_owners_redis_user_reaches_a_key_of_another_whatever_their_names(
    redis_server, prefix
):
    """Owners whose names or quoted names are prefixes of others', glob characters, case,
    unicode, a very long name, the empty name; a key prefix with glob characters: ACL
    DRYRUN asks the real Redis whether each user may read and write each owner's keys."""
    # (not Ann's or Bob's names: setting a user renews its password, and the fixtures' URLs)
    owners = ["cat", "cat:x", "cat%3Ax", "cat:", "Cat", "c*", "c?", "[bc]at", "cat\\", "çat"]
    owners += ["c" * 2000, ""]
    client: Any = redis_server.client()
    keys = Keys(prefix)
    made = []
    try:
        for owner in owners:
            made.append(
                redis_users.set_user(client, owner, secrets.token_hex(8), key_prefix=prefix)
            )
        for owner in owners:
            user = redis_users.user_name(owner)
            for other in owners:
                key = keys.job(other, "j1")
                for command in (("HGETALL", key), ("HSET", key, "status", "x")):
                    answer = client.execute_command("ACL", "DRYRUN", user, *command)
                    allowed = answer in (b"OK", "OK")
                    assert allowed == (other == owner), (owner, other, command, answer)
    finally:
        for name in made:
            client.execute_command("ACL", "DELUSER", name)


def test_27_ann_publishes_the_task_sent_event_and_no_event_the_workers_gossip_reads(ann, admin):
    """Her server's send publishes `task-sent` when BUMPS_REMOTE_TASK_EVENTS=1 (for Flower:
    docs/workers.md#task-events); the workers' gossip subscribes to
    `/{db}.celeryev/worker.*`, where a user's `worker-elect` or junk would reach it."""
    probe: Any = redis.Redis.from_url(ann.url)
    assert probe.publish("/0.celeryev/task.sent", b"{}") >= 0
    assert probe.publish("/12.celeryev/task.sent", b"{}") >= 0
    for channel in (
        "/0.celeryev/worker.heartbeat",
        "/0.celeryev/worker.elect",
        "/0.celeryev/worker.x/.celeryev/task.sent",  # matched by gossip's worker.* pattern
        "/0.celeryev/task.failed",
        "/0.celery.pidbox",
        "/0.celeryev/task.sent/x",
    ):
        assert "channel" in refused(probe.publish, channel, b"{}"), channel
    probe.close()


def test_27_anns_server_with_task_events_on_publishes_task_sent_through_her_fence(ann, admin):
    """BUMPS_REMOTE_TASK_EVENTS=1 on her server: its real send publishes `task-sent`, the
    task's queue in Flower, and the fence lets it through; off (the default), none."""
    loud = Owner(ANN, ann.url, task_events=True)
    listener = admin.redis.pubsub(ignore_subscribe_messages=True)
    listener.psubscribe("/*.celeryev/task.sent")
    unserved = ann.settings.queue_prefix + "nobody-serves-events"
    try:
        ann.submit(queue=unserved + "-off")  # first: had it published, that came first
        job = loud.submit(queue=unserved + "-on")
        message = wait_until(lambda: listener.get_message(timeout=1), DEADLINE, "task-sent")
        envelope = json.loads(message["data"])
        event = json.loads(base64.b64decode(envelope["body"]))
        assert (event["type"], event["uuid"], event["queue"]) == (
            "task-sent",
            job["id"],
            job["queue"],
        )
    finally:
        listener.close()
        loud.close()


def test_27_a_worker_with_gossip_on_drops_events_it_cannot_take(redis_server, admin):
    """What a user could publish before the channel was narrowed (sent here by the admin):
    junk, a list, a kombu envelope whose body is no event. Celery's gossip read
    `payload['hostname']` of whatever came and the worker stopped."""
    gossiping = Worker(redis_server.url, concurrency=1, celery_args=()).start()
    try:
        client: Any = admin.redis
        channel = "/0.celeryev/worker.heartbeat"
        # The worker subscribes to more than one pattern (its remote control's too), so a
        # count of patterns can be 1 before gossip listens: the first junk is sent until a
        # subscriber of this channel takes it.
        wait_until(lambda: client.publish(channel, b"junk") >= 1, 60, "gossip subscribed")
        envelope = {
            "body": base64.b64encode(b'"not an event"').decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {},
            "properties": {
                "delivery_tag": "t",
                "body_encoding": "base64",
                "delivery_info": {"exchange": "celeryev", "routing_key": "worker.heartbeat"},
            },
        }
        for data in (b"[]", json.dumps(envelope).encode()):
            assert client.publish(channel, data) >= 1
        wait_until(
            lambda: gossiping.log.read_text().count("dropped a message on celeryev") >= 2,
            DEADLINE,
            "the worker to drop the events",
        )
        assert gossiping.process is not None and gossiping.process.poll() is None
        assert "Unrecoverable error" not in gossiping.log.read_text()
    finally:
        gossiping.stop()
