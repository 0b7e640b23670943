"""The README's demo command, as written (`./run demo`, with jupyter options after it to pick
a free port and no browser): it prints the URL with the token, the quickstart's fit runs
through that server, and stopping it stops the embedded Redis and worker too.

It installs into this test run's own environment (BUMPS_REMOTE_VENV): on a fresh clone
(CI) that is the .venv `./run test` has just made, so this is the README's second command
run after its first, from the same clone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ..support.embedded_processes import our_processes
from ..support.server_notebook import ServerKernel
from ..support.services import REPO, free_port
from ..support.user_launched_server import clean_env, wait_for_server

URL = re.compile(r"(http://127\.0\.0\.1:\d+/\S*\?token=(\w+))")


def first_fit_cells() -> list[str]:
    """The quickstart's code cells up to its first fit (the rest writes files beside it)."""
    notebook = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    first_fit = next(i for i, source in enumerate(code) if "%bumps_remote" in source)
    return code[: first_fit + 1]


def read_url(process, log: Path, timeout: float = 300) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        found = URL.search(log.read_text())
        if found:
            return found.group(1), found.group(2)
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no URL with a token printed:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.mark.timeout(600)
def test_run_demo_prints_the_url_and_the_quickstart_fits(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    env = clean_env(
        BUMPS_REMOTE_VENV=sys.prefix,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        demo = subprocess.Popen(
            ["./run", "demo", f"--port={port}", "--ip=127.0.0.1", "--no-browser"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url, token = read_url(demo, log)
        assert url.startswith(f"http://127.0.0.1:{port}/lab")
        base = f"http://127.0.0.1:{port}/"
        wait_for_server(base, token, demo, log)  # embedded Redis and a worker, by itself
        started = our_processes(home)
        assert started, "the server started no Redis or worker of its own"

        kernel = ServerKernel(base, token, "examples")
        try:
            for code in first_fit_cells():
                out = kernel.run(code, timeout=180)
                assert out["status"] == "ok", f"{code}\n{out['error']}"
            center = "round(result.x[result.labels.index('center')], 1)"
            check = kernel.run(f"print(job.status, {center})")
            assert check["text"].strip() == "succeeded 0.4", check
        finally:
            kernel.close()
    finally:
        os.killpg(demo.pid, signal.SIGTERM)  # what a service manager or Ctrl-C twice does
        demo.wait(60)
    deadline = time.monotonic() + 30
    while alive := [pid for pid in started if Path(f"/proc/{pid}").exists()]:
        assert time.monotonic() < deadline, f"still running after the server stopped: {alive}"
        time.sleep(0.2)
