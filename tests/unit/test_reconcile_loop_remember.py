"""A server remembers the jobs it creates for its sweeps for lost jobs only while they run
(server_ext/reconciling.py): with none (`reconcile_interval` 0, or a fenced server's, which
stopped), no one would ever take them, and they would pile up for the server's lifetime."""

from __future__ import annotations

import redis

from jupyter_bumps_remote.server_ext.reconciling import ReconcileLoop
from jupyter_bumps_remote.store import JobStore

RECORD = {"id": "a" * 32, "owner": "someone", "status": "queued", "queue": "q"}


async def test_a_server_without_sweeps_remembers_nothing():
    client = redis.Redis.from_url("redis://127.0.0.1:1/0")  # never reached: no sweep runs
    loop = ReconcileLoop(JobStore(client), interval=0, worker_ttl=30)
    loop.start()
    try:
        for _ in range(3):
            loop.remember(RECORD)
        assert not loop.reconciler._remembered
    finally:
        await loop.close()
        client.close()
