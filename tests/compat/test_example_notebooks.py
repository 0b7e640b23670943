"""The refl1d and sasmodels example notebooks, executed headless against the real stack
(the session's Jupyter server in shared mode, its Redis and worker), with their results.
They live here because both environments run them: the newest bumps with sasmodels, and
refl1d 1.0.1 with the bumps it pins (which has sasmodels too)."""

from __future__ import annotations

import shutil

import numpy as np

from ..kernel.conftest import kernel_env  # noqa: F401  (the fixture, for these tests too)
from ..kernel.notebooks import EXAMPLES, execute, text_of, widget_states
from ..support.libraries import require


def run(name: str, kernel_env: dict, workdir):  # noqa: F811
    shutil.copy(EXAMPLES / name, workdir / name)
    shutil.copytree(EXAMPLES / "data", workdir / "data")
    return execute(workdir / name, kernel_env, workdir)


def cell(notebook, start: str):
    return next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(start))


def images(cell) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.outputs)


def assert_panels_finished(notebook) -> None:
    """The lm and DREAM live panels, as the notebook saved them: succeeded, with bumps'
    plots (the fit; for DREAM also the distributions and correlations)."""
    states = widget_states(notebook)
    html = [s.get("value", "") for s in states if s.get("_model_name") == "HTMLModel"]
    assert sum("succeeded" in value for value in html) >= 2
    assert any("<svg" in value and "convergence" in value for value in html)
    assert sum(s.get("_model_name") == "ImageModel" for s in states) >= 1 + 3


def test_sas(kernel_env, tmp_path):  # noqa: F811
    """sasmodels' SDS micelle data: an ellipsoid@hayter_msa Experiment, lm then DREAM."""
    require("sasmodels")
    notebook = run("sas.ipynb", kernel_env, tmp_path)
    check = next(c for c in notebook.cells if "check" in c.metadata.get("tags", []))
    assert "sas OK" in text_of(check)
    assert "97 points" in text_of(cell(notebook, "def read_grasp"))
    lm = text_of(cell(notebook, "lm = %bumps_remote"))
    assert all(name in lm for name in ("radius_polar", "radius_equatorial", "scale"))
    assert images(cell(notebook, "posterior.problem.plot")) >= 1
    assert "same as the worker's: True" in text_of(cell(notebook, "from bumps.fitters import"))
    assert (tmp_path / "sds-dream.h5").stat().st_size > 10_000
    assert_panels_finished(notebook)
    reopened = _reopen(tmp_path / "sds-dream.h5")
    assert reopened["labels"] == ["background", "radius_equatorial", "radius_polar", "scale"]
    assert abs(reopened["x"]["radius_equatorial"] - 23.44) < 0.3
    assert reopened["draws"] > 0


def test_reflectometry(kernel_env, tmp_path):  # noqa: F811
    """refl1d's tethered polymer in two solvents, layers shared by assignment: lm, DREAM."""
    require("refl1d")
    notebook = run("reflectometry.ipynb", kernel_env, tmp_path)
    check = next(c for c in notebook.cells if "check" in c.metadata.get("tags", []))
    assert "reflectometry OK" in text_of(check)
    assert "17 fitted parameters" in text_of(cell(notebook, "# === Problem"))
    assert images(cell(notebook, "posterior.problem.plot")) >= 2  # one per measurement
    assert "local DREAM = remote: True" in text_of(cell(notebook, "from bumps.fitters import"))
    assert_panels_finished(notebook)
    reopened = _reopen(tmp_path / "tethered-dream.h5")
    assert len(reopened["labels"]) == 17  # the sharing survives the session file
    assert reopened["draws"] > 0


def _reopen(path) -> dict:
    """Open the notebook's session file here, as a user would, with bumps' own loader."""
    from bumps.fitters import load_fit_from_session

    problem, result = load_fit_from_session(path)
    labels = problem.labels()
    assert len(result.x) == len(labels) and np.all(np.isfinite(result.x))
    draws = result.state.draw().points.shape[0] if result.state is not None else 0
    return {"labels": labels, "x": dict(zip(labels, result.x, strict=True)), "draws": draws}
