"""The registry of live workers: each beats with what it runs; an entry expires unless
renewed.

Readers find the entries through an index the beats keep (keys.workers_index), not by SCAN:
a server whose Redis user is fenced to its owner's keys may not SCAN (it would list every
key's name, other owners' included), but it may read the index and the entries."""

from __future__ import annotations

import json
import time
from typing import Any

from .batch import Batch, OpGen
from .codec import compact_json
from .settings import StoreSettings

# an index entry outlives its advertisement by this much before a beat prunes it: clocks of
# workers on other machines may differ by that much
PRUNE_AFTER_MS = 60_000


def beat(settings: StoreSettings, name: str, info: dict[str, Any], ttl: float) -> OpGen[None]:
    """A live worker says what it runs; the entry vanishes `ttl` s after its last beat."""
    keys = settings.keys
    key, ttl_ms = keys.worker(name), int(ttl * 1000)
    now_ms = int(time.time() * 1000)
    yield Batch(
        [
            ("SET", key, compact_json(info), "PX", ttl_ms),
            ("ZADD", keys.workers_index, now_ms + ttl_ms, key),
            # the index entries of workers gone long ago (their advertisement has expired)
            ("ZREMRANGEBYSCORE", keys.workers_index, "-inf", now_ms - PRUNE_AFTER_MS),
        ]
    )


def forget_worker(settings: StoreSettings, name: str) -> OpGen[None]:
    keys = settings.keys
    key = keys.worker(name)
    yield Batch([("DEL", key), ("ZREM", keys.workers_index, key)])


def workers(settings: StoreSettings) -> OpGen[list[dict[str, Any]]]:
    """Every live worker's advertised info, by name."""
    (names,) = yield Batch([("ZRANGE", settings.keys.workers_index, 0, -1)])
    if not names:
        return []
    # an advertisement that expired is gone: its index entry alone does not make it live
    (values,) = yield Batch([("MGET", *names)])
    return sorted((json.loads(v) for v in values if v), key=lambda info: info.get("name", ""))
