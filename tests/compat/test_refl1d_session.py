"""The session file of a remote refl1d fit opens in bumps' webview as a user would open it.

The webview's "load session" is `api.load_session(pathlist, filename)` (bumps.api on bumps'
main branch, bumps.webview.server.api in 1.0.x): it reads the HDF5 file into the module's
`state`, and the page then asks the same module for the parameters, χ², history, data and
uncertainty plots. The test calls those functions, in an event loop as the webview's server
does, on the session file a real worker wrote for a DREAM fit of refl1d's own example with
layers shared between two measurements by assignment.
"""

from __future__ import annotations

import asyncio
import importlib
from copy import copy
from pathlib import Path

import numpy as np
import pytest

from jupyter_bumps_remote.shared import jobs

from ..support.libraries import require

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
# Short: the test is about the file, not the posterior (about 10 s of fitting under load).
DREAM = {"steps": 30, "burn": 30, "pop": 1}


def tethered_problem():
    """refl1d's "Tethered Polymer" example on its measured data (examples/reflectometry.ipynb):
    one brush in deuterated and in hydrogenated toluene, the hydrogenated stack taking each
    layer's thickness and interface from the deuterated one; 17 fitted parameters."""
    require("refl1d")
    from refl1d.names import NCNR, SLD, Experiment, FitProblem, PolymerBrush, silicon

    SiOx, D_toluene = SLD(name="SiOx", rho=3.47), SLD(name="D-toluene", rho=5.66)
    D_initiator, D_polystyrene = SLD(name="D-initiator", rho=1.5), SLD(name="D-PS", rho=6.2)
    H_toluene, H_initiator = SLD(name="H-toluene", rho=0.94), SLD(name="H-initiator", rho=0)
    D_brush = PolymerBrush(
        polymer=D_polystyrene, solvent=D_toluene, base_vf=70, base=120, length=80, power=2, sigma=10
    )
    D = silicon(0, 5) | SiOx(100, 5) | D_initiator(100, 20) | D_brush(400, 0) | D_toluene
    H_brush = copy(D_brush)
    H_brush.solvent = H_toluene
    H = silicon | SiOx | H_initiator | H_brush | H_toluene
    for i, _ in enumerate(D):
        H[i].thickness = D[i].thickness
        H[i].interface = D[i].interface
    for i in (0, 1, 2):
        D[i].interface.range(0, 100)
    D[1].thickness.range(0, 200)
    D[2].thickness.range(0, 200)
    D_polystyrene.rho.range(6.2, 6.5)
    SiOx.rho.range(2.07, 4.16)
    D_toluene.rho.pmp(5)
    D_initiator.rho.range(0, 1.5)
    for name, low, high in [
        ("base_vf", 50, 80),
        ("base", 0, 200),
        ("length", 0, 500),
        ("power", 0, 5),
        ("sigma", 0, 20),
    ]:
        getattr(D_brush, name).range(low, high)
    H_toluene.rho.pmp(5)
    H_initiator.rho.range(-0.5, 0.5)
    instrument = NCNR.NG7(Qlo=0.005, slits_at_Qlo=0.075)
    D_probe = instrument.load(str(DATA / "10ndt001.refl"), back_reflectivity=True)
    H_probe = instrument.load(str(DATA / "10nht001.refl"), back_reflectivity=True)
    D_probe.theta_offset.range(-0.1, 0.1)
    problem = FitProblem(
        [
            Experiment(sample=H, probe=H_probe, dz=0.5, dA=1),
            Experiment(sample=D, probe=D_probe, dz=0.5, dA=1),
        ]
    )
    problem.name = "tethered"
    return problem


def webview_api():
    """The module behind bumps' webview: its new home first, then bumps 1.0.x's."""
    for name in ("bumps.api", "bumps.webview.server.api"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if not name.startswith(e.name or "?"):
                raise
    pytest.fail("this bumps has neither bumps.api nor bumps.webview.server.api")


async def open_in_webview(api, path: Path) -> dict:
    """What the webview does and shows after "load session": the values its panels get."""
    await api.load_session([str(path.parent)], path.name, read_only=True)
    return {
        "problem": api.state.problem.fitProblem,
        "fitting": api.state.fitting,
        "parameters": await api.get_parameters(only_fittable=True),
        "chisq": await api.get_chisq(),
        "history": (await api.get_history())["problem_history"],
        "models": await api.get_model_names(),
        "data": [await api.get_data_plot([i]) for i in range(2)],
        "convergence": await api.get_convergence_plot(),
        "uncertainty": await api.get_uncertainty_plot(),
    }


@pytest.fixture(scope="module", autouse=True)
def refl1d():
    """Skip (or fail, where required) before a worker is started for nothing."""
    return require("refl1d")


@pytest.fixture(scope="module")
def fitted(remote_module):
    """A DREAM fit of the tethered problem on the session's worker: its summary and file."""
    remote, problem = remote_module, tethered_problem()
    assert len(problem.labels()) == 17
    job = remote.submit(problem, "dream", DREAM, seed=2026)
    record = remote.wait(job["id"], timeout=300)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    summary = remote.store.result(remote.owner, job["id"])
    return problem, summary, remote.session(job["id"], timeout=60)


@pytest.fixture(scope="module")
def remote_module(store_module, celery_app, worker):
    """The `remote` fixture, once for the module (one fit serves every test here)."""
    import uuid

    from ..conftest import Remote

    return Remote(store_module, celery_app, f"user-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def store_module(redis_server, settings):
    from jupyter_bumps_remote.store import JobStore

    return JobStore(redis_server.client(), **settings.store_settings())


@pytest.fixture(scope="module")
def opened(fitted, tmp_path_factory):
    _, _, session = fitted
    path = tmp_path_factory.mktemp("webview") / "tethered-dream.h5"
    path.write_bytes(session)
    return asyncio.run(open_in_webview(webview_api(), path))


def test_the_problem_comes_back_with_its_parameters_shared(fitted, opened):
    problem, summary, _ = fitted
    loaded = opened["problem"]
    assert loaded.labels() == problem.labels() == summary["labels"]  # 17, not 25
    H, D = loaded.models
    assert H.sample[1].thickness is D.sample[1].thickness  # shared by assignment
    assert H.sample[3].length is D.sample[3].length  # the copied brush
    assert sorted(p["name"] for p in opened["parameters"]) == sorted(problem.labels())
    assert opened["models"] == ["10nht001", "10ndt001"]


def test_the_webview_shows_the_workers_best_point_and_chisq(fitted, opened):
    _, summary, _ = fitted
    loaded = opened["problem"]
    np.testing.assert_allclose(loaded.getp(), summary["x"], rtol=1e-12)
    np.testing.assert_allclose(loaded.chisq(), summary["chisq"], rtol=1e-9)
    assert opened["chisq"] == loaded.chisq_str()
    [item] = opened["history"]
    assert item["chisq_str"] == opened["chisq"] and item["has_uncertainty"]
    for panel in opened["parameters"]:  # the parameter panel's values are the best point
        value = dict(zip(summary["labels"], summary["x"], strict=True))[panel["name"]]
        assert float(panel["value_str"]) == pytest.approx(value, rel=1e-3, abs=1e-3)
    assert all(plot for plot in opened["data"])  # each measurement's reflectivity plot


def test_the_fit_state_is_there(fitted, opened):
    _, summary, _ = fitted
    fitting = opened["fitting"]
    assert fitting.method == "dream"
    draw = fitting.fit_state
    assert draw is not None and draw.Nvar == 17
    # bumps keeps the last Ngen generations of the chains; it counts them all
    assert draw.total_generations == summary["dream"]["generations"]
    assert draw.Ngen == DREAM["steps"] and draw.draw().points.shape[1] == 17
    np.testing.assert_allclose(draw.best()[0], summary["x"], rtol=1e-12)
    assert len(fitting.convergence) == len(summary["convergence"])
    assert opened["convergence"]["plotdata"]["data"]  # the convergence panel
    assert opened["uncertainty"]["data"]  # the parameter distributions panel
