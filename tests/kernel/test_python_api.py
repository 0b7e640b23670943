"""The kernel-side Python API against a real server, Redis and worker."""

from __future__ import annotations

import numpy as np
import pytest

from jupyter_bumps_remote.shared import jobs

from ..support.problems import gaussian_problem
from ..support.waiting import wait_until


def test_submit_wait_result(api_client):
    problem = gaussian_problem()
    job = api_client.submit(problem, "lm", name="api fit", tags=["api"], seed=3)
    assert job.name == "api fit" and job.tags == ["api"] and job.seed == 3
    result = job.result(timeout=60)
    assert job.status == jobs.SUCCEEDED and not result.partial
    assert result.labels == problem.labels() and result.x.shape == (3,)
    local = result.local_fit(gaussian_problem())
    np.testing.assert_allclose(result.x, local.x, rtol=1e-9)
    assert result.problem.chisq() == pytest.approx(result.chisq, rel=1e-9)
    assert "±" in result._repr_html_() and "FitResult(lm" in repr(result)


def test_events_iterator_ends_with_the_terminal_status(api_client):
    job = api_client.submit(gaussian_problem(), "dream", steps=100, burn=10)
    events = list(job.events(timeout=60))
    assert events[-1]["type"] == "status" and events[-1]["data"]["status"] == jobs.SUCCEEDED
    assert any(e["type"] == "progress" for e in events)


def test_failed_fit_raises_with_the_remote_error(api_client):
    job = api_client.submit(gaussian_problem(model="raising_gaussian", RAISE_AFTER=1), "amoeba")
    with pytest.raises(api_client.RemoteFitError) as failed:
        job.result(timeout=60)
    assert failed.value.error["type"] == "RuntimeError"
    assert "model exploded on purpose" in str(failed.value)
    assert "Remote traceback:" in "\n".join(failed.value._render_traceback_())


def test_cancelled_fit_gives_its_partial_result(api_client):
    job = api_client.submit(gaussian_problem(), "dream", steps=200_000, burn=10)
    for event in job.events(timeout=60):
        if event["type"] == "progress":
            break
    job.cancel()
    result = job.result(timeout=30)
    assert job.status == jobs.CANCELLED and result.partial and len(result.x) == 3


def test_get_job_list_jobs_and_retry(api_client):
    job = api_client.submit(gaussian_problem(), "lm", tags=["listed"])
    job.wait(60)
    again = api_client.get_job(job.id)
    assert again.id == job.id and again.status == jobs.SUCCEEDED
    assert job.id in [j.id for j in api_client.list_jobs(tag="listed")]
    retried = job.retry(seed=9)
    assert retried.seed == 9 and retried.result(60).seed == 9


def test_save_writes_a_session_file_bumps_opens(api_client, tmp_path):
    from bumps.fitters import load_fit_from_session

    result = api_client.submit(gaussian_problem(), "dream", steps=100, burn=10).result(60)
    assert result.state is not None and result.dream["parameters"][0]["label"] == "A"
    path = result.save(tmp_path / "fit.h5")
    _, reloaded = load_fit_from_session(path)
    np.testing.assert_allclose(reloaded.x, result.x, rtol=1e-12)


def test_an_lm_fits_file_is_built_when_save_asks_for_it_not_for_its_problem(api_client, tmp_path):
    """Every fitter but DREAM leaves its session file to be built on request: save() asks
    the server, which has a worker build it once. The result's problem comes from the job's
    payload, rebuilt in the kernel: no build for a plot."""
    from bumps.fitters import load_fit_from_session

    job = api_client.submit(gaussian_problem(), "lm", seed=5)
    result = job.result(60)
    assert result.problem.chisq() == pytest.approx(result.chisq, rel=1e-9)
    assert result.problem is result.problem  # rebuilt once

    # nothing was built: the recipe, stored just after the job's end, stays a recipe
    def settled() -> str:
        state = api_client.get_job(job.id).record.get("session") or ""
        return state if state in ("deferred", "building", "ready", "failed") else ""

    assert wait_until(settled, 60, "the recipe stored") == "deferred"
    assert result.state is None  # lm keeps none
    path = result.save(tmp_path / "lm.h5")
    problem, reloaded = load_fit_from_session(path)
    assert problem is not None
    np.testing.assert_allclose(reloaded.x, result.x, rtol=1e-12)
    np.testing.assert_allclose(problem.getp(), result.x, rtol=1e-12)
    assert reloaded.method == "lm"


def test_submit_many_runs_a_sweep(api_client):
    group = api_client.submit_many([gaussian_problem(n=40 + i) for i in range(4)], "lm")
    rows = group.table(timeout=60)
    assert len(rows) == 4 and all(r["status"] == jobs.SUCCEEDED for r in rows)
    assert all("A" in r and "dA" in r for r in rows)
    assert group.statuses() == {jobs.SUCCEEDED: 4}


def test_bad_input_fails_before_anything_is_sent(api_client):
    from jupyter_bumps_remote.shared.jobs import JobInputError
    from jupyter_bumps_remote.shared.transport import PayloadError

    with pytest.raises(JobInputError, match="options.stepz"):
        api_client.submit(gaussian_problem(), "dream", stepz=3)
    with pytest.raises(TypeError, match="expected a bumps FitProblem"):
        api_client.submit(object(), "lm")
    with pytest.raises(PayloadError, match="chisq is nan"):
        api_client.submit(gaussian_problem(SCALE=float("nan")), "lm")


def test_a_job_can_be_awaited(api_client):
    import asyncio

    job = api_client.submit(gaussian_problem(), "lm")

    async def follow():
        return await job

    assert asyncio.run(follow()) is job and job.status == jobs.SUCCEEDED


def test_result_of_a_running_job_is_one_request(api_client):
    # the long poll brings the job's end and its summary together (include=result)
    from jupyter_bumps_remote.kernel import api

    job = api_client.submit(gaussian_problem(), "dream", steps=200, burn=10, seed=4)
    sent = []
    api._client.session.hooks["response"].append(lambda r, **_: sent.append(r.request.url))
    try:
        result = job.result(timeout=60)
    finally:
        api._client.session.hooks["response"].clear()
    assert job.status == jobs.SUCCEEDED and result.seed == 4
    assert len(sent) == 1 and "include=result" in sent[0], sent


def test_a_kernel_on_other_versions_is_refused_unless_it_waits_for_a_worker(
    api_client, monkeypatch
):
    """A kernel whose numpy no live worker has hears so at once; wait_for_worker queues."""
    from jupyter_bumps_remote.kernel.client import RemoteError
    from jupyter_bumps_remote.shared import versions

    ours = versions.environment

    def on_another_numpy(*args, **kwargs):
        return {**ours(*args, **kwargs), "numpy": "1.26.4"}

    monkeypatch.setattr(versions, "environment", on_another_numpy)
    with pytest.raises(RemoteError) as refused:
        api_client.submit(gaussian_problem(), "lm")
    assert refused.value.status == 409 and "numpy" in refused.value.message
    job = api_client.submit(gaussian_problem(), "lm", wait_for_worker=True)
    assert job.status == jobs.QUEUED and "numpy 1.26" in job.record["waiting_reason"]
    job.cancel()
