"""Session files built on request, the pure parts: the recipe a fit sends rebuilds the very
file it would have written; the build message is checked like a fit's; the build queues."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from bumps.fitters import load_fit_from_session

from jupyter_bumps_remote.shared import transport, versions
from jupyter_bumps_remote.shared.fitting import run_fit
from jupyter_bumps_remote.shared.task_names import BUILD_TASK, FIT_TASK
from jupyter_bumps_remote.worker.fit.fit_process import session_serializer
from jupyter_bumps_remote.worker.fit.results import (
    deferrable,
    session_bytes,
    session_from_recipe,
    session_recipe,
)
from jupyter_bumps_remote.worker.pool.message_checks import refusal

from ..support.problems import gaussian_problem


def _loaded(data: bytes):
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "fit.h5"
        path.write_bytes(data)
        problem, result = load_fit_from_session(path)
        assert problem is not None
        return problem, result


@pytest.mark.parametrize("fitter", ["lm", "amoeba", "de"])
def test_the_file_built_from_the_recipe_opens_as_the_eager_one(fitter):
    payload = transport.encode(gaussian_problem())
    serializer = session_serializer({"encoding": payload["encoding"]})
    problem = transport.decode(payload)
    options = {"steps": 20} if fitter != "lm" else {}
    result = run_fit(problem, fitter, options, seed=3).result
    assert deferrable(result)
    # the recipe travels as JSON (channel.py), and the build decodes the payload afresh
    recipe = json.loads(json.dumps(session_recipe(problem, result, serializer)))
    eager_problem, eager = _loaded(session_bytes(problem, result, serializer))
    built_problem, built = _loaded(session_from_recipe(transport.decode(payload), recipe))
    assert built_problem.labels() == eager_problem.labels()
    np.testing.assert_array_equal(built_problem.getp(), eager_problem.getp())
    np.testing.assert_array_equal(built.x, eager.x)
    np.testing.assert_array_equal(built.convergence, eager.convergence)
    assert built.method == eager.method == fitter
    assert built_problem.chisq() == eager_problem.chisq()


def test_a_dream_fit_is_not_deferred():
    problem = gaussian_problem()
    result = run_fit(problem, "dream", {"steps": 10, "pop": 4, "burn": 5}, seed=1).result
    assert not deferrable(result)


@pytest.mark.parametrize(
    "recipe",
    [{"version": 99}, [], {"version": 1, "serializer": "pickle", "x": [1, 2, 3]}],
)
def test_a_recipe_that_is_not_one_is_refused_saying_why(recipe):
    with pytest.raises(ValueError):
        session_from_recipe(gaussian_problem(), recipe)


def test_a_recipe_of_another_problems_size_is_refused():
    problem = gaussian_problem()
    recipe = {"version": 1, "serializer": "dataclass", "x": [1.0], "convergence": []}
    with pytest.raises(ValueError, match="1 parameters for a problem of 3"):
        session_from_recipe(problem, recipe)


def test_a_build_message_has_exactly_the_job_the_owner_and_the_build_token():
    headers: dict = {}
    ok = (["job", "owner", "token"], {}, {})
    assert refusal(headers, ok, BUILD_TASK) == ""
    assert refusal(headers, (["job", "owner"], {}, {}), BUILD_TASK)
    assert refusal(headers, (["job", "owner", ""], {}, {}), BUILD_TASK)
    assert refusal(headers, (["job", "owner", 3], {}, {}), BUILD_TASK)
    assert refusal(headers, (["job", "owner", "t"], {"x": 1}, {}), BUILD_TASK)
    assert refusal(headers, (["job", "owner", "t"], {}, {"callbacks": [{}]}), BUILD_TASK)
    assert refusal({"timelimit": [1, None]}, ok, BUILD_TASK) == "header timelimit"
    # the fit's own check is unchanged: two or three arguments
    assert refusal(headers, (["job", "owner"], {}, {}), FIT_TASK) == ""


def test_build_queues_follow_the_job_queues_under_the_prefix():
    env = {"python": "3.11.7", "bumps": "1.0.5", "numpy": "2.4.6", "libraries": {"refl1d": "1"}}
    consumed = versions.consumed_queues("p.", env)
    jobs_queues = versions.worker_queues("p.", env)
    assert consumed[: len(jobs_queues)] == jobs_queues  # a worker's default queue stays first
    builds = consumed[len(jobs_queues) :]
    assert builds == [
        "p.session-py3.11-bumps1.0.5-numpy2.4",
        "p.session-py3.11-bumps1.0.5-numpy2.4-refl1d1",
    ]
    assert all(b.startswith("p.") and b not in jobs_queues for b in builds)
    with pytest.raises(ValueError):
        versions.build_queue_of("p.", "other.py3.11")
