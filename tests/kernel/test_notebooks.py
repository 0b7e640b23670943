"""The example notebooks, executed headless against the real stack, with their results."""

from __future__ import annotations

import shutil

import pytest

from .notebooks import EXAMPLES, execute, text_of, widget_states


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def run(name, kernel_env, workdir):
    path = workdir / name
    shutil.copy(EXAMPLES / name, path)
    return execute(path, kernel_env, workdir)


def test_quickstart(kernel_env, workdir):
    notebook = run("quickstart.ipynb", kernel_env, workdir)
    check = next(c for c in notebook.cells if "check" in c.metadata.get("tags", []))
    assert "quickstart OK" in text_of(check)
    assert (workdir / "peak-dream.h5").stat().st_size > 10_000
    # the live panels' final state, as the notebook saved it
    html = [
        s.get("value", "") for s in widget_states(notebook) if s.get("_model_name") == "HTMLModel"
    ]
    assert sum("succeeded" in value for value in html) >= 2  # amoeba and dream panels
    assert any("χ²" in value and "±" in value for value in html)  # the parameter table
    assert any("<svg" in value and "convergence" in value for value in html)
    bars = [s for s in widget_states(notebook) if s.get("_model_name") == "FloatProgressModel"]
    assert bars and all(b["value"] == b["max"] and b["bar_style"] == "success" for b in bars)
    images = [s for s in widget_states(notebook) if s.get("_model_name") == "ImageModel"]
    assert len(images) == 1 + 3  # amoeba: the fit; dream: the fit, distributions, correlations


def test_sweep(kernel_env, workdir):
    notebook = run("sweep.ipynb", kernel_env, workdir)
    check = next(c for c in notebook.cells if "check" in c.metadata.get("tags", []))
    assert "sweep OK" in text_of(check) and "20 succeeded" in text_of(check)


def test_cancel_and_reattach(kernel_env, workdir):
    notebook = run("cancel_and_reattach.ipynb", kernel_env, workdir)
    check = next(c for c in notebook.cells if "check" in c.metadata.get("tags", []))
    assert "cancel OK" in text_of(check)


def test_real_world(kernel_env, workdir):
    """bumps' peak-fitting tutorial on its measured data: lm, then DREAM, remotely."""
    shutil.copy(EXAMPLES / "model.py", workdir / "model.py")
    shutil.copytree(EXAMPLES / "data", workdir / "data")
    notebook = run("real_world.ipynb", kernel_env, workdir)
    check = next(c for c in notebook.cells if "check" in c.metadata.get("tags", []))
    assert "real world OK" in text_of(check)
    table = next(c for c in notebook.cells if "format_vars" in c.source)
    assert all(name in text_of(table) for name in ("xc", "delta", "background"))
    html = [
        s.get("value", "") for s in widget_states(notebook) if s.get("_model_name") == "HTMLModel"
    ]
    assert sum("succeeded" in value for value in html) >= 2  # the lm and dream panels
    assert any("<svg" in value and "convergence" in value for value in html)
    images = [s for s in widget_states(notebook) if s.get("_model_name") == "ImageModel"]
    assert len(images) == 1 + 3  # lm: the maps; dream: the maps, distributions, correlations
    plotted = next(c for c in notebook.cells if c.source.startswith("posterior.problem.plot"))
    assert any("image/png" in o.get("data", {}) for o in plotted.outputs)


def test_every_example_notebook_has_its_test():
    tested = {"quickstart.ipynb", "sweep.ipynb", "cancel_and_reattach.ipynb", "real_world.ipynb"}
    # refl1d's and sasmodels' notebooks run in both environments: tests/compat
    tested |= {"reflectometry.ipynb", "sas.ipynb"}
    assert {p.name for p in EXAMPLES.glob("*.ipynb")} == tested, "add a test for it"
