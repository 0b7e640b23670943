"""A DREAM fit's sample statistics are computed once: dx is derived from them as bumps'
DreamFit.stderr derives it, to the bit, and the summary's DREAM statistics reuse them; the
summary's JSON (orjson) parses to what json.dumps wrote."""

from __future__ import annotations

import json

import numpy as np
from bumps import fitters as bumps_fitters

from jupyter_bumps_remote.shared import fitting
from jupyter_bumps_remote.shared.fast_json import dumps as summary_json
from jupyter_bumps_remote.shared.fitting import run_fit
from jupyter_bumps_remote.worker.fit.results import summarize

from ..support.problems import gaussian_problem

DREAM = {"steps": 30, "burn": 10}


def summary(problem, outcome, **given):
    return summarize(
        problem, outcome.result, seed=1, options=DREAM, partial=False, elapsed=0.0, **given
    )


def test_dx_is_bumps_dreamfit_stderr_to_the_bit():
    problem = gaussian_problem()
    outcome = run_fit(problem, "dream", DREAM, seed=3)
    assert outcome.sample_stats is not None
    fitter = bumps_fitters.DreamFit(problem)
    fitter.state = outcome.result.state
    expected = fitter.stderr()
    assert outcome.result.dx.dtype == expected.dtype
    assert outcome.result.dx.tobytes() == expected.tobytes()


def test_dx_is_bumps_fit_s():
    problem = gaussian_problem()
    fitting.seed_fit(5)
    bumps_result = bumps_fitters.fit(problem, method="dream", **DREAM)
    outcome = run_fit(gaussian_problem(), "dream", DREAM, seed=5)
    assert outcome.result.dx.tobytes() == np.asarray(bumps_result.dx, dtype=float).tobytes()


def test_the_summary_with_the_fits_statistics_is_the_summary_without_them():
    problem = gaussian_problem()
    outcome = run_fit(problem, "dream", DREAM, seed=4)
    reused = summary(problem, outcome, sample_stats=outcome.sample_stats)
    assert reused == summary(problem, outcome)
    assert reused["dream"]["parameters"][0]["label"] == problem.labels()[0]


def test_other_fitters_leave_no_sample_statistics():
    outcome = run_fit(gaussian_problem(), "amoeba", {}, seed=4)
    assert outcome.sample_stats is None


def test_the_summary_json_is_json_dumps_parsed_alike():
    problem = gaussian_problem()
    outcome = run_fit(problem, "dream", DREAM, seed=6)
    value = summary(problem, outcome, sample_stats=outcome.sample_stats)
    value["options"] = {"steps": 30, "note": "é ✓", "ratio": 1e-300, "big": 1e300}
    written = json.dumps(value, separators=(",", ":"))
    assert json.loads(summary_json(value)) == json.loads(written)


def test_what_orjson_refuses_is_written_by_json_dumps():
    for refused in ({"options": {"huge": 2**70}}, {"options": {"text": "\ud800"}}):
        assert summary_json(refused) == json.dumps(refused, separators=(",", ":")).encode()
