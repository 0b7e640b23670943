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
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio
import redis.exceptions

from ..shared.settings import WorkerSettings
from ..store.keys import Keys

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
    """Local `bumps-remote worker` processes, each replaced when it dies.

    A dead worker's process group is killed (pool processes, and with them their fits) and
    its advertisement deleted: it is known dead, so the sweeps queue its running fits again
    as soon as their leases lapse, without waiting for the advertisement to expire
    (docs/design.md#workers-that-die). The replacement starts after a pause that doubles
    while replacements die young (a bad setting, a broken install) and is back to the first
    once one has lived `HEALTHY_AFTER` s. Each process has a name of its own
    (`embedded{slot}.{generation}-{server pid}@host`): its successor's advertisement must
    not stand for it.
    """

    FIRST_PAUSE = 0.5
    MAX_PAUSE = 30.0
    HEALTHY_AFTER = 60.0

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
        self.names: list[str] = []
        self._born: list[float] = []
        self._young_deaths: list[int] = []
        self._generations: list[int] = []
        self._restart_at: dict[int, float] = {}
        self._watch: asyncio.Task | None = None

    def _name(self, index: int) -> str:
        generation = self._generations[index]
        return f"embedded{index}.{generation}-{os.getpid()}@{socket.gethostname()}"

    def _spawn(self, index: int) -> subprocess.Popen:
        self._generations[index] += 1
        self.names[index] = self._name(index)
        self._born[index] = time.monotonic()
        env = {**os.environ, **self.settings.to_env()}
        return subprocess.Popen(
            self._command(self.names[index]),
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=_worker_dies_with_parent,
            start_new_session=True,
        )

    def _command(self, name: str) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "jupyter_bumps_remote.cli",
            "worker",
            "--hostname",
            name,
            "--loglevel",
            "WARNING",
        ]
        if self.concurrency > 0:
            command += ["--concurrency", str(self.concurrency)]
        return command

    async def start(self) -> None:
        self.names = [""] * self.count
        self._born = [0.0] * self.count
        self._young_deaths = [0] * self.count
        self._generations = [-1] * self.count
        self.processes = [self._spawn(i) for i in range(self.count)]
        self._watch = asyncio.ensure_future(self._keep_alive())
        self.log.info("bumps-remote: started %d local worker process(es)", self.count)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            for index in range(self.count):
                try:
                    await self._look_after(index)
                except Exception:  # noqa: BLE001 - the next check tries again
                    self.log.exception("bumps-remote: could not restart local worker %d", index)

    async def _look_after(self, index: int) -> None:
        now = time.monotonic()
        due = self._restart_at.get(index)
        if due is not None:
            if now >= due:
                del self._restart_at[index]
                self.processes[index] = self._spawn(index)
                self.log.warning(
                    "bumps-remote: local worker %d restarted as %s (pid %d)",
                    index,
                    self.names[index],
                    self.processes[index].pid,
                )
            return
        process = self.processes[index]
        if process.poll() is None:
            return
        lived = now - self._born[index]
        young = lived < self.HEALTHY_AFTER
        self._young_deaths[index] = self._young_deaths[index] + 1 if young else 0
        pause = min(self.MAX_PAUSE, self.FIRST_PAUSE * 2 ** max(0, self._young_deaths[index] - 1))
        _kill_group(process.pid)
        await self._forget(self.names[index])
        self.log.warning(
            "bumps-remote: local worker %d (%s, pid %d) %s after %.0f s; restarting it in "
            "%.1f s. Its running fits are queued again once their leases lapse.",
            index,
            self.names[index],
            process.pid,
            _how_it_ended(process.returncode),
            lived,
            pause,
        )
        self._restart_at[index] = now + pause

    async def _forget(self, name: str) -> None:
        """Delete a dead worker's advertisement (else it lives on until it expires)."""
        client = redis.asyncio.Redis.from_url(self.settings.redis_url, socket_timeout=5)
        try:
            await client.delete(Keys(self.settings.prefix).worker(name))
        except (redis.exceptions.RedisError, OSError):
            pass  # it expires by itself a worker's lifetime after its last beat
        finally:
            await client.aclose()

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


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _kill_group(pid: int) -> None:
    """What is left of a dead worker's process group: its pool processes (each fit dies
    with its pool process)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


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
