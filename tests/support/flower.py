"""Flower, Celery's task monitor, as an operator runs it against a bumps-remote deployment
(docs/operator-guide.md#watching-workers-with-flower): a real process on the workers' broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from .services import REPO, free_port

# The command of the operator guide, less the address and port (a free loopback port here)
COMMAND = ["celery", "-A", "jupyter_bumps_remote.worker", "flower", "--purge_offline_workers=60"]


class Flower:
    """`celery -A jupyter_bumps_remote.worker flower` with its log in a file; the broker URL
    and the login in its environment, never on its command line."""

    def __init__(self, redis_url: str, login: tuple[str, str], read_only: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.login = login
        self.log = Path(tempfile.mkstemp(prefix="bumps-remote-flower-", suffix=".log")[1])
        self.env = {
            **os.environ,
            "BUMPS_REMOTE_REDIS_URL": redis_url,
            "FLOWER_BASIC_AUTH": ":".join(login),
            "PYTHONPATH": str(REPO),
        }
        self.command = [
            sys.executable,
            "-m",
            *COMMAND,
            *(["--read_only"] if read_only else []),
            "--address=127.0.0.1",
            f"--port={self.port}",
        ]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Flower:
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + "/healthcheck", timeout=5).ok:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flower did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def get(self, path: str, auth: tuple[str, str] | None | bool = True, **kwargs):
        """GET `path` with the login (or `auth=None`: without one)."""
        login = self.login if auth is True else auth or None
        return requests.get(self.url + path, auth=login, timeout=30, **kwargs)

    def post(self, path: str, **kwargs):
        return requests.post(self.url + path, auth=self.login, timeout=30, **kwargs)

    def online_workers(self) -> set[str]:
        """The workers whose events Flower has received (its Prometheus gauge, fed by the
        event stream only): once a worker is here, Flower sees its tasks' events."""
        text = self.get("/metrics", auth=None).text
        return set(re.findall(r'flower_worker_online\{worker="([^"]+)"\} 1\.0', text))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if getattr(self, "_log_file", None):
            self._log_file.close()
