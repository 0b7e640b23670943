"""The summary's covariance is computed once per fit: where bumps already computed
`problem.cov(x)` for dx, the summary reuses it, and the summary is the same to the bit."""

from __future__ import annotations

import pytest

from jupyter_bumps_remote.shared.fitting import run_fit
from jupyter_bumps_remote.worker.fit.results import summarize

from ..support.problems import gaussian_problem

# Small runs of each fitter whose dx bumps derives from `problem.cov`, and DREAM's, whose
# dx is its sample's and which leaves the summary's covariance to the summary.
OPTIONS = {
    "amoeba": {},
    "lm": {},
    "newton": {},
    "de": {"steps": 20},
    "dream": {"steps": 20, "burn": 10},
}


def summary_of(problem, outcome, cov):
    return summarize(
        problem, outcome.result, seed=1, options={}, partial=False, elapsed=0.0, cov=cov
    )


@pytest.mark.parametrize("fitter", sorted(OPTIONS))
def test_the_summary_with_the_fits_covariance_is_the_summary_without_it(fitter):
    problem = gaussian_problem()
    outcome = run_fit(problem, fitter, OPTIONS[fitter], seed=7)
    if fitter == "dream":
        assert outcome.cov is None  # dx is the sample's: no covariance was computed
    else:
        assert outcome.cov is not None
    assert summary_of(problem, outcome, outcome.cov) == summary_of(problem, outcome, None)
