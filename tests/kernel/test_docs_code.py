"""The code blocks of README.md and docs/*.md, run against the real stack.

The convention, by a fenced block's info string (its first word is the language GitHub
highlights it with):

- ```python   runs, in page order, in one IPython kernel per page (magics work), started as a
              notebook's kernel is: it finds the session's Jupyter server by itself. Before a
              page's first block the kernel defines `problem` (a small bumps FitProblem: a
              gaussian on 40 points), the "your problem" the pages talk about.
- ```sh       runs with bash -e from the repository root, the test environment's bin first
              on PATH, and the session's server as the only one running (as the demo's is).
- ```text     is not run: diagrams, output.
- ```python requires=LIB   runs only where the model library LIB (refl1d, sasmodels) is
              installed (tests/support/libraries.py: skipped here unless the environment
              requires LIB); tests/compat/test_docs_blocks.py runs such blocks in each
              environment that has LIB, refl1d's in the second one.
- ```LANG no-run   is shown highlighted and not run: a command that needs what the tests do
              not have (a package index, a remote Redis, a machine to install on) or that
              has a test of its own (`./run demo`: tests/binder/test_readme_demo.py).

A bare ``` fence fails: every block says which kind it is.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..support import libraries
from ..support.docs_blocks import PAGES, blocks, kind, page_id, required_library
from ..support.services import REPO
from .kernel_session import KernelSession

PROBLEM = """
import numpy as np
from bumps.names import Curve, FitProblem

def gaussian(x, A, mu, sigma):
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)

x = np.linspace(-3, 3, 40)
curve = Curve(gaussian, x, gaussian(x, 1.0, 0.2, 0.8), np.full(40, 0.05), A=0.5, mu=0, sigma=1)
curve.A.range(0, 3)
curve.mu.range(-2, 2)
curve.sigma.range(0.1, 3)
problem = FitProblem(curve)
"""
# Jobs a page leaves running (a block that only submits) are cancelled when the page ends:
# they would hold the session worker's slots for the tests after this one.
CANCEL_LEFT_RUNNING = """
from jupyter_bumps_remote import list_jobs
for job in list_jobs():
    if job.status in ("queued", "running") and job.record["created"] >= _docs_started:
        job.cancel()
"""


def missing_library(info: str) -> bool:
    """The block needs a library this environment lacks (and need not have)."""
    name = required_library(info)
    if name is None or importlib.util.find_spec(name) is not None:
        return False
    assert name not in libraries.required(), f"{name} is required in this environment"
    return True


def test_every_block_says_whether_it_runs():
    wrong = [
        f"{page_id(page)}:{line}: ```{info}"
        for page in PAGES
        for line, info, _ in blocks(page)
        if kind(info) in ("bare", "unknown")
    ]
    assert not wrong, "say ```python, ```sh, ```text or ```LANG no-run (see this test):\n" + (
        "\n".join(wrong)
    )


def test_some_blocks_run():
    """The convention is in use: the README's own python and sh blocks are among them."""
    kinds = [kind(info) for _, info, _ in blocks(REPO / "README.md")]
    assert "python" in kinds and "sh" in kinds


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(kind(i) == "python" for _, i, _ in blocks(p))],
    ids=page_id,
)
def test_python_blocks(page, kernel_env, tmp_path):
    session = KernelSession(kernel_env, cwd=str(tmp_path))
    try:
        setup = session.run(PROBLEM + "import time\n_docs_started = time.time()")
        assert setup["status"] == "ok", setup
        for line, info, code in blocks(page):
            if kind(info) != "python" or missing_library(info):
                continue
            out = session.run(code, timeout=180)
            assert out["status"] == "ok", f"{page_id(page)}:{line} failed:\n{code}\n{out}"
        session.run(CANCEL_LEFT_RUNNING)
    finally:
        session.close()


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(kind(i) == "sh" for _, i, _ in blocks(p))],
    ids=page_id,
)
def test_sh_blocks(page, notebook_server):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "JUPYTER_RUNTIME_DIR": notebook_server.env["JUPYTER_RUNTIME_DIR"],
        "PYTHONPATH": str(REPO),
    }
    env.pop("BUMPS_REMOTE_SERVER_URL", None)
    env.pop("BUMPS_REMOTE_TOKEN", None)
    for line, info, code in blocks(page):
        if kind(info) != "sh":
            continue
        done = subprocess.run(
            ["bash", "-e", "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, (
            f"{page_id(page)}:{line} failed:\n{code}\n{done.stdout}\n{done.stderr}"
        )
