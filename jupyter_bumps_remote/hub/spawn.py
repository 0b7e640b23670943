"""The JupyterHub side: each user's server gets a Redis URL of its own, fenced to its
owner's keys (redis_users.py), made when the hub spawns it and dead once it stops.

    # jupyterhub_config.py
    from jupyter_bumps_remote.hub import fence_users
    fence_users(c, redis_admin_url="redis://default:secret@127.0.0.1:6379/0")

The owner of a server's jobs is the hub user (the server reads JUPYTERHUB_USER): a user who
sets another owner in their server only gets NOPERM from Redis.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any
from urllib.parse import quote, urlsplit

from ..shared.settings import DEFAULT_PREFIX, DEFAULT_QUEUE_PREFIX, ENV_PREFIX
from . import redis_users

URL_VARIABLE = f"{ENV_PREFIX}REDIS_URL"


def user_url(base_url: str, owner: str, password: str) -> str:
    """`base_url` (host, port, database, TLS options) with the owner's user and password in
    place of whatever credentials it had."""
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]
    credentials = f"{quote(redis_users.user_name(owner), safe='')}:{quote(password, safe='')}"
    url = f"{parts.scheme}://{credentials}@{host}{parts.path}"
    return url + (f"?{parts.query}" if parts.query else "")


class RedisFence:
    """Creates, renews and disables the per-user Redis users of one hub."""

    def __init__(
        self,
        redis_admin_url: str,
        redis_user_url: str | None = None,
        key_prefix: str = DEFAULT_PREFIX,
        queue_prefix: str = DEFAULT_QUEUE_PREFIX,
    ):
        self.redis_admin_url = redis_admin_url
        self.redis_user_url = redis_user_url or redis_admin_url
        self.key_prefix = key_prefix
        self.queue_prefix = queue_prefix

    def _admin(self) -> Any:
        import redis

        return redis.Redis.from_url(self.redis_admin_url, socket_connect_timeout=10)

    def open(self, owner: str) -> str:
        """A fresh password for the owner's user (created if new); its server's Redis URL."""
        password = redis_users.new_password()
        with self._admin() as admin:
            redis_users.set_user(admin, owner, password, self.key_prefix, self.queue_prefix)
        return user_url(self.redis_user_url, owner, password)

    def close(self, owner: str) -> None:
        with self._admin() as admin:
            redis_users.disable_user(admin, owner)

    async def pre_spawn(self, spawner: Any) -> None:
        url = await asyncio.to_thread(self.open, spawner.user.name)
        spawner.environment[URL_VARIABLE] = url

    async def post_stop(self, spawner: Any) -> None:
        await asyncio.to_thread(self.close, spawner.user.name)


def fence_users(
    c: Any,
    redis_admin_url: str,
    redis_user_url: str | None = None,
    key_prefix: str = DEFAULT_PREFIX,
    queue_prefix: str = DEFAULT_QUEUE_PREFIX,
) -> RedisFence:
    """Give each spawned server a Redis user fenced to its hub user's jobs, disabled when
    the server stops. `c`: the hub's config; `redis_admin_url`: a Redis user allowed ACL
    SETUSER and CLIENT KILL (the hub keeps it, no user server sees it);
    `redis_user_url`: Redis as the user servers reach it (host, TLS options), its
    credentials replaced by each user's (default: the admin URL's host and options).
    Hooks already set on `c.Spawner` run first."""
    fence = RedisFence(redis_admin_url, redis_user_url, key_prefix, queue_prefix)
    spawner_config = c.Spawner
    # `in`, not getattr: traitlets' Config makes an empty value of any name it is asked for
    earlier_pre = spawner_config["pre_spawn_hook"] if "pre_spawn_hook" in spawner_config else None
    earlier_post = spawner_config["post_stop_hook"] if "post_stop_hook" in spawner_config else None

    async def pre_spawn_hook(spawner: Any) -> None:
        await _run(earlier_pre, spawner)
        await fence.pre_spawn(spawner)

    async def post_stop_hook(spawner: Any) -> None:
        try:
            await _run(earlier_post, spawner)
        finally:
            await fence.post_stop(spawner)

    spawner_config.pre_spawn_hook = pre_spawn_hook
    spawner_config.post_stop_hook = post_stop_hook
    return fence


async def _run(hook: Any, spawner: Any) -> None:
    if hook is None:
        return
    result = hook(spawner)
    if inspect.isawaitable(result):
        await result
