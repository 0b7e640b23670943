"""The registry of live workers: each beats with what it runs; an entry expires unless
renewed."""

from __future__ import annotations

import json
from typing import Any

from .batch import Batch, OpGen
from .codec import compact_json
from .settings import StoreSettings

SCAN_COUNT = 500


def beat(settings: StoreSettings, name: str, info: dict[str, Any], ttl: float) -> OpGen[None]:
    """A live worker says what it runs; the entry vanishes `ttl` s after its last beat."""
    yield Batch([("SET", settings.keys.worker(name), compact_json(info), "PX", int(ttl * 1000))])


def forget_worker(settings: StoreSettings, name: str) -> OpGen[None]:
    yield Batch([("DEL", settings.keys.worker(name))])


def workers(settings: StoreSettings) -> OpGen[list[dict[str, Any]]]:
    """Every live worker's advertised info, by name."""
    names: list[Any] = []
    cursor = 0
    pattern = settings.keys.workers_pattern
    while True:
        (reply,) = yield Batch([("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)])
        cursor, found = int(reply[0]), reply[1]
        names.extend(found)
        if cursor == 0:
            break
    if not names:
        return []
    (values,) = yield Batch([("MGET", *names)])
    return sorted((json.loads(v) for v in values if v), key=lambda info: info.get("name", ""))
