"""DREAM reproduces with the recorded seed, numba's generator included (refl1d requires numba).

Where numba is installed, bumps' DREAM draws its proposals in numba-compiled code, from
numba's own generator, which `np.random.seed` leaves alone: `fitting.seed_fit` seeds both.
"""

from __future__ import annotations

import numpy as np
import pytest
from bumps import fitters as bumps_fitters

from jupyter_bumps_remote.kernel.result import FitResult
from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.shared.fitting import seed_fit

from ..support.libraries import require
from ..support.problems import gaussian_problem

# A short but real DREAM run: a few tenths of a second on a refl1d slab.
OPTIONS = {"steps": 30, "burn": 10, "pop": 4}


def slab_problem():
    """A film on silicon, measured (simulated, with fixed noise) at 60 points; 3 parameters."""
    require("refl1d")
    from refl1d import names

    q_angles = np.linspace(0.1, 3.0, 60)
    probe = names.NeutronProbe(T=q_angles, dT=0.01, L=4.75, dL=0.0475)
    silicon = names.SLD(name="Si", rho=2.07)
    film = names.SLD(name="film", rho=4.0)
    air = names.SLD(name="air", rho=0.0)
    sample = silicon(0, 5) | film(150, 8) | air
    reflectivity = names.Experiment(probe=probe, sample=sample).reflectivity()[1]
    probe.dR = 0.05 * reflectivity
    probe.R = reflectivity + np.random.default_rng(7).normal(size=reflectivity.shape) * probe.dR
    sample[1].thickness.range(100, 200)
    sample[1].material.rho.range(2, 6)
    sample[1].interface.range(1, 20)
    return names.FitProblem(names.Experiment(probe=probe, sample=sample))


def documented_local_fit(problem, seed):
    """The reproduction docs/user-guide.md gives: seed_fit, then bumps' own fit."""
    seed_fit(seed)
    return bumps_fitters.fit(problem, method="dream", **OPTIONS)


def assert_same_dream_run(one, other):
    np.testing.assert_array_equal(one.x, other.x)
    for one_part, other_part in zip(one.state.chains(), other.state.chains(), strict=True):
        np.testing.assert_array_equal(one_part, other_part)


@pytest.mark.parametrize("make_problem", [slab_problem, gaussian_problem])
def test_two_local_dream_runs_with_one_seed_give_the_same_chains(make_problem):
    first = documented_local_fit(make_problem(), 12345)
    second = documented_local_fit(make_problem(), 12345)
    assert_same_dream_run(first, second)
    assert first.fun == second.fun
    different = documented_local_fit(make_problem(), 54321)
    assert not np.array_equal(different.state.chains()[1], first.state.chains()[1])


@pytest.mark.parametrize("helper_module", [True, False], ids=["helper", "compiled"])
def test_seed_fit_seeds_numba_as_compiled_np_random_seed_does(monkeypatch, helper_module):
    """Both ways `seed_fit` seeds numba (its helper module, or compiled code where that
    private name is gone) leave numba's generator as `np.random.seed` in numba code does."""
    numba = pytest.importorskip("numba")

    @numba.njit
    def draws():
        return np.random.rand(4)

    @numba.njit
    def seeded_draws(seed):
        np.random.seed(seed)
        return np.random.rand(4)

    if not helper_module:
        from numba import _helperlib

        monkeypatch.delattr(_helperlib, "rnd_seed")
    seed_fit(2**32 - 1)  # the largest seed a job records
    np.testing.assert_array_equal(draws(), seeded_draws(2**32 - 1))
    seed_fit(7)
    np.testing.assert_array_equal(draws(), seeded_draws(7))
    # numpy's global generator, as np.random.seed(7) leaves it
    np.testing.assert_array_equal(np.random.rand(4), np.random.RandomState(7).rand(4))


def test_remote_refl1d_dream_equals_the_local_fit_with_the_recorded_seed(remote):
    problem = slab_problem()
    job = remote.submit(problem, "dream", OPTIONS)  # the job draws and records its seed
    # first refl1d job of the worker: imports refl1d and loads numba's compiled code
    record = remote.wait(job["id"], timeout=180)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    summary = remote.store.result(remote.owner, job["id"])
    result = FitResult(job["id"], summary, lambda: remote.session(job["id"]))
    assert result.seed == record["seed"]

    local_problem = slab_problem()
    local = documented_local_fit(local_problem, result.seed)
    np.testing.assert_array_equal(result.x, local.x)
    # bumps 1.0.4's fit() gives no chisq: it is the problem's scaling of the best nllf
    assert result.chisq == local_problem.chisq(nllf=local.fun)
    assert_same_dream_run(result, local)  # the chains of the session file, bumps-loaded

    again = result.local_fit(slab_problem())
    np.testing.assert_array_equal(again.x, result.x)
    assert again.chisq == result.chisq
    assert_same_dream_run(again, result)
