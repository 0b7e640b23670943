"""What a worker checks before it starts: a Redis URL that cannot work (refuse, with a
message), protections of the fit sandbox that cannot apply and model libraries that do not
import (warn)."""

from __future__ import annotations

import threading

from ...shared import versions
from ...shared.redis_url import classify, explain, speaks_tls
from ...shared.settings import ENV_PREFIX, WorkerSettings

URL_SETTING = f"{ENV_PREFIX}REDIS_URL (or --redis-url)"


def redis_problem(settings: WorkerSettings, timeout: float = 5.0) -> str | None:
    """A message if Redis refuses this worker for a reason waiting will not cure (wrong
    password, TLS trouble, an ACL user without pub/sub, redis:// to a TLS-only server);
    None if it answers, or is only down for now (Celery keeps trying to connect, as it
    should after a Redis restart). Without this, Celery retries a wrong password forever,
    one log line every few seconds."""
    import redis
    import redis.exceptions

    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        client.ping()
        # Celery's control and event messages go through pub/sub, which Redis 7 denies a new
        # ACL user by default: the worker would start, then die on "NoPermissionError"
        client.publish(f"{settings.prefix}startup-check", "")
    except (redis.exceptions.RedisError, OSError) as e:
        kind = classify(e, settings.redis_url)
        if kind in ("credentials", "tls", "permissions"):
            return explain(e, settings.redis_url, URL_SETTING)
        if kind == "closed" and speaks_tls(settings.redis_url):
            return explain(e, settings.redis_url, URL_SETTING, speaks_tls=True)
    finally:
        client.close()
    return None


def limit_warnings(settings: WorkerSettings) -> list[str]:
    """The fit sandbox's protections that cannot apply here (not root, no namespaces, a
    Python environment its fits cannot read), one sentence each: the worker says them once
    at start-up (docs/operator-guide.md#the-fit-sandbox)."""
    from ..fit import sandbox
    from ..pool.spare import sandbox_settings

    return sandbox.what_applies(sandbox_settings(settings))


_said = False
_said_lock = threading.Lock()


def startup_warnings(settings: WorkerSettings) -> list[str]:
    """What a worker says once at start-up (the sandbox's protections that cannot apply, the
    model libraries that do not import), whatever started it: `bumps-remote worker` prints
    them before it starts Celery, and a worker Celery started alone (`celery -A
    jupyter_bumps_remote.worker worker`) logs them when its logging is set up. The first
    call in a process has them; every later one gets none, so that a worker says them once."""
    global _said
    with _said_lock:
        if _said:
            return []
        _said = True
    return limit_warnings(settings) + library_warnings()


def library_warnings() -> list[str]:
    """Model libraries installed here that do not import: this worker does not serve them."""
    warnings = []
    for name, version in versions.installed_libraries().items():
        error = versions.import_error(name)
        if error:
            warnings.append(
                f"{name} {version} is installed but does not import ({error}); this worker "
                f"does not serve {name} jobs. Install a {name} that works with this numpy "
                "(see docs/compatibility.md)"
            )
    return warnings
