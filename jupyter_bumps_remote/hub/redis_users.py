"""One Redis ACL user per owner, so that the owner's Jupyter server reaches its own jobs and
nothing of another owner's (docs/design.md#users-fenced-from-one-another-jupyterhub).

What such a user may do, and nothing else:
  - the commands the job store runs on the owner's own keys, `{prefix}u:{owner}:*`
    (scripts too: Redis checks each command a script runs against the caller's rights);
  - LPUSH onto the Celery queues (`{queue_prefix}*`): a server sends its jobs through
    kombu's anonymous exchange, straight onto the queue, so it needs no binding of kombu's
    (server_ext/dispatch.py). No read, pop or delete there: a user can neither see nor
    drop another's queued message, and a message it forges names a job whose dispatch token
    it cannot know (store/lua/start.lua refuses it). The session builds' queues
    (`{queue_prefix}session-…`: server_ext/session_builds.py) are under the same prefix, and
    a forged build carries no build token of another's job (worker/pool/session_build.py);
  - read the workers' advertisements and their index (store/workers.py), which hold no
    owner's data;
  - PUBLISH of the `task-sent` event a send makes (for Flower) on Celery's event channel,
    and on no other (the workers' gossip listens to the worker events there).
No KEYS or SCAN (they list every key's name), no FLUSH*, CONFIG, ACL, INFO, MONITOR,
CLIENT, DEBUG, FUNCTION, SCRIPT other than LOAD, no other channel.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from ..shared.settings import DEFAULT_PREFIX, DEFAULT_QUEUE_PREFIX
from ..store.keys import Keys, glob_escape

USER_PREFIX = "bumps-remote:"

# What the job store, the event reader and the sweeps' checks run on the owner's keys
# (store/*.py, store/lua/*.lua, server_ext/event_hub.py), outside any script or inside one.
OWN_KEY_COMMANDS = (
    "get", "set", "del", "unlink", "exists", "expire", "pexpire", "persist", "ttl", "pttl",
    "strlen", "mget", "type",
    "hget", "hgetall", "hmget", "hset", "hdel", "hincrby", "hvals", "hkeys", "hlen", "hexists",
    "sadd", "srem", "scard", "smembers", "sismember",
    "zadd", "zrem", "zcard", "zcount", "zscore", "zrange", "zrevrange", "zrangebyscore",
    "zrevrangebyscore", "zremrangebyscore",
    "xadd", "xrange", "xrevrange", "xread", "xlen", "xtrim",
    "memory|usage",
)  # fmt: skip
# Commands without keys that a client needs: the store's scripts (EVALSHA, loaded once),
# transactions, the health checks of redis-py's pool, the database of the URL
CONNECTION_COMMANDS = (
    "ping", "echo", "select", "evalsha", "eval", "script|load", "multi", "exec", "discard",
    "watch", "unwatch", "hello", "client|setname", "client|getname", "client|id",
)  # fmt: skip
# kombu's Redis transport publishes Celery's events to the fanout exchange `celeryev`
# on channel `/{db}.celeryev/{routing key}` (its fanout prefix). A server sends one event,
# `task-sent`; nothing else there: the workers' gossip (on by default) subscribes to
# `/{db}.celeryev/worker.*`, and a user's `worker-elect`, `worker-heartbeat`, or junk would
# reach it. The database as digits, not `*`, which would also match
# `/0.celeryev/worker.x/.celeryev/task.sent`.
EVENT_CHANNELS = ("/[0-9].celeryev/task.sent", "/[0-9][0-9].celeryev/task.sent")


def user_name(owner: str) -> str:
    """The ACL user of an owner. Quoted as the owner's keys are: Redis user names may not
    hold spaces, and two owners never share one."""
    return USER_PREFIX + quote(owner, safe="")


def new_password() -> str:
    return secrets.token_urlsafe(32)


# keys of kombu's that a push must never reach: a list made there breaks every worker
# (store/lost_runs.py names the unacked hash and its index)
KOMBU_KEYS = ("_kombu.", "unacked", "unacked_index", "unacked_mutex")


def check_prefixes(key_prefix: str, queue_prefix: str) -> None:
    """ValueError unless every key a user may LPUSH onto (`{queue_prefix}*`) is outside the
    job store's keys and kombu's own: with prefixes that overlap, a user's push would reach
    another owner's keys (a list where a record or a stream should be)."""
    if not queue_prefix:
        raise ValueError("the queue prefix is empty: users could push onto any key")
    for name in (key_prefix, *KOMBU_KEYS):
        if name.startswith(queue_prefix) or queue_prefix.startswith(name):
            raise ValueError(
                f"queue prefix {queue_prefix!r} overlaps {name!r}: choose a queue prefix "
                f"that neither starts nor is started by the key prefix or kombu's keys"
            )


def acl_rules(
    owner: str,
    password: str,
    key_prefix: str = DEFAULT_PREFIX,
    queue_prefix: str = DEFAULT_QUEUE_PREFIX,
) -> list[str]:
    """The arguments of `ACL SETUSER {user_name(owner)} ...` for the owner's server: its
    rights from nothing (`reset`), then exactly those listed in this module's doc."""
    check_prefixes(key_prefix, queue_prefix)
    keys = Keys(key_prefix)
    own = glob_escape(keys.owner(owner)) + "*"
    queues = glob_escape(queue_prefix) + "*"
    workers = glob_escape(keys.worker("")) + "*"
    return [
        "reset",  # off, no password, no keys, no channels, no commands, no selectors
        "on",
        f">{password}",
        f"~{own}",
        "-@all",
        *(f"+{c}" for c in OWN_KEY_COMMANDS + CONNECTION_COMMANDS),
        # each selector is checked alone: its commands on its keys only
        f"(%W~{queues} -@all +lpush)",
        f"(%R~{workers} %R~{glob_escape(keys.workers_index)} -@all +get +mget +exists +zrange)",
        f"({' '.join('&' + c for c in EVENT_CHANNELS)} -@all +publish)",
    ]


def set_user(
    admin: Any,
    owner: str,
    password: str,
    key_prefix: str = DEFAULT_PREFIX,
    queue_prefix: str = DEFAULT_QUEUE_PREFIX,
) -> str:
    """Create or update the owner's ACL user with `password` (the previous one no longer
    works; connections made with it are closed). `admin`: a redis-py client allowed ACL
    and CLIENT KILL. Returns the user's name."""
    name = user_name(owner)
    rules = acl_rules(owner, password, key_prefix, queue_prefix)
    admin.execute_command("ACL", "SETUSER", name, *rules)
    _kill_connections(admin, name)
    _save(admin)
    return name


def disable_user(admin: Any, owner: str) -> None:
    """The owner's user can no longer log in (`off`, no password), and its open connections
    are closed: a URL that leaked from a stopped server reaches nothing."""
    name = user_name(owner)
    admin.execute_command("ACL", "SETUSER", name, "off", "resetpass")
    _kill_connections(admin, name)
    _save(admin)


def _kill_connections(admin: Any, name: str) -> None:
    # `off` and a new password only refuse new logins: Redis keeps the open connections
    admin.execute_command("CLIENT", "KILL", "USER", name)


def _save(admin: Any) -> None:
    """Into Redis' ACL file, when it has one: users made with ACL SETUSER are otherwise lost
    at a restart (the servers then get "WRONGPASS" until they are spawned again)."""
    import redis.exceptions

    try:
        admin.execute_command("ACL", "SAVE")
    except redis.exceptions.ResponseError as e:
        if "ACL file" not in str(e) and "aclfile" not in str(e).lower():
            raise
