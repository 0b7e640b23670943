"""Bad input: each gives the job a clear reason, and the worker goes on serving."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.server_ext.fit_messages import FitMessages
from jupyter_bumps_remote.shared import jobs, transport, versions

from ..support.fit_processes import fits_of
from ..support.problems import gaussian_problem
from ..support.running_fits import LONG_DREAM, wait_for_progress


@pytest.fixture
def payload():
    return transport.encode(gaussian_problem())


def submit_raw(remote, payload: dict, fitter="lm", options=None, queue=None) -> dict:
    """Store and queue a job as the server would, but with a payload altered after encoding,
    routed to the test worker's own queue."""
    settings = remote.app.conf.bumps_remote
    record, raw = dispatch.new_job(
        remote.owner,
        payload,
        fitter,
        options,
        queue_prefix=settings.queue_prefix,
        max_attempts=settings.max_attempts,
    )
    pure_bumps = versions.worker_queues(settings.queue_prefix, versions.environment())[0]
    record["queue"] = queue or pure_bumps
    message, _ = FitMessages(remote.app).message(record)
    created, _ = remote.store.create(record, raw, message=message)
    return created


def assert_failed_then_worker_serves(remote, job, *fragments) -> dict:
    record = remote.wait(job["id"], timeout=60)
    assert record["status"] == jobs.FAILED, record
    message = record["error"]["message"]
    for fragment in fragments:
        assert fragment in message, message
    healthy = remote.submit(gaussian_problem(), "lm")
    assert remote.wait(healthy["id"])["status"] == jobs.SUCCEEDED
    return record


def test_undecodable_payload(remote, payload):
    payload["problem"] = "bm90IHpsaWI="  # base64 of "not zlib"
    job = submit_raw(remote, payload)
    assert_failed_then_worker_serves(remote, job, "corrupt", "Re-encode")


@pytest.mark.parametrize(
    ("fitter", "options", "field", "hint"),
    [
        ("simplex", None, "fitter", "amoeba, de, dream, lm, newton, pt"),
        ("dream", {"stepz": 10}, "options.stepz", "allowed: alpha, burn"),
        ("dream", {"init": "sobol"}, "options.init", "eps, lhs, cov, random"),
        ("de", {"CR": 3}, "options.CR", "between 0 and 1"),
    ],
)
def test_unknown_fitter_or_bad_option_is_refused_before_queueing(
    remote, payload, fitter, options, field, hint
):
    with pytest.raises(jobs.JobInputError) as refused:
        remote.submit(payload, fitter, options)
    assert refused.value.field == field and hint in refused.value.message
    assert remote.store.list(remote.owner)[2] == 0  # nothing stored, nothing queued


@pytest.mark.parametrize(
    ("part", "value", "fragments"),
    [
        ("python", "3.10.4", ("Python 3.10.4", "Run a worker with Python 3.10")),
        ("bumps", "0.9.3", ("bumps 0.9.3", "Install bumps 0.9.3")),
        ("numpy", "1.26.4", ("numpy 1.26.4", 'pip install "numpy==1.26.*"')),
        ("libraries", {"refl1d": "0.8.16"}, ("refl1d 0.8.16", 'pip install "refl1d==0.8.16"')),
    ],
)
def test_version_mismatch(remote, payload, part, value, fragments):
    # the worker's own check, before decoding: routed to its queue anyway, it refuses
    payload["environment"][part] = value
    job = submit_raw(remote, payload)
    assert_failed_then_worker_serves(remote, job, *fragments)


def test_a_mismatched_environment_is_routed_to_its_own_queue(remote, payload):
    payload["environment"]["python"] = "3.10.4"
    record, _ = dispatch.new_job(
        remote.owner, payload, "lm", queue_prefix="bumps-remote.", max_attempts=3
    )
    ours = versions.environment()
    assert record["queue"].startswith(
        f"bumps-remote.py3.10-bumps{ours['bumps']}-numpy{versions.minor(ours['numpy'])}"
    )
    assert record["queue"] not in versions.worker_queues("bumps-remote.", ours)


def test_an_importable_package_travels_by_reference(remote):
    sys.path.insert(0, str(remote_support_dir()))
    try:
        from bumps.names import Curve, FitProblem
        from refmodels import line

        x = [float(v) for v in range(20)]
        curve = Curve(line, x, [2 * v + 1 for v in x], [0.5] * 20, m=1.0, b=0.0)
        curve.m.range(0, 5)
        curve.b.range(-5, 5)
        payload = transport.encode(FitProblem(curve))
        assert len(payload["problem"]) < 4000  # the function is a reference, not its code
        job = remote.submit(payload, "lm")
        record = remote.wait(job["id"])
        assert record["status"] == jobs.SUCCEEDED, record.get("error")
        summary = remote.store.result(remote.owner, job["id"])
        fitted = dict(zip(summary["labels"], summary["x"], strict=True))
        assert fitted == pytest.approx({"m": 2.0, "b": 1.0}, rel=1e-6)
    finally:
        sys.path.remove(str(remote_support_dir()))
        sys.modules.pop("refmodels", None)


def remote_support_dir():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "support" / "importable"


def test_model_that_raises_mid_fit(remote):
    job = remote.submit(gaussian_problem(model="raising_gaussian", RAISE_AFTER=1), "amoeba")
    record = assert_failed_then_worker_serves(remote, job, "model exploded on purpose")
    assert record["error"]["type"] == "RuntimeError"
    assert "raising_gaussian" in record["error"]["traceback"]


def test_nan_chisq_at_the_start(remote):
    payload = transport.encode(gaussian_problem(SCALE=float("nan")))
    assert payload["chisq"] is None
    job = remote.submit(payload, "lm")
    assert_failed_then_worker_serves(remote, job, "chisq is nan at the start point", "dy")


def test_preflight_mismatch(remote, payload):
    payload["chisq"] *= 1.001
    job = remote.submit(payload, "lm")
    assert_failed_then_worker_serves(remote, job, "kernel computed", "same versions")


def fit_process_of(remote, job_id: str) -> int:
    """The job's fit process: the one the pool process that holds the job's lease (its
    token is worker/pool pid/nonce) watches. The other pool processes' are idle spares."""
    token = remote.store.redis.get(remote.store.keys.lease(remote.owner, job_id)).decode()
    fits = fits_of(int(token.split("/")[-2]))
    assert len(fits) == 1, fits  # the running fit; its successor spare comes after it ends
    return int(fits[0])


def test_fit_process_killed_by_a_signal(remote, worker):
    job = remote.submit(gaussian_problem(), "dream", LONG_DREAM)
    wait_for_progress(remote, job["id"])
    os.kill(fit_process_of(remote, job["id"]), signal.SIGKILL)
    record = assert_failed_then_worker_serves(remote, job, "killed by signal 9 (SIGKILL)")
    assert record["error"]["type"] == "FitProcessDied"
    assert worker.process.poll() is None
