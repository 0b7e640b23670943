"""Outside a notebook (a script, the IPython console) a job shows a text progress line."""

from __future__ import annotations

import subprocess
import sys

from ..support.services import REPO

SCRIPT = """
import jupyter_bumps_remote as remote
from tests.support.problems import gaussian_problem
remote.connect({url!r}, {token!r})
job = remote.submit(gaussian_problem(), "dream", steps=300, burn=10, name="from a script")
job.wait(progress=True)
print(job.status, repr(job))
"""

IPYTHON = """
%load_ext jupyter_bumps_remote
import jupyter_bumps_remote as remote
from tests.support.problems import gaussian_problem
remote.connect({url!r}, {token!r})
problem = gaussian_problem()
job = %bumps_remote problem --fitter dream --steps 300 --burn 10 --name console --wait
print(job.status)
"""


def run(args, notebook_server, tmp_path):
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_a_script_prints_progress_then_the_outcome(notebook_server, tmp_path):
    code = SCRIPT.format(url=notebook_server.url, token=notebook_server.token)
    done = run([sys.executable, "-c", code], notebook_server, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[from a script] step" in done.stderr and "χ²=" in done.stderr
    assert done.stdout.startswith("succeeded <RemoteJob ")


def test_the_ipython_console_magic_prints_progress(notebook_server, tmp_path):
    script = tmp_path / "console.ipy"
    script.write_text(IPYTHON.format(url=notebook_server.url, token=notebook_server.token))
    done = run(
        [sys.executable, "-m", "IPython", "--no-banner", str(script)], notebook_server, tmp_path
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "[console] step" in done.stderr
    assert done.stdout.strip().endswith("succeeded")
