"""`bumps-remote submit model.py`: a bumps model script fitted remotely, without a notebook."""

from __future__ import annotations

import subprocess
import sys

from ..support.services import REPO

MODEL = """
import numpy as np
from bumps.names import Curve, FitProblem

def line(x, m, b):
    return m * x + b

x = np.linspace(0, 10, 25)
model = Curve(line, x, 3 * x - 1, np.full_like(x, 0.1), m=1.0, b=0.0)
model.m.range(-10, 10)
model.b.range(-10, 10)
problem = FitProblem(model)
"""


def submit(notebook_server, tmp_path, *args):
    env = {
        "PYTHONPATH": str(REPO),
        "PATH": "/usr/bin:/bin",
        "BUMPS_REMOTE_SERVER_URL": notebook_server.url,
        "BUMPS_REMOTE_TOKEN": notebook_server.token,
    }
    return subprocess.run(
        [sys.executable, "-m", "jupyter_bumps_remote.cli", "submit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )


def test_a_model_script_is_fitted_and_waited_for(notebook_server, tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    done = submit(notebook_server, tmp_path, "model.py", "--fitter", "lm", "--wait")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("submitted ") and "FitResult(lm" in done.stdout
    assert "m = 3 ±" in done.stdout and "[model.py] step" in done.stderr


def test_mistakes_are_one_line_each(notebook_server, tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    for args, message in [
        (("missing.py",), "no such model script: missing.py"),
        (("model.py", "--fitter", "lm", "--samples", "3"), "lm has no option 'samples'"),
        (
            ("model.py", "--fitter", "lm", "--server", "http://127.0.0.1:9/", "--token", "x"),
            "cannot reach the Jupyter server at http://127.0.0.1:9/",
        ),
    ]:
        done = submit(notebook_server, tmp_path, *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_the_example_script_as_the_readme_shows(notebook_server):
    """examples/model.py (bumps' peak-fitting tutorial on its measured data), from the
    repository root, with the README's command."""
    done = submit(notebook_server, REPO, "examples/model.py", "--fitter", "lm", "--wait")
    assert done.returncode == 0, done.stderr
    assert "FitResult(lm, chisq=0.82" in done.stdout, done.stdout
    fitted = dict(line.strip().split(" = ") for line in done.stdout.splitlines()[2:])
    # bumps' own lm fit of the same script in one process: xc 0.49420, delta 0.009128
    for name, known in (("xc", 0.49420), ("delta", 0.009128)):
        value, error = (float(v) for v in fitted[name].split(" ± "))
        assert abs(value - known) < error, (name, fitted[name])
