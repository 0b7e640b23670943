"""The Redis failures the server answers with 503 rather than 500: Redis is down, or refuses
this server's user (an ACL without the keys or channels it needs).

A module of its own so that the service, the routes, the WebSockets, the event reader and
the sweep for lost jobs catch the same errors without importing one another.
"""

from __future__ import annotations

import redis.exceptions

REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.NoPermissionError,
    OSError,
)
