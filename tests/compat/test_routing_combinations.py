"""A worker serves every combination of the model libraries it has: a job recording any of
them (refl1d, sasmodels, both, or none) is routed to it and runs there."""

from __future__ import annotations

import itertools

import pytest

from jupyter_bumps_remote.shared import jobs, transport, versions

from ..support.problems import gaussian_problem
from ..support.waiting import wait_until


def combinations() -> list[dict]:
    installed = list(versions.served_environment()["libraries"].items())
    sizes = range(len(installed) + 1)
    return [dict(c) for size in sizes for c in itertools.combinations(installed, size)]


@pytest.fixture
def served(store, worker) -> dict:
    """The session worker's heartbeat entry: what it serves."""
    found = wait_until(
        lambda: [w for w in store.workers() if w.get("pid") == worker.process.pid],
        30,
        "the worker's first beat",
    )
    return found[0]


def test_the_worker_consumes_one_queue_per_combination_of_its_libraries(served):
    assert served["environment"] == versions.served_environment()
    jobs_queues = {
        versions.queue_name("bumps-remote.", {**served["environment"], "libraries": c})
        for c in combinations()
    }
    # and the session builds' queue of each (docs/design.md#session-files)
    builds = {versions.build_queue_of("bumps-remote.", queue) for queue in jobs_queues}
    assert set(served["queues"]) == jobs_queues | builds
    assert len(served["queues"]) == 2 * 2 ** len(served["environment"]["libraries"])


def test_a_job_of_each_combination_runs_on_it(remote, served):
    submitted = []
    for libraries in combinations():
        payload = transport.encode(gaussian_problem())
        payload["environment"]["libraries"] = libraries
        job = remote.submit(payload, "lm")
        assert job["queue"] in served["queues"], (job["queue"], served["queues"])
        submitted.append(job)
    for job in submitted:
        assert remote.wait(job["id"], timeout=90)["status"] == jobs.SUCCEEDED, job["queue"]
