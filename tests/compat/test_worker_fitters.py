"""Every fitter bumps registers, run remotely, equals the same fit run locally with bumps."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from bumps import fitters as bumps_fitters

from jupyter_bumps_remote.shared import fitting, jobs, transport

from ..support.problems import gaussian_problem

# Small but real runs of each fitter (seconds in all).
OPTIONS = {
    "amoeba": {},
    "lm": {},
    "newton": {},
    "de": {"steps": 40},
    "dream": {"steps": 60, "burn": 20},
    "pt": {"steps": 30, "burn": 10},
}
SEED = 20261128


def test_the_suite_covers_every_registered_fitter():
    assert sorted(OPTIONS) == sorted(bumps_fitters.FIT_AVAILABLE_IDS)


def local_bumps_fit(payload, fitter, options, seed):
    """What a user runs in a kernel to reproduce a remote job: bumps' own simple fit."""
    problem = transport.decode(payload)
    fitting.seed_fit(seed)  # np.random.seed, and numba's generator where numba is installed
    return problem, bumps_fitters.fit(problem, method=fitter, **options)


@pytest.fixture(scope="module")
def payload():
    return transport.encode(gaussian_problem())


@pytest.mark.parametrize("fitter", sorted(OPTIONS))
def test_remote_fit_equals_local_fit(remote, payload, fitter):
    options = OPTIONS[fitter]
    job = remote.submit(payload, fitter, options, seed=SEED)
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    summary = remote.store.result(remote.owner, job["id"])
    problem, local = local_bumps_fit(payload, fitter, options, SEED)

    np.testing.assert_allclose(summary["x"], local.x, rtol=1e-9, atol=0)
    # bumps 1.0.4's fit() result has no .chisq (1.0.5 adds it): χ² from its nllf, as bumps does
    np.testing.assert_allclose(summary["chisq"], problem.chisq(nllf=local.fun), rtol=1e-9)
    np.testing.assert_allclose(summary["dx"], local.dx, rtol=1e-9)
    assert summary["labels"] == problem.labels() and summary["seed"] == SEED
    assert summary["method"] == fitter and summary["nit"] == local.nit
    assert len(summary["convergence"]) == len(local.convergence)
    assert np.shape(summary["cov"]) == (3, 3) and len(summary["stderr"]) == 3

    # The session file reloads with bumps into the same point, chisq and state.
    session = remote.session(job["id"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fit.h5"
        path.write_bytes(session)
        reloaded_problem, reloaded = bumps_fitters.load_fit_from_session(path)
    np.testing.assert_allclose(reloaded.x, summary["x"], rtol=1e-12)
    np.testing.assert_allclose(reloaded_problem.chisq(), summary["chisq"], rtol=1e-9)
    if fitter == "dream":
        for remote_part, local_part in zip(
            reloaded.state.chains(), local.state.chains(), strict=True
        ):
            np.testing.assert_array_equal(remote_part, local_part)  # the same chains
        assert summary["dream"]["generations"] == local.state.generation
        assert [p["label"] for p in summary["dream"]["parameters"]] == problem.labels()
    else:
        assert summary["dream"] is None


def test_a_different_seed_gives_a_different_dream_run(remote, payload):
    runs = []
    for seed in (1, 2):
        job = remote.submit(payload, "dream", OPTIONS["dream"], seed=seed)
        assert remote.wait(job["id"])["status"] == jobs.SUCCEEDED
        runs.append(remote.store.result(remote.owner, job["id"])["x"])
    assert runs[0] != runs[1]


def test_the_seed_is_recorded_when_not_given(remote, payload):
    job = remote.submit(payload, "lm")
    record = remote.wait(job["id"])
    assert isinstance(record["seed"], int) and record["status"] == jobs.SUCCEEDED
    assert remote.store.result(remote.owner, job["id"])["seed"] == record["seed"]
