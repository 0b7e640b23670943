"""Problems bumps.serialize cannot send unchanged travel pickled, and fit remotely exactly as
locally: a sasmodels sphere (serialize cannot encode it) and two refl1d experiments sharing
parameters (serialize's copy has more of them; docs/transport.md)."""

from __future__ import annotations

from copy import copy

import numpy as np
import pytest
from bumps import fitters as bumps_fitters

from jupyter_bumps_remote.kernel.sweep_encoder import SweepEncoder
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.fitting import seed_fit

from ..support.libraries import require

SEED = 20261205
# Every fitter bumps registers, in short runs (the fidelity of long ones: test_worker_fitters).
FITTERS = {
    "amoeba": {"steps": 100},
    "lm": {},
    "newton": {"steps": 20},
    "de": {"steps": 10},
    "dream": {"steps": 10, "burn": 10},
    "pt": {"steps": 10, "burn": 5},
}


def sphere_problem():
    """sasmodels' own bumps Model/Experiment: a sphere on simulated SANS data (60 points)."""
    require("sasmodels")
    from bumps.names import FitProblem
    from sasmodels.bumps_model import Experiment, Model
    from sasmodels.core import load_model
    from sasmodels.data import empty_data1D

    kernel = load_model("sphere")
    data = empty_data1D(np.logspace(-3, -1, 60))
    truth = Model(kernel, radius=60, sld=4, sld_solvent=1, scale=0.01, background=0.001)
    intensity = Experiment(data=data, model=truth).theory()
    data.dy = 0.05 * intensity
    data.y = intensity + np.random.default_rng(3).normal(0, data.dy)
    model = Model(kernel, radius=50, sld=4, sld_solvent=1, scale=0.012, background=0.001)
    model.radius.range(10, 200)
    model.scale.range(0, 1)
    model.background.range(0, 0.01)
    return FitProblem(Experiment(data=data, model=model))


def tethered_problem():
    """refl1d's tethered-polymer example, simulated: a deuterated and a hydrogenated solvent
    measured on one film. The brush is shared by `copy` and the layers by assignment
    (`H[i].thickness = D[i].thickness`), as in refl1d's documentation."""
    require("refl1d")
    from refl1d import names

    silicon = names.SLD(name="Si", rho=2.07)
    siox = names.SLD(name="SiOx", rho=3.47)
    d_toluene = names.SLD(name="D-toluene", rho=5.66)
    h_toluene = names.SLD(name="H-toluene", rho=0.94)
    polystyrene = names.SLD(name="D-PS", rho=6.2)
    d_brush = names.PolymerBrush(
        polymer=polystyrene, solvent=d_toluene, base_vf=70, base=120, length=80, power=2, sigma=10
    )
    h_brush = copy(d_brush)  # the same brush parameters...
    h_brush.solvent = h_toluene  # ...in another solvent
    D = silicon(0, 5) | siox(100, 5) | d_brush(400, 0) | d_toluene
    H = silicon(0, 5) | siox(100, 5) | h_brush(400, 0) | h_toluene
    for i, _ in enumerate(D):
        H[i].thickness = D[i].thickness
        H[i].interface = D[i].interface
    noise = np.random.default_rng(11)
    experiments = []
    for sample, name in ((D, "D"), (H, "H")):
        angles = np.linspace(0.2, 4.0, 60)
        probe = names.NeutronProbe(T=angles, dT=0.01, L=4.75, dL=0.0475, name=name)
        experiment = names.Experiment(probe=probe, sample=sample, dz=1, dA=1)
        reflectivity = experiment.reflectivity()[1]
        probe.dR = 0.05 * reflectivity
        probe.R = reflectivity * (1 + 0.05 * noise.normal(size=reflectivity.shape))
        experiments.append(experiment)
    D[1].thickness.range(50, 150)
    D[1].interface.range(1, 15)
    d_brush.length.range(40, 120)
    d_brush.base_vf.range(50, 90)
    d_toluene.rho.range(5, 6.5)
    h_toluene.rho.range(0, 2)
    return names.FitProblem(experiments)


PROBLEMS = {"sasmodels-sphere": sphere_problem, "refl1d-shared": tethered_problem}


@pytest.fixture(params=sorted(PROBLEMS))
def make_problem(request):
    return PROBLEMS[request.param]


def test_serialize_cannot_send_them_unchanged(make_problem):
    """Why they travel pickled: what bumps.serialize does to each (docs/transport.md)."""
    problem = make_problem()
    try:
        data = transport.encodings.pack(problem, transport.ENCODING)
    except ValueError as e:
        assert "is not serializable" in str(e)  # sasmodels' Experiment
        return
    why = transport.round_trip_difference(problem, transport.ENCODING, data)
    assert why == (
        "the copy has 10 fitted parameters instead of 6; "
        "extra: D-toluene rho, H-toluene rho, brush base_vf, brush length"
    )


def test_encode_picks_the_pickle_and_the_job_records_it(remote, make_problem):
    problem = make_problem()
    payload = transport.encode(problem)
    assert payload["encoding"] == transport.PICKLE_ENCODING
    decoded = transport.decode(payload)  # what the worker does, preflight included
    assert decoded.labels() == problem.labels()
    job = remote.submit(payload, "lm", seed=SEED)
    assert job["encoding"] == transport.PICKLE_ENCODING
    assert remote.store.get(remote.owner, job["id"])["encoding"] == transport.PICKLE_ENCODING


def test_a_sweep_of_them_is_checked_once_in_the_kernel_and_each_on_the_worker(make_problem):
    """submit_many's encoder checks the first problem of a kind; the others carry what the
    check compares, and the worker's preflight compares its copy (docs/transport.md)."""
    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)
    problems = [make_problem() for _ in range(3)]
    payloads = [encoder.encode(problem) for problem in problems]
    assert encoder.checked == 1
    assert [p.get("round_trip_checked", True) for p in payloads] == [True, False, False]
    assert {p["encoding"] for p in payloads} == {transport.PICKLE_ENCODING}
    for problem, payload in zip(problems, payloads, strict=True):
        assert transport.decode(payload).labels() == problem.labels()


def test_the_worker_refuses_an_unchecked_member_that_bumps_document_changed():
    """The refl1d problem sent unchecked as bumps' document (as a kind whose first went so
    would send it): the worker's copy has more parameters, and its preflight says so."""
    payload = transport.encode_unchecked(tethered_problem(), transport.ENCODING)
    assert payload is not None
    with pytest.raises(transport.PayloadError) as caught:
        transport.decode(payload)
    assert "has 10 fitted parameters instead of 6" in str(caught.value)
    assert "Submit it alone" in str(caught.value)


@pytest.mark.parametrize("fitter", sorted(FITTERS))
def test_remote_fit_equals_local_fit(remote, make_problem, fitter):
    options = FITTERS[fitter]
    job = remote.submit(make_problem(), fitter, options, seed=SEED)
    record = remote.wait(job["id"], timeout=180)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")  # the preflight passed
    summary = remote.store.result(remote.owner, job["id"])

    problem = make_problem()  # the user's own problem, never encoded
    seed_fit(SEED)
    local = bumps_fitters.fit(problem, method=fitter, **options)
    assert summary["labels"] == problem.labels()
    np.testing.assert_allclose(summary["x"], local.x, rtol=1e-9, atol=0)
    problem.setp(local.x)
    np.testing.assert_allclose(summary["chisq"], problem.chisq(), rtol=1e-9)
    assert summary["nit"] == local.nit
    if fitter == "dream":
        np.testing.assert_array_equal(summary["dream"]["draws"], local.state.draws)


def test_the_session_file_reopens_the_problem_that_travelled(remote, make_problem, tmp_path):
    """bumps' save_fit always stores the problem as its dataclass JSON, which would reopen the
    refl1d problem with 10 parameters instead of 6: a pickled problem is stored pickled."""
    problem = make_problem()
    job = remote.submit(problem, "lm", seed=SEED)
    record = remote.wait(job["id"], timeout=180)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    summary = remote.store.result(remote.owner, job["id"])
    path = tmp_path / "fit.h5"
    path.write_bytes(remote.session(job["id"]))
    reopened, result = bumps_fitters.load_fit_from_session(path)
    assert reopened.labels() == problem.labels()
    np.testing.assert_allclose(result.x, summary["x"], rtol=1e-12)
    np.testing.assert_allclose(reopened.chisq(), summary["chisq"], rtol=1e-9)
