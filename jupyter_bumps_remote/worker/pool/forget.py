"""What a new fit process lets go of, of the pool process it is a fork of, before it is
given anything: Redis and broker connection objects, and the Redis URL where the worker keeps
it.

A fork starts with a copy of its parent's memory. Its descriptors are dealt with by its
sandbox (fit/sandbox.py), but a connection object would still reconnect on first use with the
credentials it holds: the pool process's redis-py clients, and kombu's connection to the
broker that the pool process inherited from the worker's main process. Each is emptied. The
worker's settings and Celery's configuration lose the URL. This is no barrier against code
that reads the process's memory byte by byte (a copy of the URL may linger in freed memory,
and the main process's objects frozen into the warm heap before the pool forked are not
walked); what keeps Redis out of a fit's reach is the sandbox's own user and network
(docs/design.md#what-a-fit-process-holds).
"""

from __future__ import annotations

import contextlib
import gc
import urllib.parse
from collections.abc import Iterable

from ...shared.settings import WorkerSettings

# Celery's configuration keys that name the broker or a result backend
URL_KEYS = ("broker_url", "broker_read_url", "broker_write_url", "result_backend")


def connections() -> list[object]:
    """The connection objects among this process's objects, the frozen warm heap aside. Run
    once in a young pool process (a few thousand objects, about a millisecond): walking a
    pool process that has run jobs took 15 to 30 ms, on the path of the next job."""
    kinds = _connection_types()
    return [obj for obj in gc.get_objects() if isinstance(obj, kinds)]


def forget_connections(settings: WorkerSettings, found: Iterable[object]) -> None:
    """Empty the connection objects `found` (`connections()`, and redis-py clients) and what
    they hold, and drop the Redis URL from `settings` and Celery's configuration."""
    for obj in found:
        pool = getattr(obj, "connection_pool", None)
        state = vars(pool) if pool is not None else {}
        held = [*state.get("_available_connections", ()), *state.get("_in_use_connections", ())]
        for each in (*held, pool, obj):
            if each is not None:
                with contextlib.suppress(TypeError):
                    vars(each).clear()
    object.__setattr__(settings, "redis_url", "")  # frozen: this copy only, in this process
    _forget_celery_urls()
    with contextlib.suppress(AttributeError):
        urllib.parse.clear_cache()  # pyright: ignore[reportAttributeAccessIssue]


def _connection_types() -> tuple[type, ...]:
    kinds: list[type] = []
    with contextlib.suppress(ImportError):
        import redis
        import redis.connection

        kinds += [redis.Redis, redis.connection.ConnectionPool]
        kinds += [redis.connection.AbstractConnection]
    with contextlib.suppress(ImportError):
        from kombu.connection import Connection
        from kombu.transport.virtual import Channel, Transport

        kinds += [Connection, Transport, Channel]
    return tuple(kinds)


def _forget_celery_urls() -> None:
    try:
        from celery import _state
    except ImportError:
        return
    for app in list(_state._apps):  # every Celery app of this process (a WeakSet)
        for mapping in (getattr(app, "_preconf", None), getattr(app, "_conf", None)):
            for key in URL_KEYS:
                with contextlib.suppress(Exception):
                    if mapping is not None and key in mapping:
                        mapping[key] = None
