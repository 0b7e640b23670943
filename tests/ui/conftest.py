"""A real JupyterLab (shared mode, on the session's Redis and worker) and real headless
Chromium (Debian's, driven by the `playwright` package; nothing is downloaded)."""

from __future__ import annotations

import uuid

import pytest

from ..support.browser import (  # noqa: F401 - fixtures and the report hook, for pytest
    browser,
    jp_asyncio_loop,
    jp_server_cleanup,
    page,
    pytest_runtest_makereport,
    require_chromium,
    write_notebook,
)
from ..support.services import JupyterLab

# What a user types: a problem whose model sleeps a little per call, so that a fit takes
# seconds (progress can be seen rising), then one short and one long fit.
PROBLEM = """\
%load_ext jupyter_bumps_remote
import time
import numpy as np
from bumps.names import Curve, FitProblem

DELAY = 0.001

def gaussian(x, A, mu, sigma):
    time.sleep(DELAY)
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)

x = np.linspace(-5, 5, 40)
y = np.exp(-0.5 * ((x - 0.3) / 1.2) ** 2)
curve = Curve(gaussian, x, y, np.full(40, 0.05), A=0.8, mu=0.0, sigma=1.0)
curve.A.range(0, 3)
curve.mu.range(-2, 2)
curve.sigma.range(0.1, 5)
problem = FitProblem(curve)"""
QUICK = "quick = %bumps_remote problem --fitter de --steps 150 --name quick --tag ui"
SLOW = "slow = %bumps_remote problem --fitter de --steps 100000 --name slow --tag ui"


@pytest.fixture(scope="session")
def lab(redis_server, worker, tmp_path_factory):
    require_chromium()
    home = tmp_path_factory.mktemp("lab")
    write_notebook(home / "fits.ipynb", [PROBLEM, QUICK, SLOW])
    # an owner of its own: the session's Redis holds the jobs of every earlier test's server
    # (all owned by this OS user), and the sidebar replays its owner's events from 2 s before
    # the newest job it lists: an event of a job deleted meanwhile made it ask for that job,
    # and the browser logged the 404 as an error of ours
    args = [
        f"--BumpsRemote.redis_url={redis_server.url}",
        f"--BumpsRemote.owner=ui-{uuid.uuid4().hex[:8]}",
    ]
    server = JupyterLab(home, args=args).start()
    yield server
    server.stop()
