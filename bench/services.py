"""The processes a benchmark runs against, started and stopped in one place.

tests.support.services starts the project's own processes (redis-server, `bumps-remote
worker`, `jupyter server`); this module adds what only the benchmarks need (a bare Celery
worker, an ipyparallel controller and engine) and context managers that stop every process
they started, also on error or Ctrl-C, and keep its log only when something failed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for path in (REPO, BENCH):  # tests.support and bare_celery
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bare_celery  # noqa: E402

from tests.support.services import JupyterServer, RedisServer, Worker  # noqa: E402

__all__ = [
    "BareWorker",
    "IPyCluster",
    "JupyterServer",
    "RedisServer",
    "Worker",
    "jupyter_server",
    "redis_and_worker",
    "started",
]


_STOPPING = threading.Event()


def stop_on_sigterm() -> None:
    """A SIGTERM ends the run through the finally clauses, which stop every process. The
    flag also ends it at the next service start or stage, should a library ever swallow
    the SystemExit (a library's `except BaseException` would)."""

    def handler(signum, frame):
        _STOPPING.set()
        sys.exit(143)

    signal.signal(signal.SIGTERM, handler)


def check_stop() -> None:
    if _STOPPING.is_set():
        raise SystemExit(143)


def _stop(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL of whatever is left of its process group (each service is
    started in a session of its own: ipcontroller's schedulers outlive their parent)."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def _log_file(prefix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    os.close(fd)
    return Path(name)


class BareWorker:
    """`celery -A bare_celery worker`: prefork with `concurrency` processes on `queue`."""

    def __init__(self, redis_url: str, concurrency: int = 1, queue: str = bare_celery.QUEUE,
                 contract: bool = False, warm: bool = False):  # fmt: skip
        self.redis_url, self.concurrency, self.queue = redis_url, concurrency, queue
        self.contract = contract  # the project's worker settings (bare_celery.py)
        self.warm = warm  # the fit's imports in the main process (bare_celery.py)
        self.log = _log_file("bumps-remote-bench-bare-")
        self.process: subprocess.Popen | None = None
        self._log_file = None

    def start(self) -> BareWorker:
        env = {
            **os.environ,
            "BENCH_BARE_REDIS_URL": self.redis_url,
            "BENCH_BARE_CONTRACT": "1" if self.contract else "",
            "BENCH_BARE_WARM": "1" if self.warm else "",
            "PYTHONPATH": os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")]),
        }
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bare_celery", "worker",
             "--pool", "prefork", "--concurrency", str(self.concurrency),
             "--queues", self.queue, "--hostname", f"bench-bare-{self.queue}-{os.getpid()}@%h",
             "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
            env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return self

    def wait_ready(self, timeout: float = 60) -> BareWorker:
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bare worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        _stop(self.process)
        if self._log_file:
            self._log_file.close()


class IPyCluster:
    """An ipyparallel controller and one engine on 127.0.0.1, in a private profile dir.

    Started as the command-line tools (`ipcontroller`, `ipengine`) in sessions of their own,
    so that `stop()` can end them and whatever they forked. `client` is connected and has
    seen its engine once `start()` returns; cloudpickle on both sides, so that a model
    function typed in a notebook (not importable on the engine) travels by value, as it does
    in a bumps-remote payload."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="bumps-remote-bench-ipp-"))
        self.log = self.dir / "cluster.log"
        self.controller: subprocess.Popen | None = None
        self.engine: subprocess.Popen | None = None
        self.client = None
        self._log_file = None

    def _spawn(self, *command: str) -> subprocess.Popen:
        path = [str(REPO), str(BENCH), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        return subprocess.Popen(
            [sys.executable, "-m", *command, f"--profile-dir={self.dir}", "--log-level=WARN"],
            env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def start(self, timeout: float = 60) -> IPyCluster:
        import ipyparallel

        self._log_file = open(self.log, "ab")  # noqa: SIM115 - lives as long as the processes
        # The hub registers an engine after its first heartbeats, 3 s apart by default:
        # 0.5 s cuts the start from about 7 s to 2 s (a ping every 0.5 s costs nothing).
        self.controller = self._spawn(
            "ipyparallel.controller", "--ip=127.0.0.1", "--HeartMonitor.period=500"
        )
        url_file = self.dir / "security" / "ipcontroller-client.json"
        engine_file = self.dir / "security" / "ipcontroller-engine.json"
        deadline = time.monotonic() + timeout
        while not (url_file.exists() and engine_file.exists()):
            if self.controller.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ipcontroller did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        self.engine = self._spawn("ipyparallel.engine")
        self.client = ipyparallel.Client(str(url_file), timeout=timeout)
        self.client.wait_for_engines(1, timeout=timeout)
        self.client[:].use_cloudpickle().get(timeout)
        return self

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        _stop(self.engine)
        _stop(self.controller)
        if self._log_file:
            self._log_file.close()


@contextlib.contextmanager
def started(service, *, logs: list[Path] | None = None, keep: Path | None = None):
    """Start `service` (anything with start() and stop()), yield it, stop it; its log files
    (`logs`, or its `log`) and its directory `keep` are removed unless something failed."""
    logs = logs if logs is not None else [p for p in [getattr(service, "log", None)] if p]
    check_stop()
    failed = True
    try:
        yield service.start()
        failed = False
    finally:
        try:
            service.stop()
        finally:
            for log in logs:
                if failed:
                    print(f"log kept: {log}", file=sys.stderr)
                elif log.exists() and (keep is None or keep not in log.parents):
                    log.unlink()
            if keep is not None and not failed:
                shutil.rmtree(keep, ignore_errors=True)


@contextlib.contextmanager
def redis_and_worker(concurrency: int = 2, env: dict | None = None):
    """A private redis-server (AOF on, as in the tests) and a `bumps-remote worker`."""
    redis_server = RedisServer(appendonly=True)
    try:
        redis_server.start()
        with started(Worker(redis_server.url, concurrency=concurrency, env=env)) as worker:
            yield redis_server, worker
    finally:
        redis_server.cleanup()


@contextlib.contextmanager
def jupyter_server(
    redis_url: str | None, *, prefix: str = "bumps-remote-bench-", env=None, args=()
):
    """A real `jupyter server` (token auth) in a temporary home; with `redis_url`, the
    extension in shared mode on that Redis. Its home goes unless something failed."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    shared = [f"--BumpsRemote.redis_url={redis_url}"] if redis_url else []
    server = JupyterServer(home, env=env, args=[*shared, *args])
    with started(server, keep=home) as running:
        yield running


@contextlib.contextmanager
def ipyparallel_cluster():
    cluster = IPyCluster()
    with started(cluster, keep=cluster.dir) as running:
        yield running
