"""What a fit process sends its pool process is capped and checked: a session file over the
workers' limit leaves the job complete without it; a message the protocol forbids stops the
fit with a clear reason, and the next job runs."""

from __future__ import annotations

import struct

from jupyter_bumps_remote.server_ext import session_builds
from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.worker.fit import frames

from ..support.problems import gaussian_problem
from ..support.talking_models import talking_problem
from ..support.waiting import wait_until


def test_a_session_file_over_the_limit_is_not_stored_and_the_job_completes(stack_factory):
    """Written at once (DREAM) or built on request (lm: its recipe is small, the file it
    builds is not), a file over the limit is not stored and the record says why."""
    stack = stack_factory(max_session_bytes=1000)
    stack.worker()
    store, owner = stack.remote.store, stack.remote.owner
    dream = stack.remote.submit(gaussian_problem(), "dream", {"steps": 10, "pop": 4, "burn": 5})
    lm = stack.remote.submit(gaussian_problem(), "lm")
    for job in (dream, lm):
        record = stack.remote.wait(job["id"], timeout=120)
        assert record["status"] == jobs.SUCCEEDED and record["has_result"], record
    record = wait_until(
        lambda: (r := store.get(owner, lm["id"]))["session"] == "deferred" and r,
        30,
        "the lm fit's recipe",
    )
    assert session_builds.request_build_sync(store, stack.app, owner, lm["id"]) == "build"
    for job in (dream, lm):
        record = wait_until(
            lambda job=job: (
                (r := store.get(owner, job["id"]))["session"] not in ("writing", "building") and r
            ),
            60,
            "the session's end",
        )
        assert record["session"] == "failed", record
        assert "over the workers' limit" in record["session_error"]
        assert "BUMPS_REMOTE_MAX_SESSION_BYTES" in record["session_error"]
        assert stack.remote.store.session(stack.remote.owner, job["id"]) is None


def test_forged_messages_stop_the_fit_and_the_next_job_runs(stack_factory):
    stack = stack_factory()
    stack.worker()
    forgeries = {
        "an unknown kind": struct.pack(">cI", b"Z", 1) + b"!",
        "a message over its cap": struct.pack(">cI", frames.PROGRESS, frames.MAX_MESSAGE + 1),
        "an outcome before any result": frames.HEADER.pack(frames.OUTCOME, 25)
        + b'{"outcome": "completed"}',
    }
    for what, forged in forgeries.items():
        job = stack.remote.submit(talking_problem("forge", FORGED=forged), "lm")
        record = stack.remote.wait(job["id"])
        assert record["status"] == jobs.FAILED, (what, record)
        assert record["error"]["type"] == "FitProcessMisbehaved", (what, record["error"])
    healthy = stack.remote.submit(gaussian_problem(), "lm")
    assert stack.remote.wait(healthy["id"])["status"] == jobs.SUCCEEDED
