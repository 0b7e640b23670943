"""A model imported from a plain module beside the notebook fits on a worker that does not
have that module (it travels by value); an installed package the worker lacks is named."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid

import numpy as np
import pytest
from bumps import fitters as bumps_fitters
from bumps.names import Curve, FitProblem

from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.fitting import seed_fit

SEED = 7

HELPER = """
import numpy as np

import {constants}


def decay(x, amplitude, rate):
    return amplitude * np.exp(-rate * x) + {constants}.BACKGROUND
"""


@pytest.fixture
def notebook_folder(tmp_path, monkeypatch):
    """A folder on the kernel's path only, as the notebook's own (the worker's path has
    tests/support/importable and nothing else of the tests)."""
    folder = tmp_path / "notebook"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    names = []
    yield folder, names
    for name in names:
        sys.modules.pop(name, None)


def write_module(folder, names, source: str, prefix: str, *, installed: bool = False) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    if installed:  # as pip leaves it: a .dist-info beside the module
        info = folder / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "top_level.txt").write_text(name + "\n")
    names.append(name)
    importlib.invalidate_caches()
    return name


def decay_problem(module) -> FitProblem:
    x = np.linspace(0, 4, 30)
    y = 3.0 * np.exp(-1.3 * x) + 0.2 + np.random.default_rng(5).normal(0, 0.02, x.size)
    curve = Curve(module.decay, x, y, np.full_like(x, 0.02), amplitude=1.0, rate=0.5)
    curve.amplitude.range(0, 10)
    curve.rate.range(0, 5)
    return FitProblem(curve)


def test_a_helper_module_beside_the_notebook_fits_on_the_worker(remote, notebook_folder):
    folder, names = notebook_folder
    constants = write_module(folder, names, "BACKGROUND = 0.2\n", "myconstants")
    helper = write_module(folder, names, HELPER.format(constants=constants), "mymodel")
    module = importlib.import_module(helper)

    payload = transport.encode(decay_problem(module))
    assert payload["encoding"] == transport.ENCODING  # bumps.serialize, the function by value
    job = remote.submit(payload, "lm", seed=SEED)
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    summary = remote.store.result(remote.owner, job["id"])

    problem = decay_problem(module)
    seed_fit(SEED)
    local = bumps_fitters.fit(problem, method="lm")
    np.testing.assert_allclose(summary["x"], local.x, rtol=1e-9, atol=0)
    assert summary["x"] == pytest.approx([3.0, 1.3], rel=0.05)


def test_an_installed_package_missing_on_the_worker_is_named(remote, notebook_folder):
    folder, names = notebook_folder
    source = "import numpy as np\n\n\ndef decay(x, amplitude, rate):\n"
    source += "    return amplitude * np.exp(-rate * x)\n"
    name = write_module(folder, names, source, "installedmodel", installed=True)
    module = importlib.import_module(name)

    job = remote.submit(decay_problem(module), "lm", seed=SEED)
    record = remote.wait(job["id"], timeout=120)
    assert record["status"] == jobs.FAILED
    message = record["error"]["message"]
    assert f"the problem needs the module {name!r}" in message
    assert f"Install {name!r} where the workers run" in message
