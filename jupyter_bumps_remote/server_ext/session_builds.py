"""Session files built on request: claim the build of a job's `deferred` file and send its
message (docs/design.md#session-files).

The server never decodes a payload, so a worker builds the file, in a fit process of its own
(worker/pool/session_build.py). One script (store/lua/session_build.lua) moves the job's
session from `deferred` to `building` under a new build token, so that requests at once send
one build; a build not back within `stale_seconds` (its worker died) is claimed again by the
next request. The message carries the token (a message without the one that holds the job's
session does nothing) and goes, like a fit's, through kombu's anonymous exchange straight onto
the build queue of the job's workers (shared/versions.py build_queue_of), under the queue
prefix where a fenced server may push (hub/redis_users.py).
"""

from __future__ import annotations

import os
import secrets

from ..shared import versions
from ..shared.settings import ENV_PREFIX
from ..shared.task_names import BUILD_TASK

# A build not back this long after it was sent is given up for lost: the next request for
# the file sends another (a superseded build that comes back still stores nothing). Long
# enough for a build queued behind one fit per worker process.
STALE_ENV = f"{ENV_PREFIX}SESSION_BUILD_STALE_SECONDS"
DEFAULT_STALE_SECONDS = 120.0


def stale_seconds() -> float:
    """The stale deadline of a build (env BUMPS_REMOTE_SESSION_BUILD_STALE_SECONDS)."""
    try:
        return max(0.0, float(os.environ.get(STALE_ENV) or DEFAULT_STALE_SECONDS))
    except ValueError:
        return DEFAULT_STALE_SECONDS


def new_token() -> str:
    return secrets.token_urlsafe(16)


def task_id(job_id: str, token: str) -> str:
    """A build message's task id: never a job's id, so that the sweep for lost jobs, which
    looks for a job's id among the messages (store/reconcile.py), never takes a build's
    message for its job's."""
    return f"{job_id}.session.{token[:8]}"


def unbuildable(celery_app, record: dict) -> str:
    """Why no worker could be sent this job's build ('' if one can): its queue is not under
    this server's queue prefix (the prefix changed since the job was made)."""
    try:
        versions.build_queue_of(celery_app.conf.bumps_remote.queue_prefix, record["queue"])
    except (KeyError, ValueError) as e:
        return f"it cannot be built here: {e}"
    return ""


def enqueue_build(celery_app, owner: str, record: dict, token: str) -> None:
    """Send the build of the session file of `owner`'s job `record` under `token`
    (blocking: use an executor)."""
    queue = versions.build_queue_of(celery_app.conf.bumps_remote.queue_prefix, record["queue"])
    celery_app.send_task(
        BUILD_TASK,
        args=[record["id"], owner, token],
        argsrepr=repr([record["id"], owner]),  # what Celery's events show: not the token
        queue=queue,
        exchange="",
        routing_key=queue,
        declare=[],
        task_id=task_id(record["id"], token),
    )


def request_build_sync(store, celery_app, owner: str, job_id: str) -> str:
    """A request for the file with the sync store (tests, CLI): claim, send if claimed;
    what `claim_build` answered."""
    token = new_token()
    claimed = store.claim_build(owner, job_id, token, stale_seconds())
    record = store.get(owner, job_id) if claimed == "build" else None
    if record is not None:
        enqueue_build(celery_app, owner, record, token)
    return claimed
