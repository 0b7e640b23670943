"""Embedded mode: a private redis-server and supervised local workers, owned by the server.

Redis listens only on a unix socket in a 0700 directory under the Jupyter runtime dir,
with AOF on and its data under the Jupyter data dir, so jobs outlive a server restart.
Both die with the server: they are stopped by `stop()`, and the kernel's parent-death
signal stops them if the server itself is killed (Redis with SIGTERM, which flushes its AOF;
workers with SIGKILL, since a warm shutdown would wait for their fits without a broker).
A fit cut short so is queued again when the server next starts
(docs/reliability.md#9-jupyter-server-restarted-mid-fit).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio
import redis.exceptions

from ..shared.settings import WorkerSettings

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no parent-death signal; stop() still works
    _prctl = None


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Runs in the child between fork and exec (so: nothing that takes a lock)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, sig)


def _worker_dies_with_parent() -> None:
    _die_with_parent(signal.SIGKILL)


class RedisUnavailable(RuntimeError):
    pass


class EmbeddedRedis:
    def __init__(self, binary: str, runtime_dir: Path, data_dir: Path, log):
        self.binary = binary
        self.socket_dir = Path(runtime_dir)
        self.data_dir = Path(data_dir)
        self.socket = self.socket_dir / "redis.sock"
        self.log = log
        self.process: subprocess.Popen | None = None
        self.reused = False  # True: another server's Redis (and workers) answered there

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def start(self, timeout: float = 15) -> str:
        if not self.binary:
            raise RedisUnavailable(
                "embedded mode needs redis-server, which is not installed: install it "
                "(conda install redis / apt-get install redis-server / brew install redis), "
                "or set c.BumpsRemote.redis_url to a shared Redis"
            )
        for path in (self.socket_dir, self.data_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)
        if await self._answers():
            self.log.info("bumps-remote: reusing the embedded Redis at %s", self.socket)
            self.reused = True
            return self.url
        self.socket.unlink(missing_ok=True)
        args = [
            self.binary,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not await self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RedisUnavailable(
                    f"the embedded redis-server did not start; see {self.data_dir}/redis.log"
                )
            await asyncio.sleep(0.05)
        self.log.info("bumps-remote: embedded Redis on %s (data in %s)", self.socket, self.data_dir)
        return self.url

    async def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        client = redis.asyncio.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        try:
            return bool(await client.ping())
        except (redis.exceptions.RedisError, OSError):
            return False
        finally:
            await client.aclose()

    async def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # redis-server flushes its AOF on SIGTERM
        await _wait_exit(self.process, timeout)


class WorkerSupervisor:
    """Local `bumps-remote worker` processes, restarted when one dies."""

    def __init__(
        self,
        settings: WorkerSettings,
        processes: int,
        concurrency: int,
        log,
        check_interval: float = 1.0,
    ):
        self.settings = settings
        self.count = processes
        self.concurrency = concurrency
        self.log = log
        self.check_interval = check_interval
        self.processes: list[subprocess.Popen] = []
        self._watch: asyncio.Task | None = None
        self._restarts = 0

    def _spawn(self, index: int) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "jupyter_bumps_remote.cli",
            "worker",
            "--hostname",
            f"embedded{index}-{os.getpid()}@%h",
            "--loglevel",
            "WARNING",
        ]
        if self.concurrency > 0:
            command += ["--concurrency", str(self.concurrency)]
        env = {**os.environ, **self.settings.to_env()}
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=_worker_dies_with_parent,
            start_new_session=True,
        )

    async def start(self) -> None:
        self.processes = [self._spawn(i) for i in range(self.count)]
        self._watch = asyncio.ensure_future(self._keep_alive())
        self.log.info("bumps-remote: started %d local worker process(es)", self.count)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            for index, process in enumerate(self.processes):
                if process.poll() is not None:
                    self._restarts += 1
                    self.log.warning(
                        "bumps-remote: local worker %d exited with %s; restarting it",
                        index,
                        process.returncode,
                    )
                    # back off if it keeps dying at start (e.g. a bad setting)
                    await asyncio.sleep(min(30, 0.5 * self._restarts))
                    self.processes[index] = self._spawn(index)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.poll() is None]

    async def stop(self, timeout: float = 10) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for process in self.processes:
            if process.poll() is None:
                process.terminate()  # warm shutdown: running fits get `timeout` s to finish
        for process in self.processes:
            await _wait_exit(process, timeout, group=True)


async def _wait_exit(process: subprocess.Popen, timeout: float, group: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if process.poll() is None or group:
        # whatever is left of the process group (pool children, fit processes) goes too
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
