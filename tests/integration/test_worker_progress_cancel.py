"""Live progress, cancel, time limits and parallel evaluation, on a real worker."""

from __future__ import annotations

import time

import numpy as np

from jupyter_bumps_remote.shared import jobs, transport

from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM, wait_for_progress


def test_progress_is_ordered_throttled_and_ends_with_final_then_status(remote):
    job = remote.submit(gaussian_problem(), "dream", {"steps": 800, "burn": 10}, seed=3)
    record = remote.wait(job["id"], timeout=60)
    assert record["status"] == jobs.SUCCEEDED
    events = remote.events(job["id"])
    kinds = [e["type"] for e in events]
    assert [e["data"]["status"] for e in events if e["type"] == "status"] == [
        "queued",
        "running",
        "succeeded",
    ]
    progress = [e for e in events if e["type"] == "progress"]
    assert len(progress) >= 5
    assert kinds[-2:] == ["progress", "status"] and progress[-1]["data"]["final"]
    assert not any(p["data"]["final"] for p in progress[:-1])
    steps = [p["data"]["step"] for p in progress]
    assert steps == sorted(steps) and steps[-1] == record["progress"]["step"]
    # throttled: at most one live event per 0.1 s (the worker's configured interval), on
    # the fit's own clock (arrival times in Redis jitter by a few ms)
    live = [p["data"]["elapsed"] for p in progress[:-1]]
    assert min(np.diff(live)) >= 0.1
    assert all(p["data"]["max_steps"] == progress[0]["data"]["max_steps"] > 0 for p in progress)
    # the events alone rebuild the whole convergence history of the result
    rows = [row for p in progress for row in p["data"]["rows"]]
    summary = remote.store.result(remote.owner, job["id"])
    np.testing.assert_allclose(rows, summary["convergence"], rtol=1e-12)
    assert progress[-1]["data"]["chisq"] == summary["chisq"]


def test_cancel_stops_a_running_dream_within_a_second_keeping_its_best_point(remote):
    problem = gaussian_problem()
    start_chisq = problem.chisq()
    job = remote.submit(problem, "dream", LONG_DREAM, seed=4)
    wait_for_progress(remote, job["id"])
    asked = time.monotonic()
    assert remote.store.request_cancel(remote.owner, job["id"]) == jobs.RUNNING
    record = remote.wait(job["id"], timeout=10)
    took = time.monotonic() - asked
    assert record["status"] == jobs.CANCELLED and took < 1.0, took
    assert record["partial"] and record["has_result"] and record["reason"] == "cancelled by user"
    summary = remote.store.result(remote.owner, job["id"])
    assert summary["partial"] and summary["chisq"] < start_chisq


def test_cancelled_newton_keeps_its_best_point_not_its_start(remote):
    # newton returns its starting point when aborted; the worker must return the best seen.
    # newton converges in ~9 iterations; a 50 ms model makes that seconds, time to cancel
    problem = gaussian_problem(model="slow_gaussian", DELAY=0.05)
    start_chisq = problem.chisq()
    job = remote.submit(problem, "newton", {"steps": 100_000}, seed=5)
    first = wait_for_progress(remote, job["id"])
    while first["data"]["chisq"] >= start_chisq:  # wait until it has improved at all
        first = wait_for_progress(remote, job["id"])
    remote.store.request_cancel(remote.owner, job["id"])
    record = remote.wait(job["id"], timeout=10)
    assert record["status"] == jobs.CANCELLED
    summary = remote.store.result(remote.owner, job["id"])
    assert summary["chisq"] < start_chisq
    assert not np.allclose(summary["x"], problem.getp())


def test_a_cancelled_queued_job_never_starts(remote):
    payload = transport.encode(gaussian_problem())
    busy = [remote.submit(payload, "dream", LONG_DREAM, seed=i) for i in range(2)]
    for job in busy:  # both pool processes are now fitting
        remote.wait(job["id"], until={jobs.RUNNING})
    waiting = remote.submit(payload, "lm", seed=1)
    assert remote.store.request_cancel(remote.owner, waiting["id"]) == jobs.CANCELLED
    for job in busy:
        remote.store.request_cancel(remote.owner, job["id"])
        remote.wait(job["id"])
    # the cancelled job's message is consumed once a slot frees; it must not run
    after = remote.submit(payload, "lm", seed=1)
    assert remote.wait(after["id"])["status"] == jobs.SUCCEEDED
    record = remote.store.get(remote.owner, waiting["id"])
    assert record["status"] == jobs.CANCELLED and record["attempt"] == 0
    assert "started" not in record and not record.get("has_result")
    statuses = [e["data"]["status"] for e in remote.events(waiting["id"]) if e["type"] == "status"]
    assert statuses == ["queued", "cancelled"]


def test_max_time_stops_a_fit_on_time(remote):
    job = remote.submit(gaussian_problem(), "dream", {**LONG_DREAM, "max_time": 1.0}, seed=6)
    record = remote.wait(job["id"], timeout=30)
    assert record["status"] == jobs.SUCCEEDED and record["reason"] == "stopped at max_time"
    elapsed = remote.store.result(remote.owner, job["id"])["elapsed"]
    assert 1.0 <= elapsed < 2.0


def test_parallel_population_evaluation_is_faster_inside_the_worker(remote):
    # an expensive model: 2 ms per evaluation, so evaluation dominates and 2 processes help
    problem = gaussian_problem(model="slow_gaussian", DELAY=0.002)
    payload = transport.encode(problem)
    elapsed = {}
    for parallel in (1, 2):
        job = remote.submit(payload, "dream", {"steps": 40, "burn": 0, "parallel": parallel})
        record = remote.wait(job["id"], timeout=120)
        assert record["status"] == jobs.SUCCEEDED, record.get("error")
        elapsed[parallel] = remote.store.result(remote.owner, job["id"])["elapsed"]
    assert elapsed[2] < 0.8 * elapsed[1], elapsed
