"""No walk for model libraries while none is imported (shared/versions.py): a problem can
only run code imported in this process. A library imported later (by the model itself,
when first called) is walked for and named again."""

from __future__ import annotations

import sys
import textwrap
import types

import pytest

from jupyter_bumps_remote.shared import transport, versions
from tests.support.problems import gaussian_fit_of, gaussian_problem, user_module

LAZY_MODEL = """
import numpy as np

def peak(x, A, mu, sigma):
    global refl1d
    import refl1d  # imported when first called, as a notebook's model may

    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
"""


@pytest.fixture
def no_model_library():
    """This process as if no model library had been imported (the compat environments
    import the real ones); what a test imports under their names is dropped after it."""
    kept = {
        name: module
        for name, module in sys.modules.items()
        if name.partition(".")[0] in versions.MODEL_LIBRARIES
    }
    for name in kept:
        del sys.modules[name]
    yield
    for name in [n for n in sys.modules if n.partition(".")[0] in versions.MODEL_LIBRARIES]:
        del sys.modules[name]
    sys.modules.update(kept)


def test_no_walk_while_no_model_library_is_imported(no_model_library, monkeypatch):
    def walked(*args):
        raise AssertionError("the problem was walked")

    monkeypatch.setattr(versions, "_kind_of", walked)
    assert versions.libraries_used(gaussian_problem()) == {}
    assert transport.encode(gaussian_problem())["environment"]["libraries"] == {}


def test_once_a_library_is_imported_the_problem_is_walked(no_model_library, monkeypatch):
    problem = types.SimpleNamespace(
        models=[type("Experiment", (), {"__module__": "sasmodels.x"})()]
    )
    library = types.ModuleType("sasmodels")
    vars(library)["__version__"] = "1.1.0"
    monkeypatch.setitem(sys.modules, "sasmodels", library)
    assert versions.libraries_used(problem) == {"sasmodels": "1.1.0"}


def test_a_library_the_model_imports_when_first_called_is_named(
    no_model_library, monkeypatch, tmp_path
):
    package = tmp_path / "refl1d"
    package.mkdir()
    (package / "__init__.py").write_text('__version__ = "9.9.8"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    problem = gaussian_fit_of(user_module(textwrap.dedent(LAZY_MODEL), "lazy_refl1d_code").peak)
    assert not any(name in sys.modules for name in versions.MODEL_LIBRARIES)
    envelope = transport.encode(problem)
    assert envelope["environment"]["libraries"] == {"refl1d": "9.9.8"}
