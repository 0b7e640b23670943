"""What a new fit process lets go of, of the pool process it is a fork of, before it is
given anything: live Redis and broker connections, and the Redis URL where the worker keeps
it.

A fork starts with a copy of its parent's memory. Its descriptors are dealt with on the fit
side (fit/isolation.py, sandbox.py), but the objects behind them would still reconnect on
first use with the credentials they hold: the pool process's redis-py client (it is on the
stack that forked the spare), kombu's connections to the broker. Each one found is emptied.
The worker's settings and Celery's configuration lose the URL. This is no barrier against
code that reads the process's memory byte by byte (a copy of the URL may linger in freed
memory); what keeps Redis out of a fit's reach is the sandbox's own user and network
(docs/design.md#what-a-fit-process-holds).
"""

from __future__ import annotations

import contextlib
import gc
import urllib.parse

from ...shared.settings import WorkerSettings

# Celery's configuration keys that name the broker or a result backend
URL_KEYS = ("broker_url", "broker_read_url", "broker_write_url", "result_backend")


def forget_connections(settings: WorkerSettings) -> None:
    kinds = _connection_types()
    # Objects made after the warm-up's gc.freeze(): the pool process's own, few thousand of
    # them (a few ms). The frozen ones are not walked: that would write to every page of the
    # warm heap, which each fit shares with its parent until it writes to it.
    for obj in gc.get_objects():
        if isinstance(obj, kinds):
            with contextlib.suppress(AttributeError, TypeError):
                vars(obj).clear()
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
