"""A server whose Redis user may not read the job queues says so once and stops sweeping,
rather than retrying in silence (docs/operator-guide.md, shared Redis with ACL users)."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis

from jupyter_bumps_remote.server_ext.reconciling import ReconcileLoop
from jupyter_bumps_remote.store import DEFAULT_PREFIX, JobStore

from ..support.records import queued_record
from ..support.services import RedisServer

OWNER = "someone"
JOB_ID = "a" * 32


@pytest.fixture
def redis_with_a_limited_user():
    server = RedisServer(appendonly=False).start()
    admin = server.client()
    # every command, but only the job keys: not the Celery queues, not kombu's unacked hash
    admin.acl_setuser(
        "limited",
        enabled=True,
        passwords=["+secret"],
        keys=[f"{DEFAULT_PREFIX}*"],
        commands=["+@all"],
    )
    record = queued_record(JOB_ID, OWNER, "celery-queue-the-user-cannot-read")
    JobStore(admin).create(record, b"{}")
    yield server
    server.cleanup()


async def test_no_right_to_read_the_queues_is_logged_and_ends_the_sweeps(
    redis_with_a_limited_user, caplog
):
    server = redis_with_a_limited_user
    client = redis.Redis.from_url(f"redis://limited:secret@127.0.0.1:{server.port}/0")
    loop = ReconcileLoop(JobStore(client), interval=0.05, worker_ttl=30)
    loop.watch(OWNER)
    caplog.set_level(logging.WARNING, logger="jupyter_bumps_remote.server_ext.reconciling")
    loop.start()
    try:
        # the loop returns after its warning; a loop that swallowed the refusal runs forever
        await asyncio.wait_for(asyncio.shield(loop._task), timeout=30)
    finally:
        await loop.close()
        client.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no sweep for lost jobs" in w and "reconcile_interval = 0" in w for w in warnings)
