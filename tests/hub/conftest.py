"""One real JupyterHub for every test of tests/hub (tests/support/hub.py): two hub users,
each the OS account of their own server, fenced into Redis users of their own by
`fence_users` on the hub's Redis user (ACL rights only); a redis-server whose default user
is off, and a real worker on the workers' Redis user, shared by both hub users."""

from __future__ import annotations

import secrets

import pytest

from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore

from ..support.browser import (  # noqa: F401 - fixtures and the report hook, for pytest
    browser,
    jp_asyncio_loop,
    jp_server_cleanup,
    page,
    pytest_runtest_makereport,
)
from ..support.hub import Hub, HubUser, SystemUser, remove_stale_accounts, require_hub
from ..support.services import RedisServer, Worker

HUB_USER = "bumps-hub"
# What the hub's Redis user needs for fence_users, as the operator guide gives it: make and
# change ACL users, save them, close their connections; no key, channel or other command
HUB_RIGHTS = ["+acl|setuser", "+acl|save", "+client|kill"]


class OperatorRedis(RedisServer):
    """The operator's Redis: the default user off; the workers' ACL user (`url`) and the
    hub's (`hub_url`), each with the rights the operator guide gives it."""

    def __init__(self):
        hub_password = secrets.token_hex(16)
        rights = ["--user", HUB_USER, "on", f">{hub_password}", *HUB_RIGHTS]
        super().__init__(user="bumps-workers", password=secrets.token_hex(16), extra=rights)
        self.hub_url = f"redis://{HUB_USER}:{hub_password}@{self.host}:{self.port}/0"


@pytest.fixture(scope="package")
def hub_redis():
    require_hub()
    server = OperatorRedis().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="package")
def hub_worker(hub_redis):
    worker = Worker(hub_redis.url, concurrency=2).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="package")
def hub(hub_redis, hub_worker):
    accounts: list[SystemUser] = []
    running = None
    try:
        remove_stale_accounts()
        accounts = [SystemUser("a"), SystemUser("b")]
        running = Hub(hub_redis.hub_url, accounts).start()
        for account in accounts:
            running.spawn(account.name)
        yield running
    finally:
        if running is not None:
            running.cleanup()
        for account in accounts:
            account.remove()


@pytest.fixture(scope="package")
def users(hub) -> tuple[HubUser, HubUser]:
    """(A, B): A is the one who tries to reach B's jobs."""
    first, second = hub.users.values()
    return first, second


@pytest.fixture(scope="package")
def hub_store(hub_redis) -> JobStore:
    """The job store on the admin URL: what the tests read B's data with."""
    settings = WorkerSettings.from_env({}, redis_url=hub_redis.url)
    return JobStore(hub_redis.client(), **settings.store_settings())


# --- the fence tests' own Redis, worker, Ann and Bob (tests/support/redis_fence_site.py),
# module-scoped, for tests/hub/test_redis_fence.py and tests/hub/test_fence_probes.py ---
# (each registered under its `name`: redis_server, admin, fence, worker, ann, bob)
from ..support.redis_fence_site import (  # noqa: E402, F401 - fixtures, for pytest
    fenced_admin,
    fenced_ann,
    fenced_bob,
    fenced_redis_server,
    fenced_worker,
    redis_fence,
)
