"""`submit_many` sends a sweep in as few requests as fit (POST jobs/batch), on a real server,
Redis and worker: one for a sweep of up to 1000, more only past that (or the body limit),
the jobs in order either way; the same Idempotency-Key returns the same jobs."""

from __future__ import annotations

import uuid

from jupyter_bumps_remote.kernel import batches
from jupyter_bumps_remote.shared import jobs

from ..support.problems import gaussian_problem


def counting():
    """The requests the kernel's client sends from now on (method, path)."""
    from jupyter_bumps_remote.kernel import api

    sent: list[tuple[str | None, str]] = []
    session = api.client().session
    session.hooks["response"].append(lambda r, **_: sent.append((r.request.method, r.url)))
    return sent, session


def test_a_sweep_goes_in_one_request(api_client):
    problems = [gaussian_problem(n=30 + i) for i in range(25)]
    sent, session = counting()
    try:
        group = api_client.submit_many(problems, "lm", name="one go", seed=4, tags=["t"])
    finally:
        session.hooks["response"].clear()
    assert [(m, url.rsplit("/api/", 1)[1]) for m, url in sent] == [
        ("GET", "info"),
        ("POST", "jobs/batch"),
    ]
    assert [job.name for job in group] == [f"one go [{i}]" for i in range(25)]
    assert all(job.tags == [group.tag, "t"] and job.seed == 4 for job in group)
    results = group.results(timeout=120)
    assert all(group[i].status == jobs.SUCCEEDED for i in range(25)), results
    # each its own problem: the fit of problem i has its number of points
    assert [r.to_dict()["numpoints"] for r in results] == [30 + i for i in range(25)]


def test_a_larger_sweep_goes_in_order_in_several_requests(api_client, monkeypatch):
    monkeypatch.setattr(batches, "MAX_JOBS", 4)
    key = f"sweep-{uuid.uuid4()}"
    problems = [gaussian_problem(n=30 + i) for i in range(10)]
    sent, session = counting()
    try:
        group = api_client.submit_many(problems, "lm", idempotency_key=key)
    finally:
        session.hooks["response"].clear()
    assert [url.rsplit("/api/", 1)[1] for _, url in sent] == ["info"] + ["jobs/batch"] * 3
    again = api_client.submit_many(problems, "lm", idempotency_key=key)
    assert [job.id for job in again] == [job.id for job in group]
    assert [job.name for job in group] == [f"sweep of 10 [{i}]" for i in range(10)]
    assert all(r.to_dict()["numpoints"] == 30 + i for i, r in enumerate(group.results(120)))
