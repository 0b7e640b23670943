"""Session files built on request (docs/design.md#session-files) against a worker of one
process: a build is not queued behind its owner's backlog of fits, and a build whose worker
is SIGKILLed mid-build is sent again by the next request after its stale deadline
(docs/reliability.md#29-a-lost-session-build-is-rebuilt-on-the-next-request)."""

from __future__ import annotations

import os
import signal
import time

from jupyter_bumps_remote.server_ext import session_builds
from jupyter_bumps_remote.shared import jobs

from ..support.problems import GAUSSIAN_SOURCE, gaussian_fit_of, gaussian_problem, user_module
from ..support.waiting import wait_until
from .conftest import kill_session

HDF5 = b"\x89HDF\r\n\x1a\n"
DEADLINE = 120

SLOW_TO_PICKLE_SOURCE = (
    GAUSSIAN_SOURCE
    + '''
import os, time

class SlowToPickle:
    """Pickled at once where it was made; elsewhere, before `until`, only then: the problem
    is serialized into its session file, which a build writes and a fit (deferred) does not."""
    def __init__(self, until, pid):
        self.until, self.pid = until, pid
    def __reduce__(self):
        if os.getpid() != self.pid and time.time() < self.until:
            time.sleep(self.until - time.time())
        return (SlowToPickle, (self.until, self.pid))

def held_gaussian(x, A, mu, sigma):
    HELD.until
    return gaussian(x, A, mu, sigma)
'''
)


def slow_to_build(seconds: float):
    module = user_module(SLOW_TO_PICKLE_SOURCE, name="slow_to_pickle_code")
    vars(module)["HELD"] = module.SlowToPickle(time.time() + seconds, os.getpid())
    return gaussian_fit_of(module.held_gaussian)


def deferred(stack, job_id: str) -> dict:
    store, owner = stack.remote.store, stack.remote.owner
    record = stack.remote.wait(job_id, timeout=DEADLINE)
    assert record["status"] == jobs.SUCCEEDED, record
    return wait_until(
        lambda: (r := store.get(owner, job_id))["session"] == "deferred" and r,
        DEADLINE,
        "the fit's session recipe",
    )


def test_a_build_does_not_wait_behind_its_owners_backlog(stack_factory):
    stack = stack_factory()
    stack.worker(concurrency=1)
    store, owner = stack.remote.store, stack.remote.owner
    first = stack.remote.submit(gaussian_problem(), "lm")
    deferred(stack, first["id"])
    # a sweep of the same owner's fits, each a few tenths of a second, queued behind one another
    backlog = [
        stack.remote.submit(gaussian_problem(model="slow_gaussian", DELAY=0.01), "lm")["id"]
        for _ in range(40)
    ]
    assert session_builds.request_build_sync(store, stack.app, owner, first["id"]) == "build"
    wait_until(
        lambda: store.get(owner, first["id"])["session"] == "ready",
        DEADLINE,
        "the file built",
    )
    unfinished = [
        job_id for job_id in backlog if store.get(owner, job_id)["status"] not in jobs.TERMINAL
    ]
    # taken after at most the fit that ran and the one reserved (a worker takes from its
    # queues in turn): most of the backlog still waits
    assert len(unfinished) >= len(backlog) // 2, (len(unfinished), len(backlog))
    assert store.session(owner, first["id"])[:8] == HDF5


def test_a_build_whose_worker_is_killed_is_sent_again_after_its_stale_deadline(
    stack_factory, monkeypatch
):
    monkeypatch.setenv(session_builds.STALE_ENV, "2")
    stack = stack_factory()
    worker = stack.worker(concurrency=1)
    store, owner = stack.remote.store, stack.remote.owner
    # its build takes until 25 s from now: time to see it run and kill its worker
    job = stack.remote.submit(slow_to_build(25), "lm")
    deferred(stack, job["id"])
    assert session_builds.request_build_sync(store, stack.app, owner, job["id"]) == "build"
    wait_until(
        lambda: f"building the session file of job {job['id']}" in worker.log.read_text(),
        DEADLINE,
        "the build to start",
    )
    kill_session(worker.process.pid)  # its main process, pool process and build's process
    worker.process.wait(10)
    record = store.get(owner, job["id"])
    assert record["session"] == "building" and record["session_builds"] == 1, record
    stack.worker(concurrency=1)
    # the next request within the deadline sends nothing; the first after it, a new build
    wait_until(
        lambda: session_builds.request_build_sync(store, stack.app, owner, job["id"]) == "build",
        DEADLINE,
        "a request to send the build again",
    )
    record = wait_until(
        lambda: (r := store.get(owner, job["id"]))["session"] == "ready" and r,
        DEADLINE,
        "the file built again",
    )
    assert record["session_builds"] == 2, record
    assert store.session(owner, job["id"])[:8] == HDF5


def test_a_build_cut_short_by_a_drain_is_sent_again_after_its_stale_deadline(
    stack_factory, monkeypatch
):
    """A drain does not stop a build: one still running at the drain's deadline goes with
    its pool process; the job stays `building` until the next request after the deadline."""
    monkeypatch.setenv(session_builds.STALE_ENV, "2")
    stack = stack_factory(drain_seconds=4)
    worker = stack.worker(concurrency=1)
    store, owner = stack.remote.store, stack.remote.owner
    job = stack.remote.submit(slow_to_build(25), "lm")
    deferred(stack, job["id"])
    assert session_builds.request_build_sync(store, stack.app, owner, job["id"]) == "build"
    wait_until(
        lambda: f"building the session file of job {job['id']}" in worker.log.read_text(),
        DEADLINE,
        "the build to start",
    )
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)  # the drain: the worker exits at its deadline
    worker.process.wait(30)
    assert store.get(owner, job["id"])["session"] == "building"
    stack.worker(concurrency=1)
    wait_until(
        lambda: session_builds.request_build_sync(store, stack.app, owner, job["id"]) == "build",
        DEADLINE,
        "a request to send the build again",
    )
    record = wait_until(
        lambda: (r := store.get(owner, job["id"]))["session"] == "ready" and r,
        DEADLINE,
        "the file built again",
    )
    assert record["session_builds"] == 2, record
