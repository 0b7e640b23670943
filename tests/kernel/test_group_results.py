"""A sweep's results from the kernel's Python API in a constant number of requests (POST
jobs/results), on a real server, Redis and worker: the same results as asked one by one."""

from __future__ import annotations

import time

import numpy as np

from jupyter_bumps_remote.kernel.job import LONG_POLL
from jupyter_bumps_remote.shared import jobs

from ..support.problems import gaussian_problem

SWEEP = 20


def counting(remote):
    """The requests the kernel's client sends from now on (method, path), counted where
    they leave it: a response hook on its requests session."""
    from jupyter_bumps_remote.kernel import api

    sent: list[tuple[str, str]] = []
    session = api.client().session
    session.hooks["response"].append(lambda r, **_: sent.append((r.request.method, r.url)))
    return sent, session


def test_a_sweeps_results_come_in_a_few_requests_whatever_its_size(api_client):
    problems = [gaussian_problem(n=30 + i) for i in range(SWEEP)]
    problems.insert(7, gaussian_problem(model="raising_gaussian", RAISE_AFTER=1))
    group = api_client.submit_many(problems, "lm", name="counted", seed=5)
    sent, session = counting(api_client)
    started = time.monotonic()
    try:
        results = group.results(timeout=120)
        rows = group.table()  # everything is here: no request
    finally:
        session.hooks["response"].clear()
    # one long poll per 30 s until the sweep ends (seconds here), then the results: never one
    # request per fit
    assert 1 <= len(sent) <= 1 + (time.monotonic() - started) // LONG_POLL + 1 < SWEEP, sent
    assert all(method == "POST" and "jobs/results" in url for method, url in sent), sent

    assert len(results) == SWEEP + 1
    failed = results[7]
    assert isinstance(failed, api_client.RemoteFitError), failed
    assert failed.job_id == group[7].id and failed.error["type"] == "RuntimeError"
    assert rows[7]["status"] == jobs.FAILED and "chisq" not in rows[7]
    # the same results as each job's own, fetched one by one from the server
    for member, result in zip(group, results, strict=True):
        if member is group[7]:
            continue
        alone = api_client.get_job(member.id).result(timeout=10)
        assert result.to_dict() == alone.to_dict()
        np.testing.assert_array_equal(result.x, alone.x)
        assert result.seed == 5 and member.status == jobs.SUCCEEDED
    assert [r["id"] for r in rows] == [m.id for m in group]
    assert all(r["status"] == jobs.SUCCEEDED and "dA" in r for i, r in enumerate(rows) if i != 7)

    # a member's problem: only when asked for, that member's alone, from its payload (no
    # session file, which a worker would have to build)
    sent, session = counting(api_client)
    try:
        problem = results[0].problem
    finally:
        session.hooks["response"].clear()
    assert problem.chisq() == results[0].chisq
    assert len(sent) == 1 and sent[0][1].endswith(f"jobs/{group[0].id}/payload"), sent
