"""Session files built on request (docs/design.md#session-files): an lm fit stores the
recipe of its file, not the file; a request has a worker build it, once for requests at
once; a DREAM fit's file is written at once, as before. Real Redis, the session's worker."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np
from bumps.fitters import load_fit_from_session

from jupyter_bumps_remote.server_ext import session_builds
from jupyter_bumps_remote.shared import transport
from jupyter_bumps_remote.shared.fitting import run_fit
from jupyter_bumps_remote.shared.task_names import BUILD_TASK
from jupyter_bumps_remote.shared.versions import build_queue_of
from jupyter_bumps_remote.worker.fit.fit_process import session_serializer
from jupyter_bumps_remote.worker.fit.results import session_bytes

from ..support.problems import gaussian_problem
from ..support.waiting import wait_until

DEADLINE = 60  # a build on a loaded 2-core machine: well under a second alone

HDF5 = b"\x89HDF\r\n\x1a\n"


def _loaded(data: bytes):
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "fit.h5"
        path.write_bytes(data)
        problem, result = load_fit_from_session(path)
        assert problem is not None
        return problem, result


def _eager_session(payload: dict, seed: int) -> bytes:
    """The file the fit process wrote for every job before: the same fit, here."""
    problem = transport.decode(payload)
    result = run_fit(problem, "lm", {}, seed).result
    return session_bytes(problem, result, session_serializer({"encoding": payload["encoding"]}))


def test_an_lm_fit_defers_its_file_and_a_request_builds_one_equal_to_the_eager_one(remote):
    payload = transport.encode(gaussian_problem())
    job = remote.submit(payload, "lm")
    done = remote.wait(job["id"])
    assert done["status"] == "succeeded"
    record = wait_until(
        lambda: (r := remote.store.get(remote.owner, job["id"]))["session"] != "writing" and r,
        timeout=DEADLINE,
        what="session state after writing",
    )
    assert record["session"] == "deferred", record
    assert "build_token" not in record  # a store-only field, never shown

    data = remote.session(job["id"])
    assert data[:8] == HDF5
    record = remote.store.get(remote.owner, job["id"])
    assert record["session"] == "ready" and record["session_builds"] == 1, record

    built_problem, built = _loaded(data)
    eager_problem, eager = _loaded(_eager_session(payload, done["seed"]))
    np.testing.assert_allclose(built_problem.getp(), eager_problem.getp(), rtol=1e-12)
    np.testing.assert_allclose(built.x, eager.x, rtol=1e-12)
    np.testing.assert_allclose(built.convergence, eager.convergence, rtol=1e-12)
    assert built.method == eager.method == "lm"
    assert built_problem.labels() == eager_problem.labels()
    # the file replaced the recipe in the owner's stored bytes
    counted = remote.store.redis.hget(remote.store.keys.job_bytes(remote.owner), job["id"])
    assert int(counted) >= len(data)


def test_requests_at_once_send_one_build(remote):
    job = remote.submit(gaussian_problem(), "lm")
    remote.wait(job["id"])
    wait_until(
        lambda: remote.store.get(remote.owner, job["id"])["session"] == "deferred",
        timeout=DEADLINE,
        what="deferred session",
    )
    answers: list[str] = []

    def ask() -> None:
        answers.append(
            session_builds.request_build_sync(remote.store, remote.app, remote.owner, job["id"])
        )

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count("build") == 1, answers
    assert remote.session(job["id"])[:8] == HDF5
    assert remote.store.get(remote.owner, job["id"])["session_builds"] == 1


def test_a_dream_fit_still_writes_its_file_at_once(remote):
    job = remote.submit(gaussian_problem(), "dream", {"steps": 20, "pop": 4, "burn": 10})
    assert remote.wait(job["id"], timeout=120)["status"] == "succeeded"
    record = wait_until(
        lambda: (r := remote.store.get(remote.owner, job["id"]))["session"] == "ready" and r,
        timeout=DEADLINE,
        what="ready session without any request",
    )
    assert "session_builds" not in record
    assert remote.store.session(remote.owner, job["id"])[:8] == HDF5


def test_a_build_message_with_another_token_changes_nothing(remote, redis_server):
    job = remote.submit(gaussian_problem(), "lm")
    record = remote.wait(job["id"])
    wait_until(
        lambda: remote.store.get(remote.owner, job["id"])["session"] == "deferred",
        timeout=DEADLINE,
        what="deferred session",
    )
    recipe = remote.store.session(remote.owner, job["id"])
    forged = "forged-token"
    queue = build_queue_of(remote.app.conf.bumps_remote.queue_prefix, record["queue"])
    remote.app.send_task(
        BUILD_TASK,
        args=[job["id"], remote.owner, forged],
        queue=queue,
        exchange="",
        routing_key=queue,
        declare=[],
        task_id=session_builds.task_id(job["id"], forged),
    )
    client = redis_server.client()
    # taken and acked: off its queue and out of kombu's unacked hash
    wait_until(
        lambda: (
            client.llen(queue) == 0
            and not any(forged[:8] in str(v) for v in client.hvals("unacked"))
        ),
        timeout=DEADLINE,
        what="forged message consumed",
    )
    after = remote.store.get(remote.owner, job["id"])
    assert after["session"] == "deferred" and "session_builds" not in after, after
    assert remote.store.session(remote.owner, job["id"]) == recipe
    # and once a real build holds it, a forged one does not write over it either
    assert remote.session(job["id"])[:8] == HDF5


def test_a_build_that_could_not_be_sent_is_given_back(remote):
    """The server claims a build, then the broker refuses its message: it gives the claim
    back (`deferred`), so the next request sends one at once rather than after the stale
    deadline; a give-back under another token changes nothing."""
    job = remote.submit(gaussian_problem(), "lm")
    remote.wait(job["id"])
    wait_until(
        lambda: remote.store.get(remote.owner, job["id"])["session"] == "deferred",
        timeout=DEADLINE,
        what="deferred session",
    )
    store, owner = remote.store, remote.owner
    assert store.claim_build(owner, job["id"], "unsent", 600) == "build"
    assert store.release_build(owner, job["id"], "another") == "building"
    assert store.release_build(owner, job["id"], "unsent") == "deferred"
    assert store.claim_build(owner, job["id"], "next", 600) == "build"
    assert store.release_build(owner, job["id"], "next") == "deferred"
    assert remote.session(job["id"])[:8] == HDF5
