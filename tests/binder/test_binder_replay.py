"""mybinder.org's steps, replayed on a fresh copy of the repository in a fresh virtual
environment: what repo2docker does with binder/ (apt.txt, requirements.txt, postBuild,
start), then the quickstart notebook executed through the Jupyter server `start` runs.

One difference from repo2docker, for speed: pip may use its local cache (repo2docker passes
--no-cache-dir; the packages and the build are the same). apt.txt is not installed here:
the test checks it names redis-server and that redis-server is on this machine.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ..support.fresh_copy import fresh_copy
from ..support.server_notebook import run_notebook
from ..support.services import free_port
from ..support.user_launched_server import clean_env, wait_for_server

STEP_TIMEOUT = 600  # the install builds the JupyterLab extension (jlpm, npm registry)


@pytest.mark.timeout(2 * STEP_TIMEOUT)
def test_binder_steps_give_a_server_that_runs_the_quickstart(tmp_path):
    repo = fresh_copy(tmp_path / "repo")
    binder = repo / "binder"
    assert "redis-server" in (binder / "apt.txt").read_text().split()
    assert subprocess.run(["redis-server", "--version"], capture_output=True).returncode == 0

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    # repo2docker installs binder/requirements.txt from the repository root
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", "binder/requirements.txt"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    if (binder / "postBuild").exists():
        subprocess.run(["bash", str(binder / "postBuild")], cwd=repo, env=env, check=True)
    # the sidebar came with it, prebuilt, and the server extension enables itself
    assert (venv / "share/jupyter/labextensions/jupyter-bumps-remote/package.json").exists()

    home = tmp_path / "home"
    port, token = free_port(), "t" + os.urandom(8).hex()
    url = f"http://127.0.0.1:{port}/"
    server_env = {
        **env,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        # repo2docker: `binder/start` with the server command as its arguments
        server = subprocess.Popen(
            [
                str(binder / "start"),
                "jupyter",
                "lab",
                "--no-browser",
                "--allow-root",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={repo}",
            ],
            cwd=repo,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_server(url, token, server, log)  # embedded Redis and a worker, by itself
        texts = run_notebook(url, token, repo / "examples" / "quickstart.ipynb", "examples")
        assert "quickstart OK" in texts[-1], texts[-1]
        assert (repo / "examples" / "peak-dream.h5").exists()
    finally:
        server.terminate()
        server.wait(60)
