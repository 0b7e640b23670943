"""A Jupyter server launched as a user would launch it (a shell command, outside this test
run's Python environment), and waiting until it serves fits."""

from __future__ import annotations

import os
import time

import requests


def clean_env(**extra) -> dict:
    """This machine's environment without the test run's own Python settings."""
    ours = ("BUMPS_REMOTE_", "JUPYTER", "JPY_", "PYTHON", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return {**env, **extra}


def wait_for_server(url: str, token: str, process, log, timeout: float = 120) -> None:
    """Until the server at `url` answers with a live worker; fails with the end of its log
    if the process ends or time runs out first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = requests.get(
                url + "bumps-remote/api/info",
                timeout=2,
                headers={"Authorization": f"token {token}"},
            )
            if info.status_code == 200 and info.json().get("workers"):
                return
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the server did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
